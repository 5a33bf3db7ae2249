"""The python-telegram-bot Application: all registration in one place.

Polling for development (`python -m bot`); webhook for production when
TELEGRAM_WEBHOOK_URL is set (see bot/webhook.py). Handlers stay thin: they read to render,
or enqueue a workflow; every message goes out through the workers' Telegram path.
"""

from __future__ import annotations

import html
import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatJoinRequestHandler,  # 👑 VIP access
    CommandHandler,
    ContextTypes,
    MessageHandler,
    MessageReactionHandler,
    PollAnswerHandler,
    filters,
)

from bot import callbacks
from bot.handlers import (
    admin,
    auctions,
    broadcasts,  # 📣 broadcasts
    menu,
    posts,  # 🗓️ scheduled posts
    progress,
    reactions,
    recipes,
    store,
    story,
    trivia,
    vip,  # 👑 VIP access
)
from bot.handlers.common import NotTaken
from core.settings import Settings

logger = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query", "message_reaction", "poll_answer",
                   "chat_join_request", "my_chat_member"]
DEFAULT_API_URL = "https://api.telegram.org"


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log every handler error with its traceback and tell the admin chat, if any."""
    if isinstance(context.error, NotTaken):  # SQL down; the member was told to try again
        logger.warning("update not taken: %s", context.error)
        return
    if isinstance(context.error, BadRequest) and "query is too old" in str(context.error).lower():
        # An update delivered again (a bot restarted before confirming it): its button was
        # answered the first time, and its command is recorded once.
        logger.info("button of update %s answered already",
                    update.update_id if isinstance(update, Update) else "-")
        return
    logger.error("handler error", exc_info=context.error)
    chat_id = context.bot_data.get("admin_chat_id")
    if chat_id:
        kind = html.escape(type(context.error).__name__)
        update_id = update.update_id if isinstance(update, Update) else "-"
        try:
            await context.bot.send_message(
                chat_id, f"⚠️ <b>{kind}</b> while handling update {update_id}",
                parse_mode=ParseMode.HTML)
        except Exception:
            logger.exception("could not tell the admin chat")


def build_application(settings: Settings, *, webhook: bool = False) -> Application:
    builder = Application.builder().token(settings.bot_token)
    api_url = settings.telegram_api_url.rstrip("/")
    if api_url != DEFAULT_API_URL:
        builder = builder.base_url(f"{api_url}/bot").base_file_url(f"{api_url}/file/bot")
    if webhook:
        builder = builder.updater(None)
    application = builder.concurrent_updates(64).build()
    application.bot_data["admin_chat_id"] = settings.admin_chat_id
    application.add_handler(CommandHandler("start", menu.start))
    application.add_handler(CommandHandler("help", menu.help_command))
    application.add_handler(CallbackQueryHandler(store.button, pattern=callbacks.STORE_PREFIX))
    application.add_handler(CommandHandler("subasta", auctions.command))
    application.add_handler(CommandHandler(admin.RELOAD_COMMANDS, admin.reload_command))
    application.add_handler(CommandHandler(admin.PANEL_COMMANDS, admin.panel_command))
    application.add_handler(CommandHandler(admin.MEMBER_COMMANDS, admin.member_command))
    application.add_handler(CommandHandler(admin.ADJUST_COMMANDS, admin.adjust_command))
    application.add_handler(CommandHandler(admin.ROLE_COMMANDS, admin.role_command))
    application.add_handler(CommandHandler(admin.AUDIT_COMMANDS, admin.audit_command))
    application.add_handler(CallbackQueryHandler(admin.button, pattern=callbacks.ADMIN_PREFIX))
    application.add_handler(CallbackQueryHandler(auctions.button,
                                                 pattern=callbacks.AUCTION_PREFIX))
    application.add_handler(CallbackQueryHandler(reactions.button,
                                                 pattern=callbacks.REACTION_PREFIX))
    application.add_handler(CallbackQueryHandler(recipes.button, pattern=callbacks.RECIPE_PREFIX))
    # 📣 broadcasts: /difundir (as a reply) and the progress message's buttons
    application.add_handler(CommandHandler(broadcasts.COMMANDS, broadcasts.command))
    application.add_handler(CallbackQueryHandler(broadcasts.button,
                                                 pattern=callbacks.BROADCAST_PREFIX))
    # 👑 VIP access: /vip, /canjear, the admin commands, `v:` buttons, channel join requests
    application.add_handler(CommandHandler(vip.STATUS_COMMANDS, vip.status_command))
    application.add_handler(CommandHandler(vip.REDEEM_COMMANDS, vip.redeem_command))
    application.add_handler(CommandHandler(vip.GRANT_COMMANDS, vip.grant_command))
    application.add_handler(CommandHandler(vip.REVOKE_COMMANDS, vip.revoke_command))
    application.add_handler(CommandHandler(vip.CODES_COMMANDS, vip.codes_command))
    application.add_handler(CallbackQueryHandler(vip.button, pattern=callbacks.VIP_PREFIX))
    if settings.vip_chat_id is not None:
        application.add_handler(ChatJoinRequestHandler(vip.join_request,
                                                       chat_id=settings.vip_chat_id))
    # 🗓️ scheduled posts: /programar (as a reply), /posts, /editar_post, `o:` buttons
    application.add_handler(CommandHandler(posts.SCHEDULE_COMMANDS, posts.schedule_command))
    application.add_handler(CommandHandler(posts.LIST_COMMANDS, posts.list_command))
    application.add_handler(CommandHandler(posts.EDIT_COMMANDS, posts.edit_command))
    application.add_handler(CallbackQueryHandler(posts.button, pattern=callbacks.POST_PREFIX))
    application.add_handler(MessageReactionHandler(reactions.reaction))
    application.add_handler(CommandHandler("trivia", trivia.command))
    application.add_handler(CommandHandler(["historia", "story"], story.command))
    application.add_handler(CallbackQueryHandler(story.button, pattern=callbacks.STORY_PREFIX))
    application.add_handler(CallbackQueryHandler(trivia.button, pattern=callbacks.TRIVIA_PREFIX))
    application.add_handler(PollAnswerHandler(trivia.poll_answer))
    application.add_handler(CallbackQueryHandler(progress.button,
                                                 pattern=callbacks.PROGRESS_PREFIX))
    application.add_handler(CallbackQueryHandler(menu.button))
    application.add_handler(MessageHandler(filters.ChatType.PRIVATE & ~filters.COMMAND, menu.text))
    application.add_error_handler(on_error)
    return application
