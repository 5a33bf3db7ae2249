"""Store rules with the real database: VIP, limits, stock, funds, idempotency, races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import ItemStock, User
from services import content, inventory, store, users, wallet


def fund(user_id: int, amount: int) -> None:
    with unit_of_work() as session:
        wallet.credit(session, user_id, amount, reason="test", key=f"fund:{user_id}:{amount}")


def buy(user_id: int, item_id: str, key: str, now: datetime | None = None
        ) -> store.PurchaseOutcome:
    with unit_of_work() as session:
        return store.purchase(session, user_id, item_id, f"{user_id}:{key}", now=now)


def set_stock(item_id: str, remaining: int) -> None:
    with unit_of_work() as session:
        store.sync_stock(session)
        session.get(ItemStock, item_id).remaining = remaining  # type: ignore[union-attr]


def make_vip(user_id: int) -> None:
    with unit_of_work() as session:
        session.get(User, user_id).vip_until = datetime.now(UTC) + timedelta(days=30)  # type: ignore[union-attr]


def books(user_id: int) -> tuple[int, int]:
    with read_session() as session:
        return wallet.balance(session, user_id), wallet.ledger_sum(session, user_id)


def test_catalog_ships_the_promised_kinds_of_items() -> None:
    items = content.items()
    assert len(items) >= 5
    assert any(i.vip_only for i in items)
    assert any(i.stock == 3 for i in items)
    assert any(i.per_member_limit == 1 for i in items)
    assert any(i.consumable for i in items)
    assert all(len(f"s:item:{i.id}".encode()) <= 64 for i in items)


def test_sync_stock_seeds_once_and_never_refills() -> None:
    with unit_of_work() as session:
        store.sync_stock(session)
        session.get(ItemStock, "llave-dorada").remaining = 1  # type: ignore[union-attr]
    with unit_of_work() as session:
        assert store.sync_stock(session) == 0
        assert session.get(ItemStock, "llave-dorada").remaining == 1  # type: ignore[union-attr]


def test_purchase_debits_stacks_inventory_and_records_event(registered: int) -> None:
    fund(registered, 100)
    first = buy(registered, "rosa-roja", "a")
    second = buy(registered, "rosa-roja", "b")
    assert (first.price, first.balance, second.balance) == (20, 80, 60)
    assert [e.type for e in first.events] == ["item.purchased"]
    payload = first.events[0].payload
    assert payload["item_id"] == "rosa-roja" and payload["price"] == 20
    assert "name" not in str(payload) and "Test" not in str(payload)
    with read_session() as session:
        assert inventory.lines(session, registered) == [("rosa-roja", 2)]
    assert books(registered) == (60, 60)


def test_redelivered_purchase_returns_the_first_outcome(registered: int) -> None:
    fund(registered, 100)
    first = buy(registered, "rosa-roja", "same")
    again = buy(registered, "rosa-roja", "same")
    assert (again.purchase_id, again.price, again.balance) == (first.purchase_id, 20, 80)
    assert [e.id for e in again.events] == [first.event_id]  # unpublished: publish again
    with read_session() as session:
        assert inventory.lines(session, registered) == [("rosa-roja", 1)]
    assert books(registered) == (80, 80)


def test_insufficient_funds_is_refused_and_changes_nothing(registered: int) -> None:
    fund(registered, 10)
    with pytest.raises(store.InsufficientFunds):
        buy(registered, "rosa-roja", "poor")
    with read_session() as session:
        assert inventory.lines(session, registered) == []
    assert books(registered) == (10, 10)


def test_a_refused_request_stays_refused_when_redelivered(registered: int) -> None:
    fund(registered, 10)
    key = f"{registered}:refused"
    with pytest.raises(store.InsufficientFunds) as refused:
        with unit_of_work() as session:
            store.purchase(session, registered, "rosa-roja", key)
    with unit_of_work() as session:
        recorded = store.refuse(session, "purchase", registered, "rosa-roja", key,
                                refused.value.code)
    assert recorded[0].payload == {"user_id": registered, "item_id": "rosa-roja",
                                   "reason": "insufficient_funds", "balance": 10, "lang": "es"}
    fund(registered, 100)  # money arrives later: the same request still has its first answer
    with pytest.raises(store.InsufficientFunds), unit_of_work() as session:
        store.purchase(session, registered, "rosa-roja", key)
    assert books(registered) == (110, 110)


def test_vip_only_item_and_vip_price(registered: int) -> None:
    fund(registered, 1000)
    with pytest.raises(store.VipOnly):
        buy(registered, "corona-vip", "no-vip")
    make_vip(registered)
    assert buy(registered, "corona-vip", "vip").price == 400
    assert buy(registered, "rosa-roja", "vip-rose").price == 15
    assert books(registered) == (585, 585)


def test_vip_expired_pays_the_regular_price(registered: int) -> None:
    fund(registered, 100)
    make_vip(registered)
    later = datetime.now(UTC) + timedelta(days=31)
    assert buy(registered, "rosa-roja", "expired", now=later).price == 20
    with pytest.raises(store.VipOnly):
        buy(registered, "corona-vip", "expired-crown", now=later)


def test_per_member_limit(registered: int) -> None:
    fund(registered, 500)
    buy(registered, "retrato-firmado", "one")
    with pytest.raises(store.LimitReached):
        buy(registered, "retrato-firmado", "two")
    assert books(registered) == (400, 400)


def test_stock_runs_out(registered: int, new_user_id) -> None:  # type: ignore[no-untyped-def]
    set_stock("llave-dorada", 2)
    fund(registered, 1000)
    buy(registered, "llave-dorada", "k1")
    last = buy(registered, "llave-dorada", "k2")
    assert last.events[0].payload["stock_remaining"] == 0
    with pytest.raises(store.SoldOut):
        buy(registered, "llave-dorada", "k3")
    with read_session() as session:
        assert session.get(ItemStock, "llave-dorada").remaining == 0  # type: ignore[union-attr]
        assert inventory.lines(session, registered) == [("llave-dorada", 2)]
        offer = store.offer(session, registered, "llave-dorada")
        assert offer is not None and offer.sold_out and offer.reason == "sold_out"
    assert books(registered) == (600, 600)


def test_unknown_item_and_unregistered_member(registered: int, new_user_id) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(store.UnknownItem):
        buy(registered, "no-such-item", "x")
    with pytest.raises(users.NotRegistered):
        buy(new_user_id(), "rosa-roja", "x")


def test_consumable_use(registered: int) -> None:
    fund(registered, 100)
    buy(registered, "carta-perfumada", "c1")
    buy(registered, "carta-perfumada", "c2")
    with unit_of_work() as session:
        used = store.use_item(session, registered, "carta-perfumada", f"{registered}:u1")
    assert used.remaining == 1 and [e.type for e in used.events] == ["item.used"]
    with unit_of_work() as session:  # redelivered: nothing more is used
        again = store.use_item(session, registered, "carta-perfumada", f"{registered}:u1")
    assert again.remaining == 1
    with unit_of_work() as session:
        store.use_item(session, registered, "carta-perfumada", f"{registered}:u2")
    with pytest.raises(store.NotOwned), unit_of_work() as session:
        store.use_item(session, registered, "carta-perfumada", f"{registered}:u3")
    buy(registered, "rosa-roja", "r")
    with pytest.raises(store.NotConsumable), unit_of_work() as session:
        store.use_item(session, registered, "rosa-roja", f"{registered}:u4")
    with read_session() as session:
        assert inventory.lines(session, registered) == [("rosa-roja", 1)]


def _race(targets: list[tuple[int, str, str]]) -> tuple[list[store.PurchaseOutcome],
                                                         list[BaseException]]:
    barrier = threading.Barrier(len(targets))
    won: list[store.PurchaseOutcome] = []
    lost: list[BaseException] = []
    lock = threading.Lock()

    def attempt(user_id: int, item_id: str, key: str) -> None:
        barrier.wait()
        try:
            with unit_of_work() as session:
                outcome = store.purchase(session, user_id, item_id, key)
            with lock:
                won.append(outcome)
        except BaseException as exc:  # noqa: BLE001  (collected and checked below)
            with lock:
                lost.append(exc)

    threads = [threading.Thread(target=attempt, args=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won, lost


def test_race_for_the_last_unit_has_one_winner(new_user_id) -> None:  # type: ignore[no-untyped-def]
    members = [new_user_id() for _ in range(8)]
    with unit_of_work() as session:
        for uid in members:
            users.register(session, users.Profile(user_id=uid, language_code="es"))
            session.flush()
            wallet.credit(session, uid, 500, reason="test", key=f"fund:{uid}:race")
    set_stock("llave-dorada", 1)
    won, lost = _race([(uid, "llave-dorada", f"{uid}:last-unit") for uid in members])
    assert len(won) == 1, (won, lost)
    assert len(lost) == 7 and all(isinstance(e, store.SoldOut) for e in lost), lost
    with read_session() as session:
        assert session.get(ItemStock, "llave-dorada").remaining == 0  # type: ignore[union-attr]
        assert wallet.mismatches(session) == []
        holders = [uid for uid in members if inventory.lines(session, uid)]
        assert holders == [won[0].user_id]
        for uid in members:
            assert wallet.balance(session, uid) == (300 if uid == won[0].user_id else 500)


def test_race_for_the_last_besitos_has_one_winner(registered: int) -> None:
    fund(registered, 20)
    won, lost = _race([(registered, "rosa-roja", f"{registered}:besito-{n}") for n in range(8)])
    assert len(won) == 1, (won, lost)
    assert len(lost) == 7 and all(isinstance(e, store.InsufficientFunds) for e in lost), lost
    assert books(registered) == (0, 0)
    with read_session() as session:
        assert inventory.lines(session, registered) == [("rosa-roja", 1)]
        assert len(list(session.scalars(select(ItemStock)))) >= 1
