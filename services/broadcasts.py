"""📣 Broadcasts: an admin's message to a segment of members, sent once to each of them.

`start` resolves the segment **in SQL, in one transaction**: the `broadcasts` row, one
`broadcast_recipients` row per member (`pending`), the audit row and `broadcast.started`.
Segments (`segment` JSON):

- `{"kind": "all"}`: every registered member who is reachable (`users.reachable`: not marked
  as having blocked the bot);
- `{"kind": "vip"}` / `{"kind": "free"}`: reachable members whose `users.vip_until` is in the
  future / is empty or past, at the start;
- `{"kind": "inactive", "days": N}`: reachable members registered at least N days ago with
  no ledger entry in the last N days. The ledger is the one record every member action that
  counts leaves (daily gift, missions, purchases, bids, rewarded reactions and trivia, story
  costs); `users.updated_at` is not used, since admins' changes (VIP, role) move it too;
- `{"kind": "list", "ids": [...]}`: those of the given Telegram ids that are registered and
  reachable (unknown and unreachable ids are skipped).

Sending (tasks/broadcasts.py) goes in bounded batches: `claim_batch` hands out pending
recipients to one batch task (its `claim` token; a claim older than `CLAIM_STALE` may be taken
again, for a task that died), never the same recipient to two claimers at once (`FOR UPDATE
SKIP LOCKED` and a conditional UPDATE on PostgreSQL, the writer lock on SQLite);
`record_result` turns pending rows into `sent` / `failed` / `blocked` once and counts them.
With the delivery key `broadcast:<id>:<user>` (tasks.telegram.deliver claims each key once)
no member gets one broadcast twice, even when a batch task is delivered twice.

`status`: running ⇄ paused (`pause` / `resume`), then done (nothing pending) or cancelled
(`cancel`: the pending rows stay unsent); `conclude` records `broadcast.finished`, the final
report, once its numbers are final. `batch_seq` names the batch task allowed to go on: each
batch moves it on by one (`advance`), a resume too, so a task that was superseded stops.
Every admin action, allowed or refused, writes an audit row (`broadcast.start`, `.pause`,
`.resume`, `.cancel`); refusals are `broadcast.refused` events (the admin is told politely).
Events (`broadcast.started`, `.paused`, `.resumed`, `.cancelled`, `.finished`, `.refused`)
carry ids and numbers only.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.settings import get_settings
from models.tables import Broadcast, BroadcastRecipient, LedgerEntry, OutboxEvent, User
from services import admins, events

KINDS = ("all", "vip", "free", "inactive", "list")
RUNNING, PAUSED, CANCELLED, DONE = "running", "paused", "cancelled", "done"
PENDING, SENT, FAILED, BLOCKED = "pending", "sent", "failed", "blocked"
OUTCOMES = (SENT, FAILED, BLOCKED)
ACTIONS = ("pause", "resume", "cancel")

MAX_REQUEST_KEY = 150  # event ids are `broadcast.refused:<key>`, at most 200 characters
MAX_TEXT = 4096  # Telegram's limit, counted on the text without its markup
MAX_STORED_TEXT = 32_000  # the HTML form kept in SQL (markup included)
MAX_LIST = 10_000  # ids in a custom list
MAX_DAYS = 3650
CLAIM_STALE = timedelta(seconds=330)  # > the task time limit (300 s): the claimer is gone
RATE_WINDOW = 30.0  # seconds of recent sends the live rate is measured over

# Words of `/difundir <segment>` (Spanish first, English accepted).
SEGMENT_WORDS = {"todos": "all", "all": "all", "vip": "vip", "free": "free", "gratis": "free",
                 "inactivos": "inactive", "inactive": "inactive", "lista": "list",
                 "list": "list"}
_ID = re.compile(r"[1-9][0-9]{0,18}")


class Refused(Exception):  # noqa: N818  (a refusal, reported politely, not a crash)
    code = "refused"


class NotAdmin(Refused):
    code = "not_admin"


class Usage(Refused):
    """No text, or a segment that is not one of the known shapes (the admin gets the usage)."""

    code = "usage"


class TooLong(Refused):
    code = "too_long"


class NoRecipients(Refused):
    code = "no_recipients"


class UnknownBroadcast(Refused):
    code = "unknown_broadcast"


class WrongState(Refused):
    """Pausing what is not running, resuming what is not paused, cancelling what ended."""

    code = "wrong_state"


# --- outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What an admin's request came to: `result` "ok" or a refusal code."""

    action: str  # start | pause | resume | cancel
    result: str
    broadcast_id: int | None = None
    status: str | None = None  # the broadcast's status afterwards
    total: int = 0
    batch_seq: int = 0  # the batch task to enqueue (start, resume)
    replayed: bool = False  # this very request, delivered again
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    @property
    def ok(self) -> bool:
        return self.result == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "result": self.result,
                "broadcast_id": self.broadcast_id, "status": self.status, "total": self.total,
                "replayed": self.replayed}


