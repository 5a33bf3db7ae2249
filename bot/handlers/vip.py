"""👑 VIP access in the bot: read the status to render it, enqueue everything else.

- `/vip`: the member's status and end date, with "🔗 Enlace de acceso" while active.
- `/canjear <code>` (`/redeem`): `tasks.vip.redeem` (the code is hidden from Flower).
- `v:status` / `v:link` buttons: the view again / `tasks.vip.invite` (key `cb:<query id>`).
- Admins: `/vip_dar <user id> <days> [plan]`, `/vip_quitar <user id>`,
  `/vip_codigos <count> <days> [plan]`. Every attempt goes to the worker, which checks the
  admin, writes the audit row and answers (a non-admin gets a polite no); words that do
  not parse are sent as zeros, which the worker answers with the usage.
- Join requests to the VIP channel (`VIP_CHAT_ID`): `tasks.vip.join_request`.
"""

from __future__ import annotations

import asyncio
import re

from telegram import Update
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
from models.db import read_session
from services import messages, vip
from services.messages import vip as vip_messages
from tasks import vip as vip_tasks

STATUS_COMMANDS = ("vip",)
REDEEM_COMMANDS = ("canjear", "redeem")
GRANT_COMMANDS = ("vip_dar",)
REVOKE_COMMANDS = ("vip_quitar",)
CODES_COMMANDS = ("vip_codigos",)
_ID = re.compile(r"[1-9][0-9]{0,15}")
_NUMBER = re.compile(r"[0-9]{1,6}")
_PLAN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
HIDDEN_CODE = "<code>"


def parse_grant(args: list[str] | None) -> tuple[int, int, str | None]:
    """(user id, days, plan) from `/vip_dar`'s words; zeros when they do not parse."""
    if not args or len(args) not in (2, 3) or not _ID.fullmatch(args[0]) \
            or not _NUMBER.fullmatch(args[1]) or (len(args) == 3 and not _PLAN.fullmatch(args[2])):
        return 0, 0, None
    return int(args[0]), int(args[1]), args[2] if len(args) == 3 else None


def parse_revoke(args: list[str] | None) -> int:
    if not args or len(args) != 1 or not _ID.fullmatch(args[0]):
        return 0
    return int(args[0])


def parse_codes(args: list[str] | None) -> tuple[int, int, str | None]:
    """(count, days, plan) from `/vip_codigos`'s words; zeros when they do not parse."""
    if not args or len(args) not in (2, 3) or not all(_NUMBER.fullmatch(a) for a in args[:2]) \
            or (len(args) == 3 and not _PLAN.fullmatch(args[2])):
        return 0, 0, None
    return int(args[0]), int(args[1]), args[2] if len(args) == 3 else None


def _status_view(user_id: int, language: str) -> messages.Rendered:
    with read_session() as session:
        status = vip.status(session, user_id)
    return vip_messages.status_view(language, status)


async def status_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/vip`: status and end date, privately."""
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    language, _ = await member_language(update)
    rendered = await asyncio.to_thread(_status_view, user.id, language)
    if not await send(key, user.id, "sendMessage", rendered.params(user.id)):
        await context.bot.send_message(user.id, messages.t(language, "unavailable"))


async def redeem_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/canjear <code>`: redeem a code (registering the member first if needed)."""
    key = stamp(update)
    user = update.effective_user
    if user is None:
        return
    language, registered = await member_language(update)
    code = " ".join(context.args or [])[:64]
    if not code:
        rendered = vip_messages.notice(language, "vip.usage.redeem")
        await send(key, user.id, "sendMessage", rendered.params(user.id))
        return
    task = vip_tasks.redeem.si(user.id, code, key).set(argsrepr=f"({user.id}, "
                                                               f"'{HIDDEN_CODE}', {key!r})")
    await start_for_member(update, context.bot, task, key, registered=registered,
                           language=language)


async def grant_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/vip_dar <user id> <days> [plan]` (checked, audited and answered by the worker)."""
    key = stamp(update)
    if update.effective_user is None:
        return
    user_id, days, plan = parse_grant(context.args)
    await enqueue(update, context.bot,
                   vip_tasks.grant.si(update.effective_user.id, user_id, days, plan, key), key)


async def revoke_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/vip_quitar <user id>` (checked, audited and answered by the worker)."""
    key = stamp(update)
    if update.effective_user is None:
        return
    await enqueue(update, context.bot, vip_tasks.revoke.si(update.effective_user.id,
                                                        parse_revoke(context.args), key), key)


async def codes_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/vip_codigos <count> <days> [plan]` (checked, audited and answered by the worker;
    the codes are shown to the admin once)."""
    key = stamp(update)
    if update.effective_user is None:
        return
    count, days, plan = parse_codes(context.args)
    await enqueue(update, context.bot,
                   vip_tasks.codes.si(update.effective_user.id, count, days, plan, key), key)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`v:status` and `v:link`; unknown or tampered data gets the polite answer."""
    pressed = await read_press(update, callbacks.parse_vip)
    if pressed is None:
        return
    (key, query, user_id, language, registered), action = pressed
    if action == "link":
        await start_for_member(update, context.bot,
                               vip_tasks.invite.si(user_id, f"cb:{query.id}"), key,
                               registered=registered, language=language, query=query)
        return
    rendered = await asyncio.to_thread(_status_view, user_id, language)
    await query.answer()
    await show(query, context.bot, key, user_id, language, rendered)


async def join_request(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A join request to the VIP channel: the worker approves or declines it."""
    key = stamp(update)
    request = update.chat_join_request
    if request is None:
        return
    await start_workflow(vip_tasks.join_request.si(request.from_user.id, request.chat.id, key),
                         key)
