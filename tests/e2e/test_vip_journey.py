"""End to end: the real bot, the stand-in and a real worker — 👑 VIP access.

Join requests to the VIP channel approved for an active member and declined (with a
private explanation) for others; an admin's grant and codes; a redeemed code, then a
single-use invite link; an expiry whose ban fails once at Telegram and is retried (banned
and unbanned once, the member told once), with an admin and a renewed member left alone.
The due jobs are started with `send_task`, not by beat's clock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, OutboxEvent, User, VipSubscription
from services import users, vip
from tests.support import Process, buttons, start_in_bot, start_worker
from worker.app import app

VIP_CHAT = -1009876543210
ENV = {"VIP_CHAT_ID": str(VIP_CHAT)}
CODE = re.compile(r"VIP-[0-9A-Z]{4}(?:-[0-9A-Z]{4}){3}")


@pytest.fixture(scope="module")
def worker(log_dir: Path) -> Iterator[Process]:
    """A worker that knows the VIP channel (VIP_CHAT_ID)."""
    process = start_worker(log_dir, name="worker-vip", env=ENV)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def bot(log_dir: Path, worker: Process) -> Iterator[Process]:
    """The bot, with the VIP channel's join requests routed to the worker."""
    import sys

    process = Process("bot-vip", [sys.executable, "-m", "bot"], log_dir, ENV).start()
    process.wait_for_log("bot ready", timeout=30)
    yield process
    process.stop()


def _admin(standin, uid: int) -> None:  # type: ignore[no-untyped-def]
    start_in_bot(standin, uid, "Admin")
    with unit_of_work() as session:
        session.get(User, uid).role = "admin"  # type: ignore[union-attr]


def _calls(standin, method: str, user_id: int, since: int = 0) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    return [r for r in standin.sent(method=method, since=since)
            if r["params"].get("user_id") == user_id]


def _texts(standin, chat_id: int, needle: str, since: int = 0) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["params"].get("text", "") for r in standin.sent(chat_id=chat_id, since=since)
            if needle in r["params"].get("text", "")]


def test_join_requests_approved_for_vip_and_declined_with_a_reason(bot, standin,  # type: ignore[no-untyped-def]
                                                                   new_user_id) -> None:
    admin, member, other, stranger = (new_user_id() for _ in range(4))
    _admin(standin, admin)
    start_in_bot(standin, member, "Ana")
    start_in_bot(standin, other, "Bea")
    mark = standin.mark()

    # a member may not grant VIP (told politely, audited); an admin may
    standin.inject_message(other, f"/vip_dar {other} 30")
    standin.wait_for_message(other, "solo para administradores", since=mark, timeout=20)
    standin.inject_message(admin, f"/vip_dar {member} 30 mensual")
    standin.wait_for_message(admin, f"VIP para {member} hasta el", since=mark, timeout=20)
    standin.wait_for_message(member, "¡Ya eres VIP!", since=mark, timeout=20)
    with read_session() as session:
        assert users.is_vip(session.get(User, member))  # type: ignore[arg-type]
        assert not users.is_vip(session.get(User, other))  # type: ignore[arg-type]
        results = {(row.actor_id, row.result) for row in session.scalars(
            select(AuditEntry).where(AuditEntry.action == "vip.grant",
                                     AuditEntry.actor_id.in_([admin, other])))}
    assert results == {(admin, "ok"), (other, "not_admin")}

    standin.inject_join_request(member, VIP_CHAT)
    approved = standin.wait_for(lambda r: r["params"].get("user_id") == member, timeout=20,
                                method="approveChatJoinRequest", since=mark)
    assert approved["params"]["chat_id"] == VIP_CHAT
    standin.wait_for_message(member, "Bienvenida/o al canal VIP", since=mark, timeout=20)

    for uid in (other, stranger):  # a registered member without VIP, someone unknown
        standin.inject_join_request(uid, VIP_CHAT, language_code="es")
        declined = standin.wait_for(lambda r, uid=uid: r["params"].get("user_id") == uid,
                                    timeout=20, method="declineChatJoinRequest", since=mark)
        told = standin.wait_for_message(uid, "No he podido aprobar tu solicitud", since=mark,
                                        timeout=20)
        assert told["id"] < declined["id"]  # written while the request was still pending
    assert _calls(standin, "approveChatJoinRequest", other, mark) == []
    assert _calls(standin, "declineChatJoinRequest", member, mark) == []
    assert len(_texts(standin, member, "Bienvenida/o", mark)) == 1