@dataclass(frozen=True)
class Progress:
    broadcast_id: int
    status: str
    total: int
    sent: int
    failed: int
    blocked: int
    rate: float  # messages per second (recent while running, overall once ended)
    eta_seconds: float | None  # None when not running or not measurable yet
    elapsed_seconds: float
    created_by: int
    language: str
    progress_chat_id: int | None
    progress_message_id: int | None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.blocked

    @property
    def left(self) -> int:
        return max(self.total - self.done, 0)

    @property
    def share(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def ended(self) -> bool:
        return self.status in (DONE, CANCELLED)


# --- segments ----------------------------------------------------------------------------


def parse_segment(words: list[str] | None) -> dict[str, Any] | None:
    """The segment named by `/difundir`'s words (`todos`, `vip`, `free`, `inactivos N`,
    `lista id,id,…`), or None when they name none."""
    if not words:
        return None
    kind = SEGMENT_WORDS.get(words[0].lower())
    rest = words[1:]
    if kind in ("all", "vip", "free"):
        return {"kind": kind} if not rest else None
    if kind == "inactive":
        if len(rest) != 1 or not rest[0].isascii() or not rest[0].isdigit():
            return None
        return {"kind": kind, "days": int(rest[0])}
    if kind == "list":
        parts = [p for p in re.split(r"[,\s]+", " ".join(rest)) if p]
        if not parts or len(parts) > MAX_LIST or not all(_ID.fullmatch(p) for p in parts):
            return None
        return {"kind": kind, "ids": list(dict.fromkeys(int(p) for p in parts))}
    return None


def normalize_segment(segment: object) -> dict[str, Any]:
    """The segment in its stored form; raises Usage when it is not a known shape."""
    if not isinstance(segment, dict) or segment.get("kind") not in KINDS:
        raise Usage("unknown segment")
    kind = segment["kind"]
    if kind == "inactive":
        days = segment.get("days")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_DAYS:
            raise Usage("inactive needs 1 to 3650 days")
        return {"kind": kind, "days": days}
    if kind == "list":
        ids = segment.get("ids")
        if not isinstance(ids, list) or not 0 < len(ids) <= MAX_LIST or not all(
                isinstance(i, int) and not isinstance(i, bool) and 0 < i < 2**63 for i in ids):
            raise Usage("list needs 1 to 10,000 Telegram ids")
        return {"kind": kind, "ids": list(dict.fromkeys(ids))}
    return {"kind": kind}


def _members(segment: dict[str, Any], now: datetime) -> list[ColumnElement[bool]]:
    """The WHERE clauses on `users` that select a segment's recipients."""
    clauses: list[ColumnElement[bool]] = [User.reachable.is_(True)]
    kind = segment["kind"]
    if kind == "vip":
        clauses.append(User.vip_until > now)
    elif kind == "free":
        clauses.append(or_(User.vip_until.is_(None), User.vip_until <= now))
    elif kind == "inactive":
        cutoff = now - timedelta(days=segment["days"])
        recent = select(LedgerEntry.id).where(LedgerEntry.user_id == User.id,
                                              LedgerEntry.created_at >= cutoff)
        clauses += [User.created_at <= cutoff, ~exists(recent)]
    elif kind == "list":
        clauses.append(User.id.in_(segment["ids"]))
    return clauses


def visible_length(text: str) -> int:
    """Characters Telegram counts: the HTML text without its tags and entities."""
    return len(html.unescape(re.sub(r"<[^>]*>", "", text)))


# --- helpers -----------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def language_of(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def _lock(session: Session, broadcast_id: int) -> Broadcast | None:
    """The broadcast row, locked until the transaction ends (PostgreSQL; SQLite's writer
    lock, taken at BEGIN, does the same)."""
    return session.scalars(select(Broadcast).where(Broadcast.id == broadcast_id)
                           .with_for_update().execution_options(populate_existing=True)
                           ).one_or_none()


def _refuse(session: Session, action: str, actor_id: int | None, request_key: str | None,
            exc: Refused, details: dict[str, Any], broadcast_id: int | None = None) -> Outcome:
    """The audit row and `broadcast.refused` (the admin is told), once per request key."""
    if request_key is None:
        admins.audit(session, actor_id, f"broadcast.{action}",
                     None if broadcast_id is None else f"broadcast:{broadcast_id}", exc.code,
                     details)
        return Outcome(action, exc.code, broadcast_id)
    event_id = f"broadcast.refused:{request_key}"
    payload: dict[str, Any] = {"reason": exc.code, "action": action,
                               "lang": language_of(session, actor_id)}
    if actor_id is not None:
        payload["user_id"] = actor_id
    if broadcast_id is not None:
        payload["broadcast_id"] = broadcast_id
    if details.get("state"):
        payload["state"] = details["state"]
    event = events.record_once(session, event_id, "broadcast.refused", payload)
    if event is None:  # refused before: audited and told then
        return Outcome(action, exc.code, broadcast_id, replayed=True,
                       events=events.unpublished(session, [event_id]))
    admins.audit(session, actor_id, f"broadcast.{action}",
                 None if broadcast_id is None else f"broadcast:{broadcast_id}", exc.code,
                 {**details, "request_key": request_key})
    return Outcome(action, exc.code, broadcast_id, events=[event])


def _segment_details(segment: object) -> dict[str, Any]:
    if not isinstance(segment, dict):
        return {"segment": "invalid"}
    details: dict[str, Any] = {"segment": str(segment.get("kind"))[:16]}
    if isinstance(segment.get("days"), int):
        details["days"] = segment["days"]
    if isinstance(segment.get("ids"), list):
        details["ids"] = len(segment["ids"])
    return details


# --- start -------------------------------------------------------------------------------


def start(session: Session, actor_id: int | None, segment: object, text: str,
          request_key: str, *, parse_mode: str | None = "HTML",
          progress_chat_id: int | None = None, now: datetime | None = None) -> Outcome:
    """Start a broadcast of `text` (HTML unless `parse_mode` says otherwise) to `segment`,
    once per `request_key`, for an admin. Every attempt is audited; a refusal (not an admin,
    no text or an unknown segment, too long, nobody in the segment) is an Outcome with its
    code and a `broadcast.refused` event, decided before anything is written."""
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")
    now = _now(now)
    existing = session.scalars(select(Broadcast).where(Broadcast.request_key == request_key)
                               ).one_or_none()
    if existing is not None:  # this very request, delivered again
        event_id = f"broadcast.started:{existing.id}"
        return Outcome("start", "ok", existing.id, existing.status, existing.total,
                       existing.batch_seq, replayed=True,
                       events=events.unpublished(session, [event_id]))
    details = _segment_details(segment)
    try:
        if not admins.is_admin(session, actor_id):
            raise NotAdmin(str(actor_id))
        normalized = normalize_segment(segment)
        if not isinstance(text, str) or not text.strip():
            raise Usage("no text")
        if visible_length(text) > MAX_TEXT or len(text) > MAX_STORED_TEXT:
            raise TooLong(str(len(text)))
        clauses = _members(normalized, now)
        count = session.scalar(select(func.count()).select_from(User).where(*clauses)) or 0
        if count == 0:
            raise NoRecipients(normalized["kind"])
    except Refused as exc:
        return _refuse(session, "start", actor_id, request_key, exc, details)
    assert actor_id is not None
    broadcast = Broadcast(created_by=actor_id, request_key=request_key, segment=normalized,
                          text=text, parse_mode=parse_mode, status=RUNNING, total=0, sent=0,
                          failed=0, blocked=0, batch_seq=0,
                          progress_chat_id=progress_chat_id if progress_chat_id else actor_id,
                          started_at=now)
    session.add(broadcast)
    session.flush()
    session.execute(insert(BroadcastRecipient).from_select(
        ["broadcast_id", "user_id", "status"],
        select(literal(broadcast.id), User.id, literal(PENDING)).where(*clauses)))
    broadcast.total = session.scalar(
        select(func.count()).select_from(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast.id)) or 0
    admins.audit(session, actor_id, "broadcast.start", f"broadcast:{broadcast.id}", "ok",
                 {**details, "total": broadcast.total, "request_key": request_key})
    event = events.record(session, f"broadcast.started:{broadcast.id}", "broadcast.started",
                          {"broadcast_id": broadcast.id, "admin_id": actor_id,
                           "segment": normalized["kind"], "total": broadcast.total})
    return Outcome("start", "ok", broadcast.id, RUNNING, broadcast.total, 0, events=[event])


def set_progress_message(session: Session, broadcast_id: int, message_id: int | None) -> None:
    """Remember the admin's progress message (sent once the broadcast started)."""
    if message_id is not None:
        session.execute(update(Broadcast).where(Broadcast.id == broadcast_id)
                        .values(progress_message_id=message_id))


# --- batches -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchState:
    status: str
    batch_seq: int
    text: str
    parse_mode: str | None


def batch_state(session: Session, broadcast_id: int) -> BatchState | None:
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        return None
    return BatchState(row.status, row.batch_seq, row.text, row.parse_mode)


def claim_batch(session: Session, broadcast_id: int, size: int, *, token: str | None = None,
                now: datetime | None = None) -> list[int]:
    """Up to `size` pending recipients (user ids, ascending) for one batch task.

    A task delivered again with its `token` gets back the rows it had claimed and not yet
    finished; otherwise pending rows nobody holds (or whose claim is older than
    CLAIM_STALE) are locked and claimed with a conditional UPDATE, so two claimers never
    get the same recipient (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the writer lock,
    taken at BEGIN)."""
    now = _now(now)
    if token is not None:
        mine = session.scalars(select(BroadcastRecipient.user_id).where(
            BroadcastRecipient.broadcast_id == broadcast_id,
            BroadcastRecipient.status == PENDING, BroadcastRecipient.claim == token)
            .order_by(BroadcastRecipient.user_id).limit(size)).all()
        if mine:
            return list(mine)
    token = token or uuid.uuid4().hex
    free = and_(BroadcastRecipient.broadcast_id == broadcast_id,
                BroadcastRecipient.status == PENDING,
                or_(BroadcastRecipient.claim.is_(None),
                    BroadcastRecipient.claimed_at < now - CLAIM_STALE))
    # Two statements, not `UPDATE … WHERE user_id IN (SELECT … LIMIT n FOR UPDATE)`:
    # PostgreSQL may rescan such a subquery per row and claim more than n.
    chosen = session.scalars(select(BroadcastRecipient.user_id).where(free)
                             .order_by(BroadcastRecipient.user_id).limit(size)
                             .with_for_update(skip_locked=True)).all()
    if not chosen:
        return []
    claimed = session.scalars(
        update(BroadcastRecipient)
        .where(free, BroadcastRecipient.user_id.in_(chosen))
        .values(claim=token, claimed_at=now)
        .returning(BroadcastRecipient.user_id)
        .execution_options(synchronize_session=False)).all()
    return sorted(claimed)


def release(session: Session, broadcast_id: int, token: str) -> int:
    """Give back the pending rows a stopping task had claimed (a later task takes them)."""
    result = session.execute(
        update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id,
                                         BroadcastRecipient.status == PENDING,
                                         BroadcastRecipient.claim == token)
        .values(claim=None, claimed_at=None).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)


