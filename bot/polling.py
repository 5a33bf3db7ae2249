"""Polling that confirms an update to Telegram only once it has been taken.

PTB's own Updater confirms a batch of updates (the next `getUpdates` offset) as soon as it
has put them in the application's in-memory queue: a bot killed before handling them has
lost them, and Telegram never sends them again. Here a batch is handled first (every
handler records its command in SQL, or answers that it could not) and only then is the
next offset asked for. A bot killed mid-batch gets the same updates again when it starts;
their commands are keyed by the update, so what was recorded already is not done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from telegram.error import InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

logger = logging.getLogger(__name__)

BACKOFF_MAX = 30.0


async def poll(application: Application, *, allowed_updates: Sequence[str],
               long_poll: int = 10) -> None:
    """Fetch, handle, then confirm, until cancelled (then confirm what was handled, so a
    restarted bot does not get the last batch again)."""
    offset: list[int | None] = [None]
    try:
        await _loop(application, allowed_updates, long_poll, offset)
    except asyncio.CancelledError:
        if offset[0] is not None:
            with contextlib.suppress(TelegramError):
                await application.bot.get_updates(offset=offset[0], timeout=0, limit=1,
                                                  allowed_updates=list(allowed_updates))
        raise


async def _loop(application: Application, allowed_updates: Sequence[str], long_poll: int,
                confirmed: list[int | None]) -> None:
    bot = application.bot
    offset: int | None = None
    backoff = 0.5
    while True:
        try:
            updates = await bot.get_updates(offset=offset, timeout=long_poll,
                                            allowed_updates=list(allowed_updates))
        except TimedOut:
            continue
        except RetryAfter as exc:
            wait = exc.retry_after
            await asyncio.sleep(wait.total_seconds() if hasattr(wait, "total_seconds")
                                else float(wait))
            continue
        except InvalidToken:
            raise
        except (NetworkError, TelegramError) as exc:
            logger.warning("getUpdates failed (%s); trying again in %.1fs",
                           type(exc).__name__, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)
            continue
        backoff = 0.5
        if not updates:
            continue
        # Handled concurrently; each handler's errors go to the application's error handler.
        results = await asyncio.gather(*(application.process_update(update)
                                         for update in updates), return_exceptions=True)
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, Exception):  # not even inspectable: fetching it again won't help
                logger.warning("update %s could not be processed", update.update_id,
                               exc_info=result)
        offset = updates[-1].update_id + 1  # confirmed by the next getUpdates
        confirmed[0] = offset
