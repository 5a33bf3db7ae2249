"""🛍️ The store and 🎒 the inventory: render from SQL reads, enqueue purchases and uses.

The request key of a purchase or a use is the callback query's id (`cb:<id>`): Telegram
sends the same id again when it redelivers the update, so a double delivery buys once.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import (
    read_press,
    show,
    start_for_member,
)
from models.db import read_session
from services import content, inventory, messages, store, wallet
from tasks import store as store_tasks


def _store_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        offers = store.offers(session, user_id)
        balance = wallet.balance(session, user_id)
    return messages.store_view(language, balance, offers)


def _item_view(user_id: int, language: str, item_id: str) -> messages.Rendered | None:
    with read_session() as session:
        offer = store.offer(session, user_id, item_id)
    return messages.item_view(language, offer) if offer is not None else None


def _inventory_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        lines = inventory.lines(session, user_id)
    return messages.inventory_view(language, lines)


def _parse_known(raw: object) -> tuple[str, str | None] | None:
    """`callbacks.parse_store`, and None for a well-formed datum naming no such item."""
    parsed = callbacks.parse_store(raw)
    if parsed is not None and parsed[1] is not None and content.item(parsed[1]) is None:
        return None
    return parsed


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`s:` and `i:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, _parse_known)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    verb, item_id = action
    if verb in ("buy", "use"):
        assert item_id is not None
        task = store_tasks.purchase if verb == "buy" else store_tasks.use
        await start_for_member(update, context.bot, task.si(user_id, item_id, f"cb:{query.id}"),
                               key, registered=registered, language=language, query=query)
        return
    if verb == "store":
        rendered = await asyncio.to_thread(_store_view, user_id, language)
    elif verb == "inventory":
        rendered = await asyncio.to_thread(_inventory_view, user_id, language)
    else:
        assert item_id is not None
        shown = await asyncio.to_thread(_item_view, user_id, language, item_id)
        rendered = shown if shown is not None else messages.main_menu(language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)
