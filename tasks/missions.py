"""Missions react to events: count progress, pay each completion once; beat closes the
periods that ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.settings import get_settings
from models.db import read_session, unit_of_work
from services import missions
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from worker.app import app

# Batches one expiry run may handle (each of `missions_expiry_batch` members); what is left
# waits for the next run.
EXPIRY_BATCHES_PER_RUN = 10


@subscribe(*missions.counted_events())
@app.task(base=YabotTask, name="tasks.missions.progress")
def progress(event: dict[str, Any]) -> list[str]:
    """Count the event toward matching missions; pay and announce the ones completed."""
    relevant = missions.relevant(event)
    if not relevant:
        return []
    user_id = int(event["payload"]["user_id"])
    language = event["payload"].get("lang", get_settings().default_language)
    vip = False
    if any(mission.vip_only for mission in relevant):
        with read_session() as session:
            vip = missions.is_vip(session, user_id)
    completed = missions.record_progress(event, vip=vip)
    for mission, period in completed:
        with unit_of_work() as session:
            recorded = missions.pay_completion(session, user_id, mission, period, language)
        publish_after_commit(recorded)
        missions.mark_completed(user_id, mission.id, period)
    return [mission.id for mission, _ in completed]


@app.task(base=YabotTask, name="tasks.missions.expire")
def expire() -> int:
    """Mark unfinished daily/weekly missions of periods that ended as expired (bounded
    batches; safe to run twice or concurrently)."""
    now = datetime.now(UTC)
    batch = get_settings().missions_expiry_batch
    handled = 0
    for _ in range(EXPIRY_BATCHES_PER_RUN):
        count = missions.expire_due(now, batch)
        handled += count
        if count < batch:
            break
    return handled
