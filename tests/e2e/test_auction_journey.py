"""End to end: the real bot, the stand-in and a real worker — an admin opens an auction
with /subasta, member A bids, member B outbids, A bids again from the outbid message, the
closer ends the auction, A gets the win message and the item."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from models.db import read_session, unit_of_work
from models.tables import Auction, User
from services import inventory, wallet
from tests.faults.helpers import assert_books_balance, message_counts
from tests.support import buttons, start_in_bot
from worker.app import app

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)  # first in the closer's batch


def _edited(standin, uid: int, needle: str, since: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return standin.wait_for(lambda r: needle in r["params"].get("text", ""), timeout=15,
                            chat_id=uid, method="editMessageText", since=since)


def test_outbid_member_bids_again_and_wins(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as session:  # other tests' open auctions end: the list shows ours
        session.execute(update(Auction).where(Auction.status == "open")
                        .values(ends_at=LONG_AGO))
    admin, a, b = new_user_id(), new_user_id(), new_user_id()
    int(start_in_bot(standin, admin, "Admin")["result"]["message_id"])
    menu_a, menu_b = int(start_in_bot(standin, a, "Ana")["result"]["message_id"]), int(start_in_bot(standin, b, "Bea")["result"]["message_id"])
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
        for uid in (a, b):
            wallet.credit(session, uid, 300, reason="test", key=f"fund:{uid}")

    # an admin opens it; a member may not
    mark = standin.mark()
    standin.inject_message(b, "/subasta rosa-roja 50 10 60")
    standin.wait_for_message(b, "Solo un administrador", since=mark, timeout=20)
    standin.inject_message(admin, "/subasta rosa-roja 50 10 60")
    created = standin.wait_for_message(admin, "creada", since=mark, timeout=20)
    with read_session() as session:
        aid = session.scalars(select(Auction.id).where(Auction.created_by == admin)).one()
    assert f"Subasta #{aid} creada" in created["result"]["text"]

    # A: 🔨 Subastas → the auction → "Pujar 50"
    standin.press(a, "a:list", menu_a)
    listing = _edited(standin, a, f"#{aid} Rosa roja", mark)
    assert f"a:show:{aid}" in buttons(listing)
    standin.press(a, f"a:show:{aid}", menu_a)
    detail = _edited(standin, a, f"Subasta #{aid}", mark)
    assert buttons(detail)[:2] == [f"a:bid:{aid}:50", f"a:bid:{aid}:60"]
    assert "Precio de salida: 50" in detail["params"]["text"]
    standin.press(a, f"a:bid:{aid}:50", menu_a)
    standin.wait_for_message(a, "es la más alta", since=mark, timeout=20)

    # B outbids: A is told once, with a button to bid again, and has the besitos back
    standin.press(b, "a:list", menu_b)
    _edited(standin, b, f"#{aid} Rosa roja", mark)
    standin.press(b, f"a:show:{aid}", menu_b)
    detail_b = _edited(standin, b, "Puja más alta: 50", mark)
    assert f"a:bid:{aid}:60" in buttons(detail_b)
    standin.press(b, f"a:bid:{aid}:60", menu_b)
    outbid = standin.wait_for_message(a, "Te han superado", since=mark, timeout=20)
    assert "Te devolvimos 50 besitos" in outbid["result"]["text"]
    assert f"a:bid:{aid}:70" in buttons(outbid)
    with read_session() as session:
        assert wallet.balance(session, a) == 300 and wallet.balance(session, b) == 240

    # A bids again from the outbid message; B's stale "Pujar 60" is refused politely
    standin.press(a, f"a:bid:{aid}:70", outbid["result"]["message_id"])
    standin.wait_for_message(b, "Te han superado", since=mark, timeout=20)
    standin.press(b, f"a:bid:{aid}:60", menu_b)
    standin.wait_for_message(b, "la puja mínima ahora es 80", since=mark, timeout=20)

    # the end comes (shortened), the closer runs: A wins, once, and holds the item
    with unit_of_work() as session:
        session.execute(update(Auction).where(Auction.id == aid).values(ends_at=LONG_AGO))
    app.send_task("tasks.auctions.close_due")  # what the `auctions-close` beat entry sends
    won = standin.wait_for_message(a, "Ganaste la subasta", since=mark, timeout=30)
    assert "70 besitos" in won["result"]["text"] and "i:list" in buttons(won)
    standin.press(a, "i:list", won["result"]["message_id"])
    standin.wait_for(lambda r: "Rosa roja × 1" in r["params"].get("text", ""), timeout=15,
                     chat_id=a, since=mark)

    assert message_counts(standin, [a], "Te han superado")[a] == 1
    assert message_counts(standin, [b], "Te han superado")[b] == 1
    assert message_counts(standin, [a], "Ganaste la subasta")[a] == 1
    assert message_counts(standin, [a, b], "Ganaste") == {a: 1}
    with read_session() as session:
        row = session.get(Auction, aid)
        assert row is not None and (row.status, row.top_bidder_id, row.current_price) == \
            ("sold", a, 70)
        assert inventory.lines(session, a) == [("rosa-roja", 1)]
        assert inventory.lines(session, b) == []
        assert (wallet.balance(session, a), wallet.balance(session, b)) == (230, 300)
    assert_books_balance([a, b])
    assert "Traceback" not in bot.log()
