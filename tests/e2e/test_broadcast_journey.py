"""End to end: 📣 an admin broadcasts through the real bot, a real worker and the stand-in.

2,000 members (5 % of them have blocked the bot), the stand-in's Telegram limits on, the
admin replies `/difundir todos` to their message: everyone else gets it exactly once, the
blocked are marked unreachable and counted, the progress message moves along and the final
report adds up. Then pause / resume and cancel, pressed on the progress message.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from models.db import read_session, unit_of_work
from models.tables import Broadcast, BroadcastRecipient, User, Wallet
from tests.support import buttons, start_in_bot, wait_until

pytestmark = pytest.mark.slow

TEXT = "📣 Hola a todas <3 & gracias por estar aquí"  # the stand-in gets it as HTML


def register_in_bulk(new_user_id, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """`count` members written straight to SQL in one transaction (profile and wallet)."""
    ids = [new_user_id() for _ in range(count)]
    with unit_of_work() as session:
        session.execute(insert(User), [{"id": uid, "first_name": "", "language": "es",
                                        "role": "member", "reachable": True} for uid in ids])
        session.execute(insert(Wallet), [{"user_id": uid, "balance": 0, "lifetime_earned": 0}
                                         for uid in ids])
    return ids


def an_admin(standin, new_user_id) -> int:  # type: ignore[no-untyped-def]
    admin = new_user_id()
    start_in_bot(standin, admin, "Admin")
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    return admin


def difundir(standin, admin: int, words: str, mark: int) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The admin writes the text, replies `/difundir <words>` to it; returns the broadcast's
    id and the progress message's record."""
    written = standin.inject_message(admin, TEXT)
    standin.inject_message(admin, f"/difundir {words}",
                           reply_to_message_id=written["message"]["message_id"])
    progress = standin.wait_for_message(admin, "Difusión #", since=mark, timeout=30)
    with read_session() as session:
        bid = session.scalars(select(Broadcast.id).where(Broadcast.created_by == admin)
                              .order_by(Broadcast.id.desc())).first()
    assert bid is not None and f"Difusión #{bid}" in progress["result"]["text"]
    assert buttons(progress) == [f"b:pause:{bid}", f"b:cancel:{bid}"]
    return bid, progress


def final_report(standin, admin: int, needle: str, mark: int) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The final report: a new message (the progress message is edited, not sent again)."""
    return standin.wait_for(lambda r: needle in (r["result"] or {}).get("text", ""),
                            timeout=30, chat_id=admin, method="sendMessage", since=mark)


def status(bid: int) -> str:
    with read_session() as session:
        return session.get(Broadcast, bid).status  # type: ignore[union-attr]


def deliveries(standin, ids: list[int], mark: int) -> Counter[int]:  # type: ignore[no-untyped-def]
    """How many times each of `ids` received the broadcast's text since `mark`."""
    wanted = set(ids)
    return Counter(r["chat_id"] for r in standin.sent(method="sendMessage", since=mark)
                   if r["chat_id"] in wanted and (r["result"] or {}).get("text") == TEXT)


def recipient_counts(bid: int) -> Counter[str]:
    with read_session() as session:
        return Counter(session.scalars(select(BroadcastRecipient.status)
                                       .where(BroadcastRecipient.broadcast_id == bid)))


@pytest.fixture
def only_these_members() -> Iterator[None]:
    """`todos` means every reachable member in the database: members other tests left are
    set aside (unreachable) for the test and given back afterwards, so it sends to ours."""
    with unit_of_work() as session:
        others = list(session.scalars(select(User.id).where(User.reachable.is_(True))))
        if others:
            session.execute(update(User).where(User.id.in_(others)).values(reachable=False))
    try:
        yield
    finally:
        with unit_of_work() as session:
            for start in range(0, len(others), 5000):
                session.execute(update(User).where(User.id.in_(others[start:start + 5000]))
                                .values(reachable=True))