def record_result(session: Session, broadcast_id: int, results: dict[int, str],
                  now: datetime | None = None) -> dict[str, int]:
    """Mark recipients `sent` / `failed` / `blocked` ({user id: outcome}) and count them on
    the broadcast. Only pending rows change, so recording twice counts once. Returns how
    many rows changed per outcome."""
    now = _now(now)
    changed = dict.fromkeys(OUTCOMES, 0)
    for outcome in OUTCOMES:
        ids = [uid for uid, result in results.items() if result == outcome]
        if not ids:
            continue
        result = session.execute(
            update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id,
                                             BroadcastRecipient.user_id.in_(ids),
                                             BroadcastRecipient.status == PENDING)
            .values(status=outcome, sent_at=now, claim=None)
            .execution_options(synchronize_session=False))
        changed[outcome] = int(result.rowcount or 0)
    if any(changed.values()):
        session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(
            sent=Broadcast.sent + changed[SENT], failed=Broadcast.failed + changed[FAILED],
            blocked=Broadcast.blocked + changed[BLOCKED]))
    return changed


def advance(session: Session, broadcast_id: int, batch_seq: int) -> bool:
    """Hand the broadcast on from batch `batch_seq` to the next, if it is still this task's
    turn and still running (False: paused, ended or superseded: stop here)."""
    result = session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == RUNNING,
                                Broadcast.batch_seq == batch_seq)
        .values(batch_seq=batch_seq + 1).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def progress_due(session: Session, broadcast_id: int, every: float,
                 now: datetime | None = None) -> bool:
    """True (and the time noted) when the progress message was last edited at least
    `every` seconds ago: one edit per interval, whichever task asks."""
    now = _now(now)
    result = session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id,
                                or_(Broadcast.progress_edited_at.is_(None),
                                    Broadcast.progress_edited_at <= now
                                    - timedelta(seconds=every)))
        .values(progress_edited_at=now).execution_options(synchronize_session=False))
    return bool(result.rowcount)


