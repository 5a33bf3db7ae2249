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
    answer_unknown,
    member_language,
    show,
    stamp,
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


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`x:list` and `x:craft:<id>`; unknown or tampered data gets the polite answer."""
    key = stamp(update)
    query = update.callback_query
    if query is None or update.effective_user is None:
        return
    user_id = update.effective_user.id
    action = callbacks.parse_recipe(query.data)
    language, registered = await member_language(update)
    if action is not None and action[1] is not None and content.recipe(action[1]) is None:
        action = None  # well-formed, but no such recipe
    if action is None:
        await answer_unknown(query, key, user_id, language)
        return
    verb, recipe_id = action
    if verb == "craft":
        assert recipe_id is not None
        await query.answer(messages.t(language, "working"))
        await start_for_member(update, context.bot,
                               recipe_tasks.craft.si(user_id, recipe_id, f"cb:{query.id}"),
                               key, registered=registered, language=language)
        return
    rendered = await asyncio.to_thread(_recipes_view, user_id, language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)
