"""Domain events, written to the outbox in the transaction of the change that caused them.

An event id is derived from what caused it (for example `gift.claimed:42:2026-11-25`), so
recording the same event twice is a no-op and every consumer can deduplicate by id.
Payloads carry ids, amounts and codes only: never names, usernames or message text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core import context
from core.settings import get_settings
from models.tables import OutboxEvent, OutboxHandled


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    payload: dict[str, Any]
    correlation_id: str | None
    at: str

    def as_message(self) -> dict[str, Any]:
        """The JSON form subscribers receive."""
        return {"id": self.id, "type": self.type, "payload": self.payload,
                "correlation_id": self.correlation_id, "at": self.at}

    @classmethod
    def from_row(cls, row: OutboxEvent) -> Event:
        return cls(row.id, row.type, row.payload, row.correlation_id, row.created_at.isoformat())


def record(session: Session, event_id: str, event_type: str, payload: dict[str, Any]) -> Event:
    """Add an event to the outbox of `session`'s transaction (once per id)."""
    row = session.get(OutboxEvent, event_id)
    if row is None:
        row = _new_row(event_id, event_type, payload)
        session.add(row)
    return Event.from_row(row)


def _new_row(event_id: str, event_type: str, payload: dict[str, Any]) -> OutboxEvent:
    now = datetime.now(UTC)
    return OutboxEvent(id=event_id, type=event_type, payload=payload,
                       correlation_id=context.current(), created_at=now, redrives=0,
                       redrive_at=now + timedelta(seconds=get_settings().outbox_relay_min_age))


def record_once(session: Session, event_id: str, event_type: str,
                payload: dict[str, Any]) -> Event | None:
    """Add an event and write it now; None when an event with this id exists already.

    For side rows that must exist once with their event (an audit row of a refusal): write
    them only when this returns an event. The immediate INSERT makes a twin transaction
    racing for the same id wait here and then fail (unique key; the task retries and finds
    the event), instead of slipping its side rows past a check made earlier.
    """
    if session.get(OutboxEvent, event_id) is not None:
        return None
    row = _new_row(event_id, event_type, payload)
    session.add(row)
    session.flush()
    return Event.from_row(row)


def unpublished(session: Session, event_ids: list[str]) -> list[Event]:
    """Those of the given events not yet published (to finish a job a crash interrupted)."""
    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                                     OutboxEvent.published_at.is_(None)))
    return [Event.from_row(row) for row in rows]


# --- delivered means handled ------------------------------------------------------------
# An event is delivered when each of its subscribers has finished with it, not when it was
# published. Subscribers' completions are written in bulk (`outbox_handled`, once per event
# and subscriber); an event all of whose subscribers finished gets `handled_at`, and the
# relay stops sending it. Until then, whenever `redrive_at` passes, the relay sends it again
# to the subscribers that have not finished.


def mark_published(session: Session, event_ids: list[str], now: datetime | None = None) -> None:
    """The events' subscriber tasks were sent: give them OUTBOX_REDRIVE_AFTER to finish."""
    if not event_ids:
        return
    now = now or datetime.now(UTC)
    wait = timedelta(seconds=get_settings().outbox_redrive_after)
    session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                              OutboxEvent.published_at.is_(None))
                    .values(published_at=now))
    session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                              OutboxEvent.handled_at.is_(None),
                                              OutboxEvent.redrive_at < now + wait)
                    .values(redrive_at=now + wait))


def mark_handled(session: Session, marks: Iterable[tuple[str, str, str]],
                 subscribers_of: Callable[[str], list[str]],
                 now: datetime | None = None) -> int:
    """Record (event id, subscriber, status) completions once each; events whose every
    subscriber has finished become handled. Returns how many events became handled."""
    now = now or datetime.now(UTC)
    rows = {(e, s): {"event_id": e, "subscriber": s, "status": st, "at": now}
            for e, s, st in marks}
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(OutboxHandled).on_conflict_do_nothing(), list(rows.values()))
    event_ids = sorted({e for e, _ in rows})
    types = dict(session.execute(select(OutboxEvent.id, OutboxEvent.type)
                                 .where(OutboxEvent.id.in_(event_ids),
                                        OutboxEvent.handled_at.is_(None))).all())
    if not types:
        return 0
    done: dict[str, set[str]] = {}
    for event_id, subscriber in session.execute(
            select(OutboxHandled.event_id, OutboxHandled.subscriber)
            .where(OutboxHandled.event_id.in_(list(types)))):
        done.setdefault(event_id, set()).add(subscriber)
    complete = [e for e, t in types.items() if set(subscribers_of(t)) <= done.get(e, set())]
    if complete:
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(complete))
                        .values(handled_at=now))
    return len(complete)


def mark_unwatched(session: Session, event_ids: list[str], now: datetime | None = None) -> None:
    """Events nobody subscribes to are handled once published."""
    if event_ids:
        now = now or datetime.now(UTC)
        session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                                  OutboxEvent.handled_at.is_(None))
                        .values(handled_at=now, published_at=func.coalesce(
                            OutboxEvent.published_at, now)))


def due(session: Session, limit: int, now: datetime | None = None) -> list[OutboxEvent]:
    """Events not yet handled whose time to be sent (again) has come, oldest first."""
    now = now or datetime.now(UTC)
    query = (select(OutboxEvent).where(OutboxEvent.handled_at.is_(None),
                                       OutboxEvent.redrive_at <= now)
             .order_by(OutboxEvent.created_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def finished_subscribers(session: Session, event_ids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    if event_ids:
        for event_id, subscriber in session.execute(
                select(OutboxHandled.event_id, OutboxHandled.subscriber)
                .where(OutboxHandled.event_id.in_(event_ids))):
            found.setdefault(event_id, set()).add(subscriber)
    return found


def redriven(row: OutboxEvent, now: datetime | None = None) -> None:
    """`row` was sent again: the next try waits twice as long (capped)."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    row.redrives = (row.redrives or 0) + 1
    if row.published_at is None:
        row.published_at = now
    wait = min(settings.outbox_redrive_after * 2 ** min(row.redrives - 1, 10),
               settings.command_redrive_max)
    row.redrive_at = now + timedelta(seconds=wait)


def backlog(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.handled_at.is_(None))) or 0)
