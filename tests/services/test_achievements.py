"""Achievement rules against the real MongoDB and SQL: counters and filters, streaks (and a
broken one), windows, collections, lifetime earnings, secret ones, tiers, paid once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from core.settings import get_settings
from models import mongo
from models.db import read_session, unit_of_work
from models.tables import ItemGrant, OutboxEvent
from services import achievements, content, inventory, messages, wallet
from services.achievements import Facts
from services.content import Achievement

ZONE = get_settings().zone
DAY1 = datetime(2026, 3, 2, 21, 0, tzinfo=ZONE)


def achievement(rule: dict[str, Any], **data: Any) -> Achievement:
    base: dict[str, Any] = {"id": "a", "tier": "bronze", "title": {"es": "A", "en": "A"},
                            "description": {"es": "D"}, "reward": {"besitos": 10},
                            "rule": rule}
    return Achievement.model_validate(base | data)


def event(kind: str, user_id: int, n: object, at: datetime = DAY1,
          **payload: Any) -> dict[str, Any]:
    return {"id": f"{kind}:{user_id}:{n}", "type": kind, "at": at.astimezone(UTC).isoformat(),
            "payload": {"user_id": user_id, "lang": "es", **payload}}


def feed(catalog: list[Achievement], *events: dict[str, Any]) -> list[list[str]]:
    """Record each event; the ids due after each one."""
    due = []
    for item in events:
        state = achievements.record(item, catalog)
        due.append([a.id for a in achievements.due(state, Facts(), catalog)])
    return due


def test_counter_with_a_filter_and_a_first_time(user_id: int) -> None:
    first = achievement({"kind": "counter", "event": "trivia.answered",
                         "where": {"correct": True}, "threshold": 1}, id="first")
    three = achievement({"kind": "counter", "event": "trivia.answered", "threshold": 3},
                        id="three")
    catalog = [first, three]
    due = feed(catalog, event("trivia.answered", user_id, 1, correct=False),
               event("trivia.answered", user_id, 1, correct=False),  # redelivered: once
               event("trivia.answered", user_id, 2, correct=False),
               event("trivia.answered", user_id, 3, correct=True))
    assert due == [[], [], [], ["first", "three"]]
    counters = (mongo.member_state(user_id) or {})["counters"]
    assert counters["trivia_answered"] == 3
    assert counters["trivia_answered__correct_true"] == 1


def test_a_streak_needs_days_in_a_row_and_a_gap_breaks_it(new_user_id: Any) -> None:
    week = achievement({"kind": "streak", "event": "gift.claimed", "days": 3}, id="streak")
    steady, broken = new_user_id(), new_user_id()
    days = [DAY1 + timedelta(days=n) for n in range(5)]
    # broken: days 1, 2, (gap), 4, 5 — two runs of two days; never three in a row
    assert feed([week], *(event("gift.claimed", broken, n, at=days[n])
                          for n in (0, 1, 3, 4))) == [[], [], [], []]
    # two events on one day count as one day
    assert feed([week], event("gift.claimed", steady, "a", at=days[0]),
                event("gift.claimed", steady, "b", at=days[0] + timedelta(hours=2)),
                event("gift.claimed", steady, "c", at=days[1]),
                event("gift.claimed", steady, "d", at=days[2])) == [[], [], [], ["streak"]]
    # 21:00 and 23:30 in Madrid are the same local day even though 23:30 is the next UTC day
    assert achievements.local_day(days[0] + timedelta(hours=2, minutes=30)).day == 2
    state = mongo.member_state(broken)
    value, target = achievements.measure(week, state, Facts(), now=days[4], for_display=True)
    assert (value, target) == (2, 3)  # the streak still alive
    assert achievements.measure(week, state, Facts(), now=days[4] + timedelta(days=2),
                                for_display=True)[0] == 0  # missed yesterday: gone


def test_old_streak_days_are_pruned(user_id: int) -> None:
    week = achievement({"kind": "streak", "event": "gift.claimed", "days": 2}, id="short")
    for n in range(30):
        achievements.record(event("gift.claimed", user_id, n, at=DAY1 + timedelta(days=2 * n)),
                            [week])
    kept = (mongo.member_state(user_id) or {})["days"]["gift_claimed"]
    assert len(kept) <= 2 + 2 * achievements.DAYS_MARGIN
    assert max(kept) == (DAY1 + timedelta(days=58)).date().isoformat()


def test_a_window_needs_the_events_close_together(new_user_id: Any) -> None:
    fan = achievement({"kind": "window", "event": "reaction.rewarded", "count": 3, "days": 1},
                      id="fan")
    slow, quick = new_user_id(), new_user_id()
    spread = [event("reaction.rewarded", slow, n, at=DAY1 + timedelta(hours=13 * n))
              for n in range(4)]  # 0 h, 13 h, 26 h, 39 h: never 3 within 24 h
    assert feed([fan], *spread) == [[], [], [], []]
    close = [event("reaction.rewarded", quick, n, at=DAY1 + timedelta(hours=h))
             for n, h in enumerate((0, 30, 40, 50))]  # 30 h, 40 h, 50 h: within a day
    assert feed([fan], *close) == [[], [], [], ["fan"]]
    times = (mongo.member_state(quick) or {})["times"]["reaction_rewarded"]
    assert len(times) == 3  # only the last `count` times are kept


def test_a_collection_counts_distinct_items_held(registered: int) -> None:
    collector = achievement({"kind": "collection", "distinct_items": 3}, id="collector")
    assert achievements.counted_events([collector]) == tuple(sorted(content.HOLDING_EVENTS))
    owned = ["rosa-roja", "carta-perfumada", "rosa-roja", "retrato-firmado"]
    results = []
    for n, item in enumerate(owned):
        with unit_of_work() as session:
            inventory.grant(session, registered, item, reason="test", key=f"t:{registered}:{n}")
        assert achievements.facts_needed("item.purchased", [collector]) == (False, True)
        with read_session() as session:
            facts = achievements.read_facts(session, registered, False, True)
        state = achievements.record(event("item.purchased", registered, n), [collector])
        results.append(([a.id for a in achievements.due(state, facts, [collector])],
                        facts.distinct_items))
    assert results == [([], 1), ([], 2), ([], 2), (["collector"], 3)]
    # without the SQL fact (an event that does not change holdings) nothing is decided
    assert achievements.due(state, Facts(), [collector]) == []


def test_lifetime_earnings_count_only_earned_credits(registered: int) -> None:
    hundred = achievement({"kind": "lifetime", "besitos": 100}, id="hundred")
    assert "gift.claimed" in achievements.counted_events([hundred])
    assert achievements.facts_needed("gift.claimed", [hundred]) == (True, False)
    assert achievements.facts_needed("story.choice_made", [hundred]) == (False, False)
    with unit_of_work() as session:
        wallet.credit(session, registered, 500, reason="refund", key=f"r:{registered}",
                      earned=False)
        wallet.credit(session, registered, 99, reason="test", key=f"e:{registered}")

    def facts() -> Facts:
        with read_session() as session:
            return achievements.read_facts(session, registered, True, False)

    state = achievements.record(event("gift.claimed", registered, 1))
    assert facts().lifetime_earned == 99
    assert achievements.due(state, facts(), [hundred]) == []
    with unit_of_work() as session:
        wallet.credit(session, registered, 1, reason="test", key=f"e2:{registered}")
    assert achievements.due(state, facts(), [hundred]) == [hundred]


def test_secret_achievements_are_hidden_until_unlocked(user_id: int) -> None:
    shown = achievement({"kind": "counter", "event": "gift.claimed", "threshold": 2},
                        id="shown", tier="silver")
    secret = achievement({"kind": "counter", "event": "gift.claimed", "threshold": 1},
                         id="secret", tier="diamond", secret=True)
    catalog = [shown, secret]
    state = achievements.record(event("gift.claimed", user_id, 1), catalog)
    statuses, hidden = achievements.board(state, Facts(), catalog=catalog)
    assert [(s.achievement.id, s.unlocked, s.value, s.target) for s in statuses] == [
        ("shown", False, 1, 2)]
    assert hidden == 1
    assert achievements.due(state, Facts(), catalog) == [secret]
    achievements.mark_unlocked(user_id, secret)
    statuses, hidden = achievements.board(mongo.member_state(user_id), Facts(),
                                          catalog=catalog)
    assert [(s.achievement.id, s.unlocked) for s in statuses] == [("secret", True),
                                                                  ("shown", False)]
    assert hidden == 0
    assert achievements.due(mongo.member_state(user_id) or {}, Facts(), catalog) == []


def test_the_seed_catalog_has_every_tier_kind_and_no_registration_reward() -> None:
    seed = content.achievements()
    assert [t for t in content.TIERS if any(a.tier == t for a in seed)] == list(content.TIERS)
    assert {a.rule.kind for a in seed} == {"counter", "streak", "window", "collection",
                                           "lifetime"}
    assert any(a.secret for a in seed)
    assert "member.registered" not in achievements.counted_events()
    rewards = {a.id: a.reward.besitos for a in seed}
    assert (rewards["primera-mision"], rewards["diez-misiones"], rewards["cincuenta-misiones"],
            rewards["cien-besitos"], rewards["mil-besitos"], rewards["diez-mil-besitos"],
            rewards["primera-reaccion"], rewards["veinticinco-reacciones"],
            rewards["primera-decision"], rewards["cincuenta-decisiones"],
            rewards["coleccionista"], rewards["primera-trivia"]) == (
        50, 200, 1000, 25, 100, 500, 10, 75, 20, 300, 150, 30)


def test_an_unlock_pays_besitos_and_items_once_and_tells_the_tier(registered: int) -> None:
    gold = achievement({"kind": "counter", "event": "gift.claimed", "threshold": 1},
                       id="golden", tier="gold", reward={"besitos": 12, "items": [
                           {"item": "carta-perfumada", "quantity": 1}]})
    for _ in range(2):
        with unit_of_work() as session:
            recorded = achievements.pay_unlock(session, registered, gold, "es")
    assert [e.type for e in recorded] == ["achievement.unlocked"]
    with read_session() as session:
        assert wallet.balance(session, registered) == 12 == wallet.ledger_sum(session,
                                                                              registered)
        assert inventory.lines(session, registered) == [("carta-perfumada", 1)]
        assert session.scalar(select(func.count()).select_from(ItemGrant)
                              .where(ItemGrant.user_id == registered)) == 1
        assert session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.id == f"achievement.unlocked:golden:"
                                                      f"{registered}")) == 1
    payload = recorded[0].payload
    assert (payload["tier"], payload["besitos"], payload["items"]) == (
        "gold", 12, [["carta-perfumada", 1]])
    # the message names the tier and the item (the catalog's title when the id is known)
    message = messages.for_event({**recorded[0].as_message(),
                                  "payload": {**payload, "achievement_id": "primera-mision"}})
    assert message is not None
    assert "Logro desbloqueado: Primera misión (🥇 oro)" in message.text
    assert "+12 besitos y 🎁 Carta perfumada × 1" in message.text
    english = messages.for_event({**recorded[0].as_message(),
                                  "payload": {**payload, "lang": "en", "tier": "diamond",
                                              "achievement_id": "devocion"}})
    assert english is not None and english.text.startswith("🤫 It was a secret achievement!")
    assert "(💎 diamond)" in english.text


def test_rules_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a countable event"):
        achievement({"kind": "counter", "event": "member.registered", "threshold": 1})
    with pytest.raises(ValidationError):
        achievement({"kind": "streak", "event": "gift.claimed", "days": 1})
    with pytest.raises(ValidationError):
        achievement({"kind": "magic", "threshold": 1})
