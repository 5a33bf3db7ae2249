"""📖 The story and 🎒 the backpack: pages rendered from the member's MongoDB progress,
moves enqueued as the story workflow (tasks/story.py).

Each moving button carries an HMAC token over (member, what it does, fragment, step):
a datum the member was not sent is answered like any unknown button. The request key is
the callback query's id, so Telegram redelivering the same press moves the member once.
When MongoDB is unreachable the member gets the fallback page; nothing is enqueued, so no
progress can be half-written.
"""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import (
    answer_unknown,
    member_language,
    read_press,
    send,
    show,
    stamp,
    start_for_member,
)
from models import mongo
from services import content, messages, story
from services.messages import story as story_messages
from tasks import story as story_tasks

_TOKEN_TAG = {"choose": "c", "restart": "r", "combine": "x"}


def _view(verb: str, user_id: int, language: str) -> messages.Rendered:
    """The page, checkpoints or backpack; the fallback while MongoDB is away."""
    try:
        the_story = content.story()
        progress = story.progress(user_id, the_story)
    except mongo.UNAVAILABLE:
        return story_messages.fallback(language)
    if verb == "backpack":
        return story_messages.backpack_view(language, the_story, user_id, progress)
    if verb == "checkpoints":
        return story_messages.checkpoints_view(language, the_story, user_id, progress)
    return story_messages.page(language, the_story, user_id, progress)


def _genuine(press: callbacks.StoryPress, user_id: int) -> bool:
    if press.verb == "choose":
        parts: tuple[object, ...] = (press.fragment, press.index, press.step)
    else:
        parts = (press.fragment, press.step)
    return story.token_ok(press.token, user_id, _TOKEN_TAG[press.verb], *parts)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`p:` choices and `q:` story views and moves."""
    pressed = await read_press(update, callbacks.parse_story)
    if pressed is None:
        return
    (key, query, user_id, language, registered), press = pressed
    if press.verb in _TOKEN_TAG:
        if not _genuine(press, user_id):
            await answer_unknown(query, key, user_id, language)
            return
        request_key = f"cb:{query.id}"
        if press.verb == "choose":
            first = story_tasks.take.si(user_id, press.fragment, press.index, press.step,
                                        request_key)
        else:
            first = story_tasks.jump.si(press.verb, user_id, press.fragment, press.step,
                                        request_key)
        await start_for_member(update, context.bot, story_tasks.workflow(first), key,
                               registered=registered, language=language, query=query)
        return
    rendered = await asyncio.to_thread(_view, press.verb, user_id, language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/historia (/story): the page the member is on."""
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    language, _ = await member_language(update)
    rendered = await asyncio.to_thread(_view, "view", user.id, language)
    await send(key, user.id, rendered.method, rendered.params(user.id))
