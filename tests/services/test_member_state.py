"""MongoDB member state: created once, counters moved once per event id."""

from __future__ import annotations

from models import mongo


def test_ensure_member_is_idempotent(user_id: int) -> None:
    assert mongo.ensure_member(user_id, "es") is True
    assert mongo.ensure_member(user_id, "en") is False
    state = mongo.member_state(user_id)
    assert state is not None
    assert state["language"] == "es"
    assert state["story"]["position"] == "start"


def test_apply_once_creates_the_document_and_ignores_a_repeat(user_id: int) -> None:
    applied, state = mongo.apply_once(user_id, "e1", {"$inc": {"counters.x": 1}}, "es")
    assert applied is True
    assert state["counters"] == {"x": 1}
    assert state["story"]["position"] == "start"  # defaults filled on insert
    applied, state = mongo.apply_once(user_id, "e1", {"$inc": {"counters.x": 1}}, "es")
    assert applied is False
    assert state["counters"] == {"x": 1}
    applied, state = mongo.apply_once(user_id, "e2", {"$inc": {"counters.x": 1}}, "es")
    assert applied is True
    assert state["counters"] == {"x": 2}


def test_applied_list_is_bounded(user_id: int) -> None:
    for n in range(mongo.APPLIED_KEEP + 5):
        mongo.apply_once(user_id, f"e{n}", {"$inc": {"counters.y": 1}}, "es")
    state = mongo.member_state(user_id)
    assert state is not None
    assert len(state["applied"]) == mongo.APPLIED_KEEP
    assert state["counters"]["y"] == mongo.APPLIED_KEEP + 5
