"""End to end, the whole economy for one member through the real bot, a real worker and
the stand-in: the daily gift completes a mission and unlocks an achievement, the member
buys an item, is outbid once and wins an auction, answers a quiz poll — and receives every
message once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from models.db import read_session, unit_of_work
from models.tables import Auction, TriviaPoll, User
from services import content, inventory, wallet
from tests.faults.helpers import assert_books_balance
from tests.support import start_in_bot, wait_until
from worker.app import app

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _go(standin: Any, uid: int, message_id: int, data: str, expect: str) -> None:
    """Press a button on a message and wait for the message to become the next view."""
    mark = standin.mark()
    standin.press(uid, data, message_id)
    standin.wait_for(lambda r: expect in r["params"].get("text", ""), timeout=15,
                     chat_id=uid, method="editMessageText", since=mark)


def _texts(standin: Any, uid: int, since: int) -> list[str]:
    return [r["params"].get("text", "") for r in standin.sent(chat_id=uid, since=since)
            if r["method"] == "sendMessage"]


def test_one_member_through_the_whole_economy(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    with unit_of_work() as session:  # other tests' open auctions end: the list shows ours
        session.execute(update(Auction).where(Auction.status == "open")
                        .values(ends_at=LONG_AGO))
    member, rival, admin = new_user_id(), new_user_id(), new_user_id()
    mark = standin.mark()
    menu = int(start_in_bot(standin, member, "Ana")["result"]["message_id"])
    menu_rival = int(start_in_bot(standin, rival, "Bea")["result"]["message_id"])
    int(start_in_bot(standin, admin, "Admin")["result"]["message_id"])
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
        wallet.credit(session, rival, 200, reason="test", key=f"fund:{rival}")

    # 🎁 the daily gift: +10, the "gift of the day" mission, the first-mission achievement
    standin.press(member, "m:gift", menu)
    standin.wait_for_message(member, "Regalo reclamado", since=mark, timeout=20)
    standin.wait_for_message(member, "Misión completada", since=mark, timeout=20)
    standin.wait_for_message(member, "Logro desbloqueado: Primera misión", since=mark,
                             timeout=20)
    with read_session() as session:
        balance = wallet.balance(session, member)
    assert balance == 65  # 10 (gift) + 5 (mission) + 50 (achievement)

    # 🛍️ buys a red rose (20): menu → store → the rose → buy
    _go(standin, member, menu, "s:list", "Tienda")
    _go(standin, member, menu, "s:item:rosa-roja", "Una rosa")
    standin.press(member, "s:buy:rosa-roja", menu)
    standin.wait_for_message(member, "Compraste Rosa roja", since=mark, timeout=20)
    _go(standin, member, menu, "m:menu", "apetece")

    # 🔨 an auction: the member bids 20, the rival 25, the member 30 from the outbid message
    standin.inject_message(admin, "/subasta carta-perfumada 20 5 60")
    standin.wait_for_message(admin, "creada", since=mark, timeout=20)
    with read_session() as session:
        aid = session.scalars(select(Auction.id).where(Auction.created_by == admin)).one()
    _go(standin, member, menu, "a:list", f"#{aid}")
    _go(standin, member, menu, f"a:show:{aid}", f"Subasta #{aid}")
    standin.press(member, f"a:bid:{aid}:20", menu)
    standin.wait_for_message(member, "es la más alta", since=mark, timeout=20)
    _go(standin, rival, menu_rival, "a:list", f"#{aid}")
    _go(standin, rival, menu_rival, f"a:show:{aid}", "Puja más alta: 20")
    standin.press(rival, f"a:bid:{aid}:25", menu_rival)
    outbid = standin.wait_for_message(member, "Te han superado", since=mark, timeout=20)
    standin.press(member, f"a:bid:{aid}:30", outbid["result"]["message_id"])
    standin.wait_for_message(rival, "Te han superado", since=mark, timeout=20)
    with unit_of_work() as session:
        session.execute(update(Auction).where(Auction.id == aid).values(ends_at=LONG_AGO))
    app.send_task("tasks.auctions.close_due")  # what the `auctions-close` beat entry sends
    standin.wait_for_message(member, "Ganaste la subasta", since=mark, timeout=30)

    # 🧠 a quiz poll, answered right: +10 and the first-trivia achievement
    _go(standin, member, menu, "m:menu", "apetece")
    standin.press(member, "t:play", menu)
    poll = standin.wait_for(lambda r: True, timeout=15, chat_id=member, method="sendPoll",
                            since=mark)
    poll_id = poll["result"]["poll"]["id"]
    question = content.trivia_question(
        next(q.id for q in content.trivia() if q.question.es == poll["params"]["question"]))
    assert question is not None

    def recorded() -> bool:
        with read_session() as session:
            return session.scalars(select(TriviaPoll).where(TriviaPoll.poll_id == poll_id)
                                   ).one_or_none() is not None

    wait_until(recorded, timeout=15, message="poll recorded")
    standin.answer_poll(member, poll_id, [question.correct])
    standin.wait_for_message(member, "¡Correcto! +10 besitos", since=mark, timeout=20)
    standin.wait_for_message(member, "Logro desbloqueado: Primera respuesta", since=mark,
                             timeout=20)

    time.sleep(3)  # give any duplicate every chance to show itself
    counts = Counter(_texts(standin, member, mark))
    assert [text for text, n in counts.items() if n > 1] == []  # every message once
    for needle in ("Regalo reclamado", "Misión completada", "Primera misión",
                   "Compraste Rosa roja", "Te han superado", "Ganaste la subasta",
                   "¡Correcto!", "Primera respuesta", "Cien besitos"):
        assert sum(needle in text for text in counts) == 1, needle
    with read_session() as session:
        assert sorted(inventory.lines(session, member)) == [("carta-perfumada", 1),
                                                             ("rosa-roja", 1)]
        # 65 - 20 (rose) - 30 (auction) + 10 (trivia) + 30 (first-trivia achievement)
        # + 25 (100 besitos earned: 10 + 5 + 50 + 10 + 30 = 105)
        assert wallet.balance(session, member) == 80
        assert wallet.balance(session, rival) == 200  # outbid: refunded in full
    assert_books_balance([member, rival])
    assert "Traceback" not in bot.log()