@pytest.mark.timeout(400)
def test_broadcast_to_2000_members_at_telegrams_pace(bot, standin, new_user_id,
                                                     only_these_members) -> None:  # type: ignore[no-untyped-def]
    config = standin.configure(limits_enabled=True)
    assert (config["global_per_second"], config["private_per_second"]) == (30.0, 1.0)
    admin = an_admin(standin, new_user_id)
    members = register_in_bulk(new_user_id, 2000)
    blocked = members[::20]  # 100 members, 5 %
    standin.block(*blocked)
    too_many_before = standin.stats()["too_many_requests"]
    try:
        mark = standin.mark()
        began = time.monotonic()
        bid, progress = difundir(standin, admin, "todos", mark)
        wait_until(lambda: status(bid) == "done", timeout=300, interval=0.5,
                   message="broadcast done")
        took = time.monotonic() - began
        report = final_report(standin, admin, f"Difusión #{bid} terminada", mark)
    finally:
        standin.unblock(*blocked)

    # every member who has not blocked the bot got it exactly once; the blocked none
    got = deliveries(standin, members + [admin], mark)
    reached = [uid for uid in members if uid not in set(blocked)] + [admin]
    assert {uid: got[uid] for uid in reached} == dict.fromkeys(reached, 1)
    assert sum(got[uid] for uid in blocked) == 0
    with read_session() as session:
        marked = session.scalars(select(User.id).where(User.id.in_(blocked),
                                                       User.reachable.is_(False))).all()
        row = session.get(Broadcast, bid)
        assert row is not None
        numbers = (row.total, row.sent, row.failed, row.blocked)
    assert sorted(marked) == sorted(blocked)
    assert numbers == (2001, 1901, 0, 100)
    assert recipient_counts(bid) == {"sent": 1901, "blocked": 100}

    # the final report adds up, and the progress message moved along the way
    text = report["result"]["text"]
    for line in ("Destinatarios: 2001", "Enviados: 1901", "Fallidos: 0", "Bloqueados: 100"):
        assert line in text, text
    edits = [r for r in standin.sent(chat_id=admin, method="editMessageText", since=mark)
             if r["params"].get("message_id") == progress["result"]["message_id"]]
    assert len(edits) >= 5
    shares = [int(r["params"]["text"].split(" %")[0].rsplit(" ", 1)[-1]) for r in edits]
    assert shares == sorted(shares) and shares[-1] == 100
    assert "terminada" in edits[-1]["params"]["text"] and buttons(edits[-1]) == []
    assert any("mensajes/s" in r["params"]["text"] for r in edits)

    # at Telegram's pace (measured, reported, not asserted: the machine decides)
    times = sorted(r["time"] for r in standin.sent(method="sendMessage", since=mark)
                   if r["chat_id"] in set(reached) and r["result"].get("text") == TEXT)
    rate = (len(times) - 1) / (times[-1] - times[0])
    print(f"\nbroadcast of {len(times)} messages (+100 blocked): {rate:.1f} messages/s "
          f"at the stand-in, {took:.0f} s from /difundir to done, "
          f"{len(edits)} progress edits, "
          f"{standin.stats()['too_many_requests'] - too_many_before} 429s")


