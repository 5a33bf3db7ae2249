"""What every handler shares: the member's language, the update's key, enqueueing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import sqlalchemy.exc
from celery import chain
from celery.canvas import Signature
from telegram import Bot, CallbackQuery, Update
from telegram.error import TelegramError

from core import context as request_context
from core.settings import get_settings
from models.db import read_session
from models.tables import User
from services import commands, messages, users
from tasks import content as content_tasks
from tasks import events, telegram
from tasks import users as user_tasks

T = TypeVar("T")
logger = logging.getLogger(__name__)


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
    """The member's stored language; None when not registered, or when SQL cannot answer
    (the update's own language is used then: degraded, never silent)."""
    try:
        with read_session() as session:
            user = session.get(User, user_id)
            return user.language if user else None
    except sqlalchemy.exc.SQLAlchemyError as exc:
        logger.warning("member language not read (%s)", type(exc).__name__)
        return None


def _member_of(key: str) -> int | None:
    """The member a bot command is for: the update's user, whom its key names
    (`upd:<user>:<update>`, see `stamp`)."""
    parts = key.split(":")
    if len(parts) == 3 and parts[0] == "upd" and parts[1].isdigit() and int(parts[1]) > 0:
        return int(parts[1])
    return None


class NotTaken(Exception):
    """The action could not be recorded (SQL down); the member has been told so."""


async def start_workflow(workflow: object, key: str, bot: Bot | None = None,
                         chat_id: int | None = None, language: str | None = None, *,
                         query: CallbackQuery | None = None) -> bool:
    """Accept the action: record its command in SQL, then start it. Returns whether it
    reached the broker (False: queued for the reconciler).

    Only once the command is recorded is a pressed button (`query`) answered "working…".
    When SQL cannot record it, the member is told plainly to try again in a minute (the
    button's answer, or a message through `bot`) and NotTaken is raised: nothing claims the
    action is in progress.
    """
    language = language or get_settings().default_language
    try:
        started = await asyncio.to_thread(events.start, workflow, command_id=key,
                                          member_id=_member_of(key))
    except commands.NotTaken:
        logger.warning("command %s not taken: SQL unavailable", key)
        text = messages.t(language, "not_taken")
        chat = chat_id if chat_id is not None else _member_of(key)
        try:
            if query is not None:
                await query.answer(text, show_alert=True)
            elif bot is not None and chat is not None:
                await bot.send_message(chat, text)
        except TelegramError:
            logger.warning("could not tell chat that command %s was not taken", key)
        raise NotTaken(key) from None
    if query is not None:
        await query.answer(messages.t(language, "working"))
    return started


async def enqueue(update: Update, bot: Bot, workflow: object, key: str, *,
                  query: CallbackQuery | None = None) -> bool:
    """Start a workflow for the update's user; when the broker is down (the workflow is kept
    for the reconciler), tell them it is queued. Returns whether it reached the broker."""
    user = update.effective_user
    language, _ = await member_language(update) if user is not None else (None, False)
    if await start_workflow(workflow, key, bot, user.id if user else None, language,
                            query=query):
        return True
    if user is not None and language is not None:
        await bot.send_message(user.id, messages.t(language, "gift.queued"))
    return False


async def send(key: str, chat_id: int, method: str, params: dict[str, object],
               bot: Bot | None = None, language: str | None = None) -> bool:
    return await start_workflow(telegram.send.si(key, chat_id, method, params), key, bot,
                                chat_id, language)


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
                           registered: bool, language: str,
                           query: CallbackQuery | None = None) -> None:
    """Start a member's workflow, registering them first if needed; when the broker is
    down, tell them it is queued (the relay starts it later)."""
    user = update.effective_user
    assert user is not None
    if not registered:
        workflow = chain(user_tasks.register.si(user.id, profile(update))
                         .set(kwargsrepr=user_tasks.HIDDEN_PROFILE), workflow)
    if not await start_workflow(workflow, key, bot, user.id, language, query=query):
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
    if not await send(key, user_id, method, params, bot, language):
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
