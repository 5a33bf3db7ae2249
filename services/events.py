"""Domain events, written to the outbox in the transaction of the change that caused them.

An event id is derived from what caused it (for example `gift.claimed:42:2026-11-25`), so
recording the same event twice is a no-op and every consumer can deduplicate by id.
Payloads carry ids, amounts and codes only: never names, usernames or message text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import context
from models.tables import OutboxEvent


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
        row = OutboxEvent(id=event_id, type=event_type, payload=payload,
                          correlation_id=context.current(), created_at=datetime.now(UTC))
        session.add(row)
    return Event.from_row(row)


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
    row = OutboxEvent(id=event_id, type=event_type, payload=payload,
                      correlation_id=context.current(), created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return Event.from_row(row)


def unpublished(session: Session, event_ids: list[str]) -> list[Event]:
    """Those of the given events not yet published (to finish a job a crash interrupted)."""
    rows = session.scalars(select(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                                     OutboxEvent.published_at.is_(None)))
    return [Event.from_row(row) for row in rows]
