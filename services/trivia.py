"""🧠 Trivia: quiz polls that pay besitos for a correct answer, once per question per member.

Sending a poll is three steps, because Telegram names the poll only in its answer:
1. `reserve_for_member` (🧠 in the menu) or `reserve_for_chat` (an admin's `/trivia`)
   writes a `trivia_polls` row keyed by the delivery key, with the question and its right
   option, BEFORE anything is sent (status `sending`);
2. the task sends `sendPoll` through `tasks.telegram.deliver` with that key (once per key);
3. `opened` fills in the poll id, message id and open time from the result (`open`).

The crash window: if the worker dies between 2 and 3, the redelivered task gets None from
`deliver` (the send is done) and the poll id is lost. The row still says which question
was sent to whom, so the first answer that arrives with an unknown poll id ADOPTS it
(`_adopt`): a row without a poll id whose delivery is recorded as sent — the member's own
private one, else the only such group poll. What remains: with two or more such lost
polls at once (a member's and a group's, or two groups') the answer cannot be matched; it
is logged and ignored, never paid against the wrong question.

An answer (`answer`) is judged once per member and question: the first one is recorded
(`trivia_answers`, unique) with a `trivia.answered` event; it pays TRIVIA_REWARD besitos
(ledger key `trivia:<question>:<member>`) when it is right and arrived before the poll
closed (by the bot's receipt time, so a worker backlog does not make it late). Later
answers to the same question, through any poll or chat, change nothing; a retracted vote
(no options) is ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.orm import Session

from core.settings import Settings, get_settings
from models.tables import Delivery, OutboxEvent, TriviaAnswer, TriviaPoll, User
from services import admins, content, events, users, wallet
from services.gifts import local_day, next_claim_at

logger = logging.getLogger(__name__)

MAX_REQUEST_KEY = 150  # event ids are `trivia.refused:<key>`, at most 200 characters
# An answer whose poll is unknown waits (retried) while a poll reserved this recently may
# still be getting its id recorded: the send and its record take moments, not minutes.
MAPPING_GRACE = timedelta(seconds=60)
ORPHAN_HORIZON = timedelta(days=1)  # how far back a lost poll can be adopted
GROUP_TYPES = ("group", "supergroup")


class Refused(Exception):  # noqa: N818  (a refusal, reported politely, not a crash)
    """A permanent refusal the member (or admin) is told about (never retried)."""

    code = "refused"

    def __init__(self, detail: str = "", **values: Any) -> None:
        super().__init__(detail or self.code)
        self.values = values  # numbers the message shows (next time, closing time)


class NoMoreQuestions(Refused):
    code = "exhausted"


class QuestionOpen(Refused):
    code = "pending"


class LimitReached(Refused):
    code = "limit_reached"


class UnknownQuestion(Refused):
    code = "unknown_question"


class NotAdmin(Refused):
    code = "not_admin"


class ChannelChat(Refused):
    """Telegram makes every poll in a channel anonymous: no answers would ever arrive."""

    code = "channel"


class NotAGroup(Refused):
    code = "not_group"


REFUSALS: dict[str, type[Refused]] = {
    cls.code: cls for cls in (NoMoreQuestions, QuestionOpen, LimitReached, UnknownQuestion,
                              NotAdmin, ChannelChat, NotAGroup)
}


class MappingPending(Exception):  # noqa: N818
    """The answer's poll may be one whose id is being recorded right now: try again soon."""


@dataclass(frozen=True)
class Reservation:
    """A poll row written before the send, and the sendPoll call to make."""

    delivery_key: str
    chat_id: int
    question_id: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Opened:
    delivery_key: str
    status: str  # open | lost (sent, id unknown) | failed
    poll_id: str | None
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "poll_id": self.poll_id, "key": self.delivery_key}


@dataclass(frozen=True)
class AnswerOutcome:
    status: str  # answered | duplicate | retracted | unknown_poll | not_registered
    user_id: int
    question_id: str | None = None
    correct: bool = False
    besitos: int = 0
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "user_id": self.user_id,
                "question_id": self.question_id, "correct": self.correct,
                "besitos": self.besitos}


