"""Mission rules against the real MongoDB and SQL: objectives, filters, periods, expiry at
the boundary, VIP-only missions, rewards paid once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from core.settings import get_settings
from models import mongo
from models.db import read_session, unit_of_work
from models.tables import ItemGrant, LedgerEntry, OutboxEvent
from services import content, inventory, missions, wallet
from services.content import Mission

ZONE = get_settings().zone
# Tuesday 10 March 2026, local time (ISO week 11: Monday 9 → Sunday 15).
TUESDAY = datetime(2026, 3, 10, 12, 0, tzinfo=ZONE)
MIDNIGHT = datetime(2026, 3, 11, 0, 0, tzinfo=ZONE)
NEXT_MONDAY = datetime(2026, 3, 16, 0, 0, tzinfo=ZONE)


def mission(**data: Any) -> Mission:
    base: dict[str, Any] = {"id": "m", "type": "special", "title": {"es": "M"},
                            "description": {"es": "D"}, "reward": {"besitos": 10}}
    return Mission.model_validate(base | data)


def event(kind: str, user_id: int, n: object, at: datetime = TUESDAY,
          **payload: Any) -> dict[str, Any]:
    return {"id": f"{kind}:{user_id}:{n}", "type": kind, "at": at.astimezone(UTC).isoformat(),
            "payload": {"user_id": user_id, "lang": "es", **payload}}


def progress(user_id: int, mission_id: str, period: str) -> dict[str, Any]:
    return missions.slot(mongo.member_state(user_id), mission_id, period)


READER = mission(id="reader", type="weekly", objectives=[
    {"event": "story.fragment_read", "target": 5},
    {"event": "story.choice_made", "target": 3}])


def test_a_mission_with_two_objectives_completes_when_both_reach_their_target(
        user_id: int) -> None:
    catalog = [READER]
    for n in range(7):  # more fragments than needed: progress is capped at 5
        assert missions.record_progress(event("story.fragment_read", user_id, n), vip=False,
                                        catalog=catalog) == []
    for n in range(2):
        assert missions.record_progress(event("story.choice_made", user_id, n), vip=False,
                                        catalog=catalog) == []
    board = missions.board(mongo.member_state(user_id), vip=False, now=TUESDAY,
                           catalog=catalog)
    assert [(s.state, s.progress) for s in board] == [("in_progress", (5, 2))]
    done = missions.record_progress(event("story.choice_made", user_id, 2), vip=False,
                                    catalog=catalog)
    assert done == [(READER, "2026-W11")]
    # the same event again (a redelivery) is not counted twice
    again = missions.record_progress(event("story.choice_made", user_id, 2), vip=False,
                                     catalog=catalog)
    assert progress(user_id, "reader", "2026-W11")["progress"] == {"o0": 7, "o1": 3}
    assert again == [(READER, "2026-W11")]  # still due: not marked completed yet
    missions.mark_completed(user_id, "reader", "2026-W11")
    assert missions.record_progress(event("story.choice_made", user_id, 3), vip=False,
                                    catalog=catalog) == []


def test_a_filter_counts_only_matching_events(user_id: int) -> None:
    quiz = mission(id="quiz", objectives=[{"event": "trivia.answered",
                                           "where": {"correct": True}, "target": 2}])
    missions.record_progress(event("trivia.answered", user_id, 1, correct=False), vip=False,
                             catalog=[quiz])
    missions.record_progress(event("trivia.answered", user_id, 2, correct=1), vip=False,
                             catalog=[quiz])  # 1 is not True
    assert progress(user_id, "quiz", "once") == {}
    missions.record_progress(event("trivia.answered", user_id, 3, correct=True), vip=False,
                             catalog=[quiz])
    done = missions.record_progress(event("trivia.answered", user_id, 4, correct=True),
                                    vip=False, catalog=[quiz])
    assert done == [(quiz, "once")]


def test_a_max_objective_takes_the_highest_value(user_id: int) -> None:
    streak = mission(id="streak", objectives=[{"event": "gift.claimed", "metric": "streak",
                                               "aggregate": "max", "target": 3}])
    for n, value in enumerate((2, 1)):
        missions.record_progress(event("gift.claimed", user_id, n, streak=value), vip=False,
                                 catalog=[streak])
    assert progress(user_id, "streak", "once")["progress"] == {"o0": 2}
    assert missions.record_progress(event("gift.claimed", user_id, 9, streak=5), vip=False,
                                    catalog=[streak]) == [(streak, "once")]
    assert progress(user_id, "streak", "once")["progress"] == {"o0": 3}  # capped


def test_besitos_earned_sums_what_every_earning_event_credited(user_id: int) -> None:
    saver = mission(id="saver", type="daily", objectives=[
        {"event": "besitos.earned", "metric": "amount", "target": 100}])
    assert {"gift.claimed", "mission.completed", "achievement.unlocked", "reaction.rewarded",
            "trivia.answered"} <= set(missions.counted_events([saver]))
    feed = [event("gift.claimed", user_id, 1, amount=14),
            event("mission.completed", user_id, 2, besitos=30),
            event("trivia.answered", user_id, 3, correct=False, besitos=0),
            event("story.choice_made", user_id, 4),  # earns nothing
            event("achievement.unlocked", user_id, 5, besitos=50)]
    for item in feed:
        assert missions.record_progress(item, vip=False, catalog=[saver]) == []
    assert progress(user_id, "saver", "2026-03-10")["progress"] == {"o0": 94}
    done = missions.record_progress(event("reaction.rewarded", user_id, 6, besitos=6),
                                    vip=False, catalog=[saver])
    assert done == [(saver, "2026-03-10")]


def test_periods_change_at_local_midnight_and_on_monday() -> None:
    daily = mission(type="daily", objectives=[{"event": "gift.claimed", "target": 1}])
    weekly = mission(type="weekly", objectives=[{"event": "gift.claimed", "target": 1}])
    last_second = MIDNIGHT - timedelta(seconds=1)
    assert missions.period_of(daily, last_second) == "2026-03-10"
    assert missions.period_of(daily, MIDNIGHT) == "2026-03-11"
    assert missions.period_end(daily, "2026-03-10") == MIDNIGHT
    assert missions.period_of(weekly, NEXT_MONDAY - timedelta(seconds=1)) == "2026-W11"
    assert missions.period_of(weekly, NEXT_MONDAY) == "2026-W12"
    assert missions.period_end(weekly, "2026-W11") == NEXT_MONDAY
    assert missions.period_end(mission(objectives=[{"event": "gift.claimed", "target": 1}]),
                               "once") is None
    # a week that spans two years
    assert missions.period_end(weekly, "2026-W53") == datetime(2027, 1, 4, tzinfo=ZONE)


def test_unfinished_daily_missions_expire_when_their_day_ends(new_user_id: Any) -> None:
    started, finished = new_user_id(), new_user_id()
    daily = mission(id="two-gifts", type="daily",
                    objectives=[{"event": "gift.claimed", "target": 2}])
    late = MIDNIGHT - timedelta(seconds=1)
    missions.record_progress(event("gift.claimed", started, 1, at=late), vip=False,
                             catalog=[daily])
    for n in range(2):
        missions.record_progress(event("gift.claimed", finished, n, at=late), vip=False,
                                 catalog=[daily])
    missions.mark_completed(finished, "two-gifts", "2026-03-10")
    state = mongo.member_state(started)
    assert state is not None
    assert state[missions.OPEN] == [{"m": "two-gifts", "p": "2026-03-10", "ends": MIDNIGHT}]

    def expire(now: datetime) -> None:
        while missions.expire_due(now, batch=1000) == 1000:
            pass

    expire(MIDNIGHT - timedelta(milliseconds=1))  # the day is not over yet
    assert "expired_at" not in progress(started, "two-gifts", "2026-03-10")
    expire(MIDNIGHT)
    expired = progress(started, "two-gifts", "2026-03-10")
    assert expired["expired_at"] == MIDNIGHT
    assert "expired_at" not in progress(finished, "two-gifts", "2026-03-10")
    expire(MIDNIGHT + timedelta(minutes=5))  # a second run changes nothing
    assert progress(started, "two-gifts", "2026-03-10")["expired_at"] == MIDNIGHT
    assert (mongo.member_state(started) or {})[missions.OPEN] == []
    # the bot shows today's slot: a new mission, available again
    board = missions.board(mongo.member_state(started), vip=False, now=MIDNIGHT,
                           catalog=[daily])
    assert [(s.period, s.state, s.progress) for s in board] == [("2026-03-11", "available",
                                                                 (0,))]
    yesterday = missions.board(mongo.member_state(started), vip=False, now=late,
                               catalog=[daily])
    assert [s.state for s in yesterday] == ["expired"]
    # an event at the first instant of the next day counts for the new day
    missions.record_progress(event("gift.claimed", started, 3, at=MIDNIGHT), vip=False,
                             catalog=[daily])
    assert progress(started, "two-gifts", "2026-03-11")["progress"] == {"o0": 1}


def test_vip_only_missions_are_neither_seen_nor_progressed_by_other_members(
        user_id: int) -> None:
    vip_mission = mission(id="vip", type="weekly", vip_only=True,
                          objectives=[{"event": "item.purchased", "target": 1}])
    catalog = [vip_mission, READER]
    assert missions.record_progress(event("item.purchased", user_id, 1), vip=False,
                                    catalog=catalog) == []
    assert progress(user_id, "vip", "2026-W11") == {}
    assert [s.mission.id for s in missions.board(None, vip=False, catalog=catalog)] == [
        "reader"]
    assert missions.record_progress(event("item.purchased", user_id, 2), vip=True,
                                    catalog=catalog) == [(vip_mission, "2026-W11")]
    assert {s.mission.id for s in missions.board(None, vip=True, catalog=catalog)} == {
        "vip", "reader"}


def test_the_seed_vip_mission_is_vip_only_and_pays_an_item() -> None:
    seed = {m.id: m for m in content.missions()}
    assert seed["capricho-vip"].vip_only and seed["capricho-vip"].reward.items
    assert {m.type for m in seed.values()} >= {"daily", "weekly", "special"}
    assert seed["lector-semanal"].objectives[0].target == 5
    assert "story.fragment_read" in missions.counted_events()


def test_completion_pays_besitos_and_items_once(registered: int) -> None:
    gifted = mission(id="gifted", reward={"besitos": 7, "items": [
        {"item": "rosa-roja", "quantity": 2}]},
        objectives=[{"event": "gift.claimed", "target": 1}])
    for _ in range(2):  # a retry after a crash between paying and marking
        with unit_of_work() as session:
            recorded = missions.pay_completion(session, registered, gifted, "once", "es")
    assert [e.type for e in recorded] == ["mission.completed"]
    assert recorded[0].payload["items"] == [["rosa-roja", 2]]
    assert recorded[0].payload["besitos"] == 7
    with read_session() as session:
        assert wallet.balance(session, registered) == 7 == wallet.ledger_sum(session,
                                                                             registered)
        assert inventory.lines(session, registered) == [("rosa-roja", 2)]
        keys = session.scalars(select(ItemGrant.idempotency_key)
                               .where(ItemGrant.user_id == registered)).all()
        assert keys == [f"mission-item:gifted:{registered}:once:rosa-roja"]
        assert session.scalar(select(func.count()).select_from(OutboxEvent)
                              .where(OutboxEvent.type == "mission.completed",
                                     OutboxEvent.id.like(f"%:{registered}:once"))) == 1
        assert session.scalar(select(LedgerEntry.idempotency_key)
                              .where(LedgerEntry.user_id == registered)) == \
            f"mission:gifted:{registered}:once"


def test_the_catalog_is_checked() -> None:
    with pytest.raises(ValidationError, match="not a countable event"):
        mission(objectives=[{"event": "gift.clamied", "target": 1}])
    with pytest.raises(ValidationError, match="metric: amount"):
        mission(objectives=[{"event": "besitos.earned", "target": 100}])
    with pytest.raises(ValidationError):
        mission(objectives=[])
    with pytest.raises(ValueError, match="not in items.yaml"):
        content._check_reward_items("missions.yaml", [mission(
            objectives=[{"event": "gift.claimed", "target": 1}],
            reward={"items": [{"item": "no-such-item"}]})])
