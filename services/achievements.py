"""Achievements: what members did, kept in MongoDB; each unlock paid once in SQL.

Rule kinds (content/achievements.yaml, services/content.py):
- counter: N events of a type (with an optional payload filter); N = 1 is a first time.
- streak: at least one such event on N local days in a row (TIMEZONE).
- window: N such events within D days.
- collection: N distinct items held at once (SQL inventory), checked after item events.
- lifetime: N besitos earned over the member's lifetime (SQL wallets.lifetime_earned),
  checked after every event that credits earned besitos.

Each event the task receives is absorbed once per event id (`mongo.apply_once`): it adds 1
to `counters.<type>` and to `counters.<type>__<filter>` for each filter a rule uses, its
local day to `days.<key>` (streaks; old days are pruned) and its time to `times.<key>` (the
last N, for windows). An achievement whose rule is met is unlocked: its reward is credited
with the ledger key `achievement:<id>:<user>` (items: `achievement-item:<id>:<user>:<item>`)
and `achievement.unlocked` recorded in the same transaction; then it is marked in the
member's document. Secret achievements are hidden in the list until unlocked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from services import content, events, inventory, levels, wallet
from services.content import (
    COUNTABLE_EVENTS,
    HOLDING_EVENTS,
    Achievement,
    CollectionRule,
    CounterRule,
    EventRule,
    LifetimeRule,
    StreakRule,
    WindowRule,
)

# Days kept beyond the longest streak a rule asks for (so a streak is always visible whole).
DAYS_MARGIN = 7


def catalog_or_default(catalog: Sequence[Achievement] | None) -> Sequence[Achievement]:
    return content.achievements() if catalog is None else catalog


def earns(event_type: str) -> bool:
    return bool(COUNTABLE_EVENTS.get(event_type))


def counted_events(catalog: Sequence[Achievement] | None = None) -> tuple[str, ...]:
    """The event types the catalog's rules depend on (what `tasks.achievements.check`
    subscribes to)."""
    types: set[str] = set()
    for achievement in catalog_or_default(catalog):
        rule = achievement.rule
        if isinstance(rule, EventRule):
            types.add(rule.event)
        elif isinstance(rule, LifetimeRule):
            types |= {kind for kind in COUNTABLE_EVENTS if earns(kind)}
        elif isinstance(rule, CollectionRule):
            types |= set(HOLDING_EVENTS)
    return tuple(sorted(types))


def _value_key(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return "".join(c if c.isalnum() or c == "-" else "_" for c in text)[:32]


def counter_key(event_type: str, where: dict[str, Any] | None = None) -> str:
    """The state key for events of a type matching a filter: `trivia_answered`,
    `trivia_answered__correct_true` (no dots: they are MongoDB field names)."""
    key = event_type.replace(".", "_")
    for name, value in sorted((where or {}).items()):
        key += f"__{_value_key(name)}_{_value_key(value)}"
    return key


def _matches(payload: dict[str, Any], where: dict[str, Any]) -> bool:
    return all(payload.get(name) == value
               and isinstance(payload.get(name), bool) == isinstance(value, bool)
               for name, value in where.items())


def local_day(at: datetime) -> date:
    return at.astimezone(get_settings().zone).date()


def _event_time(event: dict[str, Any]) -> datetime:
    at = datetime.fromisoformat(event["at"])
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# --- recording --------------------------------------------------------------------------

def record(event: dict[str, Any],
           catalog: Sequence[Achievement] | None = None) -> dict[str, Any]:
    """Absorb the event into the member's counters, days and times (once per event id);
    returns the member's state afterwards."""
    payload = event["payload"]
    user_id = int(payload["user_id"])
    at = _event_time(event)
    increments = {f"counters.{counter_key(event['type'])}": 1}
    days: dict[str, str] = {}
    keep_days: dict[str, int] = {}
    keep_times: dict[str, int] = {}
    for achievement in catalog_or_default(catalog):
        rule = achievement.rule
        if not isinstance(rule, EventRule) or rule.event != event["type"] \
                or not _matches(payload, rule.where):
            continue
        key = counter_key(rule.event, rule.where)
        if rule.where:
            increments[f"counters.{key}"] = 1
        if isinstance(rule, StreakRule):
            days[f"days.{key}"] = local_day(at).isoformat()
            keep_days[key] = max(keep_days.get(key, 0), rule.days + DAYS_MARGIN)
        elif isinstance(rule, WindowRule):
            keep_times[key] = max(keep_times.get(key, 0), rule.count)
    update: dict[str, Any] = {"$inc": increments}
    if days:
        update["$addToSet"] = days
    if keep_times:
        update["$push"] = {f"times.{key}": {"$each": [at], "$slice": -keep}
                           for key, keep in keep_times.items()}
    _, state = mongo.apply_once(user_id, f"achievements:{event['id']}", update,
                                payload.get("lang", get_settings().default_language))
    _prune_days(user_id, state, keep_days)
    return state