def delivery_key(request_key: str) -> str:
    return f"trivia:{request_key}"


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def poll_params(question: content.TriviaQuestion, correct: int, language: str, chat_id: int,
                settings: Settings) -> dict[str, Any]:
    """The sendPoll call: a non-anonymous quiz, open TRIVIA_OPEN_SECONDS.

    Bot API 9.6 replaced `correct_option_id` with `correct_option_ids` (a list); the spec we
    follow (dev/standin/bot-api-spec.json, 10.1) only knows the list.
    """
    params: dict[str, Any] = {
        "chat_id": chat_id, "question": question.question.get(language),
        "options": [{"text": text} for text in question.option_texts(language)],
        "type": "quiz", "is_anonymous": False, "correct_option_ids": [correct],
        "open_period": settings.trivia_open_seconds,
    }
    if question.explanation is not None:
        params["explanation"] = question.explanation.get(language)
    return params


def _reservation(row: TriviaPoll, language: str, settings: Settings) -> Reservation:
    question = content.trivia_question(row.question_id)
    if question is None:  # removed from content after the reservation
        raise UnknownQuestion(row.question_id)
    return Reservation(row.delivery_key, row.chat_id, row.question_id,
                       poll_params(question, row.correct_option, language, row.chat_id,
                                   settings))


def _earlier_refusal(session: Session, action: str, request_key: str) -> None:
    row = session.get(OutboxEvent, f"trivia.{action}_refused:{request_key}")
    if row is not None:
        raise REFUSALS.get(str(row.payload.get("reason")), Refused)("refused before")


def answered_ids(session: Session, user_id: int) -> set[str]:
    return set(session.scalars(select(TriviaAnswer.question_id)
                               .where(TriviaAnswer.user_id == user_id)))


def sent_today(session: Session, user_id: int, day: date) -> int:
    """Questions sent (or being sent) to the member on their local `day`."""
    return int(session.scalar(select(func.count()).select_from(TriviaPoll).where(
        TriviaPoll.user_id == user_id, TriviaPoll.day == day,
        TriviaPoll.status != "failed")) or 0)


def _open_poll(session: Session, user_id: int, now: datetime) -> TriviaPoll | None:
    """The member's private poll still open and not answered yet, if any."""
    answered = exists().where(TriviaAnswer.user_id == user_id,
                              TriviaAnswer.question_id == TriviaPoll.question_id)
    return session.scalars(select(TriviaPoll).where(
        TriviaPoll.user_id == user_id, TriviaPoll.chat_id == user_id,
        TriviaPoll.status.in_(("sending", "open")), TriviaPoll.closes_at > now, ~answered,
    ).order_by(TriviaPoll.id.desc()).limit(1)).first()


