"""Missions: progress counted from events in MongoDB, completion paid once in SQL.

Progress lives at `missions.<id>.<period>` in the member's MongoDB document, where period
is `once` (special and story missions), the local day (daily) or the ISO week (weekly).
Completion pays with the ledger key `mission:<id>:<user>:<period>` and records a
`mission.completed` event in the same transaction, so paying twice is impossible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from services import content, events, wallet
from services.content import Mission


def period_of(mission: Mission, at: datetime) -> str:
    local = at.astimezone(get_settings().zone)
    if mission.type == "daily":
        return local.date().isoformat()
    if mission.type == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return "once"


def _event_time(event: dict[str, Any]) -> datetime:
    at = datetime.fromisoformat(event["at"])
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _amount(mission: Mission, event: dict[str, Any]) -> int:
    metric = mission.objective.metric
    value = 1 if metric == "count" else int(event["payload"].get(metric, 0))
    return min(value, mission.objective.target)


def record_progress(event: dict[str, Any]) -> list[tuple[Mission, str]]:
    """Count `event` toward every mission it matches (once per event id).

    Returns the (mission, period) pairs that are complete and not yet marked completed —
    also after a crash between paying and marking, so the caller can finish the job.
    """
    relevant = [m for m in content.missions() if m.objective.event == event["type"]]
    if not relevant:
        return []
    payload = event["payload"]
    user_id = int(payload["user_id"])
    at = _event_time(event)
    periods = {m.id: period_of(m, at) for m in relevant}
    increments: dict[str, int] = {}
    maxima: dict[str, int] = {}
    for mission in relevant:
        field = f"missions.{mission.id}.{periods[mission.id]}.progress"
        if mission.objective.metric == "count":
            increments[field] = _amount(mission, event)
        else:
            maxima[field] = _amount(mission, event)
    update: dict[str, Any] = {}
    if increments:
        update["$inc"] = increments
    if maxima:
        update["$max"] = maxima
    _, state = mongo.apply_once(user_id, f"missions:{event['id']}", update,
                                payload.get("lang", get_settings().default_language))
    done = []
    for mission in relevant:
        slot = state.get("missions", {}).get(mission.id, {}).get(periods[mission.id], {})
        if slot.get("progress", 0) >= mission.objective.target and not slot.get("completed_at"):
            done.append((mission, periods[mission.id]))
    return done


def pay_completion(session: Session, user_id: int, mission: Mission, period: str,
                   language: str) -> events.Event:
    """Pay the mission's reward and record `mission.completed` (both once)."""
    besitos = mission.reward.besitos
    balance = wallet.balance(session, user_id)
    if besitos:
        balance = wallet.credit(session, user_id, besitos, reason=f"mission:{mission.id}",
                                key=f"mission:{mission.id}:{user_id}:{period}").balance
    return events.record(
        session, f"mission.completed:{mission.id}:{user_id}:{period}", "mission.completed",
        {"user_id": user_id, "mission_id": mission.id, "period": period, "besitos": besitos,
         "balance": balance, "lang": language},
    )


def mark_completed(user_id: int, mission_id: str, period: str) -> None:
    mongo.members().update_one(
        {"_id": user_id},
        {"$set": {f"missions.{mission_id}.{period}.completed_at": datetime.now(UTC)},
         "$push": {"activity": mongo.activity_entry("mission.completed", mission=mission_id)}},
    )
