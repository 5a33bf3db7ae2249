"""🔨 Auctions in the bot: render from SQL reads, enqueue bids, buy-nows and `/subasta`.

The request key of a bid or a buy-now is the callback query's id (`cb:<id>`): Telegram
sends the same id again when it redelivers the update, so a double delivery holds once.
`/subasta` is checked in the worker (admin or not, audited either way); the bot only
parses it and starts `tasks.auctions.create` with the update's key.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import (
    enqueue,
    read_press,
    show,
    stamp,
    start_for_member,
)
from models.db import read_session
from services import auctions, messages
from services.messages import auctions as auction_messages
from tasks import auctions as auction_tasks

USAGE_ARGS = (4, 5)  # item start increment minutes [buy_now]
_ITEM = re.compile(r"[a-z0-9-]{1,32}")
_AMOUNT = re.compile(r"[0-9]{1,13}")


def parse_create(args: list[str] | None) -> tuple[str, int, int, int, int | None] | None:
    """(item, start, increment, minutes, buy_now or None) from `/subasta`'s words, or None."""
    if args is None or len(args) not in USAGE_ARGS or not _ITEM.fullmatch(args[0]):
        return None
    if not all(_AMOUNT.fullmatch(word) for word in args[1:]):
        return None
    numbers = [int(word) for word in args[1:]]
    return (args[0], numbers[0], numbers[1], numbers[2],
            numbers[3] if len(numbers) == 4 else None)


def _list_view(user_id: int, language: str) -> messages.Rendered:
    now = datetime.now(UTC)
    with read_session() as session:
        views = auctions.open_auctions(session, user_id, now)
    return auction_messages.list_view(language, views, now)


def _detail_view(user_id: int, language: str, auction_id: int) -> messages.Rendered:
    now = datetime.now(UTC)
    with read_session() as session:
        shown = auctions.view(session, auction_id, user_id)
        if shown is None:
            return auction_messages.list_view(
                language, auctions.open_auctions(session, user_id, now), now)
    return auction_messages.detail_view(language, shown, now)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`a:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, callbacks.parse_auction)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    verb, auction_id, amount = action
    if verb in ("bid", "buy"):
        assert auction_id is not None
        request_key = f"cb:{query.id}"
        task = auction_tasks.bid.si(user_id, auction_id, amount, request_key) if verb == "bid" \
            else auction_tasks.buy_now.si(user_id, auction_id, request_key)
        await start_for_member(update, context.bot, task, key, registered=registered,
                               language=language, query=query)
        return
    if verb == "list":
        rendered = await asyncio.to_thread(_list_view, user_id, language)
    else:
        assert auction_id is not None
        rendered = await asyncio.to_thread(_detail_view, user_id, language, auction_id)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/subasta <item> <start> <increment> <minutes> [buy_now]` (admins only).

    Every attempt goes to the worker, which checks the admin, writes the audit row and
    answers (the auction's summary, the usage, or a polite no); words that do not parse are
    sent as an empty item and zero prices, which the worker answers with the usage."""
    key = stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    parsed = parse_create(context.args) or ("", 0, 0, 0, None)
    item_id, start, increment, minutes, buy_now_price = parsed
    task = auction_tasks.create.si(user.id, item_id, start, increment, minutes, buy_now_price,
                                   key)
    await enqueue(update, context.bot, task, key)
