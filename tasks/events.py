"""Publishing outbox events to their subscribers, and the relay that guarantees it.

A subscriber is a task decorated with `@subscribe("type", ...)` in its own module; the
registry fills as modules are imported, so a new module joins without editing a switch.
Publishing an event starts one task per subscriber (a group) with the event as argument.

After a transaction commits, the task that committed it calls `publish_after_commit`. If
the broker is unreachable then, nothing is lost: the `outbox-relay` beat job publishes
every event still unpublished after `OUTBOX_RELAY_MIN_AGE` seconds, and every workflow
start a bot or API process could not enqueue (`pending_commands`). Subscribers are
idempotent per event id, so publishing twice is harmless.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import redis.exceptions
from celery import group, signature
from celery.canvas import Signature
from sqlalchemy import select, update

from core import context
from core.settings import get_settings
from models.db import unit_of_work
from models.tables import OutboxEvent, PendingCommand
from services.events import Event
from tasks.base import BROKER_DOWN, YabotTask
from tasks.telegram import redis_client
from worker.app import app

logger = logging.getLogger(__name__)

_subscribers: dict[str, list[str]] = defaultdict(list)
# Publishing from inside a task or a request: try briefly, then leave it to the relay.
QUICK_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
               "interval_max": 0.2}

T = TypeVar("T")

# Unix time of the relay's last run, written by every run: /health reads its age to tell
# whether beat (and a worker on the default queue) is alive.
BEAT_HEARTBEAT_KEY = "yabot:heartbeat:beat"


def subscribe(*event_types: str) -> Callable[[T], T]:
    """Register a task (by its name) as a subscriber of the given event types."""

    def register(task: T) -> T:
        name = task.name  # type: ignore[attr-defined]
        for event_type in event_types:
            if name not in _subscribers[event_type]:
                _subscribers[event_type].append(name)
        return task

    return register


def subscribers(event_type: str) -> list[str]:
    return list(_subscribers.get(event_type, ()))


def reactions(event: dict[str, Any]) -> Signature | None:
    """The group of subscriber tasks one event starts (None when nobody listens)."""
    names = subscribers(event["type"])
    if not names:
        return None
    # Flower and the logs show the event id, not the whole payload.
    shown = f"(<event {event['id']}>,)"
    return group(signature(name, args=(event,), immutable=True).set(argsrepr=shown)
                 for name in names)


def _send(messages: Iterable[dict[str, Any]]) -> list[str]:
    """Start the reactions of each event; returns the ids of the events sent."""
    sent = []
    with app.producer_or_acquire() as producer:
        for message in messages:
            canvas = reactions(message)
            if canvas is not None:
                token = context.correlation_id.set(message.get("correlation_id"))
                try:
                    canvas.apply_async(producer=producer, retry_policy=QUICK_RETRY)
                finally:
                    context.correlation_id.reset(token)
            sent.append(message["id"])
    return sent


def _mark_published(event_ids: list[str]) -> None:
    if event_ids:
        with unit_of_work() as session:
            session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(event_ids),
                                                      OutboxEvent.published_at.is_(None))
                            .values(published_at=datetime.now(UTC)))


class PublishedMarks:
    """Ids of events just published, written to SQL in bulk a moment later.

    Marking each event as it is published took a write transaction (SQLite's one writer
    lock) per publishing task: the largest avoidable cost of a gift claim in the bench. A
    daemon thread of each process writes the ids gathered every `every` seconds in one
    UPDATE instead. An id whose mark is lost (the process died, SQL was down) only means
    the relay publishes that event again after `OUTBOX_RELAY_MIN_AGE`: subscribers are
    idempotent per event id. Safe across fork: a child starts with its own list and thread.
    """

    KEEP_AT_MOST = 10_000  # ids kept for another try while SQL is unreachable

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self._pid = -1
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._ids: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, event_ids: list[str]) -> None:
        if not event_ids:
            return
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            self._ids.extend(event_ids)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-marks",
                                                daemon=True)
                self._thread.start()

    def pending(self) -> int:
        return len(self._ids) if self._pid == os.getpid() else 0

    def flush(self) -> int:
        """Write the gathered marks now; returns how many were written."""
        if self._pid != os.getpid():
            self._reset()
            return 0
        with self._lock:
            ids, self._ids = self._ids, []
        if not ids:
            return 0
        try:
            _mark_published(ids)
            return len(ids)
        except Exception as exc:  # noqa: BLE001 - kept for the next try; the relay covers it
            logger.warning("outbox marks not written (%s); %d kept for the next try",
                           type(exc).__name__, len(ids))
            with self._lock:
                self._ids[:0] = ids[-self.KEEP_AT_MOST:]
            return 0

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            self.flush()


published_marks = PublishedMarks()


def publish_after_commit(events: Iterable[Event]) -> bool:
    """Publish committed events now; on a broker outage leave them to the relay."""
    messages = [event.as_message() for event in events]
    if not messages:
        return True
    try:
        sent = _send(messages)
    except BROKER_DOWN:
        logger.warning("broker unreachable; %d event(s) left to the outbox relay", len(messages))
        return False
    published_marks.add(sent)
    return True


def start(workflow: Signature, *, command_id: str) -> bool:
    """Start a workflow from a bot or API process. Returns True if it reached the broker.

    When the broker is unreachable the workflow (a signature, which is plain JSON) is kept
    in SQL (`pending_commands`, once per `command_id`) and the relay starts it later; the
    caller tells the member it is queued.
    """
    try:
        workflow.apply_async(retry_policy=QUICK_RETRY)
        return True
    except BROKER_DOWN:
        pass
    with unit_of_work() as session:
        if session.get(PendingCommand, command_id) is None:
            session.add(PendingCommand(id=command_id, task_name=str(workflow.get("task")),
                                       args={"signature": dict(workflow)},
                                       correlation_id=context.current(),
                                       created_at=datetime.now(UTC)))
    logger.warning("broker unreachable; workflow %s kept for the relay", command_id)
    return False


def _heartbeat() -> None:
    """Record that the relay ran now (a missing heartbeat must not stop the relay)."""
    try:
        redis_client().set(BEAT_HEARTBEAT_KEY, time.time())
    except redis.exceptions.RedisError as exc:
        logger.warning("beat heartbeat not written: %s", type(exc).__name__)


@app.task(base=YabotTask, name="tasks.events.relay")
def relay() -> dict[str, int]:
    """Publish what is still unpublished (outbox events and pending commands)."""
    _heartbeat()
    settings = get_settings()
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.outbox_relay_min_age)
    with unit_of_work() as session:
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.published_at.is_(None),
                                      OutboxEvent.created_at <= cutoff)
            .order_by(OutboxEvent.created_at).limit(settings.outbox_relay_batch)
        ).all()
        messages = [Event.from_row(row).as_message() for row in rows]
        commands = session.scalars(
            select(PendingCommand).where(PendingCommand.sent_at.is_(None))
            .order_by(PendingCommand.created_at).limit(settings.outbox_relay_batch)
        ).all()
        for command in commands:
            token = context.correlation_id.set(command.correlation_id)
            try:
                app.signature(command.args["signature"]).apply_async()
            finally:
                context.correlation_id.reset(token)
            command.sent_at = datetime.now(UTC)
    sent = _send(messages)
    _mark_published(sent)
    if sent or commands:
        logger.info("relay published %d event(s), %d command(s)", len(sent), len(commands))
    return {"events": len(sent), "commands": len(commands)}
