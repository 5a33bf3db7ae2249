"""Trivia rules with the real database: content checks, the poll a member gets, payment once
per question and member, wrong / late / retracted answers, the daily limit at the local-day
boundary, admins' group polls, the lost-poll-id window, and the leaderboard."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from core.settings import Settings, get_settings
from models.db import read_session, unit_of_work
from models.tables import AuditEntry, Delivery, LedgerEntry, TriviaAnswer, TriviaPoll, User
from services import content, trivia, users, wallet

FIRST = content.trivia()[0]
SECOND = content.trivia()[1]
_polls = iter(range(1, 10**9))


def tuned(**changes: object) -> Settings:
    return get_settings().model_copy(update=changes)


def ask(user_id: int, key: str, now: datetime | None = None,
        settings: Settings | None = None) -> trivia.Reservation:
    with unit_of_work() as session:
        return trivia.reserve_for_member(session, user_id, f"cb:{user_id}:{key}", now=now,
                                         settings=settings)


def post(admin_id: int, chat_id: int, question_id: str = FIRST.id, chat_type: str = "group",
         key: str = "post") -> trivia.Reservation:
    with unit_of_work() as session:
        return trivia.reserve_for_chat(session, admin_id, question_id, chat_id, chat_type,
                                       f"upd:{admin_id}:{key}")


def open_poll(reservation: trivia.Reservation, now: datetime | None = None) -> str:
    """What the task does after a successful sendPoll; returns the new poll id."""
    poll_id = f"test-poll-{reservation.chat_id}-{next(_polls)}"
    with unit_of_work() as session:
        trivia.opened(session, reservation.delivery_key,
                      {"message_id": 7, "poll": {"id": poll_id}}, now=now)
    return poll_id


def vote(poll_id: str, user_id: int, options: list[int], received: datetime | None = None,
         now: datetime | None = None) -> trivia.AnswerOutcome:
    with unit_of_work() as session:
        return trivia.answer(session, poll_id, user_id, options, f"upd:{user_id}:{poll_id}",
                             received_at=received, now=now)


def books(user_id: int) -> tuple[int, int]:
    with read_session() as session:
        return wallet.balance(session, user_id), wallet.ledger_sum(session, user_id)


def member(user_id: int, language: str = "es", role: str = "member") -> int:
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=user_id, first_name=f"M{user_id}",
                                              language_code=language))
        session.flush()
        session.get(User, user_id).role = role  # type: ignore[union-attr]
    return user_id


# --- content ---------------------------------------------------------------------------------


def test_catalog_ships_bilingual_questions_in_two_sets() -> None:
    questions = content.trivia()
    assert len(questions) >= 12
    assert all(q.question.en and all(o.en for o in q.options) for q in questions)
    assert len(content.trivia_sets()) >= 2
    assert any("Lucien" in q.question.es for q in questions)
    assert any("Diana" in q.question.es for q in questions)


BAD_FILES = {
    "out of range": "- id: q1\n  question: {es: '¿Sí?'}\n  options: [{es: a}, {es: b}, {es: c}]"
                    "\n  correct: 3\n",
    "must be 1-100 characters": "- id: q1\n  question: {es: '¿Sí?'}\n  options: [{es: a}, "
                                "{es: b, en: '" + "x" * 101 + "'}]\n  correct: 0\n",
    "must be 1-300 characters": "- id: q1\n  question: {es: '  '}\n  options: [{es: a}, {es: b}]"
                                "\n  correct: 0\n",
    "must be 0-200 characters": "- id: q1\n  question: {es: '¿Sí?'}\n  options: [{es: a}, "
                                "{es: b}]\n  correct: 0\n  explanation: {es: '" + "y" * 201 +
                                "'}\n",
    "at least 2 items": "- id: q1\n  question: {es: '¿Sí?'}\n  options: [{es: a}]\n  correct: 0\n",
    "duplicated ids": "- id: q1\n  question: {es: '¿Sí?'}\n  options: [{es: a}, {es: b}]\n"
                      "  correct: 0\n" * 2,
}


@pytest.mark.parametrize("problem", sorted(BAD_FILES))
def test_bad_trivia_files_are_rejected_with_a_clear_message(tmp_path: Path,
                                                            problem: str) -> None:
    path = tmp_path / "trivia.yaml"
    path.write_text(BAD_FILES[problem])
    with pytest.raises((ValidationError, ValueError)) as error:
        content.load_trivia(path)
    assert problem in str(error.value)
    if problem == "out of range":
        assert "trivia question 'q1': correct option 3 is out of range (it has 3 options" \
            in str(error.value)


def test_the_shipped_file_loads_and_fits_telegram() -> None:
    assert content.load_trivia(content.CONTENT_DIR / "trivia.yaml") == content.trivia()
    for q in content.trivia():
        assert len(f"t:top:{q.set}".encode()) <= 64 and len(f"trivia:{q.id}:{2**63}") <= 200


# --- the poll a member gets ------------------------------------------------------------------


def test_member_gets_the_first_unanswered_question_as_a_quiz(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id(), language="en")
    reservation = ask(uid, "a")
    assert reservation.question_id == FIRST.id and reservation.chat_id == uid
    assert reservation.params == {
        "chat_id": uid, "question": FIRST.question.en, "type": "quiz", "is_anonymous": False,
        "options": [{"text": o.en} for o in FIRST.options],
        "correct_option_ids": [FIRST.correct], "open_period": 300,
        "explanation": FIRST.explanation.en if FIRST.explanation else None}
    again = ask(uid, "a")  # the same request delivered again: the same poll, no second row
    assert again == reservation
    with read_session() as session:
        rows = session.scalars(select(TriviaPoll).where(TriviaPoll.user_id == uid)).all()
        assert [(r.status, r.question_id, r.poll_id) for r in rows] == [("sending", FIRST.id,
                                                                          None)]


def test_a_second_request_while_a_poll_is_open_is_refused(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    poll_id = open_poll(ask(uid, "a"))
    with pytest.raises(trivia.QuestionOpen):
        ask(uid, "b")
    vote(poll_id, uid, [FIRST.correct])
    assert ask(uid, "c").question_id == SECOND.id


# --- answers ---------------------------------------------------------------------------------


def test_correct_answer_pays_once_per_question_even_through_two_polls(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid, admin = member(new_user_id()), member(new_user_id(), role="admin")
    private = open_poll(ask(uid, "a"))
    group = open_poll(post(admin, -1000 - uid))  # the same question, in a group
    first = vote(private, uid, [FIRST.correct])
    assert (first.status, first.correct, first.besitos) == ("answered", True, 10)
    payload = first.events[0].payload
    assert first.events[0].type == "trivia.answered"
    assert {k: payload[k] for k in ("user_id", "question_id", "correct", "besitos", "balance",
                                    "lang")} == {"user_id": uid, "question_id": FIRST.id,
                                                 "correct": True, "besitos": 10, "balance": 10,
                                                 "lang": "es"}
    for poll_id in (group, private):  # the other poll, and this one again
        again = vote(poll_id, uid, [FIRST.correct])
        assert again.status == "duplicate"  # no new event: at most the first, unpublished
        assert [e.id for e in again.events] in ([], [first.events[0].id])
    assert books(uid) == (10, 10)
    with read_session() as session:
        keys = session.scalars(select(LedgerEntry.idempotency_key)
                               .where(LedgerEntry.user_id == uid)).all()
    assert keys == [f"trivia:{FIRST.id}:{uid}"]


def test_wrong_answer_pays_nothing_and_uses_up_the_question(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    poll_id = open_poll(ask(uid, "a"))
    wrong = (FIRST.correct + 1) % len(FIRST.options)
    outcome = vote(poll_id, uid, [wrong])
    assert (outcome.status, outcome.correct, outcome.besitos) == ("answered", False, 0)
    assert outcome.events[0].payload["correct"] is False
    assert vote(poll_id, uid, [FIRST.correct]).status == "duplicate"  # no second try
    assert books(uid) == (0, 0)
    assert ask(uid, "b").question_id == SECOND.id


def test_late_answer_pays_nothing(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    opened_at = datetime.now(UTC) - timedelta(minutes=10)
    poll_id = open_poll(ask(uid, "a", now=opened_at), now=opened_at)
    late = vote(poll_id, uid, [FIRST.correct], received=opened_at + timedelta(seconds=301))
    assert (late.status, late.correct, late.besitos) == ("answered", False, 0)
    assert late.events[0].payload["late"] is True
    assert books(uid) == (0, 0)


def test_answer_received_in_time_pays_even_if_judged_later(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    opened_at = datetime.now(UTC) - timedelta(minutes=10)
    poll_id = open_poll(ask(uid, "a", now=opened_at), now=opened_at)
    outcome = vote(poll_id, uid, [FIRST.correct], received=opened_at + timedelta(seconds=299))
    assert (outcome.correct, outcome.besitos) == (True, 10)


def test_retracted_vote_and_unknown_poll_are_ignored(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    poll_id = open_poll(ask(uid, "a"))
    assert vote(poll_id, uid, []).status == "retracted"
    assert vote(f"never-sent-{uid}", uid, [0]).status == "unknown_poll"
    with read_session() as session:
        assert session.scalars(select(TriviaAnswer).where(TriviaAnswer.user_id == uid)
                               ).all() == []
    assert vote(poll_id, uid, [FIRST.correct]).besitos == 10


def test_group_voter_who_never_started_the_bot_is_ignored(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id(), role="admin")
    poll_id = open_poll(post(admin, -2000 - admin))
    assert vote(poll_id, new_user_id(), [FIRST.correct]).status == "not_registered"


def test_two_deliveries_of_one_answer_at_once_pay_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    poll_id = open_poll(ask(uid, "a"))
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def attempt() -> None:
        barrier.wait()
        outcomes.append(vote(poll_id, uid, [FIRST.correct]).status)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["answered", "duplicate", "duplicate", "duplicate"]
    assert books(uid) == (10, 10)


# --- the daily limit -------------------------------------------------------------------------


def test_daily_limit_counts_the_members_local_day(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    settings = tuned(trivia_daily_limit=2, timezone="Europe/Madrid")
    evening = datetime(2026, 1, 15, 22, 0, tzinfo=UTC)  # 23:00 in Madrid (UTC+1)
    for n in range(2):
        at = evening + timedelta(minutes=10 * n)
        open_poll(ask(uid, f"d{n}", now=at, settings=settings), now=at)
    with pytest.raises(trivia.LimitReached) as refused:
        ask(uid, "d2", now=evening + timedelta(minutes=50), settings=settings)  # 23:50
    assert refused.value.values == {"limit": 2, "next_at": "2026-01-16T00:00:00+01:00"}
    after_midnight = datetime(2026, 1, 15, 23, 1, tzinfo=UTC)  # 00:01 in Madrid
    assert ask(uid, "d3", now=after_midnight, settings=settings).question_id == FIRST.id


def test_a_refusal_is_recorded_once_and_repeated_for_the_same_request(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    settings = tuned(trivia_daily_limit=0)
    with pytest.raises(trivia.LimitReached) as refused:
        ask(uid, "x", settings=settings)
    with unit_of_work() as session:
        recorded = trivia.refuse(session, "play", uid, f"cb:{uid}:x", refused.value)
    assert recorded[0].type == "trivia.play_refused"
    assert recorded[0].payload["reason"] == "limit_reached"
    assert recorded[0].payload["next_at"]
    with pytest.raises(trivia.LimitReached):  # even with the limit lifted: the first answer
        ask(uid, "x")


def test_no_more_questions_when_all_are_answered(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    settings = tuned(trivia_daily_limit=100)
    for n, question in enumerate(content.trivia()):
        reservation = ask(uid, f"all-{n}", settings=settings)
        assert reservation.question_id == question.id
        vote(open_poll(reservation), uid, [question.correct])
    with pytest.raises(trivia.NoMoreQuestions):
        ask(uid, "one-more", settings=settings)
    assert books(uid)[0] == 10 * len(content.trivia())


# --- an admin's group poll -------------------------------------------------------------------


def test_admin_posts_to_a_group_and_it_is_audited(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id(), role="admin")
    chat = -1_000_000_000_000 - admin
    reservation = post(admin, chat, SECOND.id, "supergroup")
    assert reservation.params["is_anonymous"] is False and reservation.chat_id == chat
    with unit_of_work() as session:
        outcome = trivia.opened(session, reservation.delivery_key,
                                {"message_id": 3, "poll": {"id": f"group-{admin}"}})
    assert [e.type for e in outcome.events] == ["trivia.posted"]
    assert outcome.events[0].payload["user_id"] == admin
    with read_session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.actor_id == admin)).one()
    assert (audit.action, audit.target, audit.result) == ("trivia.post", f"chat:{chat}",
                                                          "accepted")
    assert audit.details["question_id"] == SECOND.id


@pytest.mark.parametrize(("chat_type", "refusal"), [("channel", trivia.ChannelChat),
                                                    ("private", trivia.NotAGroup)])
def test_channels_and_private_chats_are_refused(new_user_id, chat_type, refusal) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id(), role="admin")
    chat = -100 - admin if chat_type == "channel" else admin
    with pytest.raises(refusal) as refused:
        post(admin, chat, chat_type=chat_type)
    with unit_of_work() as session:
        recorded = trivia.refuse(session, "post", admin, f"upd:{admin}:post", refused.value,
                                 chat_id=chat, question_id=FIRST.id)
    assert recorded[0].payload["reason"] == refusal.code
    with read_session() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.actor_id == admin)).one()
        assert session.scalars(select(TriviaPoll).where(TriviaPoll.chat_id == chat)).all() == []
    assert audit.result == f"refused:{refusal.code}"


def test_only_admins_may_post(new_user_id) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(trivia.NotAdmin):
        post(member(new_user_id()), -3000)
    with pytest.raises(trivia.UnknownQuestion):
        post(member(new_user_id(), role="admin"), -3001, question_id="no-such-question")


# --- the crash window: a poll sent whose id was never recorded ---------------------------------


def _sent_without_record(reservation: trivia.Reservation) -> None:
    """What a worker that died right after sendPoll leaves: a delivery, no poll id."""
    with unit_of_work() as session:
        session.add(Delivery(key=reservation.delivery_key, chat_id=reservation.chat_id,
                             status="sent", message_id=9, attempts=1,
                             sent_at=datetime.now(UTC)))


def test_answer_to_a_poll_whose_id_was_lost_adopts_its_row(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    reservation = ask(uid, "a")
    _sent_without_record(reservation)
    with unit_of_work() as session:  # the redelivered task: deliver() returned None
        assert trivia.opened(session, reservation.delivery_key, None).status == "lost"
    outcome = vote(f"lost-{uid}", uid, [FIRST.correct])
    assert (outcome.status, outcome.question_id, outcome.besitos) == ("answered", FIRST.id, 10)
    with read_session() as session:
        row = session.scalars(select(TriviaPoll).where(TriviaPoll.user_id == uid)).one()
    assert (row.poll_id, row.status, row.message_id) == (f"lost-{uid}", "open", 9)


def test_answer_waits_while_a_poll_may_still_be_getting_its_id(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    reservation = ask(uid, "a")  # reserved, the send not recorded yet
    with pytest.raises(trivia.MappingPending):
        vote(f"fast-{uid}", uid, [FIRST.correct])
    poll_id = open_poll(reservation)  # its record lands: the retry finds the poll by id
    assert vote(poll_id, uid, [FIRST.correct]).besitos == 10
    later = datetime.now(UTC) + trivia.MAPPING_GRACE + timedelta(seconds=1)
    reservation = ask(uid, "b")
    assert vote(f"other-{uid}", uid, [0], now=later).status == "unknown_poll"  # gave up
    with unit_of_work() as session:
        trivia.send_failed(session, reservation.delivery_key)


def test_a_blocked_send_does_not_count_toward_the_limit(new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = member(new_user_id())
    reservation = ask(uid, "a", settings=tuned(trivia_daily_limit=1))
    with unit_of_work() as session:
        session.add(Delivery(key=reservation.delivery_key, chat_id=uid, status="blocked",
                             attempts=1))
    with unit_of_work() as session:
        assert trivia.opened(session, reservation.delivery_key, None).status == "failed"
    assert ask(uid, "b", settings=tuned(trivia_daily_limit=1)).question_id == FIRST.id


# --- the leaderboard -------------------------------------------------------------------------


def test_leaderboard_per_set_with_the_members_own_rank(new_user_id) -> None:  # type: ignore[no-untyped-def]
    settings = tuned(trivia_daily_limit=100)
    players = [member(new_user_id()) for _ in range(3)]
    by_set = {s: [q for q in content.trivia() if q.set == s] for s in content.trivia_sets()}
    chosen_set = content.trivia_sets()[0]
    right = {players[0]: 3, players[1]: 1, players[2]: 0}
    for uid, wins in right.items():
        for n, question in enumerate(content.trivia()[:4]):
            reservation = ask(uid, f"top-{n}", settings=settings)
            good = question.set == chosen_set and wins > 0
            wins -= good
            vote(open_poll(reservation), uid,
                 [question.correct if good else (question.correct + 1) % len(question.options)])
    assert len(by_set[chosen_set]) >= 3
    with read_session() as session:
        board = trivia.leaderboard(session, players[1], chosen_set, size=1000)
        tiny = trivia.leaderboard(session, players[1], chosen_set, size=1)
        nobody = trivia.leaderboard(session, players[2], chosen_set, size=1000)
    ours = [s for s in board.top if s.user_id in players]
    assert [(s.user_id, s.correct, s.besitos) for s in ours] == [
        (players[0], 3, 30), (players[1], 1, 10)]
    assert ours[0].rank < ours[1].rank and ours[1].name == f"M{players[1]}"
    assert board.own == ours[1]
    assert tiny.own is not None and tiny.own.rank == ours[1].rank and len(tiny.top) == 1
    assert nobody.own is None  # no correct answer yet


# --- what members read -----------------------------------------------------------------------


def _rendered(event_type: str, language: str = "es", at: str = "2026-01-15T22:50:00+00:00",
              **payload: object) -> str:
    from services import messages

    event = {"id": "x", "type": event_type, "at": at,
             "payload": {"user_id": 1, "lang": language, **payload}}
    rendered = messages.for_event(event)
    assert rendered is not None
    return rendered.text


def test_messages_for_answers_and_refusals() -> None:
    assert _rendered("trivia.answered", correct=True, late=False, besitos=10, balance=42) == \
        "🧠 ¡Correcto! +10 besitos.\n💰 Saldo: 42 besitos."
    assert "no acertaste" in _rendered("trivia.answered", correct=False, late=False, besitos=0,
                                       balance=0)
    assert "already closed" in _rendered("trivia.answered", "en", correct=False, late=True,
                                         besitos=0, balance=0)
    limit = _rendered("trivia.play_refused", reason="limit_reached", limit=5,
                      next_at="2026-01-16T00:00:00+01:00")  # 10 minutes after 23:50 local
    assert limit == "🧠 Por hoy ya has tenido tus 5 preguntas. Vuelve en 0 h 10 min."
    assert "todas las preguntas" in _rendered("trivia.play_refused", reason="exhausted")
    assert "anónimas" in _rendered("trivia.post_refused", reason="channel", chat_id=-100)