def _prune_days(user_id: int, state: dict[str, Any], keep_days: dict[str, int]) -> None:
    """Drop streak days older than the longest streak needs (a separate update: MongoDB
    cannot add to and pull from one array at once); runs about once a week per member."""
    pulls = {}
    for key, keep in keep_days.items():
        kept = sorted((state.get("days") or {}).get(key) or [])
        if len(kept) > keep + DAYS_MARGIN:
            pulls[f"days.{key}"] = {"$lt": kept[-keep]}
    if pulls:
        mongo.members().update_one({"_id": user_id}, {"$pull": pulls})


# --- rules ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Facts:
    """What SQL knows that rules need; None when not read for this event."""

    lifetime_earned: int | None = None
    distinct_items: int | None = None


def facts_needed(event_type: str, catalog: Sequence[Achievement] | None = None
                 ) -> tuple[bool, bool]:
    """(lifetime earnings, distinct items): which SQL facts rules need after this event."""
    rules = [a.rule for a in catalog_or_default(catalog)]
    lifetime = earns(event_type) and any(isinstance(r, LifetimeRule) for r in rules)
    holding = event_type in HOLDING_EVENTS and any(isinstance(r, CollectionRule)
                                                   for r in rules)
    return lifetime, holding


def read_facts(session: Session, user_id: int, lifetime: bool, holding: bool) -> Facts:
    return Facts(levels.lifetime_earned(session, user_id) if lifetime else None,
                 inventory.distinct_items(session, user_id) if holding else None)


def longest_run(days: list[str]) -> int:
    """The most consecutive days among ISO dates."""
    ordered = sorted({date.fromisoformat(day) for day in days})
    best = run = 0
    previous: date | None = None
    for day in ordered:
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        best = max(best, run)
        previous = day
    return best


def current_run(days: list[str], today: date) -> int:
    """Consecutive days ending today or yesterday (a streak still alive)."""
    kept = {date.fromisoformat(day) for day in days}
    day = today if today in kept else today - timedelta(days=1)
    run = 0
    while day in kept:
        run += 1
        day -= timedelta(days=1)
    return run


def densest_window(times: list[datetime], span: timedelta) -> int:
    """The most events within any `span` (events sorted by time)."""
    ordered = sorted(times)
    best = start = 0
    for end in range(len(ordered)):
        while ordered[end] - ordered[start] > span:
            start += 1
        best = max(best, end - start + 1)
    return best


def _times(state: dict[str, Any], key: str) -> list[datetime]:
    values = (state.get("times") or {}).get(key) or []
    return [v if v.tzinfo else v.replace(tzinfo=UTC) for v in values]


def measure(achievement: Achievement, state: dict[str, Any] | None, facts: Facts,
            now: datetime | None = None, *, for_display: bool = False) -> tuple[int | None, int]:
    """(how far the member is, the target). For unlocking, streaks and windows count their
    best ever; for display (`for_display`), the streak still alive and the events of the
    last window. None: a SQL fact that was not read."""
    state = state or {}
    rule = achievement.rule
    if isinstance(rule, CounterRule):
        key = counter_key(rule.event, rule.where)
        return int((state.get("counters") or {}).get(key, 0)), rule.threshold
    if isinstance(rule, StreakRule):
        days = (state.get("days") or {}).get(counter_key(rule.event, rule.where)) or []
        now = now or datetime.now(UTC)
        run = current_run(days, local_day(now)) if for_display else longest_run(days)
        return run, rule.days
    if isinstance(rule, WindowRule):
        times = _times(state, counter_key(rule.event, rule.where))
        span = timedelta(days=rule.days)
        if for_display:
            now = now or datetime.now(UTC)
            return sum(1 for t in times if now - t <= span), rule.count
        return densest_window(times, span), rule.count
    if isinstance(rule, CollectionRule):
        return facts.distinct_items, rule.distinct_items
    assert isinstance(rule, LifetimeRule)
    return facts.lifetime_earned, rule.besitos


