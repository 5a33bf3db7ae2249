"""Achievements: counters per event type in MongoDB, each unlock paid once in SQL.

Every event adds 1 to the member's `counters.<event type>` (once per event id). An
achievement whose counter reaches its threshold is unlocked: its reward is credited with
the ledger key `achievement:<id>:<user>` and an `achievement.unlocked` event recorded in
the same transaction; then it is marked in the member's document.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from services import content, events, wallet
from services.content import Achievement


def counter_field(event_type: str) -> str:
    return "counters." + event_type.replace(".", "_")


def record_and_find_unlocks(event: dict[str, Any]) -> list[Achievement]:
    """Count the event (once per id); return achievements now due and not yet marked."""
    relevant = [a for a in content.achievements() if a.rule.counter == event["type"]]
    if not relevant:
        return []
    payload = event["payload"]
    user_id = int(payload["user_id"])
    field = counter_field(event["type"])
    _, state = mongo.apply_once(user_id, f"achievements:{event['id']}", {"$inc": {field: 1}},
                                payload.get("lang", get_settings().default_language))
    count = state.get("counters", {}).get(field.split(".", 1)[1], 0)
    unlocked = state.get("achievements", {})
    return [a for a in relevant if count >= a.rule.threshold and a.id not in unlocked]


def pay_unlock(session: Session, user_id: int, achievement: Achievement,
               language: str) -> events.Event:
    besitos = achievement.reward.besitos
    balance = wallet.balance(session, user_id)
    if besitos:
        balance = wallet.credit(session, user_id, besitos,
                                reason=f"achievement:{achievement.id}",
                                key=f"achievement:{achievement.id}:{user_id}").balance
    return events.record(
        session, f"achievement.unlocked:{achievement.id}:{user_id}", "achievement.unlocked",
        {"user_id": user_id, "achievement_id": achievement.id, "tier": achievement.tier,
         "besitos": besitos, "balance": balance, "lang": language},
    )


def mark_unlocked(user_id: int, achievement: Achievement) -> None:
    mongo.members().update_one(
        {"_id": user_id},
        {"$set": {f"achievements.{achievement.id}": {"tier": achievement.tier,
                                                      "unlocked_at": datetime.now(UTC)}},
         "$push": {"activity": mongo.activity_entry("achievement.unlocked",
                                                    achievement=achievement.id)}},
    )
