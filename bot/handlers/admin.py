"""🛠️ Admin commands in the bot (issue 5 grows this into the /admin panel).

Handlers only enqueue: the worker checks the admin (`services/admins.py`), writes the
audit row and answers, a refusal included, through the Telegram path.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.handlers.common import member_language, stamp, start_workflow
from services import messages
from tasks import content as content_tasks

RELOAD_COMMANDS = ("recargar", "reload")


async def reload_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`/recargar` (`/reload`): reload the catalogs from `content/` (admins only; the
    update's key makes a redelivered update reload and answer once)."""
    key = stamp(update)
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    if not await start_workflow(content_tasks.reload.si(user.id, key), key):
        language, _ = await member_language(update)
        await context.bot.send_message(user.id, messages.t(language, "gift.queued"))
