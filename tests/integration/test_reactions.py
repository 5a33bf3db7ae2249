"""Reactions and recipes through a real broker, a real worker, real databases and the
stand-in: redelivered tasks pay and craft once; the rate limit's notice comes once."""

from __future__ import annotations

from sqlalchemy import select

from core import metrics
from models.db import read_session, unit_of_work
from models.tables import OutboxEvent, ReactionReward
from services import inventory, reactions, wallet
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import wait_until
from worker.app import app

GROUP = -1002223330000


def succeeded(task: str) -> int:
    return metrics.read_tasks().get(task, {}).get("succeeded", 0)


def wait_succeeded(task: str, count: int, timeout: float = 30) -> None:
    wait_until(lambda: succeeded(task) >= count, timeout=timeout,
               message=f"{count} successful {task}")


def register_posts(uid: int, count: int) -> list[int]:
    ids = [uid * 100 + n for n in range(count)]
    with unit_of_work() as session:
        for message_id in ids:
            reactions.register_post(session, GROUP, message_id, source="test")
    return ids


def test_a_redelivered_reward_pays_once(worker, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    [message_id] = register_posts(uid, 1)
    before = succeeded("tasks.reactions.reward")
    for _ in range(2):  # the same task message, delivered twice (a broker redelivery)
        app.send_task("tasks.reactions.reward",
                      args=[GROUP, message_id, uid, f"upd:{uid}:1", "reaction"],
                      task_id=f"react-{uid}")
    wait_succeeded("tasks.reactions.reward", before + 2)
    assert_books_balance([uid])
    with read_session() as session:
        assert reactions.rewarded_count(session, uid) == 1
        assert [e.amount for e in wallet.history(session, uid)
                if e.reason == "reaction"] == [1]


def test_over_the_limit_pays_nothing_and_says_so_once(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    posts = register_posts(uid, 33)
    before = succeeded("tasks.reactions.reward")
    for n, message_id in enumerate(posts):
        app.send_task("tasks.reactions.reward",
                      args=[GROUP, message_id, uid, f"upd:{uid}:{n}", "reaction"])
    wait_succeeded("tasks.reactions.reward", before + len(posts))
    wait_until(lambda: message_counts(standin, [uid], "Vas muy rápido")[uid] >= 1,
               timeout=20, message="the slow-down notice")
    assert_books_balance([uid])
    with read_session() as session:  # achievements and missions may add their own rewards
        paid = [e.amount for e in wallet.history(session, uid, limit=100)
                if e.reason == "reaction"]
        assert paid == [1] * 30  # REACTION_RATE_PER_MINUTE
        assert session.query(ReactionReward).filter_by(user_id=uid).count() == 30
        notices = session.scalars(select(OutboxEvent).where(
            OutboxEvent.type == "reaction.limited")).all()
        assert len([n for n in notices if n.payload["user_id"] == uid]) == 1  # not 3
    assert message_counts(standin, [uid], "Vas muy rápido")[uid] == 1


def test_a_redelivered_craft_crafts_once_and_tells_once(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    with unit_of_work() as session:
        inventory.grant(session, uid, "rosa-roja", 3, reason="test", key=f"roses:{uid}")
    for _ in range(2):
        app.send_task("tasks.recipes.craft", args=[uid, "ramo-de-rosas", f"cb:craft-{uid}"],
                      task_id=f"craft-{uid}")
    wait_until(lambda: message_counts(standin, [uid], "Creaste Ramo de rosas")[uid] == 1,
               timeout=20, message="crafted message")
    app.send_task("tasks.recipes.craft", args=[uid, "ramo-de-rosas", f"cb:again-{uid}"])
    wait_until(lambda: message_counts(standin, [uid], "te falta: 3 × Rosa roja")[uid] == 1,
               timeout=20, message="missing-inputs message")
    assert message_counts(standin, [uid], "Creaste Ramo de rosas")[uid] == 1
    with read_session() as session:
        assert inventory.lines(session, uid) == [("ramo-de-rosas", 1)]