def reserve_for_member(session: Session, user_id: int, request_key: str,
                       now: datetime | None = None,
                       settings: Settings | None = None) -> Reservation:
    """Pick the member's next unanswered question and reserve its poll (once per key).

    Refusals: all answered (`NoMoreQuestions`), a poll of theirs still open
    (`QuestionOpen`), TRIVIA_DAILY_LIMIT questions already today (`LimitReached`). A
    redelivered request gets its first outcome again. Raises NotRegistered too.
    """
    _check_key(request_key)
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    user = session.get(User, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")
    wallet.lock(session, user_id)  # one request at a time per member
    key = delivery_key(request_key)
    existing = session.scalars(select(TriviaPoll).where(TriviaPoll.delivery_key == key)
                               ).one_or_none()
    if existing is not None:  # this very request, delivered again
        return _reservation(existing, user.language, settings)
    _earlier_refusal(session, "play", request_key)

    answered = answered_ids(session, user_id)
    question = next((q for q in content.trivia() if q.id not in answered), None)
    if question is None:
        raise NoMoreQuestions()
    open_poll = _open_poll(session, user_id, now)
    if open_poll is not None:
        raise QuestionOpen(closes_at=open_poll.closes_at.isoformat())
    today = local_day(now, settings)
    if sent_today(session, user_id, today) >= settings.trivia_daily_limit:
        raise LimitReached(limit=settings.trivia_daily_limit,
                           next_at=next_claim_at(today, settings).isoformat())
    row = TriviaPoll(delivery_key=key, question_id=question.id,
                     correct_option=question.correct, user_id=user_id, chat_id=user_id,
                     day=today, status="sending",
                     closes_at=now + timedelta(seconds=settings.trivia_open_seconds))
    session.add(row)
    session.flush()
    return _reservation(row, user.language, settings)


def reserve_for_chat(session: Session, admin_id: int, question_id: str, chat_id: int,
                     chat_type: str, request_key: str, now: datetime | None = None,
                     settings: Settings | None = None) -> Reservation:
    """An admin sends a question to a group or supergroup; the audit row is written with
    the reservation. Channels are refused: Telegram makes their polls anonymous, so no
    answer would ever reach us. A redelivered request gets its first outcome again."""
    _check_key(request_key)
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    key = delivery_key(request_key)
    existing = session.scalars(select(TriviaPoll).where(TriviaPoll.delivery_key == key)
                               ).one_or_none()
    if existing is not None:
        return _reservation(existing, settings.default_language, settings)
    _earlier_refusal(session, "post", request_key)
    if not admins.is_admin(session, admin_id):
        raise NotAdmin()
    question = content.trivia_question(question_id)
    if question is None:
        raise UnknownQuestion(question_id=question_id[:40])
    if chat_type == "channel":
        raise ChannelChat()
    if chat_type not in GROUP_TYPES or chat_id >= 0:
        raise NotAGroup()
    row = TriviaPoll(delivery_key=key, question_id=question.id,
                     correct_option=question.correct, user_id=None, requested_by=admin_id,
                     chat_id=chat_id,
                     day=local_day(now, settings), status="sending",
                     closes_at=now + timedelta(seconds=settings.trivia_open_seconds))
    session.add(row)
    admins.audit(session, admin_id, "trivia.post", f"chat:{chat_id}", "accepted",
                 {"question_id": question.id, "chat_type": chat_type,
                  "request_key": request_key})
    return _reservation(row, settings.default_language, settings)


def refuse(session: Session, action: str, user_id: int, request_key: str, exc: Refused,
           *, chat_id: int | None = None, question_id: str | None = None) -> list[events.Event]:
    """Record a refusal (once per request key) for the member or admin to be told about;
    an admin's refused `/trivia` is audited too. Returns what to publish."""
    event_id = f"trivia.{action}_refused:{request_key}"
    if session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id])
    user = session.get(User, user_id)
    payload: dict[str, Any] = {"user_id": user_id, "reason": exc.code,
                               "lang": user.language if user is not None else "es",
                               **exc.values}
    if question_id is not None:
        payload["question_id"] = question_id[:40]
    if action == "post":
        payload["chat_id"] = chat_id
    event = events.record_once(session, event_id, f"trivia.{action}_refused", payload)
    if event is None:  # a twin delivery recorded it a moment ago
        return events.unpublished(session, [event_id])
    if action == "post":
        admins.audit(session, user_id, "trivia.post", f"chat:{chat_id}", f"refused:{exc.code}",
                     {"question_id": (question_id or "")[:40], "request_key": request_key})
    return [event]


