"""Commands: every action the bot or the API accepts, recorded in SQL before anyone is told
it is being worked on. SQL is the truth of work; the broker is only a transport.

A command is keyed by its request key (one per Telegram update, one per API idempotency
key), so a duplicate update or a retried request finds the record and changes nothing. It
holds the workflow to run (a Celery signature: plain JSON, built by `tasks/`; nothing here
knows Celery). It stays `accepted` until the workflow's last step has finished (`done`,
or `refused` when the action was refused politely) or failed for good (`failed`: a dead
letter holds it). The reconciler (`tasks.events.relay`, beat) starts again every accepted
command whose `redrive_at` has passed, each member's in the order they were accepted,
backing off 1x, 2x, 4x, ... `COMMAND_REDRIVE_AFTER` up to `COMMAND_REDRIVE_MAX`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import Command

ACCEPTED, DONE, REFUSED, FAILED = "accepted", "done", "refused", "failed"
FINISHED = (DONE, REFUSED, FAILED)


class NotTaken(Exception):
    """SQL could not record the command: nothing may claim it is in progress."""


@dataclass(frozen=True)
class Finished:
    """A command's outcome, as the task that finished it saw it."""

    id: str
    state: str
    result: dict[str, Any] | None


def outcome_of(command_id: str, value: object) -> Finished:
    """The outcome a workflow's last step returned: refused when it says so, else done."""
    result = value if isinstance(value, dict) else None
    if result is None and value is not None and isinstance(value, list | str | int | float):
        result = {"value": value}
    state = REFUSED if result is not None and result.get("status") == "refused" else DONE
    return Finished(command_id, state, result)


def accept(session: Session, command_id: str, *, task_name: str, signature: dict[str, Any],
           member_id: int | None, correlation_id: str | None,
           now: datetime | None = None) -> bool:
    """Record a command once. True when this call recorded it; False when it existed."""
    if session.get(Command, command_id) is not None:
        return False
    now = now or datetime.now(UTC)
    session.add(Command(id=command_id, member_id=member_id, task_name=task_name,
                        signature=signature, correlation_id=correlation_id, state=ACCEPTED,
                        attempts=0, created_at=now,
                        redrive_at=now + timedelta(seconds=get_settings().command_redrive_after)))
    session.flush()  # a twin racing for the same key fails here (unique key), not later
    return True


def finish(session: Session, outcomes: Iterable[Finished], now: datetime | None = None) -> int:
    """Record outcomes of commands still accepted (the first outcome stands), or of failed
    ones that a replayed dead letter has now finished."""
    now = now or datetime.now(UTC)
    count = 0
    for outcome in outcomes:
        settled = (ACCEPTED,) if outcome.state == FAILED else (ACCEPTED, FAILED)
        count += session.execute(
            update(Command).where(Command.id == outcome.id, Command.state.in_(settled))
            .values(state=outcome.state, result=outcome.result, finished_at=now)
        ).rowcount or 0
    return count


def due(session: Session, limit: int, now: datetime | None = None) -> list[Command]:
    """Accepted commands to start again, oldest first; locked for this run on PostgreSQL."""
    now = now or datetime.now(UTC)
    query = (select(Command).where(Command.state == ACCEPTED, Command.redrive_at <= now)
             .order_by(Command.created_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def driven(command: Command, now: datetime | None = None) -> None:
    """Note that `command` was started again; the next try waits twice as long."""
    settings = get_settings()
    now = now or datetime.now(UTC)
    command.attempts = (command.attempts or 0) + 1
    wait = min(settings.command_redrive_after * 2 ** min(command.attempts, 10),
               settings.command_redrive_max)
    command.redrive_at = now + timedelta(seconds=wait)


def in_member_order(commands: Iterable[Command]) -> list[list[Command]]:
    """Commands grouped so that each member's run one after another, in acceptance order
    (a queued purchase after the queued gift that funds it); commands of no member alone."""
    by_member: dict[int, list[Command]] = {}
    alone: list[list[Command]] = []
    for command in sorted(commands, key=lambda c: (c.created_at, c.id)):
        if command.member_id is None:
            alone.append([command])
        else:
            by_member.setdefault(command.member_id, []).append(command)
    return [*by_member.values(), *alone]


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return int(session.scalar(select(func.count()).select_from(Command)
                              .where(Command.state == ACCEPTED)) or 0)


def get(session: Session, command_id: str) -> Command | None:
    return session.get(Command, command_id)


def forget_finished(session: Session, older_than: datetime, limit: int = 1000) -> int:
    """Delete finished commands older than `older_than` (bounded batch)."""
    ids = list(session.scalars(select(Command.id).where(Command.state.in_(FINISHED),
                                                        Command.finished_at < older_than)
                               .limit(limit)))
    if not ids:
        return 0
    session.execute(delete(Command).where(Command.id.in_(ids)))
    return len(ids)
