"""🗓️ Scheduled posts in the bot: `/programar` (a reply), `/posts`, `/editar_post`, `o:` buttons.

No conversation state: the admin writes the post as a normal message (formatted text, or a
photo with a caption; URL buttons as lines `[text](https://…)` at its end) and replies to it
with

    /programar <free|vip> <YYYY-MM-DD HH:MM> [diario|semanal|cron "m h dom mon dow"]
               [--reacciones] [--sin-proteger] [--proteger] [--zona=Europe/Madrid]

The bot reads the replied message (its entities as HTML, the largest photo, the buttons) and
the words, and enqueues `tasks.posts.create` with the update's key; the worker checks the
admin, validates, writes the audit row and answers (refusals too). Words that do not parse
travel as `problem: usage`, so a non-admin is told they are not an admin whatever they
typed, and an admin gets the usage text.
"""

from __future__ import annotations

import asyncio
import html
import re
import shlex
from dataclasses import dataclass
from typing import Any

from telegram import Message, Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.handlers.common import enqueue, read_press, show, stamp
from models.db import read_session
from services import admins
from services.messages import posts as post_messages
from tasks import posts as post_tasks

SCHEDULE_COMMANDS = ("programar", "schedule")
LIST_COMMANDS = ("posts",)
EDIT_COMMANDS = ("editar_post", "edit_post")

_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'",
                         "’": "'"})
TARGET_WORDS = {"free": "free", "libre": "free", "vip": "vip"}
REPEAT_WORDS = {"diario": "daily", "daily": "daily", "semanal": "weekly", "weekly": "weekly"}
FLAG_REACTIONS = ("--reacciones", "--reactions")
FLAG_UNPROTECT = ("--sin-proteger", "--no-proteger", "--unprotected")
FLAG_PROTECT = ("--proteger", "--protect")
ZONE_FLAGS = ("--zona=", "--tz=")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")
_ID = re.compile(r"[1-9][0-9]{0,17}")
# A trailing line that is a button: `[text](url)` as typed, or a link alone on its line (what
# Telegram Desktop makes of that syntax). The URL is checked (https only) by the worker.
_BUTTON_LINE = re.compile(r"\[(?P<label>[^\[\]\n]{1,200})\]\((?P<url>\S{1,2048})\)")
_LINK_LINE = re.compile(r'<a href="(?P<url>[^\s<>]{1,2048})">(?P<label>[^<\n]{1,200})</a>')


@dataclass(frozen=True)
class Schedule:
    """The words of `/programar`."""

    target: str
    when: str
    repeat: str = "none"
    cron: str | None = None
    reactions: bool = False
    protect: bool | None = None
    zone: str | None = None


def _words(arguments: str) -> list[str] | None:
    try:
        return shlex.split(arguments.translate(_QUOTES))
    except ValueError:  # an unbalanced quote
        return None


def _zone(word: str) -> str | None:
    for flag in ZONE_FLAGS:
        if word.lower().startswith(flag):
            return word[len(flag):] or None
    return None


def parse_schedule(arguments: str) -> Schedule | None:
    """The command's words after `/programar`, or None when they do not parse."""
    words = _words(arguments)
    if words is None or len(words) < 3:
        return None
    target = TARGET_WORDS.get(words[0].lower())
    if target is None or not _DATE.fullmatch(words[1]) or not _TIME.fullmatch(words[2]):
        return None
    values: dict[str, Any] = {"target": target, "when": f"{words[1]} {words[2]}"}
    rest = words[3:]
    i = 0
    while i < len(rest):
        word, low = rest[i], rest[i].lower()
        i += 1
        if low in REPEAT_WORDS and "repeat" not in values:
            values["repeat"] = REPEAT_WORDS[low]
        elif low == "cron" and "repeat" not in values:
            if i < len(rest) and len(rest[i].split()) == 5:  # quoted: one word
                cron, i = rest[i], i + 1
            elif len(rest) - i >= 5 and not any(w.startswith("--") for w in rest[i:i + 5]):
                cron, i = " ".join(rest[i:i + 5]), i + 5
            else:
                return None
            values["repeat"], values["cron"] = "cron", " ".join(cron.split())
        elif low in FLAG_REACTIONS:
            values["reactions"] = True
        elif low in FLAG_UNPROTECT:
            values["protect"] = False
        elif low in FLAG_PROTECT:
            values["protect"] = True
        elif _zone(word) is not None:
            values["zone"] = _zone(word)
        else:
            return None
    return Schedule(**values)


