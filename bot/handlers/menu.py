"""/start, /help, the main menu buttons, and anything else a member sends."""

from __future__ import annotations

import asyncio
import logging

from celery import chain
from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from core import context as request_context
from models.db import read_session
from models.tables import User
from services import messages, users, wallet
from tasks import events, telegram, workflows
from tasks import users as user_tasks

logger = logging.getLogger(__name__)


def _profile(update: Update) -> dict[str, object]:
    user = update.effective_user
    assert user is not None
    return {"first_name": user.first_name or "", "last_name": user.last_name,
            "username": user.username, "language_code": user.language_code}


def _known_language(user_id: int) -> str | None:
    with read_session() as session:
        user = session.get(User, user_id)
        return user.language if user else None


def _wallet_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        lines = [(e.amount, e.reason, e.created_at) for e in wallet.history(session, user_id)]
        balance = wallet.balance(session, user_id)
    return messages.wallet_view(language, balance, lines)


async def _start(workflow: object, key: str) -> bool:
    return await asyncio.to_thread(events.start, workflow, command_id=key)


async def _send(key: str, chat_id: int, method: str, params: dict[str, object]) -> bool:
    return await _start(telegram.send.si(key, chat_id, method, params), key)


async def _language(update: Update) -> tuple[str, bool]:
    """The member's language and whether they are registered."""
    user = update.effective_user
    assert user is not None
    known = await asyncio.to_thread(_known_language, user.id)
    return (known or users.normalize_language(user.language_code)), known is not None


def _stamp(update: Update) -> str:
    """The update's key for what it sends (unique per member and update) and its
    correlation id for the logs."""
    user = update.effective_user
    key = f"upd:{user.id if user else 0}:{update.update_id}"
    request_context.correlation_id.set(request_context.new_correlation_id(f"u{update.update_id}-"))
    return key


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register the member (or refresh them) and show the welcome menu."""
    key = _stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None or update.effective_chat.type != "private":
        return
    language = users.normalize_language(user.language_code)
    workflow = workflows.start_member(user.id, _profile(update), language, key)
    if not await _start(workflow, key):
        await update.effective_chat.send_message(messages.t(language, "gift.queued"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show what the bot can do."""
    key = _stamp(update)
    if update.effective_chat is None:
        return
    language, _ = await _language(update)
    params = messages.help_text(language).params(update.effective_chat.id)
    if not await _send(key, update.effective_chat.id, "sendMessage", params):
        await update.effective_chat.send_message(messages.t(language, "unavailable"))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Menu buttons: 🎁 gift, 💰 wallet, ❓ help, ⬅️ menu; anything else gets the menu."""
    key = _stamp(update)
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    user_id = update.effective_user.id
    action = callbacks.parse(query.data)
    language, registered = await _language(update)
    if action is None:
        await query.answer(messages.t(language, "unknown_button"))
        await _send(key, user_id, "sendMessage", messages.main_menu(language).params(user_id))
        return
    if action == "gift":
        await query.answer(messages.t(language, "working"))
        workflow = workflows.daily_gift(user_id, f"cb:{query.id}")
        if not registered:
            workflow = chain(user_tasks.register.si(user_id, _profile(update))
                             .set(kwargsrepr=user_tasks.HIDDEN_PROFILE), workflow)
        if not await _start(workflow, key):
            await context.bot.send_message(user_id, messages.t(language, "gift.queued"))
        return
    await query.answer()
    if action == "wallet":
        rendered = await asyncio.to_thread(_wallet_view, user_id, language)
    elif action == "help":
        rendered = messages.help_text(language)
    else:
        rendered = messages.main_menu(language)
    params = rendered.params(user_id)
    if query.message is not None:
        params["message_id"] = query.message.message_id
        method = "editMessageText"
    else:
        method = "sendMessage"
    if not await _send(key, user_id, method, params):
        await context.bot.send_message(user_id, messages.t(language, "unavailable"))


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other private message: show the menu."""
    key = _stamp(update)
    chat = update.effective_chat
    if chat is None or chat.type != "private":
        return
    language, registered = await _language(update)
    rendered = messages.main_menu(language, welcome=not registered)
    if not await _send(key, chat.id, "sendMessage", rendered.params(chat.id)):
        await chat.send_message(messages.t(language, "unavailable"))
