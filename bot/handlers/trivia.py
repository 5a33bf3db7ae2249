"""🧠 Trivia in the bot: enqueue a question (`t:play`), render the leaderboard (`t:top`),
enqueue every poll answer, and an admin's `/trivia <question id> [chat id]`.

The request key of `t:play` is the callback query's id (`cb:<id>`): a redelivered update
asks once. A poll answer carries the time the bot received it, so a busy worker does not
turn an answer in time into a late one.
"""

from __future__ import annotations

import asyncio
import re
import time

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import (
    enqueue,
    member_language,
    read_press,
    send,
    show,
    stamp,
    start_for_member,
    start_workflow,
)
from core.settings import get_settings
from models.db import read_session
from services import admins, content, messages, trivia
from services.messages import trivia as trivia_messages
from tasks import trivia as trivia_tasks

_QUESTION = re.compile(r"[a-z0-9-]{1,32}")
_CHAT = re.compile(r"-?[0-9]{1,16}")


def parse_command(args: list[str] | None, default_chat: int | None
                  ) -> tuple[str, int | None] | None:
    """(question id, chat id or None) from `/trivia`'s words, or None when they do not parse."""
    if not args or len(args) > 2 or not _QUESTION.fullmatch(args[0]):
        return None
    if len(args) == 2:
        return (args[0], int(args[1])) if _CHAT.fullmatch(args[1]) else None
    return args[0], default_chat


def _leaderboard(user_id: int, language: str, question_set: str | None) -> messages.Rendered:
    with read_session() as session:
        board = trivia.leaderboard(session, user_id, question_set)
    return trivia_messages.leaderboard_view(language, board, content.trivia_sets())


def _is_admin(user_id: int) -> bool:
    with read_session() as session:
        return admins.is_admin(session, user_id)


def _parse_known(raw: object) -> tuple[str, str | None] | None:
    """`callbacks.parse_trivia`, and None for a well-formed datum naming no such set."""
    parsed = callbacks.parse_trivia(raw)
    if parsed is not None and parsed[1] is not None and parsed[1] not in content.trivia_sets():
        return None
    return parsed


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`t:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, _parse_known)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    verb, question_set = action
    if verb == "play":
        await start_for_member(update, context.bot,
                               trivia_tasks.play.si(user_id, f"cb:{query.id}"), key,
                               registered=registered, language=language, query=query)
        return
    rendered = await asyncio.to_thread(_leaderboard, user_id, language, question_set)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)


async def poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote on a non-anonymous poll: enqueue its judgement (the worker decides)."""
    key = stamp(update)
    vote = update.poll_answer
    if vote is None or vote.user is None:  # a vote on behalf of a chat: nobody to pay
        return
    task = trivia_tasks.answer.si(vote.poll_id, vote.user.id, list(vote.option_ids), key,
                                  time.time())
    await start_workflow(task, key)  # broker down: kept for the relay, nothing to say


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/trivia <question id> [chat id]`: an admin sends a question to a group (default
    FREE_CHAT_ID, else the group the command was written in). The worker checks the admin
    again, writes the audit row and refuses channels; the bot reads the chat's type."""
    key = stamp(update)
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    language, _ = await member_language(update)

    async def reply(text_key: str, **values: object) -> None:
        params = {"chat_id": chat.id, "text": messages.t(language, text_key, **values)}
        if not await send(key, chat.id, "sendMessage", params):
            await context.bot.send_message(chat.id, messages.t(language, "unavailable"))

    here = chat.id if chat.type in trivia.GROUP_TYPES else None
    parsed = parse_command(context.args, get_settings().free_chat_id or here)
    if not await asyncio.to_thread(_is_admin, user.id):
        question_id, target = parsed or ("", None)
        task = trivia_tasks.post.si(user.id, question_id, target or 0, "", key)
        await start_workflow(task, key)  # refused and audited by the worker
        return
    if parsed is None:
        await reply("trivia.usage", ids=", ".join(q.id for q in content.trivia()))
        return
    question_id, target = parsed
    if target is None:
        await reply("trivia.no_chat")
        return
    try:
        target_chat = await context.bot.get_chat(target)
    except TelegramError:
        await reply("trivia.unreachable_chat")
        return
    task = trivia_tasks.post.si(user.id, question_id, target, str(target_chat.type), key)
    await enqueue(update, context.bot, task, key)
