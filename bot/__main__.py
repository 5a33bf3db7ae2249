"""Run the bot: `python -m bot` (polling) or, with TELEGRAM_WEBHOOK_URL set, a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

import uvicorn

from bot.app import ALLOWED_UPDATES, build_application
from bot.polling import poll
from bot.webhook import PATH, create_webhook_app
from core.context import setup_logging
from core.settings import get_settings

logger = logging.getLogger("bot")


async def run_webhook() -> None:
    settings = get_settings()
    if settings.telegram_webhook_secret is None:
        raise SystemExit("TELEGRAM_WEBHOOK_SECRET is required in webhook mode")
    secret = settings.telegram_webhook_secret.get_secret_value()
    application = build_application(settings, webhook=True)
    server = uvicorn.Server(uvicorn.Config(
        create_webhook_app(application, secret), host="0.0.0.0",  # noqa: S104
        port=int(os.environ.get("BOT_WEBHOOK_PORT", "8443")), log_level="warning"))
    async with application:
        await application.bot.set_webhook(
            f"{settings.telegram_webhook_url.rstrip('/')}{PATH}",  # type: ignore[union-attr]
            secret_token=secret, allowed_updates=ALLOWED_UPDATES)
        await application.start()
        logger.info("bot ready (webhook)")
        await server.serve()
        await application.stop()


async def run_polling() -> None:
    """Polling (development, or no public URL): see bot/polling.py for why it is our own."""
    settings = get_settings()
    application = build_application(settings, webhook=True)  # no PTB Updater
    loop = asyncio.get_running_loop()
    async with application:
        await application.bot.delete_webhook(drop_pending_updates=False)
        await application.start()
        poller = asyncio.create_task(poll(application, allowed_updates=ALLOWED_UPDATES))
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, poller.cancel)
        logger.info("bot ready (polling %s)", settings.telegram_api_url)
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await application.stop()


def main() -> None:
    settings = get_settings()
    setup_logging(settings.log_level)
    asyncio.run(run_webhook() if settings.telegram_webhook_url else run_polling())


if __name__ == "__main__":
    main()
