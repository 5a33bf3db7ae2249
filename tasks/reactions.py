"""Reactions on posts: pay the member (once per post, rate limited), answer the button.

Workflows (bot/handlers/reactions.py starts them)::

    message_reaction (groups):  reactions.reward(chat, message, member, key, "reaction")
    reaction button (channels): reactions.reward(…, "button", ref) → reactions.toast(query)

`reward` commits the payment and `reaction.rewarded` in one transaction (nothing for an
unregistered member, an unknown post, a post already paid, or over the limit). A reaction
over the limit that came as a `message_reaction` gets one polite private notice a minute at
most (a Redis key with a one-minute expiry decides); a button press is answered by its toast.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from models.db import unit_of_work
from services import reactions
from services.messages import reactions as texts
from tasks.base import YabotTask
from tasks.events import publish_after_commit
from tasks.telegram import TelegramError, deliver, redis_client
from worker.app import app

logger = logging.getLogger(__name__)

NOTICE_EVERY_MS = 60_000


def _notice_slot(user_id: int) -> bool:
    """True for the first limited reaction of the member in a minute (sliding)."""
    return bool(redis_client().set(f"reactions:notice:{user_id}", 1, nx=True,
                                   px=NOTICE_EVERY_MS))


@app.task(base=YabotTask, name="tasks.reactions.reward")
def reward(chat_id: int, message_id: int, user_id: int, request_key: str,
           via: str = "reaction", ref: str | None = None) -> dict[str, Any]:
    """Pay for one reaction to a post (idempotent per member and post)."""
    with unit_of_work() as session:
        outcome = reactions.reward(session, chat_id, message_id, user_id, via=via, ref=ref)
    publish_after_commit(outcome.events)
    if outcome.status == reactions.LIMITED and via == "reaction" and _notice_slot(user_id):
        with unit_of_work() as session:
            notice = reactions.limited_notice(session, user_id, request_key)
        publish_after_commit(notice)
    return outcome.as_dict()


@app.task(base=YabotTask, name="tasks.reactions.toast", bind=True)
def toast(self: Task, outcome: dict[str, Any], query_id: str, language: str) -> None:
    """Answer the reaction button with what `reward` did ("+1 besito 💋", "ya reaccionaste").

    Sent through the one Telegram path (once per query). A query Telegram no longer accepts
    (answered too late, after a broker outage) has nobody left to tell: logged, not retried.
    """
    text = texts.toast(outcome.get("lang") or language, outcome)
    try:
        deliver(self, f"toast:{query_id}", int(outcome["user_id"]), "answerCallbackQuery",
                {"callback_query_id": query_id, "text": text})
    except TelegramError as exc:
        if exc.code != 400:
            raise
        logger.info("reaction toast not shown: %s", exc.description[:100])
