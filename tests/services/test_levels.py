"""Levels from lifetime earned besitos: `level.up` once, in the credit's transaction, never
for refunds; the leaderboard and a member's own rank."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import OutboxEvent, Wallet
from services import content, levels, messages, users, wallet
from services.content import Level


def credit(user_id: int, amount: int, key: str, earned: bool = True) -> wallet.Change:
    with unit_of_work() as session:
        return wallet.credit(session, user_id, amount, reason="test", key=f"{key}:{user_id}",
                             earned=earned)


def level_ups(user_id: int) -> list[tuple[str, dict[str, Any]]]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.type == "level.up",
                                                         OutboxEvent.id.like(f"%:{user_id}:%")))
        return sorted((row.id, row.payload) for row in rows)


def test_levels_follow_the_thresholds() -> None:
    seed = content.levels()
    assert [level.threshold for level in seed] == [0, 50, 150, 400, 1000, 2500, 6000, 12000]
    assert levels.level_for(0).level == 1
    assert levels.level_for(49).level == 1
    assert levels.level_for(50).level == 2
    assert levels.level_for(10**9).level == len(seed)
    assert levels.next_level(seed[-1]) is None
    assert levels.next_level(seed[0]) == seed[1]


def test_crossing_a_threshold_records_level_up_once_in_the_same_transaction(
        registered: int) -> None:
    assert credit(registered, 30, "a").events == ()
    change = credit(registered, 25, "b")  # 30 → 55: level 2
    assert [e.id for e in change.events] == [f"level.up:{registered}:2"]
    assert change.events[0].payload == {"user_id": registered, "level": 2, "previous": 1,
                                        "lifetime_earned": 55, "lang": "es"}
    assert credit(registered, 25, "b").events == ()  # the same credit again: nothing
    assert credit(registered, 10, "c").events == ()  # 65: still level 2
    jump = credit(registered, 400, "d")  # 65 → 465: levels 3 and 4 at once, told once
    assert [e.id for e in jump.events] == [f"level.up:{registered}:4"]
    assert [i for i, _ in level_ups(registered)] == [f"level.up:{registered}:2",
                                                     f"level.up:{registered}:4"]


def test_a_level_up_rolls_back_with_its_credit(registered: int) -> None:
    def credit_then_fail() -> None:
        with unit_of_work() as session:
            assert wallet.credit(session, registered, 60, reason="test", key="boom").events
            raise RuntimeError("the transaction fails after the credit")

    with pytest.raises(RuntimeError):
        credit_then_fail()
    assert level_ups(registered) == []
    with read_session() as session:
        assert levels.lifetime_earned(session, registered) == 0


def test_money_that_was_not_earned_never_levels_up(registered: int) -> None:
    refund = credit(registered, 5000, "refund", earned=False)
    assert refund.events == ()
    assert level_ups(registered) == []
    with read_session() as session:
        standing = levels.standing(session, registered)
    assert (standing.lifetime_earned, standing.rank, standing.level.level) == (0, None, 1)
    assert standing.to_next == 50


def test_the_leaderboard_ranks_by_lifetime_earnings(new_user_id: Any) -> None:
    members = [new_user_id() for _ in range(4)]
    top = 10**15  # above anything other tests earn
    earned = [top + 30, top + 20, top + 20, top + 10]
    with unit_of_work() as session:
        for n, (uid, amount) in enumerate(zip(members, earned, strict=True)):
            users.register(session, users.Profile(user_id=uid, first_name=f"N{n}"))
            session.flush()
            session.get(Wallet, uid).lifetime_earned = amount  # type: ignore[union-attr]
    with read_session() as session:
        leaders = levels.top(session, 4)
        third = levels.standing(session, members[2])
        last = levels.standing(session, members[3])
    assert [(leader.rank, leader.user_id, leader.first_name, leader.lifetime_earned)
            for leader in leaders] == [(1, members[0], "N0", earned[0]),
                                       (2, members[1], "N1", earned[1]),
                                       (2, members[2], "N2", earned[2]),
                                       (4, members[3], "N3", earned[3])]
    assert (third.rank, last.rank) == (2, 4)
    assert third.level == content.levels()[-1] and third.next is None
    view = messages.progress.top_view("es", leaders, third)
    assert "🥇 N0 — " in view.text and "🥈 N2 — " in view.text and "4. N3 — " in view.text
    assert "Tú: puesto 2" in view.text and "Nivel máximo" in view.text
    assert str(members[0]) not in view.text  # no ids, only first names


def test_names_cannot_reshape_the_leaderboard() -> None:
    assert messages.progress.display_name("Ana\nMaría   López " + "x" * 40, "es") == \
        ("Ana María López " + "x" * 40)[:24]
    assert messages.progress.display_name("  ", "en") == "Member"


def test_the_level_up_message_names_the_level_and_the_next() -> None:
    event = {"id": "level.up:1:2", "type": "level.up", "at": "2026-03-10T12:00:00+00:00",
             "payload": {"user_id": 1, "level": 2, "previous": 1, "lifetime_earned": 55,
                         "lang": "es"}}
    rendered = messages.for_event(event)
    assert rendered is not None
    assert "Ahora eres nivel 2: Invitado" in rendered.text
    assert "nivel 3 (Habitual) a los 150 besitos" in rendered.text
    top = messages.for_event({**event, "payload": {**event["payload"], "level": 8,
                                                   "lang": "en"}})
    assert top is not None and "highest level" in top.text


def test_levels_are_checked() -> None:
    def level(n: int, threshold: int) -> Level:
        return Level(level=n, threshold=threshold, title={"es": f"L{n}"})

    with pytest.raises(ValueError, match="threshold 0"):
        content.check_levels([level(1, 10)])
    with pytest.raises(ValueError, match="higher"):
        content.check_levels([level(1, 0), level(2, 50), level(3, 50)])
    with pytest.raises(ValueError, match="out of order"):
        content.check_levels([level(1, 0), level(3, 50)])
