"""Missions react to events: count progress, pay each completion once."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import missions
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from worker.app import app


@subscribe("gift.claimed")
@app.task(base=YabotTask, name="tasks.missions.progress")
def progress(event: dict[str, Any]) -> list[str]:
    """Count the event toward matching missions; pay and announce the ones completed."""
    completed = missions.record_progress(event)
    user_id = int(event["payload"]["user_id"])
    language = event["payload"].get("lang", "es")
    for mission, period in completed:
        with unit_of_work() as session:
            recorded = missions.pay_completion(session, user_id, mission, period, language)
        publish_after_commit([recorded])
        missions.mark_completed(user_id, mission.id, period)
    return [mission.id for mission, _ in completed]