def opened(session: Session, key: str, result: Any, now: datetime | None = None,
           settings: Settings | None = None) -> Opened:
    """Record what the send gave: the poll id and open time (`open`), or, when `deliver`
    returned nothing, why: blocked → `failed` (it does not count toward the daily limit);
    sent earlier by an attempt that died before this record → stays `sending` without an
    id, for the first answer to adopt (see the module docstring)."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    row = session.scalars(select(TriviaPoll).where(TriviaPoll.delivery_key == key)
                          .with_for_update()).one()
    poll = result.get("poll") if isinstance(result, dict) else None
    if isinstance(poll, dict) and poll.get("id"):
        poll_id = str(poll["id"])
        if row.poll_id not in (None, poll_id):
            logger.error("trivia poll %s was adopted by an answer to poll %s", key, row.poll_id)
        row.poll_id, row.message_id = poll_id, result.get("message_id")
        row.opened_at = now
        row.closes_at = now + timedelta(seconds=settings.trivia_open_seconds)
        row.status = "open"
    elif row.poll_id is None:
        delivery = session.get(Delivery, key)
        if delivery is None or delivery.status in ("blocked", "rejected"):
            row.status = "failed"
        else:
            logger.warning("trivia poll %s was sent but its id is unknown; the first answer "
                           "will adopt it", key)
    recorded = []
    if row.requested_by is not None and row.status != "failed":  # an admin's post
        admin = session.get(User, row.requested_by)
        recorded.append(events.record(
            session, f"trivia.posted:{key}", "trivia.posted",
            {"user_id": row.requested_by, "question_id": row.question_id,
             "chat_id": row.chat_id, "lang": admin.language if admin else "es"}))
    status = row.status if row.status != "sending" else "lost"
    return Opened(key, status, row.poll_id, recorded)


def send_failed(session: Session, key: str) -> None:
    """Telegram refused the poll for good: it does not count toward the daily limit."""
    row = session.scalars(select(TriviaPoll).where(TriviaPoll.delivery_key == key)
                          ).one_or_none()
    if row is not None and row.poll_id is None:
        row.status = "failed"


def _adopt(session: Session, poll_id: str, user_id: int, received: datetime, now: datetime,
           settings: Settings) -> TriviaPoll | None:
    """The row of a poll sent whose id was lost, if the answer can only be for it."""
    candidates = session.scalars(select(TriviaPoll).where(
        TriviaPoll.poll_id.is_(None), TriviaPoll.status == "sending",
        TriviaPoll.created_at >= received - ORPHAN_HORIZON,
        ((TriviaPoll.user_id == user_id) & (TriviaPoll.chat_id == user_id))
        | (TriviaPoll.chat_id < 0),
    ).order_by(TriviaPoll.id.desc()).with_for_update()).all()
    if not candidates:
        return None
    deliveries = {d.key: d for d in session.scalars(select(Delivery).where(
        Delivery.key.in_([c.delivery_key for c in candidates])))}
    sent = [c for c in candidates
            if (d := deliveries.get(c.delivery_key)) is not None and d.status == "sent"]
    if any(c not in sent and c.created_at >= now - MAPPING_GRACE for c in candidates):
        raise MappingPending(poll_id)  # a send in flight may be the one: wait for its record
    own = [c for c in sent if c.chat_id == user_id]
    groups = [c for c in sent if c.chat_id < 0]
    chosen = own[0] if len(own) == 1 else (groups[0] if not own and len(groups) == 1 else None)
    if chosen is None:
        if sent:
            logger.warning("answer to unknown poll %s matches %d lost polls; ignored",
                           poll_id, len(sent))
        return None
    delivery = deliveries[chosen.delivery_key]
    opened_at = delivery.sent_at or received
    chosen.poll_id, chosen.message_id = poll_id, delivery.message_id
    chosen.opened_at = opened_at
    chosen.closes_at = max(opened_at + timedelta(seconds=settings.trivia_open_seconds),
                           chosen.closes_at)
    chosen.status = "open"
    session.flush()
    logger.warning("trivia poll %s adopted by an answer to poll %s", chosen.delivery_key,
                   poll_id)
    return chosen


def answer(session: Session, poll_id: str, user_id: int, option_ids: list[int],
           update_key: str, received_at: datetime | None = None, now: datetime | None = None,
           settings: Settings | None = None) -> AnswerOutcome:
    """Judge a member's vote on a quiz poll (see the module docstring).

    `received_at` is when the bot received the vote (default: now); an answer after the
    poll's close pays nothing. Raises MappingPending when the poll may be one whose id is
    being recorded right now.
    """
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    received = min(received_at or now, now)
    if not option_ids:
        return AnswerOutcome("retracted", user_id)
    poll = session.scalars(select(TriviaPoll).where(TriviaPoll.poll_id == str(poll_id))
                           ).one_or_none()
    if poll is None:
        poll = _adopt(session, str(poll_id), user_id, received, now, settings)
    if poll is None:
        logger.info("answer to unknown poll %s ignored", poll_id)
        return AnswerOutcome("unknown_poll", user_id)
    user = session.get(User, user_id)
    if user is None:  # a group member who never started the bot: nothing to pay into
        return AnswerOutcome("not_registered", user_id, poll.question_id)
    wallet.lock(session, user_id)  # one change at a time per member
    question_id = poll.question_id
    event_id = f"trivia.answered:{question_id}:{user_id}"
    first = session.scalars(select(TriviaAnswer).where(
        TriviaAnswer.user_id == user_id, TriviaAnswer.question_id == question_id)
    ).one_or_none()
    if first is not None:  # answered before (this vote again, or via another poll)
        return AnswerOutcome("duplicate", user_id, question_id, first.correct, first.besitos,
                             events.unpublished(session, [event_id]))
    question = content.trivia_question(question_id)
    late = received > poll.closes_at
    correct = sorted(set(option_ids)) == [poll.correct_option] and not late
    besitos = settings.trivia_reward if correct else 0
    level_ups: tuple[events.Event, ...] = ()
    if correct:
        change = wallet.credit(session, user_id, besitos, reason=f"trivia:{question_id}",
                               key=f"trivia:{question_id}:{user_id}")
        balance, level_ups = change.balance, change.events
    else:
        balance = wallet.balance(session, user_id)
    session.add(TriviaAnswer(user_id=user_id, question_id=question_id,
                             question_set=question.set if question else "general",
                             poll_id=poll.poll_id, option_id=int(min(option_ids)),
                             correct=correct, late=late, besitos=besitos,
                             update_key=update_key[:200], answered_at=received))
    session.flush()
    event = events.record(session, event_id, "trivia.answered",
                          {"user_id": user_id, "question_id": question_id,
                           "correct": correct, "late": late, "besitos": besitos,
                           "balance": balance, "lang": user.language})
    return AnswerOutcome("answered", user_id, question_id, correct, besitos,
                         [event, *level_ups])


# --- the leaderboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    rank: int
    user_id: int
    name: str
    correct: int
    besitos: int


@dataclass(frozen=True)
class Board:
    question_set: str | None  # None = every set
    top: list[Standing]
    own: Standing | None  # the member's place, None before their first correct answer


def leaderboard(session: Session, user_id: int, question_set: str | None = None,
                size: int = 10) -> Board:
    """Correct answers (and besitos won) per member in a set, or in all; the top `size` and
    the member's own rank (1 + members strictly ahead: more correct, then more besitos)."""
    correct = func.sum(case((TriviaAnswer.correct, 1), else_=0))
    totals = select(TriviaAnswer.user_id.label("user_id"), correct.label("correct"),
                    func.sum(TriviaAnswer.besitos).label("besitos"))
    if question_set is not None:
        totals = totals.where(TriviaAnswer.question_set == question_set)
    totals_q = totals.group_by(TriviaAnswer.user_id).having(correct > 0).subquery()
    rows = session.execute(
        select(totals_q.c.user_id, totals_q.c.correct, totals_q.c.besitos, User.first_name)
        .join(User, User.id == totals_q.c.user_id)
        .order_by(totals_q.c.correct.desc(), totals_q.c.besitos.desc(), totals_q.c.user_id)
        .limit(size)).all()
    top: list[Standing] = []
    for position, (u, c, b, name) in enumerate(rows, start=1):
        tied = top and (top[-1].correct, top[-1].besitos) == (c, b)
        rank = top[-1].rank if tied else position  # equal scores share a rank
        top.append(Standing(rank, int(u), name or f"#{u}", int(c), int(b)))
    own = next((s for s in top if s.user_id == user_id), None)
    if own is None:
        mine = session.execute(select(totals_q.c.correct, totals_q.c.besitos)
                               .where(totals_q.c.user_id == user_id)).first()
        if mine is not None:
            ahead = session.scalar(select(func.count()).select_from(totals_q).where(
                (totals_q.c.correct > mine.correct)
                | and_(totals_q.c.correct == mine.correct,
                       totals_q.c.besitos > mine.besitos)))
            name = session.scalar(select(User.first_name).where(User.id == user_id)) or ""
            own = Standing(int(ahead or 0) + 1, user_id, name, int(mine.correct),
                           int(mine.besitos))
    return Board(question_set, top, own)
