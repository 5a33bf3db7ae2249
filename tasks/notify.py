"""Tell members what happened: one message per event, through the Telegram path."""

from __future__ import annotations

from typing import Any

from celery import Task

from services import messages
from tasks.base import YabotTask
from tasks.events import subscribe
from tasks.telegram import deliver
from worker.app import app


@subscribe(*messages.rendered_types())
@app.task(base=YabotTask, name="tasks.notify.member", bind=True)
def member(self: Task, event: dict[str, Any]) -> None:
    """Render the event in the member's language and send it (once per event id)."""
    rendered = messages.for_event(event)
    if rendered is None:
        return
    chat_id = int(event["payload"]["user_id"])
    deliver(self, f"event:{event['id']}", chat_id, rendered.method, rendered.params(chat_id))