def test_a_redeemed_code_then_a_single_use_invite_link(bot, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, member, idle = (new_user_id() for _ in range(3))
    _admin(standin, admin)
    start_in_bot(standin, member, "Carla")
    idle_menu = start_in_bot(standin, idle, "Dani")
    mark = standin.mark()

    standin.inject_message(admin, "/vip_codigos 2 15 mensual")
    shown = standin.wait_for_message(admin, "código(s) de 15 día(s)", since=mark, timeout=20)
    codes = CODE.findall(shown["result"]["text"])
    assert len(codes) == 2 and shown["params"]["parse_mode"] == "HTML"

    standin.inject_message(member, f"/canjear {codes[0].lower()}")
    standin.wait_for_message(member, "¡Código canjeado! 15 día(s)", since=mark, timeout=20)
    standin.inject_message(idle, f"/canjear {codes[0]}")  # single use
    standin.wait_for_message(idle, "ya se ha usado", since=mark, timeout=20)

    standin.inject_message(member, "/vip")
    status = standin.wait_for_message(member, "Eres VIP hasta el", since=mark, timeout=20)
    assert "v:link" in buttons(status)
    before = time.time()
    # the link's message meets a 429 first: retried, and still one link is made
    standin.fail_next(1, kind="429", retry_after=1, methods=["sendMessage"], chat_id=member)
    standin.press(member, "v:link", status["result"]["message_id"])
    link = standin.wait_for(lambda r: True, timeout=20, method="createChatInviteLink",
                            since=mark)
    params = link["params"]
    assert (params["chat_id"], params["member_limit"]) == (VIP_CHAT, 1)
    assert before + 3500 <= params["expire_date"] <= time.time() + 3700
    sent = standin.wait_for_message(member, link["result"]["invite_link"], since=mark,
                                    timeout=20)
    assert "una sola vez" in sent["result"]["text"]

    # no VIP, no link (a forged press on an old menu gets the polite refusal)
    standin.press(idle, "v:link", idle_menu["result"]["message_id"], force=True)
    standin.wait_for_message(idle, "solo para miembros VIP activos", since=mark, timeout=20)
    assert len(standin.sent(method="createChatInviteLink", since=mark)) == 1


def _lapsed(actor: int, uid: int, *, renewed: bool = False) -> int:
    """A subscription of `uid` that ended a day ago (granted in the past); `renewed`: the
    member extended it in time, so their access goes on."""
    now = datetime.now(UTC)
    with unit_of_work() as session:
        outcome = vip.grant(session, actor, uid, 1, "mensual", f"lapsed:{uid}",
                            now=now - timedelta(days=2))
        assert outcome.ok
        recorded = list(outcome.events)
        if renewed:
            extension = vip.grant(session, actor, uid, 10, "mensual", f"renewed:{uid}",
                                  now=now - timedelta(hours=36))
            assert extension.ok
            recorded += extension.events
        for event in recorded:  # set up in the past: nobody is told now, nor by the relay
            session.get(OutboxEvent, event.id).published_at = now  # type: ignore[union-attr]
    with read_session() as session:
        return session.scalars(select(VipSubscription.id).where(
            VipSubscription.request_key == f"grant:lapsed:{uid}")).one()


def test_expiry_removes_the_member_once_though_the_ban_fails_first(bot, standin,  # type: ignore[no-untyped-def]
                                                                   new_user_id) -> None:
    admin, member, renewed, later = (new_user_id() for _ in range(4))
    _admin(standin, admin)
    for uid, name in ((member, "Eva"), (renewed, "Flor"), (later, "Gema")):
        start_in_bot(standin, uid, name)
    _lapsed(admin, member)
    _lapsed(admin, renewed, renewed=True)
    _lapsed(admin, admin)  # an admin's own VIP ends: told, never kicked
    mark = standin.mark()
    faults = standin.stats()["forced_faults"]

    standin.fail_next(1, kind="5xx", methods=["banChatMember"])
    app.send_task("tasks.vip.expire_due")
    unban = standin.wait_for(lambda r: r["params"].get("user_id") == member, timeout=30,
                             method="unbanChatMember", since=mark)
    assert unban["params"] == {"chat_id": VIP_CHAT, "user_id": member, "only_if_banned": True}
    standin.wait_for_message(member, "te hemos sacado del canal VIP", since=mark, timeout=20)
    standin.wait_for_message(admin, "Tu VIP terminó el", since=mark, timeout=20)
    assert standin.stats()["forced_faults"] == faults + 1  # the first ban failed...
    bans = _calls(standin, "banChatMember", member, mark)
    assert len(bans) == 1 and bans[0]["id"] < unban["id"]  # ...and its retry went through

    # a second run (after another member's end): nothing more for the first three
    _lapsed(admin, later)
    app.send_task("tasks.vip.expire_due")
    app.send_task("tasks.vip.expire_due")
    standin.wait_for(lambda r: r["params"].get("user_id") == later, timeout=30,
                     method="unbanChatMember", since=mark)
    standin.wait_for_message(later, "te hemos sacado del canal VIP", since=mark, timeout=20)
    time.sleep(1.0)
    assert len(_calls(standin, "banChatMember", member, mark)) == 1
    assert len(_calls(standin, "unbanChatMember", member, mark)) == 1
    assert len(_texts(standin, member, "sacado del canal VIP", mark)) == 1
    assert len(_calls(standin, "banChatMember", later, mark)) == 1
    assert len(_texts(standin, later, "sacado del canal VIP", mark)) == 1
    for kept in (admin, renewed):
        assert _calls(standin, "banChatMember", kept, mark) == []
    assert _texts(standin, renewed, "VIP terminó", mark) == []
    assert len(_texts(standin, admin, "Tu VIP terminó", mark)) == 1
    with read_session() as session:
        assert users.is_vip(session.get(User, renewed))  # type: ignore[arg-type]
        assert not users.is_vip(session.get(User, member))  # type: ignore[arg-type]
