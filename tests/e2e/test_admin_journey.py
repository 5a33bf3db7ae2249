"""End to end: the real bot, the stand-in and a real worker — 🛠️ the /admin panel for an
admin (views, a member's card, a besitos adjustment) and a non-admin trying every admin
action: a polite refusal each time, and each attempt in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, User
from services import wallet
from tests.support import start_in_bot, wait_until


def _text(record: dict[str, Any]) -> str:
    return str(record["params"].get("text") or "")


def _buttons(record: dict[str, Any]) -> list[str]:
    markup = record["params"].get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def _make_admin(user_id: int) -> None:
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]


def _audits(actor: int) -> list[AuditEntry]:
    with read_session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.actor_id == actor)
                                    .order_by(AuditEntry.id)))


def test_an_admin_uses_the_panel_and_adjusts_a_members_besitos(bot, standin, user_id,  # type: ignore[no-untyped-def]
                                                               new_user_id) -> None:
    start_in_bot(standin, user_id, "Admin")
    _make_admin(user_id)
    member = new_user_id()
    start_in_bot(standin, member, "Lucía")

    mark = standin.mark()
    standin.inject_message(user_id, "/admin")
    panel = standin.wait_for(lambda r: "Panel de administración" in _text(r), timeout=15,
                             chat_id=user_id, since=mark)
    assert {"z:members", "z:status", "z:audit", "z:reload"} <= set(_buttons(panel))
    standin.press(user_id, "z:status", panel["result"]["message_id"])
    status = standin.wait_for(lambda r: "Estado:" in _text(r), timeout=20, chat_id=user_id,
                              since=mark)
    assert "sql" in _text(status) and "redis" in _text(status)

    standin.inject_message(user_id, f"/ajustar {member} +25 premio del sorteo")
    standin.wait_for(lambda r: f"Besitos de {member} ajustados: +25" in _text(r), timeout=20,
                     chat_id=user_id, since=mark)
    standin.wait_for(lambda r: "Un administrador ajustó tus besitos: +25" in _text(r),
                     timeout=20, chat_id=member, since=mark)
    standin.inject_message(user_id, f"/miembro {member}")
    card = standin.wait_for(lambda r: f"Miembro {member}" in _text(r), timeout=15,
                            chat_id=user_id, since=mark)
    assert "Saldo: 25" in _text(card) and "Ajuste de un administrador" in _text(card)
    standin.inject_message(user_id, f"/auditoria {member}")
    audit = standin.wait_for(lambda r: "Auditoría" in _text(r), timeout=15, chat_id=user_id,
                             since=mark)
    assert "member.adjust_besitos" in _text(audit)
    with read_session() as session:
        assert wallet.balance(session, member) == 25 == wallet.ledger_sum(session, member)


ADMIN_COMMANDS = ["/admin", "/miembro 1", "/ajustar 1 +5 motivo", "/rol 1 admin",
                  "/auditoria", "/recargar", "/vip_dar 1 30", "/vip_quitar 1",
                  "/vip_codigos 2 30", "/posts", "/editar_post 1 2031-01-01 10:00",
                  "/subasta rosa-roja 10 5 60"]
# commands that act on the message they reply to: sent as replies
REPLY_COMMANDS = ["/programar free 2031-01-01 10:00", "/difundir todos"]
ADMIN_BUTTONS = ["z:panel", "z:members", "z:status", "z:audit", "z:reload", "z:member:1"]


def test_a_non_admin_is_refused_politely_and_audited_for_every_admin_action(  # type: ignore[no-untyped-def]
        bot, standin, user_id) -> None:
    menu = start_in_bot(standin, user_id, "Eve")
    mark = standin.mark()
    for command in ADMIN_COMMANDS:
        standin.inject_message(user_id, command)
    for command in REPLY_COMMANDS:
        standin.inject_message(user_id, command, reply_to_message_id=menu["result"]["message_id"])
    for data in ADMIN_BUTTONS:
        standin.press(user_id, data, menu["result"]["message_id"], force=True)
    refusals = ("solo para administradores", "Solo un administrador", "Solo los administradores",
                "solo para admin")
    wait_until(lambda: sum(any(n in _text(r) for n in refusals)
                           for r in standin.sent(chat_id=user_id, method="sendMessage",
                                                 since=mark))
               >= len(ADMIN_COMMANDS) + len(REPLY_COMMANDS) + len(ADMIN_BUTTONS), timeout=30,
               message="a refusal for every attempt")
    attempts = len(ADMIN_COMMANDS) + len(REPLY_COMMANDS) + len(ADMIN_BUTTONS)
    wait_until(lambda: len(_audits(user_id)) >= attempts,
               timeout=15, message="every attempt audited")
    assert {a.result for a in _audits(user_id)} == {"not_admin"}
    with read_session() as session:
        assert session.get(User, user_id).role == "member"  # type: ignore[union-attr]
    assert "Traceback" not in bot.log()
