"""Achievements react to events: count, unlock and pay each achievement once."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import achievements
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from worker.app import app


@subscribe("gift.claimed", "mission.completed")
@app.task(base=YabotTask, name="tasks.achievements.check")
def check(event: dict[str, Any]) -> list[str]:
    """Count the event; unlock, pay and announce what it completes."""
    due = achievements.record_and_find_unlocks(event)
    user_id = int(event["payload"]["user_id"])
    language = event["payload"].get("lang", "es")
    for achievement in due:
        with unit_of_work() as session:
            recorded = achievements.pay_unlock(session, user_id, achievement, language)
        publish_after_commit([recorded])
        achievements.mark_unlocked(user_id, achievement)
    return [achievement.id for achievement in due]