def is_met(achievement: Achievement, state: dict[str, Any] | None, facts: Facts) -> bool:
    value, target = measure(achievement, state, facts)
    return value is not None and value >= target


def unlocked(state: dict[str, Any] | None) -> dict[str, Any]:
    return (state or {}).get("achievements") or {}


def due(state: dict[str, Any], facts: Facts,
        catalog: Sequence[Achievement] | None = None) -> list[Achievement]:
    """Achievements whose rule is met and that are not yet marked unlocked (also those paid
    before a crash and never marked, so the caller can finish the job)."""
    done = unlocked(state)
    return [a for a in catalog_or_default(catalog)
            if a.id not in done and is_met(a, state, facts)]


# --- paying -----------------------------------------------------------------------------

def pay_unlock(session: Session, user_id: int, achievement: Achievement,
               language: str) -> list[events.Event]:
    """Pay the achievement's besitos and items and record `achievement.unlocked` (all once).

    Returns the events to publish: the unlock, and a `level.up` if the credit crossed a
    level threshold."""
    besitos = achievement.reward.besitos
    balance = wallet.balance(session, user_id)
    level_ups: tuple[events.Event, ...] = ()
    if besitos:
        change = wallet.credit(session, user_id, besitos,
                               reason=f"achievement:{achievement.id}",
                               key=f"achievement:{achievement.id}:{user_id}")
        balance, level_ups = change.balance, change.events
    for reward in achievement.reward.items:
        inventory.grant(session, user_id, reward.item, reward.quantity,
                        reason=f"achievement:{achievement.id}",
                        key=f"achievement-item:{achievement.id}:{user_id}:{reward.item}")
    unlocked_event = events.record(
        session, f"achievement.unlocked:{achievement.id}:{user_id}", "achievement.unlocked",
        {"user_id": user_id, "achievement_id": achievement.id, "tier": achievement.tier,
         "besitos": besitos,
         "items": [[reward.item, reward.quantity] for reward in achievement.reward.items],
         "balance": balance, "lang": language},
    )
    return [unlocked_event, *level_ups]


def mark_unlocked(user_id: int, achievement: Achievement) -> None:
    mongo.members().update_one(
        {"_id": user_id},
        {"$set": {f"achievements.{achievement.id}": {"tier": achievement.tier,
                                                      "unlocked_at": datetime.now(UTC)}},
         "$push": {"activity": mongo.activity_entry("achievement.unlocked",
                                                    achievement=achievement.id)}},
    )


# --- what the member sees ---------------------------------------------------------------

@dataclass(frozen=True)
class AchievementStatus:
    achievement: Achievement
    unlocked: bool
    value: int  # progress, capped at the target
    target: int


def board(state: dict[str, Any] | None, facts: Facts, now: datetime | None = None,
          catalog: Sequence[Achievement] | None = None
          ) -> tuple[list[AchievementStatus], int]:
    """Unlocked achievements, then the locked ones that are not secret, with progress; and
    how many secret ones are still hidden."""
    done = unlocked(state)
    shown: list[AchievementStatus] = []
    hidden = 0
    for achievement in catalog_or_default(catalog):
        value, target = measure(achievement, state, facts, now, for_display=True)
        if achievement.id in done:
            shown.append(AchievementStatus(achievement, True, target, target))
        elif achievement.secret:
            hidden += 1
        else:
            shown.append(AchievementStatus(achievement, False, min(value or 0, target),
                                           target))
    shown.sort(key=lambda s: not s.unlocked)
    return shown, hidden
