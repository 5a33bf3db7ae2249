"""🎯 Missions, 🏆 achievements and 🏅 the leaderboard: read-only views (`g:` buttons).

Each view reads SQL (a read session: VIP status, lifetime earnings, items held, the
leaderboard) and the member's MongoDB state; with MongoDB down the missions and
achievements views still answer, without progress and with a polite note.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import read_press, show
from core.settings import get_settings
from models import mongo
from models.db import read_session
from services import achievements, content, levels, messages, missions
from services.messages import progress as views


def _state(user_id: int) -> tuple[dict[str, Any] | None, bool]:
    """The member's MongoDB state and whether it could not be read (degraded)."""
    try:
        return mongo.member_state(user_id), False
    except mongo.UNAVAILABLE:
        return None, True


def missions_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        vip = missions.is_vip(session, user_id)
    state, degraded = _state(user_id)
    return views.missions_view(language, missions.board(state, vip=vip), degraded=degraded)


def achievements_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        facts = achievements.read_facts(session, user_id, lifetime=True, holding=True)
    state, degraded = _state(user_id)
    statuses, hidden = achievements.board(state, facts)
    return views.achievements_view(language, statuses, hidden,
                                   total=len(content.achievements()), degraded=degraded)


def top_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        leaders = levels.top(session, get_settings().leaderboard_size)
        standing = levels.standing(session, user_id)
    return views.top_view(language, leaders, standing)


VIEWS: dict[str, Callable[[int, str], messages.Rendered]] = {
    "missions": missions_view, "achievements": achievements_view, "top": top_view}


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`g:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, callbacks.parse_progress)
    if pressed is None:
        return
    (key, query, user_id, language, _), view = pressed
    await query.answer()
    rendered = await asyncio.to_thread(VIEWS[view], user_id, language)
    await show(query, context.bot, key, user_id, language, rendered)
