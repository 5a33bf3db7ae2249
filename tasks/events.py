"""Accepting commands, publishing outbox events, and the reconciler that re-drives both.

SQL is the truth of work; the broker is a transport that may lose any message (the last
second of an AOF file, a message between BRPOP and its unacked record, a flushed queue).

- **Commands.** `start()` records an accepted action in SQL (`commands`, once per request
  key) before the member or client is told it is being worked on, then sends its
  workflow; the workflow's last step carries the command's task id (`cmd:<key>`), and its
  success finishes the command (done, or refused). SQL down: `commands.NotTaken`, and
  nothing claims to be in progress.
- **Events.** A subscriber is a task decorated with `@subscribe("type", ...)` in its own
  module; the registry fills as modules are imported, so a new module joins without editing
  a switch. Publishing an event starts one task per subscriber (a group) with the event as
  argument. An event is delivered when every subscriber has *finished* with it
  (`outbox_handled`), not when it was published.
- **Marks.** Completions (published, handled, finished) are written in bulk by a thread of
  each process (`Marks`): one SQL write per 0.2 s instead of one per task.
- **The reconciler** (`relay`, the `outbox-relay` beat job) sends again every event not yet
  handled whose `redrive_at` passed (only to the subscribers that have not finished), and
  every accepted command not finished, each member's in the order accepted, with backoff.
  Subscribers and steps are idempotent per event id and request key, so sending twice is
  harmless.
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
import sqlalchemy.exc
from celery import chain, group, signature
from celery.canvas import Signature, _chain

from core import context, failpoints
from core.settings import get_settings
from models.db import unit_of_work
from services import commands
from services import events as events_service
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
COMMAND_TASK_PREFIX = "cmd:"


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


def reactions(event: dict[str, Any], names: list[str] | None = None) -> Signature | None:
    """The group of subscriber tasks one event starts (None when nobody listens); `names`
    limits it to those subscribers (the relay sends an event only to who has not finished)."""
    names = subscribers(event["type"]) if names is None else names
    if not names:
        return None
    # Flower and the logs show the event id, not the whole payload.
    shown = f"(<event {event['id']}>,)"
    return group(signature(name, args=(event,), immutable=True).set(argsrepr=shown)
                 for name in names)


def _send(plan: Iterable[tuple[dict[str, Any], list[str] | None]],
          **options: Any) -> tuple[list[str], list[str]]:
    """Start the reactions of each event (all its subscribers, or the names given).
    Returns the ids of the events sent, and of those nobody subscribes to."""
    sent, unwatched = [], []
    with app.producer_or_acquire() as producer:
        for message, names in plan:
            if not subscribers(message["type"]):
                unwatched.append(message["id"])
                continue
            canvas = reactions(message, names)
            if canvas is not None:
                token = context.correlation_id.set(message.get("correlation_id"))
                try:
                    canvas.apply_async(producer=producer, **options)
                finally:
                    context.correlation_id.reset(token)
            sent.append(message["id"])
    return sent, unwatched


class Marks:
    """What tasks finished, written to SQL in bulk a moment later, in one transaction:
    events published, subscribers that finished an event, commands that finished.

    Writing each as it happens took a write transaction (SQLite's one writer lock) per task:
    the largest avoidable cost of a gift claim in the bench. A daemon thread of each
    process writes what was gathered every `every` seconds instead. A mark that is lost
    (the process died, SQL was down) only means the relay sends that event or command
    again: every task is idempotent. Safe across fork: a child starts with its own lists.
    """

    KEEP_AT_MOST = 10_000  # marks kept for another try while SQL is unreachable

    def __init__(self, every: float = 0.2) -> None:
        self.every = every
        self._pid = -1
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._published: list[str] = []
        self._unwatched: list[str] = []
        self._handled: list[tuple[str, str, str]] = []
        self._finished: list[commands.Finished] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _add(self, target: str, items: list[Any]) -> None:
        if not items:
            return
        if self._pid != os.getpid():
            self._reset()
        with self._lock:
            getattr(self, target).extend(items)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="outbox-marks",
                                                daemon=True)
                self._thread.start()

    def published(self, event_ids: list[str], unwatched: list[str]) -> None:
        self._add("_published", list(event_ids))
        self._add("_unwatched", list(unwatched))

    def handled(self, event_id: str, subscriber: str, status: str = "done") -> None:
        self._add("_handled", [(event_id, subscriber, status)])

    def finished(self, outcome: commands.Finished) -> None:
        self._add("_finished", [outcome])

    def pending(self) -> int:
        if self._pid != os.getpid():
            return 0
        return (len(self._published) + len(self._unwatched) + len(self._handled)
                + len(self._finished))

    def flush(self) -> int:
        """Write the gathered marks now; returns how many were written."""
        if self._pid != os.getpid():
            self._reset()
            return 0
        with self._lock:
            taken = (self._published, self._unwatched, self._handled, self._finished)
            self._published, self._unwatched, self._handled, self._finished = [], [], [], []
        published, unwatched, handled, finished = taken
        count = sum(len(part) for part in taken)
        if not count:
            return 0
        try:
            with unit_of_work() as session:
                events_service.mark_published(session, published)
                events_service.mark_unwatched(session, unwatched)
                events_service.mark_handled(session, handled, subscribers)
                commands.finish(session, finished)
            return count
        except Exception as exc:  # noqa: BLE001 - kept for the next try; the relay covers it
            logger.warning("marks not written (%s); %d kept for the next try",
                           type(exc).__name__, count)
            with self._lock:
                keep = self.KEEP_AT_MOST
                self._published[:0] = published[-keep:]
                self._unwatched[:0] = unwatched[-keep:]
                self._handled[:0] = handled[-keep:]
                self._finished[:0] = finished[-keep:]
            return 0

    def _run(self) -> None:
        while True:
            time.sleep(self.every)
            self.flush()


marks = Marks()


def publish_after_commit(events: Iterable[Event]) -> bool:
    """Publish committed events now; on a broker outage leave them to the relay."""
    messages = [event.as_message() for event in events]
    if not messages:
        return True
    try:
        sent, unwatched = _send([(message, None) for message in messages],
                                retry_policy=QUICK_RETRY)
    except BROKER_DOWN:
        logger.warning("broker unreachable; %d event(s) left to the outbox relay", len(messages))
        return False
    marks.published(sent, unwatched)
    return True


def command_task_id(command_id: str) -> str:
    """The Celery task id of a command's last step: its success finishes the command."""
    return f"{COMMAND_TASK_PREFIX}{command_id}"


def _drive(workflow: Signature, command_id: str, **options: Any) -> None:
    workflow.apply_async(task_id=command_task_id(command_id), **options)


def start(workflow: Signature, *, command_id: str, member_id: int | None = None) -> bool:
    """Accept an action: record it as a command in SQL, then start its workflow.

    Returns True when the workflow reached the broker (or the command existed already: a
    duplicate update or a retried request changes nothing), False when the broker was
    unreachable: the command is kept and the reconciler starts it later, so the caller
    tells the member it is queued. Raises `commands.NotTaken` when SQL cannot record it:
    then nothing may claim the action is in progress.
    """
    workflow = _immutable(workflow)
    try:
        with unit_of_work() as session:
            fresh = commands.accept(session, command_id, task_name=_name_of(workflow),
                                    signature=dict(workflow), member_id=member_id,
                                    correlation_id=context.current())
    except sqlalchemy.exc.IntegrityError:
        fresh = False  # a twin (the same update in another bot process) recorded it first
    except sqlalchemy.exc.SQLAlchemyError as exc:
        raise commands.NotTaken(type(exc).__name__) from exc
    if not fresh:
        return True
    failpoints.reached("command-recorded")
    try:
        _drive(workflow, command_id, retry_policy=QUICK_RETRY)
        return True
    except BROKER_DOWN:
        logger.warning("broker unreachable; command %s kept for the reconciler", command_id)
        return False


def _name_of(workflow: Signature) -> str:
    if isinstance(workflow, _chain):
        return str(workflow.tasks[0].get("task"))
    return str(workflow.get("task"))


def _immutable(workflow: Signature) -> Signature:
    """A workflow replayed after others of its member must not take their results."""
    if isinstance(workflow, _chain) and workflow.tasks:
        workflow.tasks[0].set(immutable=True)
        return workflow
    if not isinstance(workflow, group):
        workflow.set(immutable=True)
    return workflow


def _heartbeat() -> None:
    """Record that the relay ran now (a missing heartbeat must not stop the relay)."""
    try:
        redis_client().set(BEAT_HEARTBEAT_KEY, time.time())
    except redis.exceptions.RedisError as exc:
        logger.warning("beat heartbeat not written: %s", type(exc).__name__)


@app.task(base=YabotTask, name="tasks.events.relay")
def relay() -> dict[str, int]:
    """The reconciler: send again what is not done. Events not handled by all their
    subscribers (to those that have not finished), and accepted commands not finished (each
    member's in the order accepted). Both back off, so a long outage is not a flood."""
    _heartbeat()
    settings = get_settings()
    now = datetime.now(UTC)
    with unit_of_work() as session:
        rows = events_service.due(session, settings.outbox_relay_batch, now)
        finished = events_service.finished_subscribers(session, [r.id for r in rows])
        plan: list[tuple[dict[str, Any], list[str]]] = []
        for row in rows:
            missing = [n for n in subscribers(row.type) if n not in finished.get(row.id, ())]
            plan.append((Event.from_row(row).as_message(), missing))
            events_service.redriven(row, now)
        due_commands = commands.due(session, settings.outbox_relay_batch, now)
        runs = commands.in_member_order(due_commands)
        for command in due_commands:
            commands.driven(command, now)
        forgotten = commands.forget_finished(
            session, now - timedelta(days=settings.command_retention_days))
    # Sent after the commit: a relay that dies here has only moved the next try later.
    sent, unwatched = _send(plan)
    marks.published([], unwatched)
    for run in runs:
        _drive_run(run)
    if sent or unwatched or due_commands:
        logger.info("relay sent %d event(s) again, %d command(s) in %d run(s)",
                    len(sent) + len(unwatched), len(due_commands), len(runs))
    return {"events": len(sent) + len(unwatched), "commands": len(due_commands),
            "forgotten": forgotten}


def _drive_run(run: list[Any]) -> None:
    """Start one member's commands one after another (each command's last step keeps its
    command task id, so each finishes its own command)."""
    steps = []
    for command in run:
        workflow = _immutable(app.signature(command.signature))
        if isinstance(workflow, _chain):
            workflow.tasks[-1].set(task_id=command_task_id(command.id))
        else:
            workflow.set(task_id=command_task_id(command.id))
        steps.append(workflow)
    token = context.correlation_id.set(run[0].correlation_id)
    try:
        (steps[0] if len(steps) == 1 else chain(*steps)).apply_async()
    except BROKER_DOWN:
        logger.warning("broker unreachable; %d command(s) wait for the next run", len(run))
    finally:
        context.correlation_id.reset(token)
