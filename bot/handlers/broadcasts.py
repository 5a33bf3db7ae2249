"""📣 Broadcasts in the bot: `/difundir <segment>` as a reply, and the progress buttons.

An admin writes the message (with any formatting), then replies to it with
`/difundir todos | vip | free | inactivos N | lista id,id,…`. The bot only enqueues
`tasks.broadcasts.start` with the message as HTML (`text_html`) and the update's key; the
worker checks the admin, audits the attempt and answers (the progress message, the usage,
or a polite no). ⏸ / ▶️ / ✖️ on the progress message (`b:`) enqueue
`tasks.broadcasts.control` keyed by the callback query's id.
"""

from __future__ import annotations

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import enqueue, read_press, stamp, start_workflow
from services import broadcasts, messages
from tasks import broadcasts as broadcast_tasks

COMMANDS = ("difundir", "broadcast")


def replied_html(message: Message | None) -> str:
    """The replied-to message's text (or caption) as Telegram HTML, formatting kept."""
    replied = message.reply_to_message if message is not None else None
    if replied is None:
        return ""
    if replied.text:
        return replied.text_html
    if replied.caption:
        return replied.caption_html
    return ""


async def command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/difundir <segment>`, replying to the message to send (admins only: the worker
    checks; words that name no segment, or no replied text, get the usage)."""
    key = stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    segment = broadcasts.parse_segment(context.args) or {"kind": "invalid"}
    text = replied_html(update.effective_message)
    shown = f"({user.id}, {segment['kind']!r}, <text>, {key!r})"  # Flower and logs
    task = broadcast_tasks.start.si(user.id, segment, text, key).set(argsrepr=shown)
    await enqueue(update, context.bot, task, key)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`b:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, callbacks.parse_broadcast)
    if pressed is None:
        return
    (key, query, user_id, language, _registered), (verb, broadcast_id) = pressed
    task = broadcast_tasks.control.si(user_id, broadcast_id, verb, f"cb:{query.id}")
    if not await start_workflow(task, key, context.bot, user_id, language, query=query):
        await context.bot.send_message(user_id, messages.t(language, "gift.queued"))