def test_pause_stops_sending_and_resume_finishes(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = an_admin(standin, new_user_id)
    members = register_in_bulk(new_user_id, 250)
    mark = standin.mark()
    bid, progress = difundir(standin, admin, "lista " + ",".join(map(str, members)), mark)
    message_id = progress["result"]["message_id"]
    wait_until(lambda: sum(deliveries(standin, members, mark).values()) >= 20, timeout=30)
    standin.press(admin, f"b:pause:{bid}", message_id)
    wait_until(lambda: status(bid) == "paused", timeout=15, message="paused")
    standin.wait_for(lambda r: "en pausa" in r["params"].get("text", "")
                     and buttons(r) == [f"b:resume:{bid}", f"b:cancel:{bid}"],
                     timeout=15, chat_id=admin, method="editMessageText", since=mark)
    time.sleep(2.5)  # the batch that was sending when the pause came ends (≤ 50 members)
    while_paused = sum(deliveries(standin, members, mark).values())
    time.sleep(2.5)
    assert sum(deliveries(standin, members, mark).values()) == while_paused < len(members)
    assert recipient_counts(bid)["pending"] == len(members) - while_paused

    standin.press(admin, f"b:resume:{bid}", message_id)
    wait_until(lambda: status(bid) == "done", timeout=60, message="done after resume")
    assert deliveries(standin, members, mark) == dict.fromkeys(members, 1)
    report = final_report(standin, admin, f"Difusión #{bid} terminada", mark)
    assert "Enviados: 250" in report["result"]["text"]


def test_cancel_leaves_the_rest_unsent(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = an_admin(standin, new_user_id)
    members = register_in_bulk(new_user_id, 250)
    mark = standin.mark()
    bid, progress = difundir(standin, admin, "lista " + ",".join(map(str, members)), mark)
    wait_until(lambda: sum(deliveries(standin, members, mark).values()) >= 20, timeout=30)
    standin.press(admin, f"b:cancel:{bid}", progress["result"]["message_id"])
    wait_until(lambda: status(bid) == "cancelled", timeout=15, message="cancelled")
    report = final_report(standin, admin, f"Difusión #{bid} cancelada", mark)
    time.sleep(2.5)  # the batch in flight ends
    sent = deliveries(standin, members, mark)
    time.sleep(2.0)
    assert deliveries(standin, members, mark) == sent and max(sent.values()) == 1
    counts = recipient_counts(bid)
    assert counts["sent"] == len(sent) and counts["pending"] == len(members) - len(sent) > 0
    text = report["result"]["text"]  # made once the batch in flight was recorded
    assert f"Enviados: {len(sent)}" in text and f"Sin enviar: {counts['pending']}" in text
    # pressing again, or pressing resume, gets a polite answer and changes nothing
    standin.press(admin, f"b:resume:{bid}", progress["result"]["message_id"], force=True)
    standin.wait_for_message(admin, "ya está cancelada", since=mark, timeout=20)
    assert status(bid) == "cancelled" and deliveries(standin, members, mark) == sent


def test_a_member_cannot_broadcast_and_is_told_politely(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    member = new_user_id()
    start_in_bot(standin, member, "Mia")
    mark = standin.mark()
    written = standin.inject_message(member, TEXT)
    standin.inject_message(member, "/difundir todos",
                           reply_to_message_id=written["message"]["message_id"])
    standin.wait_for_message(member, "Solo un administrador", since=mark, timeout=20)
    standin.inject_message(member, "/difundir todos")  # no reply: still a member's attempt
    wait_until(lambda: len([r for r in standin.sent(chat_id=member, since=mark)
                            if "Solo un administrador" in (r["params"].get("text") or "")]) == 2,
               timeout=20, message="two polite refusals")
    with read_session() as session:
        assert session.scalars(select(Broadcast).where(Broadcast.created_by == member)).all() \
            == []
    assert "Traceback" not in bot.log()


def test_a_batch_task_delivered_twice_sends_nothing_twice(worker, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    from services import broadcasts
    from tasks import broadcasts as broadcast_tasks

    admin = register_in_bulk(new_user_id, 1)[0]
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    members = register_in_bulk(new_user_id, 120)
    mark = standin.mark()
    with unit_of_work() as session:
        started = broadcasts.start(session, admin, {"kind": "list", "ids": members},
                                   html.escape(TEXT, quote=False), f"twice:{admin}")
    bid = started.broadcast_id
    assert bid is not None
    for _ in range(3):  # the first batch, and two copies of it (a redelivery, a retry)
        broadcast_tasks.run.delay(bid, 0)
    wait_until(lambda: status(bid) == "done", timeout=60, message="done")
    assert deliveries(standin, members, mark) == dict.fromkeys(members, 1)
    assert recipient_counts(bid) == {"sent": 120}
    with read_session() as session:
        row = session.get(Broadcast, bid)
        assert row is not None and (row.total, row.sent, row.failed, row.blocked) == (
            120, 120, 0, 0)
    final_report(standin, admin, f"Difusión #{bid} terminada", mark)
