"""/start, /help, the main menu buttons, and anything else a member sends."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import (
    member_language,
    profile,
    read_press,
    send,
    show,
    stamp,
    start_for_member,
    start_workflow,
)
from models.db import read_session
from services import messages, users, wallet
from tasks import workflows

logger = logging.getLogger(__name__)


def _wallet_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        lines = [(e.amount, e.reason, e.created_at) for e in wallet.history(session, user_id)]
        balance = wallet.balance(session, user_id)
    return messages.wallet_view(language, balance, lines)


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Register the member (or refresh them) and show the welcome menu."""
    key = stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None or update.effective_chat.type != "private":
        return
    language = users.normalize_language(user.language_code)
    workflow = workflows.start_member(user.id, profile(update), language, key)
    if not await start_workflow(workflow, key, context.bot, user.id, language):
        await update.effective_chat.send_message(messages.t(language, "gift.queued"))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show what the bot can do."""
    key = stamp(update)
    if update.effective_chat is None:
        return
    language, _ = await member_language(update)
    params = messages.help_text(language).params(update.effective_chat.id)
    if not await send(key, update.effective_chat.id, "sendMessage", params):
        await update.effective_chat.send_message(messages.t(language, "unavailable"))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Menu buttons: 🎁 gift, 💰 wallet, ❓ help, ⬅️ menu; anything else gets the menu."""
    pressed = await read_press(update, callbacks.parse)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    if action == "gift":
        workflow = workflows.daily_gift(user_id, f"cb:{query.id}")
        await start_for_member(update, context.bot, workflow, key, registered=registered,
                               language=language, query=query)
        return
    await query.answer()
    if action == "wallet":
        rendered = await asyncio.to_thread(_wallet_view, user_id, language)
    elif action == "help":
        rendered = messages.help_text(language)
    else:
        rendered = messages.main_menu(language)
    await show(query, context.bot, key, user_id, language, rendered)


async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other private message: show the menu."""
    key = stamp(update)
    chat = update.effective_chat
    if chat is None or chat.type != "private":
        return
    language, registered = await member_language(update)
    rendered = messages.main_menu(language, welcome=not registered)
    if not await send(key, chat.id, "sendMessage", rendered.params(chat.id)):
        await chat.send_message(messages.t(language, "unavailable"))
