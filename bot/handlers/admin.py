"""🛠️ The /admin panel and the admin commands in the bot.

Views (panel, a member's card, system status, audit log) are read and rendered here for
admins; a non-admin gets a polite refusal and the attempt is audited (`tasks.admin.refuse`).
Actions only enqueue: the worker checks the admin again (`services/admins.py`), writes the
audit row and answers, a refusal included, through the Telegram path. The update's key makes
a redelivered update act and answer once.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from api.health import overall, run_checks
from bot import callbacks
from bot.handlers.common import (
    enqueue,
    member_language,
    read_press,
    send,
    show,
    stamp,
)
from models.db import read_session
from services import admin_members, admins, messages
from services.messages import admin as admin_messages
from tasks import admin as admin_tasks
from tasks import content as content_tasks

RELOAD_COMMANDS = ("recargar", "reload")
PANEL_COMMANDS = ("admin",)
MEMBER_COMMANDS = ("miembro", "member")
ADJUST_COMMANDS = ("ajustar", "adjust")
ROLE_COMMANDS = ("rol", "role")
AUDIT_COMMANDS = ("auditoria", "audit")


def _is_admin(user_id: int) -> bool:
    with read_session() as session:
        return admins.is_admin(session, user_id)


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE, action: str,
                  key: str) -> None:
    user = update.effective_user
    assert user is not None
    await enqueue(update, context.bot, admin_tasks.refuse.si(user.id, action, key), key)


def _member_view(query: str, language: str) -> messages.Rendered:
    with read_session() as session:
        user = admin_members.find(session, query)
        if user is None:
            return admin_messages.unknown_member(language)
        return admin_messages.member_view(language, admin_members.card(session, user))


def _audit_view(language: str, about: str | None) -> messages.Rendered:
    with read_session() as session:
        entries = admin_members.audit_log(session, target=about)
    return admin_messages.audit_view(language, entries)


async def _status_view(language: str) -> messages.Rendered:
    checks = await run_checks()
    status, reasons = overall(checks)
    return admin_messages.status_view(language, status, reasons, checks)


async def _view(view: str, argument: str | None, language: str) -> messages.Rendered:
    if view == "panel":
        return admin_messages.panel(language)
    if view == "status":
        return await _status_view(language)
    if view == "audit":
        return await asyncio.to_thread(_audit_view, language, argument)
    if view == "member" and argument:
        return await asyncio.to_thread(_member_view, argument, language)
    return admin_messages.help_view(language, view)


async def _reply(update: Update, key: str, rendered: messages.Rendered) -> None:
    user = update.effective_user
    assert user is not None
    await send(key, user.id, rendered.method, rendered.params(user.id))


async def _command_view(update: Update, context: ContextTypes.DEFAULT_TYPE, view: str,
                        argument: str | None = None) -> None:
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    if not await asyncio.to_thread(_is_admin, user.id):
        await _refuse(update, context, f"admin.{view}", key)
        return
    language, _ = await member_language(update)
    await _reply(update, key, await _view(view, argument, language))


async def panel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/admin: the panel."""
    await _command_view(update, context, "panel")


async def member_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/miembro <id or @username>: a member's card (wallet, ledger, role, VIP)."""
    args = context.args or []
    if not args:
        await _usage(update, context, "admin.usage.member", "admin.member")
        return
    await _command_view(update, context, "member", args[0])


async def audit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/auditoria [id]: the latest audit rows, or those by or about one id."""
    args = context.args or []
    await _command_view(update, context, "audit", args[0] if args else None)


async def _usage(update: Update, context: ContextTypes.DEFAULT_TYPE, text_key: str,
                 action: str) -> None:
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    if not await asyncio.to_thread(_is_admin, user.id):
        await _refuse(update, context, action, key)
        return
    language, _ = await member_language(update)
    await _reply(update, key, messages.Rendered(messages.t(language, text_key)))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


async def adjust_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/ajustar <id> <+N|-N> <reason>: credit or debit a member's besitos (audited)."""
    args = context.args or []
    user_id = _int(args[0]) if args else None
    amount = _int(args[1]) if len(args) > 1 else None
    reason = " ".join(args[2:])
    if user_id is None or amount is None or not reason:
        await _usage(update, context, "admin.usage.adjust", "member.adjust_besitos")
        return
    key = stamp(update)
    assert update.effective_user is not None
    await enqueue(update, context.bot, admin_tasks.adjust_besitos.si(
        update.effective_user.id, user_id, amount, reason, key), key)


async def role_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rol <id> <admin|member>: set a member's role (audited)."""
    args = context.args or []
    user_id = _int(args[0]) if args else None
    if user_id is None or len(args) != 2:
        await _usage(update, context, "admin.usage.role", "member.set_role")
        return
    key = stamp(update)
    assert update.effective_user is not None
    await enqueue(update, context.bot, admin_tasks.set_role.si(
        update.effective_user.id, user_id, args[1].lower(), key), key)


async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/recargar` (`/reload`): reload the catalogs from `content/` (admins only; checked
    and audited by the worker)."""
    key = stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    await enqueue(update, context.bot, content_tasks.reload.si(user.id, key), key)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`z:` panel buttons."""
    pressed = await read_press(update, callbacks.parse_admin)
    if pressed is None:
        return
    (key, query, user_id, language, _), (view, member_id) = pressed
    if not await asyncio.to_thread(_is_admin, user_id):
        await query.answer(messages.t(language, "admin.refused.not_admin"))
        await _refuse(update, context, f"admin.{view}", key)
        return
    if view == "reload":
        await enqueue(update, context.bot, content_tasks.reload.si(user_id, key), key, query=query)
        return
    rendered = await _view(view, str(member_id) if member_id else None, language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)
