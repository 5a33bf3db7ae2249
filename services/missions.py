"""Missions: progress counted from events in MongoDB, completion paid once in SQL.

A member's mission has one slot per period: `once` (special and story missions), the local
day in TIMEZONE (daily) or the ISO week (weekly). Daily and weekly missions are "assigned"
by the period itself: nothing is written for a member until an event counts, and the bot
shows the current period's slot. A slot lives at `missions.<id>.<period>` in the member's
MongoDB document: `progress.o<i>` per objective, then `completed_at` or `expired_at`.

States: available (no progress) → in progress → completed (every objective at its target)
or expired (its period ended first). Slots of daily/weekly missions with progress are
listed in `missions_open` with the end of their period, so the expiry job finds them
without scanning (`expire_due`). A late event still counts in the period it happened in;
if it completes an expired slot, completion wins (the member did it in time).

Completion pays with the ledger key `mission:<id>:<user>:<period>` and item keys
`mission-item:<id>:<user>:<period>:<item>`, and records `mission.completed` in the same
transaction, so paying twice is impossible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from models.tables import User
from services import content, events, inventory, users, wallet
from services.content import BESITOS_EARNED, COUNTABLE_EVENTS, Mission, Objective

ONCE = "once"
# A story effect (`mission_progress`) names the mission and objective it advances.
MISSION_PROGRESS = "story.mission_progress"
OPEN = "missions_open"  # [{m: mission id, p: period, ends: end of the period}]
State = Literal["available", "in_progress", "completed", "expired"]


def catalog_or_default(catalog: Sequence[Mission] | None) -> Sequence[Mission]:
    return content.missions() if catalog is None else catalog


def counted_events(catalog: Sequence[Mission] | None = None) -> tuple[str, ...]:
    """The event types the catalog's objectives count (what `tasks.missions.progress`
    subscribes to); `besitos.earned` stands for every event that credits earned besitos."""
    types: set[str] = {MISSION_PROGRESS}
    for mission in catalog_or_default(catalog):
        for objective in mission.objectives:
            if objective.event == BESITOS_EARNED:
                types |= {kind for kind, field in COUNTABLE_EVENTS.items() if field}
            else:
                types.add(objective.event)
    return tuple(sorted(types))


# --- periods ----------------------------------------------------------------------------

def period_of(mission: Mission, at: datetime) -> str:
    local = at.astimezone(get_settings().zone)
    if mission.type == "daily":
        return local.date().isoformat()
    if mission.type == "weekly":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return ONCE


def period_end(mission: Mission, period: str) -> datetime | None:
    """When the period ends (local midnight, as UTC); None for missions done once."""
    zone = get_settings().zone
    if mission.type == "daily":
        day = date.fromisoformat(period) + timedelta(days=1)
    elif mission.type == "weekly":
        year, week = period.split("-W")
        day = date.fromisocalendar(int(year), int(week), 1) + timedelta(days=7)
    else:
        return None
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


# --- counting ---------------------------------------------------------------------------

def _event_time(event: dict[str, Any]) -> datetime:
    at = datetime.fromisoformat(event["at"])
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _same(value: object, wanted: object) -> bool:
    return value == wanted and isinstance(value, bool) == isinstance(wanted, bool)


def amount_for(objective: Objective, event: dict[str, Any]) -> int:
    """What the event adds to the objective (0: it does not count)."""
    payload = event["payload"]
    if objective.event == BESITOS_EARNED:
        field = COUNTABLE_EVENTS.get(event["type"])
        return max(int(payload.get(field) or 0), 0) if field else 0
    if objective.event != event["type"]:
        return 0
    if not all(_same(payload.get(key), value) for key, value in objective.where.items()):
        return 0
    if objective.metric == "count":
        return 1
    value = payload.get(objective.metric)
    return max(int(value), 0) if isinstance(value, int | float) else 0


def amounts(mission: Mission, event: dict[str, Any]) -> list[int]:
    """What the event adds to each of the mission's objectives."""
    if event["type"] == MISSION_PROGRESS:
        payload = event["payload"]
        return [max(int(payload.get("count") or 0), 0)
                if payload.get("mission_id") == mission.id and payload.get("objective") == i
                else 0 for i in range(len(mission.objectives))]
    return [amount_for(objective, event) for objective in mission.objectives]


def relevant(event: dict[str, Any], catalog: Sequence[Mission] | None = None) -> list[Mission]:
    return [mission for mission in catalog_or_default(catalog) if any(amounts(mission, event))]


def slot(state: dict[str, Any] | None, mission_id: str, period: str) -> dict[str, Any]:
    return ((state or {}).get("missions") or {}).get(mission_id, {}).get(period) or {}


def progress_of(mission: Mission, data: dict[str, Any]) -> tuple[int, ...]:
    """Progress per objective, capped at each target."""
    stored = data.get("progress") or {}
    return tuple(min(int(stored.get(f"o{i}", 0)), objective.target)
                 for i, objective in enumerate(mission.objectives))


def is_complete(mission: Mission, data: dict[str, Any]) -> bool:
    return all(value >= objective.target
               for value, objective in zip(progress_of(mission, data), mission.objectives,
                                           strict=True))


