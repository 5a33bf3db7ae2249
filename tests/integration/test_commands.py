"""Accepted commands are the truth of work: what the broker lost is re-driven from SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from celery.canvas import Signature

from models.db import read_session, unit_of_work
from models.tables import Command, DeadLetter
from services import commands, inventory, wallet
from tasks import events, store, workflows
from tests.faults.helpers import assert_books_balance, register_directly
from tests.support import wait_until
from worker.app import app


def accepted_only(key: str, workflow: Signature, member_id: int, at: datetime) -> None:
    """A command recorded at intake whose message the broker then lost."""
    workflow = events._immutable(workflow)
    with unit_of_work() as session:
        commands.accept(session, key, task_name=events._name_of(workflow),
                        signature=dict(workflow), member_id=member_id, correlation_id=None,
                        now=at)
        row = session.get(Command, key)
        assert row is not None
        row.redrive_at = at  # due now


def state(key: str) -> str | None:
    with read_session() as session:
        row = session.get(Command, key)
        return row.state if row else None


def test_a_lost_command_is_redriven_and_finished_once(worker, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])
    key = f"upd:{uid}:1"
    accepted_only(key, workflows.daily_gift(uid, f"cb:lost-{uid}"), uid,
                  datetime.now(UTC) - timedelta(minutes=5))
    app.send_task("tasks.events.relay")
    wait_until(lambda: state(key) == "done", timeout=30, message="command done")
    with read_session() as session:
        row = session.get(Command, key)
        assert row is not None and row.result is not None
        assert row.result["status"] == "claimed" and row.attempts == 1
    app.send_task("tasks.events.relay")  # a finished command is not started again
    wait_until(lambda: wallet_balance(uid) >= 10, timeout=20, message="gift paid")
    with read_session() as session:
        assert session.get(Command, key).attempts == 1  # type: ignore[union-attr]
    assert_books_balance([uid])


def wallet_balance(uid: int) -> int:
    with read_session() as session:
        return wallet.balance(session, uid)


def test_a_members_lost_commands_replay_in_the_order_they_were_accepted(worker, new_user_id) -> None:  # type: ignore[no-untyped-def]
    # given a member with 15 besitos: a rose (20) is affordable only after today's gift (10)
    uid = new_user_id()
    register_directly([uid])
    with unit_of_work() as session:
        wallet.credit(session, uid, 15, reason="test", key=f"fund:{uid}")
    at = datetime.now(UTC) - timedelta(minutes=5)
    # when the gift and then the purchase were accepted, and the broker lost both
    accepted_only(f"upd:{uid}:1", workflows.daily_gift(uid, f"cb:g-{uid}"), uid, at)
    accepted_only(f"upd:{uid}:2", store.purchase.si(uid, "rosa-roja", f"cb:p-{uid}"), uid,
                  at + timedelta(seconds=1))
    app.send_task("tasks.events.relay")
    # then the purchase ran after the gift that funds it
    wait_until(lambda: state(f"upd:{uid}:2") in commands.FINISHED
               and state(f"upd:{uid}:1") in commands.FINISHED, timeout=30,
               message="both finished")  # (each worker process writes its marks itself)
    assert state(f"upd:{uid}:1") == "done"
    assert state(f"upd:{uid}:2") == "done"
    with read_session() as session:
        assert inventory.lines(session, uid) == [("rosa-roja", 1)]
    assert_books_balance([uid])


def test_a_refused_command_is_finished_as_refused(worker, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    register_directly([uid])  # no besitos
    key = f"upd:{uid}:9"
    events.start(store.purchase.si(uid, "rosa-roja", f"cb:r-{uid}"), command_id=key,
                 member_id=uid)
    wait_until(lambda: state(key) == "refused", timeout=30, message="command refused")
    with read_session() as session:
        row = session.get(Command, key)
        assert row is not None and row.result is not None
        assert row.result["reason"] == "insufficient_funds"
        assert session.query(DeadLetter).filter(DeadLetter.task_name == "tasks.store.purchase",
                                                DeadLetter.args["args"][0].as_integer()
                                                == uid).count() == 0
