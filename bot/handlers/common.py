"""What every handler shares: the member's language, the update's key, enqueueing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from celery import chain
from celery.canvas import Signature
from telegram import Bot, CallbackQuery, Update

from core import context as request_context
from models.db import read_session
from models.tables import User
from services import messages, users
from tasks import content as content_tasks
from tasks import events, telegram
from tasks import users as user_tasks

T = TypeVar("T")


class Press(NamedTuple):
    """A button press, read: its key, the query, who pressed, their language, registered."""

    key: str
    query: CallbackQuery
    user_id: int
    language: str
    registered: bool


def profile(update: Update) -> dict[str, object]:
    user = update.effective_user
    assert user is not None
    return {"first_name": user.first_name or "", "last_name": user.last_name,
            "username": user.username, "language_code": user.language_code}


def known_language(user_id: int) -> str | None:
    with read_session() as session:
        user = session.get(User, user_id)
        return user.language if user else None


async def start_workflow(workflow: object, key: str) -> bool:
    return await asyncio.to_thread(events.start, workflow, command_id=key)


async def enqueue(update: Update, bot: Bot, workflow: object, key: str) -> bool:
    """Start a workflow for the update's user; when the broker is down (the workflow is kept
    for the relay), tell them it is queued. Returns whether it reached the broker."""
    if await start_workflow(workflow, key):
        return True
    user = update.effective_user
    if user is not None:
        language, _ = await member_language(update)
        await bot.send_message(user.id, messages.t(language, "gift.queued"))
    return False


async def send(key: str, chat_id: int, method: str, params: dict[str, object]) -> bool:
    return await start_workflow(telegram.send.si(key, chat_id, method, params), key)


async def member_language(update: Update) -> tuple[str, bool]:
    """The member's language and whether they are registered."""
    user = update.effective_user
    assert user is not None
    known = await asyncio.to_thread(known_language, user.id)
    return (known or users.normalize_language(user.language_code)), known is not None


def stamp(update: Update) -> str:
    """The update's key for what it sends (unique per member and update) and its
    correlation id for the logs."""
    user = update.effective_user
    key = f"upd:{user.id if user else 0}:{update.update_id}"
    request_context.correlation_id.set(request_context.new_correlation_id(f"u{update.update_id}-"))
    # Catalogs an admin reloaded: picked up here (one Redis read per CONTENT_CHECK_INTERVAL
    # at most; never raises, an outage keeps the catalogs in use).
    content_tasks.follow_generation()
    return key


async def answer_unknown(query: CallbackQuery, key: str, user_id: int, language: str) -> None:
    """Stale, tampered or unknown button data: a polite answer and the menu."""
    await query.answer(messages.t(language, "unknown_button"))
    await send(key, user_id, "sendMessage", messages.main_menu(language).params(user_id))


async def start_for_member(update: Update, bot: Bot, workflow: Signature, key: str, *,
                           registered: bool, language: str) -> None:
    """Start a member's workflow, registering them first if needed; when the broker is
    down, tell them it is queued (the relay starts it later)."""
    user = update.effective_user
    assert user is not None
    if not registered:
        workflow = chain(user_tasks.register.si(user.id, profile(update))
                         .set(kwargsrepr=user_tasks.HIDDEN_PROFILE), workflow)
    if not await start_workflow(workflow, key):
        await bot.send_message(user.id, messages.t(language, "gift.queued"))


async def show(query: CallbackQuery, bot: Bot, key: str, user_id: int, language: str,
               rendered: messages.Rendered) -> None:
    """Replace the pressed message with a view (or send it when that message cannot be
    edited: gone, or not text, like a poll), through the Telegram path."""
    params = rendered.params(user_id)
    method = rendered.method
    if not rendered.photo and query.message is not None and getattr(query.message, "text", None):
        params["message_id"] = query.message.message_id
        method = "editMessageText"
    if not await send(key, user_id, method, params):
        await bot.send_message(user_id, messages.t(language, "unavailable"))


async def read_press(update: Update,
                     parse: Callable[[object], T | None]) -> tuple[Press, T] | None:
    """Stamp a button press and parse its data with `parse`. Data that is not one we sent
    (None from `parse`) gets the polite answer and the menu, and None is returned."""
    key = stamp(update)
    query = update.callback_query
    if query is None or update.effective_user is None:
        return None
    user_id = update.effective_user.id
    action = parse(query.data)
    language, registered = await member_language(update)
    if action is None:
        await answer_unknown(query, key, user_id, language)
        return None
    return Press(key, query, user_id, language, registered), action