def record_progress(event: dict[str, Any], *, vip: bool,
                    catalog: Sequence[Mission] | None = None) -> list[tuple[Mission, str]]:
    """Count `event` toward every mission it matches (once per event id); VIP-only missions
    only for VIP members.

    Returns the (mission, period) pairs that are complete and not yet marked completed —
    also after a crash between paying and marking, so the caller can finish the job.
    """
    matched = [m for m in relevant(event, catalog) if vip or not m.vip_only]
    if not matched:
        return []
    payload = event["payload"]
    user_id = int(payload["user_id"])
    at = _event_time(event)
    periods = {m.id: period_of(m, at) for m in matched}
    increments: dict[str, int] = {}
    maxima: dict[str, int] = {}
    opened: list[dict[str, Any]] = []
    for mission in matched:
        base = f"missions.{mission.id}.{periods[mission.id]}.progress"
        added = amounts(mission, event)
        for i, objective in enumerate(mission.objectives):
            value = min(added[i], objective.target)
            if not value:
                continue
            target = maxima if objective.aggregate == "max" else increments
            target[f"{base}.o{i}"] = value
        ends = period_end(mission, periods[mission.id])
        if ends is not None:
            opened.append({"m": mission.id, "p": periods[mission.id], "ends": ends})
    update: dict[str, Any] = {}
    if increments:
        update["$inc"] = increments
    if maxima:
        update["$max"] = maxima
    if opened:
        update["$addToSet"] = {OPEN: {"$each": opened}}
    _, state = mongo.apply_once(user_id, f"missions:{event['id']}", update,
                                payload.get("lang", get_settings().default_language))
    done = []
    for mission in matched:
        data = slot(state, mission.id, periods[mission.id])
        if is_complete(mission, data) and not data.get("completed_at"):
            done.append((mission, periods[mission.id]))
    return done


def is_vip(session: Session, user_id: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and users.is_vip(user)


# --- paying -----------------------------------------------------------------------------

def pay_completion(session: Session, user_id: int, mission: Mission, period: str,
                   language: str) -> list[events.Event]:
    """Pay the mission's besitos and items and record `mission.completed` (all once).

    Returns the events to publish: the completion, and a `level.up` if the credit crossed
    a level threshold."""
    besitos = mission.reward.besitos
    balance = wallet.balance(session, user_id)
    level_ups: tuple[events.Event, ...] = ()
    if besitos:
        change = wallet.credit(session, user_id, besitos, reason=f"mission:{mission.id}",
                               key=f"mission:{mission.id}:{user_id}:{period}")
        balance, level_ups = change.balance, change.events
    for reward in mission.reward.items:
        inventory.grant(session, user_id, reward.item, reward.quantity,
                        reason=f"mission:{mission.id}",
                        key=f"mission-item:{mission.id}:{user_id}:{period}:{reward.item}")
    completed = events.record(
        session, f"mission.completed:{mission.id}:{user_id}:{period}", "mission.completed",
        {"user_id": user_id, "mission_id": mission.id, "period": period, "besitos": besitos,
         "items": [[reward.item, reward.quantity] for reward in mission.reward.items],
         "balance": balance, "lang": language},
    )
    return [completed, *level_ups]


def mark_completed(user_id: int, mission_id: str, period: str) -> None:
    mongo.members().update_one(
        {"_id": user_id},
        {"$set": {f"missions.{mission_id}.{period}.completed_at": datetime.now(UTC)},
         "$pull": {OPEN: {"m": mission_id, "p": period}},
         "$push": {"activity": mongo.activity_entry("mission.completed", mission=mission_id)}},
    )


# --- expiry -----------------------------------------------------------------------------

def expire_due(now: datetime, batch: int) -> int:
    """Mark `expired_at` on unfinished slots whose period ended by `now`, for at most `batch`
    members; returns how many members were handled (0: nothing left).

    Safe to run twice or concurrently: a slot is marked only if neither completed nor
    expired, and the open list loses only entries that ended by `now`.
    """
    due = list(mongo.members().find({f"{OPEN}.ends": {"$lte": now}}, {OPEN: 1}).limit(batch))
    for document in due:
        for entry in document.get(OPEN) or []:
            ends = entry.get("ends")
            if ends is None or ends > now:
                continue
            path = f"missions.{entry['m']}.{entry['p']}"
            mongo.members().update_one(
                {"_id": document["_id"], f"{path}.completed_at": {"$exists": False},
                 f"{path}.expired_at": {"$exists": False}},
                {"$set": {f"{path}.expired_at": now}})
        mongo.members().update_one({"_id": document["_id"]},
                                   {"$pull": {OPEN: {"ends": {"$lte": now}}}})
    return len(due)


# --- what the member sees ---------------------------------------------------------------

@dataclass(frozen=True)
class MissionStatus:
    mission: Mission
    period: str
    state: State
    progress: tuple[int, ...]  # per objective, capped at its target


def status(mission: Mission, state: dict[str, Any] | None, now: datetime) -> MissionStatus:
    period = period_of(mission, now)
    data = slot(state, mission.id, period)
    progress = progress_of(mission, data)
    if data.get("completed_at") or is_complete(mission, data):
        kind: State = "completed"
    elif data.get("expired_at"):
        kind = "expired"
    elif any(progress):
        kind = "in_progress"
    else:
        kind = "available"
    return MissionStatus(mission, period, kind, progress)


TYPE_ORDER = {"daily": 0, "weekly": 1, "story": 2, "special": 3}


def board(state: dict[str, Any] | None, *, vip: bool, now: datetime | None = None,
          catalog: Sequence[Mission] | None = None) -> list[MissionStatus]:
    """The current period's missions the member may see (VIP-only ones for VIP members),
    daily first."""
    now = now or datetime.now(UTC)
    shown = [m for m in catalog_or_default(catalog) if vip or not m.vip_only]
    shown.sort(key=lambda m: TYPE_ORDER[m.type])
    return [status(mission, state, now) for mission in shown]
