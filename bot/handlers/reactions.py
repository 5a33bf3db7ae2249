"""Reactions on posts: `message_reaction` updates and reaction buttons (`r:`) under posts.

Both only enqueue `tasks.reactions.reward`; it decides (known post, registered member, once
per post, rate limit). A button press is answered by `tasks.reactions.toast` with what the
reward did, so the toast tells the truth ("+1 besito 💋" or "ya reaccionaste").

Telegram reports reactions in channels anonymously (only counts): there the buttons are the
way in; in groups and discussion chats a `message_reaction` update carries the member.
The bot must be an administrator of the chat to receive `message_reaction` updates.
"""

from __future__ import annotations

import json

from celery import chain
from telegram import MessageReactionUpdated, ReactionType, Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import stamp, start_workflow
from services import messages, users
from tasks import reactions as reaction_tasks


def _kinds(reactions: tuple[ReactionType, ...]) -> set[str]:
    return {json.dumps(reaction.to_dict(), sort_keys=True) for reaction in reactions}


def added(change: MessageReactionUpdated) -> bool:
    """Whether the member put a reaction on (not only took one off)."""
    return bool(_kinds(change.new_reaction) - _kinds(change.old_reaction))


async def reaction(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A member reacted to a message: enqueue the reward (anonymous reactions are skipped)."""
    key = stamp(update)
    change = update.message_reaction
    if change is None or change.user is None or change.user.is_bot or not added(change):
        return
    await start_workflow(reaction_tasks.reward.si(change.chat.id, change.message_id,
                                                  change.user.id, key, "reaction"), key)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reaction button under a post: reward, then the toast (answered by the worker)."""
    key = stamp(update)
    query = update.callback_query
    user = update.effective_user
    if query is None or user is None:
        return
    language = users.normalize_language(user.language_code)
    parsed = callbacks.parse_reaction(query.data)
    message = query.message
    if parsed is None or message is None:
        await query.answer(messages.t(language, "reaction.toast.unknown"))
        return
    ref, _emoji = parsed  # any emoji pays the same, once per post
    workflow = chain(
        reaction_tasks.reward.si(message.chat.id, message.message_id, user.id, key, "button",
                                 ref),
        reaction_tasks.toast.s(query.id, language),
    )
    if not await start_workflow(workflow, key):  # kept for the relay: it pays later
        await query.answer(messages.t(language, "reaction.toast.queued"))
