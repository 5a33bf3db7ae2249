"""📣 Broadcast tasks (the `broadcast` queue): start, one bounded batch at a time, control.

`start` runs the service's one transaction (segment resolved into recipient rows, audit,
`broadcast.started`, or a polite refusal), sends the admin's progress message and enqueues
the first batch. `run(broadcast_id, seq)` sends ONE batch of `BROADCAST_BATCH` members
through `tasks.telegram.deliver` (the shared limiter keeps the whole bot at Telegram's pace;
a 403 marks the member unreachable and counts as blocked, never retried), records the
outcomes, edits the progress message (at most every `BROADCAST_PROGRESS_EVERY` seconds) and
enqueues `run(broadcast_id, seq + 1)`: no long ETAs, no chord. Before every batch it checks
that the broadcast is still running and that `seq` is still its turn, so a pause or a cancel
stops it at once and a resume (which enqueues a new `run`) supersedes it.

Delivered twice, a batch task sends nothing twice: it gets back the recipients it had
claimed (`claim` = its seq), and each send's delivery key `broadcast:<id>:<user>` is
claimed once by `deliver` (a member already done is skipped and its outcome read back from
`deliveries`).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from celery.exceptions import Retry

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import Delivery
from services import broadcasts
from services.messages import broadcasts as broadcast_messages
from tasks.base import YabotTask
from tasks.events import publish_after_commit
from tasks.telegram import TelegramError, deliver
from worker.app import app

logger = logging.getLogger(__name__)

RECHECK_SECONDS = 5  # recipients claimed by a task still sending: look again this soon
OUTCOME_OF_DELIVERY = {"sent": broadcasts.SENT, "blocked": broadcasts.BLOCKED,
                       "rejected": broadcasts.FAILED}


def delivery_key(broadcast_id: int, user_id: int) -> str:
    return f"broadcast:{broadcast_id}:{user_id}"


def _delivery(key: str) -> tuple[str | None, int | None]:
    with read_session() as session:
        row = session.get(Delivery, key)
        return (row.status, row.message_id) if row is not None else (None, None)


def _send_one(task: Task, broadcast_id: int, user_id: int, text: str,
              parse_mode: str | None) -> str:
    """One member's message: its outcome (sent, failed or blocked). Raises Retry (429, the
    limiter asking for a longer wait, another attempt sending this very message) and
    transient errors, which retry the batch task."""
    key = delivery_key(broadcast_id, user_id)
    params: dict[str, Any] = {"chat_id": user_id, "text": text}
    if parse_mode:
        params["parse_mode"] = parse_mode
    try:
        result = deliver(task, key, user_id, "sendMessage", params)
    except TelegramError as exc:  # a permanent 4xx (chat not found, bad markup, …)
        logger.info("broadcast %s: delivery %s rejected (%s)", broadcast_id, key, exc.code)
        return broadcasts.FAILED
    if result is not None:
        return broadcasts.SENT
    status, _ = _delivery(key)  # blocked now, or done by an earlier attempt
    return OUTCOME_OF_DELIVERY.get(status or "", broadcasts.FAILED)


def _edit_progress(task: Task, broadcast_id: int, key: str) -> None:
    """Edit the admin's progress message to the broadcast's current state (best effort: a
    progress edit that fails is not worth a retry; the next one shows the numbers)."""
    with read_session() as session:
        shown = broadcasts.progress(session, broadcast_id)
    if shown is None or shown.progress_chat_id is None or shown.progress_message_id is None:
        return
    rendered = broadcast_messages.progress_view(shown)
    params = rendered.params(shown.progress_chat_id)
    params["message_id"] = shown.progress_message_id
    if rendered.reply_markup is None:
        params["reply_markup"] = {"inline_keyboard": []}
    try:
        deliver(task, f"broadcast:{broadcast_id}:edit:{key}", shown.progress_chat_id,
                "editMessageText", params)
    except (Retry, TelegramError) as exc:
        logger.info("broadcast %s: progress edit skipped (%s)", broadcast_id,
                    type(exc).__name__)


def _send_progress_message(task: Task, broadcast_id: int) -> None:
    """The admin's live progress message, sent once (its id is kept for the edits)."""
    with read_session() as session:
        shown = broadcasts.progress(session, broadcast_id)
    if shown is None or shown.progress_chat_id is None or shown.progress_message_id:
        return
    rendered = broadcast_messages.progress_view(shown)
    key = f"broadcast:{broadcast_id}:progress"
    try:
        result = deliver(task, key, shown.progress_chat_id, rendered.method,
                         rendered.params(shown.progress_chat_id))
    except TelegramError as exc:
        logger.info("broadcast %s: no progress message (%s)", broadcast_id, exc.code)
        return
    message_id = result.get("message_id") if isinstance(result, dict) else _delivery(key)[1]
    with unit_of_work() as session:
        broadcasts.set_progress_message(session, broadcast_id, message_id)


