"""Store purchases through a real broker, a real worker, real databases and the stand-in."""

from __future__ import annotations

import time

from models.db import read_session, unit_of_work
from models.tables import DeadLetter, OutboxEvent
from services import inventory, wallet
from services.events import Event
from tasks import events
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import wait_until
from worker.app import app


def funded_member(uid: int, amount: int) -> None:
    register_directly([uid])
    with unit_of_work() as session:
        wallet.credit(session, uid, amount, reason="test", key=f"fund:{uid}")


def test_purchase_pays_once_and_tells_the_member_once(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    funded_member(uid, 100)
    key = f"cb:it-{uid}"
    for _ in range(2):  # the same task message, delivered twice (a broker redelivery)
        app.send_task("tasks.store.purchase", args=[uid, "rosa-roja", key],
                      task_id=f"buy-{uid}")
    wait_until(lambda: message_counts(standin, [uid], "Compraste Rosa roja")[uid] == 1,
               timeout=20, message="purchase message")

    # Every reacting step again, as a redelivery would hand them out, plus the relay.
    with read_session() as session:
        row = session.get(OutboxEvent, f"item.purchased:{key}")
        assert row is not None
        message = Event.from_row(row).as_message()
    for name in events.subscribers("item.purchased"):
        app.send_task(name, args=[message])
    app.send_task("tasks.events.relay")
    time.sleep(3)  # give duplicates every chance to show up

    assert message_counts(standin, [uid], "Compraste Rosa roja")[uid] == 1
    assert message_counts(standin, [uid], "Saldo: 80 besitos")[uid] == 1
    assert_books_balance([uid], expected_balance=80)
    with read_session() as session:
        assert inventory.lines(session, uid) == [("rosa-roja", 1)]


def test_refusal_is_a_polite_message_not_a_dead_letter(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    funded_member(uid, 5)
    for n in range(2):
        app.send_task("tasks.store.purchase", args=[uid, "rosa-roja", f"cb:poor-{uid}"],
                      task_id=f"poor-{uid}-{n}")
    wait_until(lambda: message_counts(standin, [uid], "No te alcanzan")[uid] == 1,
               timeout=20, message="refusal message")
    app.send_task("tasks.store.purchase", args=[uid, "corona-vip", f"cb:vip-{uid}"])
    wait_until(lambda: message_counts(standin, [uid], "solo para miembros VIP")[uid] == 1,
               timeout=20, message="VIP-only message")
    time.sleep(2)
    assert message_counts(standin, [uid], "No te alcanzan")[uid] == 1
    assert_books_balance([uid], expected_balance=5)
    with read_session() as session:
        dead = session.query(DeadLetter).filter(DeadLetter.task_name.like("tasks.store.%")).all()
        assert [d for d in dead if uid in d.args["args"]] == []


def test_use_a_consumable_through_the_worker(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    uid = new_user_id()
    funded_member(uid, 100)
    app.send_task("tasks.store.purchase", args=[uid, "carta-perfumada", f"cb:letter-{uid}"])
    wait_until(lambda: message_counts(standin, [uid], "Compraste Carta perfumada")[uid] == 1,
               timeout=20)
    for _ in range(2):
        app.send_task("tasks.store.use", args=[uid, "carta-perfumada", f"cb:use-{uid}"],
                      task_id=f"use-{uid}")
    wait_until(lambda: message_counts(standin, [uid], "Usaste Carta perfumada")[uid] == 1,
               timeout=20)
    with read_session() as session:
        assert inventory.lines(session, uid) == []
