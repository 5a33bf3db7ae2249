"""⚗️ Recipes (`x:`): the list from SQL reads, crafting enqueued.

The request key of a craft is the callback query's id (`cb:<id>`): a redelivered update
crafts once.
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
from services import content, messages, recipes
from services.messages import recipes as recipe_messages
from tasks import recipes as recipe_tasks


def _recipes_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        views = recipes.views(session, user_id)
    return recipe_messages.recipes_view(language, views)


def _parse_known(raw: object) -> tuple[str, str | None] | None:
    """`callbacks.parse_recipe`, and None for a well-formed datum naming no such recipe."""
    parsed = callbacks.parse_recipe(raw)
    if parsed is not None and parsed[1] is not None and content.recipe(parsed[1]) is None:
        return None
    return parsed


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`x:list` and `x:craft:<id>`; unknown or tampered data gets the polite answer."""
    pressed = await read_press(update, _parse_known)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    verb, recipe_id = action
    if verb == "craft":
        assert recipe_id is not None
        await start_for_member(update, context.bot,
                               recipe_tasks.craft.si(user_id, recipe_id, f"cb:{query.id}"),
                               key, registered=registered, language=language, query=query)
        return
    rendered = await asyncio.to_thread(_recipes_view, user_id, language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)