@app.task(base=YabotTask, name="tasks.broadcasts.start", bind=True)
def start(self: Task, actor_id: int, segment: dict[str, Any], text: str,
          request_key: str) -> dict[str, Any]:
    """An admin's `/difundir`: start the broadcast (or refuse politely; audited either
    way), send the progress message and enqueue the first batch."""
    with unit_of_work() as session:
        outcome = broadcasts.start(session, actor_id, segment, text, request_key,
                                   progress_chat_id=actor_id)
    publish_after_commit(outcome.events)
    if not outcome.ok or outcome.broadcast_id is None:
        return outcome.as_dict()
    _send_progress_message(self, outcome.broadcast_id)
    # Delivered again, this enqueues the batch whose turn it is: a twin of a running batch
    # sends nothing twice and stops once the broadcast has moved on.
    run.apply_async((outcome.broadcast_id, outcome.batch_seq))
    return outcome.as_dict()


@app.task(base=YabotTask, name="tasks.broadcasts.run", bind=True)
def run(self: Task, broadcast_id: int, seq: int) -> dict[str, Any]:
    """Send one batch of the broadcast, then enqueue the next (see the module's doc)."""
    settings = get_settings()
    token = str(seq)
    with unit_of_work() as session:
        state = broadcasts.batch_state(session, broadcast_id)
        if state is None:
            return {"broadcast_id": broadcast_id, "seq": seq, "stopped": "unknown"}
        my_turn = state.status == broadcasts.RUNNING and state.batch_seq == seq
        if my_turn:
            user_ids = broadcasts.claim_batch(session, broadcast_id,
                                              settings.broadcast_batch, token=token)
        else:  # paused, ended or superseded: what this task had claimed goes back
            released = broadcasts.release(session, broadcast_id, token)
    if not my_turn:
        _conclude(self, broadcast_id)  # e.g. cancelled while this task waited for a retry
        return {"broadcast_id": broadcast_id, "seq": seq, "stopped": state.status,
                "released": released}
    if not user_ids:
        if _conclude(self, broadcast_id):
            return {"broadcast_id": broadcast_id, "seq": seq, "finished": True}
        # Recipients still claimed by a task that is sending (or died: its claim goes stale).
        with unit_of_work() as session:
            advanced = broadcasts.advance(session, broadcast_id, seq)
        if advanced:
            run.apply_async((broadcast_id, seq + 1), countdown=RECHECK_SECONDS)
        return {"broadcast_id": broadcast_id, "seq": seq, "waiting": advanced}

    results: dict[int, str] = {}
    edit = False
    try:
        for user_id in user_ids:
            results[user_id] = _send_one(self, broadcast_id, user_id, state.text,
                                         state.parse_mode)
    finally:  # what was sent is recorded, even when a retry interrupts the batch
        if results:
            with unit_of_work() as session:
                broadcasts.record_result(session, broadcast_id, results)
                edit = broadcasts.progress_due(session, broadcast_id,
                                               settings.broadcast_progress_every)
    with unit_of_work() as session:
        advanced = broadcasts.advance(session, broadcast_id, seq)
    if advanced:
        run.apply_async((broadcast_id, seq + 1))
    concluded = not advanced and _conclude(self, broadcast_id)  # cancelled meanwhile?
    if edit and not concluded:
        _edit_progress(self, broadcast_id, str(seq))
    counts = {outcome: sum(1 for r in results.values() if r == outcome)
              for outcome in broadcasts.OUTCOMES}
    return {"broadcast_id": broadcast_id, "seq": seq, **counts, "continued": advanced}


def _conclude(task: Task, broadcast_id: int) -> bool:
    """If the broadcast is over (done, or cancelled with no batch in flight): publish the
    final report and edit the progress message a last time. True when it did."""
    with unit_of_work() as session:
        recorded = broadcasts.conclude(session, broadcast_id)
    if not recorded:
        return False
    publish_after_commit(recorded)  # the final report (tasks.notify renders it)
    _edit_progress(task, broadcast_id, "final")
    return True


@app.task(base=YabotTask, name="tasks.broadcasts.control", bind=True)
def control(self: Task, actor_id: int, broadcast_id: int, action: str,
            request_key: str) -> dict[str, Any]:
    """⏸ / ▶️ / ✖️ on the progress message: pause, resume or cancel (admins only, audited
    either way; a refusal is told politely). A cancel's final report is made here, or by
    the batch task that was sending when it came, once that batch is recorded."""
    if action not in broadcasts.ACTIONS:
        return {"action": action, "result": "unknown_action"}
    with unit_of_work() as session:
        outcome = broadcasts.control(session, actor_id, broadcast_id, action, request_key)
    publish_after_commit(outcome.events)
    if not outcome.ok:
        return outcome.as_dict()
    if action == "cancel":
        _conclude(self, broadcast_id)
        return outcome.as_dict()
    if action == "resume":
        run.apply_async((broadcast_id, outcome.batch_seq))
    _edit_progress(self, broadcast_id, f"{action}:{request_key}")
    return outcome.as_dict()