def split_buttons(body: str) -> tuple[str, list[dict[str, str]]]:
    """(text without its trailing button lines, the buttons) of an HTML message body."""
    lines = body.split("\n")
    buttons: list[dict[str, str]] = []
    while lines:
        line = lines[-1].strip()
        if not line:
            lines.pop()
            continue
        typed = _BUTTON_LINE.fullmatch(line) if "<" not in line else None
        match = typed or _LINK_LINE.fullmatch(line)
        if match is None:
            break
        buttons.insert(0, {"text": html.unescape(match.group("label")).strip(),
                           "url": html.unescape(match.group("url"))})
        lines.pop()
    return "\n".join(lines).rstrip(), buttons


def content_of(message: Message, user_id: int) -> dict[str, Any]:
    """The post held by the message `/programar` replied to (the admin's own): its text as
    HTML, its largest photo, its URL buttons; `problem: no_content` when there is none."""
    reply = message.reply_to_message
    if reply is None or reply.from_user is None or reply.from_user.id != user_id:
        return {"problem": "no_content"}
    if reply.photo:
        photo: str | None = reply.photo[-1].file_id  # the largest size comes last
        body = reply.caption_html or ""
    elif reply.text:
        photo, body = None, reply.text_html
    else:
        return {"problem": "no_content"}
    text, buttons = split_buttons(body)
    if not buttons and reply.reply_markup is not None:
        buttons = [{"text": button.text, "url": button.url}
                   for row in reply.reply_markup.inline_keyboard for button in row
                   if button.url]
    return {"text": text, "parse_mode": "HTML", "photo": photo, "url_buttons": buttons}


def draft_of(message: Message, user_id: int) -> dict[str, Any]:
    """The `tasks.posts.create` draft for a `/programar` message."""
    parts = (message.text or "").split(maxsplit=1)
    parsed = parse_schedule(parts[1] if len(parts) > 1 else "")
    if parsed is None:
        return {"problem": "usage"}
    content = content_of(message, user_id)
    if content.get("problem"):
        return content
    return {"target": parsed.target, "when": parsed.when, "zone": parsed.zone,
            "repeat": parsed.repeat, "cron": parsed.cron,
            "reaction_buttons": parsed.reactions, "protect_content": parsed.protect,
            **content}


def parse_edit(args: list[str] | None) -> tuple[int, str, str | None] | None:
    """(post id, local time, zone or None) from `/editar_post <id> <date> <time> [--zona=]`."""
    if not args or len(args) not in (3, 4) or not _ID.fullmatch(args[0]):
        return None
    if not _DATE.fullmatch(args[1]) or not _TIME.fullmatch(args[2]):
        return None
    zone = None
    if len(args) == 4:
        zone = _zone(args[3])
        if zone is None:
            return None
    return int(args[0]), f"{args[1]} {args[2]}", zone


async def schedule_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/programar …` as a reply to the admin's own message holding the post."""
    key = stamp(update)
    user, message = update.effective_user, update.effective_message
    if user is None or message is None:
        return
    draft = draft_of(message, user.id)
    task = post_tasks.create.si(user.id, draft, key).set(
        argsrepr=f"({user.id}, <draft>, {key!r})")  # Flower shows no post text
    await enqueue(update, context.bot, task, key)


async def list_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/posts`: the scheduled posts with 👁️ and 🗑️ buttons (admins only, in the worker)."""
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    await enqueue(update, context.bot, post_tasks.show_list.si(user.id, key), key)


async def edit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/editar_post <id> <YYYY-MM-DD HH:MM> [--zona=…]`: move a scheduled post."""
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    parsed = parse_edit(context.args)
    if parsed is None:
        task = post_tasks.edit.si(user.id, 0, "", None, "usage", key)
    else:
        post_id, when, zone = parsed
        task = post_tasks.edit.si(user.id, post_id, when, zone, None, key)
    await enqueue(update, context.bot, task, key)


def _is_admin(user_id: int) -> bool:
    with read_session() as session:
        return admins.is_admin(session, user_id)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`o:` buttons; unknown or tampered data gets the polite answer and the menu."""
    pressed = await read_press(update, callbacks.parse_post)
    if pressed is None:
        return
    (key, query, user_id, language, _), (verb, post_id) = pressed
    request_key = f"cb:{query.id}"
    if verb == "list":
        await query.answer()
        message_id = query.message.message_id if query.message is not None and \
            getattr(query.message, "text", None) else None
        await enqueue(update, context.bot,
                       post_tasks.show_list.si(user_id, request_key, message_id), key)
        return
    assert post_id is not None
    if verb == "cancel" and await asyncio.to_thread(_is_admin, user_id):
        await query.answer()  # ask first; nothing changes until "yes"
        await show(query, context.bot, key, user_id, language,
                   post_messages.confirm_cancel(language, post_id))
        return
    task = post_tasks.preview.si(user_id, post_id, request_key) if verb == "view" else \
        post_tasks.cancel.si(user_id, post_id, request_key)  # a non-admin: refused, audited
    await enqueue(update, context.bot, task, key, query=query)