def _finished_event(session: Session, row: Broadcast, now: datetime) -> events.Event:
    left = max(row.total - row.sent - row.failed - row.blocked, 0)
    ended = row.finished_at or now
    payload: dict[str, Any] = {
        "broadcast_id": row.id, "user_id": row.created_by,
        "lang": language_of(session, row.created_by), "status": row.status,
        "total": row.total, "sent": row.sent, "failed": row.failed, "blocked": row.blocked,
        "left": left, "seconds": round((ended - row.started_at).total_seconds(), 1)}
    return events.record(session, f"broadcast.finished:{row.id}", "broadcast.finished",
                         payload)


def _in_flight(session: Session, broadcast_id: int, now: datetime) -> bool:
    """Whether a batch task holds pending recipients (it is sending them right now)."""
    return bool(session.scalar(select(exists().where(
        BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == PENDING,
        BroadcastRecipient.claim.is_not(None),
        BroadcastRecipient.claimed_at >= now - CLAIM_STALE))))


def conclude(session: Session, broadcast_id: int, now: datetime | None = None
             ) -> list[events.Event] | None:
    """End the broadcast if it is over, with `broadcast.finished` (the admin's final report,
    its numbers final): a running one is done when nothing is pending any more; a cancelled
    one is reported once no batch task is still sending (the one in flight when the cancel
    came calls this again when its batch is recorded). Returns the events to publish, or
    None when there is nothing to do (not over yet, paused, or reported already)."""
    now = _now(now)
    row = _lock(session, broadcast_id)
    if row is None or row.status == PAUSED:
        return None
    event_id = f"broadcast.finished:{row.id}"
    if row.status in (DONE, CANCELLED) and session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id]) or None  # a redelivered reporter
    if row.status == RUNNING:
        if session.scalar(select(exists().where(BroadcastRecipient.broadcast_id == row.id,
                                                BroadcastRecipient.status == PENDING))):
            return None
        row.status, row.finished_at = DONE, now
        session.flush()
    elif _in_flight(session, row.id, now):
        return None
    return [_finished_event(session, row, now)]


