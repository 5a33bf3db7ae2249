"""Achievements react to events: count, unlock and pay each achievement once."""

from __future__ import annotations

from typing import Any

from core.settings import get_settings
from models.db import read_session, unit_of_work
from services import achievements
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from worker.app import app


@subscribe(*achievements.counted_events())
@app.task(base=YabotTask, name="tasks.achievements.check")
def check(event: dict[str, Any]) -> list[str]:
    """Absorb the event; unlock, pay and announce what it completes."""
    user_id = int(event["payload"]["user_id"])
    language = event["payload"].get("lang", get_settings().default_language)
    state = achievements.record(event)
    lifetime, holding = achievements.facts_needed(event["type"])
    facts = achievements.Facts()
    if lifetime or holding:
        with read_session() as session:
            facts = achievements.read_facts(session, user_id, lifetime, holding)
    due = achievements.due(state, facts)
    for achievement in due:
        with unit_of_work() as session:
            recorded = achievements.pay_unlock(session, user_id, achievement, language)
        publish_after_commit(recorded)
        achievements.mark_unlocked(user_id, achievement)
    return [achievement.id for achievement in due]
