"""Auctions through a real broker, a real worker, real databases and the stand-in: every
task delivered twice holds, refunds, wins and tells once."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import select, update

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import Auction, AuctionHold, AuditEntry, DeadLetter, User
from services import auctions, inventory, wallet
from tasks import auctions as auction_tasks
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import ROOT, wait_until
from worker.app import TASK_MODULES, app

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # closes first, whatever else is due


def funded(uid: int, amount: int) -> None:
    register_directly([uid])
    with unit_of_work() as session:
        wallet.credit(session, uid, amount, reason="test", key=f"fund:{uid}")


def new_auction(start: int = 50, increment: int = 10) -> int:
    with unit_of_work() as session:
        return auctions.create(session, actor_id=None, item_id="rosa-roja", start_price=start,
                               min_increment=increment, minutes=60,
                               request_key=f"it:{time.time_ns()}", console=True).auction_id


def holds(auction_id: int) -> list[tuple[int, int, str]]:
    with read_session() as session:
        return [(h.user_id, h.amount, h.status) for h in session.scalars(
            select(AuctionHold).where(AuctionHold.auction_id == auction_id)
            .order_by(AuctionHold.id))]


def twice(name: str, args: list[object], task_id: str) -> None:
    """The same task message, delivered twice (as a broker redelivery would)."""
    for _ in range(2):
        app.send_task(name, args=args, task_id=task_id)


def test_bids_and_close_delivered_twice_hold_refund_and_win_once(worker, standin,  # type: ignore[no-untyped-def]
                                                                 new_user_id) -> None:
    a, b = new_user_id(), new_user_id()
    funded(a, 300)
    funded(b, 300)
    aid = new_auction()

    twice("tasks.auctions.bid", [a, aid, 50, f"cb:it-a1-{a}"], f"bid-a1-{a}")
    wait_until(lambda: message_counts(standin, [a], "es la más alta")[a] == 1, timeout=20,
               message="A's bid message")
    twice("tasks.auctions.bid", [b, aid, 70, f"cb:it-b1-{b}"], f"bid-b1-{b}")
    wait_until(lambda: message_counts(standin, [a], "Te han superado")[a] == 1, timeout=20,
               message="A's outbid message")
    wait_until(lambda: message_counts(standin, [b], "es la más alta")[b] == 1, timeout=20)
    assert holds(aid) == [(a, 50, "refunded"), (b, 70, "active")]

    with unit_of_work() as session:  # the end has come (long ago: first in the closer's batch)
        session.execute(update(Auction).where(Auction.id == aid).values(ends_at=LONG_AGO))
    twice("tasks.auctions.close_due", [], f"close-{aid}")
    wait_until(lambda: message_counts(standin, [b], "Ganaste la subasta")[b] == 1, timeout=20,
               message="B's win message")
    time.sleep(3)  # give duplicates every chance to show up

    assert message_counts(standin, [a], "Te han superado")[a] == 1
    assert message_counts(standin, [a], "Te devolvimos 50 besitos")[a] == 1
    assert message_counts(standin, [b], "Ganaste la subasta")[b] == 1
    assert message_counts(standin, [a, b], "es la más alta") == {a: 1, b: 1}
    assert holds(aid) == [(a, 50, "refunded"), (b, 70, "captured")]
    with read_session() as session:
        row = session.get(Auction, aid)
        assert row is not None and (row.status, row.top_bidder_id) == ("sold", b)
        assert inventory.lines(session, b) == [("rosa-roja", 1)]
        assert inventory.lines(session, a) == []
        assert wallet.balance(session, a) == 300 and wallet.balance(session, b) == 230
    assert_books_balance([a, b])


def test_refusals_are_polite_messages_not_dead_letters(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = new_user_id(), new_user_id()
    funded(a, 300)
    funded(b, 20)
    aid = new_auction()
    app.send_task("tasks.auctions.bid", args=[a, aid, 60, f"cb:ok-{a}"])
    wait_until(lambda: message_counts(standin, [a], "es la más alta")[a] == 1, timeout=20)
    twice("tasks.auctions.bid", [a, aid, 65, f"cb:low-{a}"], f"low-{a}")  # 70 is the minimum
    wait_until(lambda: message_counts(standin, [a], "la puja mínima ahora es 70")[a] == 1,
               timeout=20, message="too-low message")
    app.send_task("tasks.auctions.bid", args=[b, aid, 70, f"cb:poor-{b}"])
    wait_until(lambda: message_counts(standin, [b], "No te alcanzan")[b] == 1, timeout=20)
    app.send_task("tasks.auctions.buy_now", args=[b, aid, f"cb:nobuy-{b}"])
    wait_until(lambda: message_counts(standin, [b], "no tiene compra inmediata")[b] == 1,
               timeout=20)
    time.sleep(2)
    assert message_counts(standin, [a], "la puja mínima ahora es 70")[a] == 1
    assert holds(aid) == [(a, 60, "active")]
    assert_books_balance([a, b])
    with read_session() as session:
        dead = session.scalars(select(DeadLetter).where(
            DeadLetter.task_name.like("tasks.auctions.%"))).all()
        assert [d for d in dead if aid in d.args["args"]] == []


def test_create_task_checks_the_admin_and_audits_every_attempt(worker, standin,  # type: ignore[no-untyped-def]
                                                               new_user_id) -> None:
    member, admin = new_user_id(), new_user_id()
    register_directly([member, admin])
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    twice("tasks.auctions.create", [member, "rosa-roja", 50, 10, 30, None, f"upd:{member}:1"],
          f"create-{member}")
    twice("tasks.auctions.create", [admin, "rosa-roja", 50, 10, 30, 200, f"upd:{admin}:1"],
          f"create-{admin}")
    wait_until(lambda: message_counts(standin, [member], "Solo un administrador")[member] == 1,
               timeout=20, message="refusal for a member")
    wait_until(lambda: message_counts(standin, [admin], "creada")[admin] == 1, timeout=20,
               message="admin's confirmation")
    app.send_task("tasks.auctions.create", args=[admin, "", 0, 0, 0, None, f"upd:{admin}:2"])
    wait_until(lambda: message_counts(standin, [admin], "Uso: /subasta")[admin] == 1,
               timeout=20, message="usage for a malformed command")
    time.sleep(2)
    assert message_counts(standin, [admin], "creada")[admin] == 1
    with read_session() as session:
        rows = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "auction.create",
            AuditEntry.actor_id.in_([member, admin])).order_by(AuditEntry.id)).all()
        assert sorted((r.actor_id, r.result) for r in rows) == \
            sorted([(member, "not_admin"), (admin, "ok"), (admin, "invalid")])
        created = session.scalars(select(Auction).where(Auction.created_by == admin)).all()
        assert [(c.buy_now_price, c.status) for c in created] == [(200, "open")]


def test_the_console_creates_prints_the_id_and_audits() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tasks.auctions", "create", *args],
                              cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=False)

    done = run("rosa-roja", "40", "5", "--minutes", "30", "--buy-now", "100")
    assert done.returncode == 0, done.stderr
    aid = int(done.stdout.strip())
    refused = run("no-such-item", "40", "5", "--minutes", "30")
    assert refused.returncode == 2 and "unknown_item" in refused.stderr
    with read_session() as session:
        row = session.get(Auction, aid)
        assert row is not None and (row.start_price, row.min_increment, row.buy_now_price,
                                    row.created_by) == (40, 5, 100, None)
        audits = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "auction.create").order_by(AuditEntry.id.desc()).limit(2)).all()
        assert [(a.result, a.details["via"]) for a in audits] == \
            [("unknown_item", "console"), ("ok", "console")]


def test_beat_runs_the_closer_on_the_configured_period() -> None:
    entry = app.conf.beat_schedule["auctions-close"]
    assert entry["task"] == auction_tasks.close_due.name == "tasks.auctions.close_due"
    assert "tasks.auctions" in TASK_MODULES  # the worker imports it
    assert entry["schedule"] == get_settings().auction_close_interval == 5.0
    assert entry["options"]["expires"] == 2 * entry["schedule"]