# --- pause, resume, cancel ---------------------------------------------------------------

ACTION_EVENTS = {"pause": "broadcast.paused", "resume": "broadcast.resumed",
                 "cancel": "broadcast.cancelled"}


def control(session: Session, actor_id: int | None, broadcast_id: int, action: str,
            request_key: str | None = None, now: datetime | None = None) -> Outcome:
    """Pause, resume or cancel a broadcast, for an admin; every attempt is audited, a
    refusal (not an admin, unknown broadcast, wrong state) is `broadcast.refused` once per
    request key, and the same request delivered again gets its first answer. A resume
    returns the `batch_seq` of the batch task to enqueue; after a cancel, `conclude` makes
    the final report (at once, or when the batch in flight is recorded)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    now = _now(now)
    if request_key is not None:
        if len(request_key) > MAX_REQUEST_KEY:
            raise ValueError("a request key of at most 150 characters is required")
        earlier = session.get(OutboxEvent, f"broadcast.refused:{request_key}")
        if earlier is not None:
            return Outcome(action, str(earlier.payload.get("reason")), broadcast_id,
                           replayed=True, events=events.unpublished(session, [earlier.id]))
        done_before = session.get(OutboxEvent, f"{ACTION_EVENTS[action]}:{request_key}")
        if done_before is not None:
            row = session.get(Broadcast, broadcast_id)
            return Outcome(action, "ok", broadcast_id, row.status if row else None,
                           row.total if row else 0, row.batch_seq if row else 0,
                           replayed=True, events=events.unpublished(session, [done_before.id]))
    details = {"request_key": request_key} if request_key else {}
    row: Broadcast | None = None
    try:
        if not admins.is_admin(session, actor_id):
            raise NotAdmin(str(actor_id))
        row = _lock(session, broadcast_id)
        if row is None:
            raise UnknownBroadcast(str(broadcast_id))
        allowed = {"pause": (RUNNING,), "resume": (PAUSED,), "cancel": (RUNNING, PAUSED)}
        if row.status not in allowed[action]:
            raise WrongState(row.status)
    except Refused as exc:
        return _refuse(session, action, actor_id, request_key, exc,
                       {**details, "state": row.status if row is not None else None},
                       broadcast_id)
    if action == "pause":
        row.status = PAUSED
    elif action == "resume":
        row.status = RUNNING
        row.batch_seq += 1  # a task still finishing its batch stops instead of going on
    else:
        row.status, row.finished_at = CANCELLED, now
    session.flush()
    admins.audit(session, actor_id, f"broadcast.{action}", f"broadcast:{row.id}", "ok",
                 details)
    recorded: list[events.Event] = []
    if request_key is not None:
        recorded.append(events.record(session, f"{ACTION_EVENTS[action]}:{request_key}",
                                      ACTION_EVENTS[action],
                                      {"broadcast_id": row.id, "admin_id": actor_id}))
    return Outcome(action, "ok", row.id, row.status, row.total, row.batch_seq,
                   events=recorded)


def pause(session: Session, actor_id: int | None, broadcast_id: int,
          request_key: str | None = None) -> Outcome:
    return control(session, actor_id, broadcast_id, "pause", request_key)


def resume(session: Session, actor_id: int | None, broadcast_id: int,
           request_key: str | None = None) -> Outcome:
    return control(session, actor_id, broadcast_id, "resume", request_key)


def cancel(session: Session, actor_id: int | None, broadcast_id: int,
           request_key: str | None = None) -> Outcome:
    return control(session, actor_id, broadcast_id, "cancel", request_key)


# --- progress ----------------------------------------------------------------------------


def progress(session: Session, broadcast_id: int, now: datetime | None = None
             ) -> Progress | None:
    """Sent / failed / blocked / left, the rate (messages per second over the last
    RATE_WINDOW seconds while running; overall once ended) and the ETA."""
    now = _now(now)
    row = session.get(Broadcast, broadcast_id)
    if row is None:
        return None
    done = row.sent + row.failed + row.blocked
    end = row.finished_at or now
    elapsed = max((end - row.started_at).total_seconds(), 0.0)
    rate, eta = 0.0, None
    if row.status in (DONE, CANCELLED):
        rate = done / elapsed if elapsed > 0 else 0.0
    else:
        count, first, last = session.execute(
            select(func.count(), func.min(BroadcastRecipient.sent_at),
                   func.max(BroadcastRecipient.sent_at))
            .where(BroadcastRecipient.broadcast_id == broadcast_id,
                   BroadcastRecipient.sent_at >= now - timedelta(seconds=RATE_WINDOW))).one()
        if count and first is not None and last is not None:
            first, last = _aware(first), _aware(last)
            span = (last - first).total_seconds()
            if count > 1 and span > 0:
                rate = (count - 1) / span
        if row.status == RUNNING and rate > 0:
            eta = max(row.total - done, 0) / rate
    return Progress(row.id, row.status, row.total, row.sent, row.failed, row.blocked, rate,
                    eta, elapsed, row.created_by, language_of(session, row.created_by),
                    row.progress_chat_id, row.progress_message_id)


def _aware(value: datetime | str) -> datetime:
    """Aggregates (min/max) come back from SQLite untyped: read them as UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
