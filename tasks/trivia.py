"""🧠 Trivia: send a quiz poll (to a member, or an admin's to a group) and judge answers.

A send is reserve (SQL) → `deliver` sendPoll (once per key) → record the poll id (SQL); see
services/trivia.py for why the row comes first and what happens when the worker dies in
between. A refusal (no questions left, one still open, the daily limit, a channel) is a
`trivia.*_refused` event and a polite message, never a dead letter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from celery import Task

from models.db import unit_of_work
from services import trivia
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit
from tasks.telegram import TelegramError, deliver
from worker.app import app

MAPPING_RETRIES = 60  # × 2 s: longer than services.trivia.MAPPING_GRACE


def _refused(action: str, user_id: int, request_key: str, exc: trivia.Refused,
             **where: Any) -> dict[str, Any]:
    with unit_of_work() as session:
        recorded = trivia.refuse(session, action, user_id, request_key, exc, **where)
    publish_after_commit(recorded)
    return {"status": "refused", "user_id": user_id, "reason": exc.code}


def _send(task: Task, reservation: trivia.Reservation) -> dict[str, Any]:
    try:
        result = deliver(task, reservation.delivery_key, reservation.chat_id, "sendPoll",
                         reservation.params)
    except TelegramError:  # refused for good (4xx): it must not count toward the limit
        with unit_of_work() as session:
            trivia.send_failed(session, reservation.delivery_key)
        raise
    with unit_of_work() as session:
        outcome = trivia.opened(session, reservation.delivery_key, result)
    publish_after_commit(outcome.events)
    return outcome.as_dict()


# NotRegistered is retried: the member's registration may still be in flight.
@app.task(base=YabotTask, name="tasks.trivia.play", bind=True,
          autoretry_for=RETRY_UNTIL_REGISTERED)
def play(self: Task, user_id: int, request_key: str) -> dict[str, Any]:
    """Send the member their next unanswered question as a quiz poll (once per key)."""
    try:
        with unit_of_work() as session:
            reservation = trivia.reserve_for_member(session, user_id, request_key)
    except trivia.Refused as exc:
        return _refused("play", user_id, request_key, exc)
    return _send(self, reservation)


@app.task(base=YabotTask, name="tasks.trivia.post", bind=True)
def post(self: Task, admin_id: int, question_id: str, chat_id: int, chat_type: str,
         request_key: str) -> dict[str, Any]:
    """An admin's `/trivia`: send a question to a group (audited; channels refused)."""
    try:
        with unit_of_work() as session:
            reservation = trivia.reserve_for_chat(session, admin_id, question_id, chat_id,
                                                  chat_type, request_key)
    except trivia.Refused as exc:
        return _refused("post", admin_id, request_key, exc, chat_id=chat_id,
                        question_id=question_id)
    return _send(self, reservation)


@app.task(base=YabotTask, name="tasks.trivia.answer", bind=True)
def answer(self: Task, poll_id: str, user_id: int, option_ids: list[int], update_key: str,
           received_at: float | None = None) -> dict[str, Any]:
    """Judge a vote on a quiz poll: the first answer per question and member counts.

    `received_at` (Unix seconds) is when the bot received the vote.
    """
    received = datetime.fromtimestamp(received_at, UTC) if received_at else None
    try:
        with unit_of_work() as session:
            outcome = trivia.answer(session, poll_id, user_id, list(option_ids), update_key,
                                    received_at=received)
    except trivia.MappingPending as exc:
        raise self.retry(countdown=2, max_retries=MAPPING_RETRIES) from exc
    publish_after_commit(outcome.events)
    return outcome.as_dict()
