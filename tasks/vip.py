"""👑 VIP access: admin actions, codes, join requests, invite links, reminders and expiry.

Admin actions and redemptions are one SQL transaction each (services/vip.py); a refusal is
an event and a polite message, audited for admins, never a dead letter. The Bot API calls
go through `tasks.telegram.deliver` with a key each, so a redelivered task never approves,
kicks or writes twice:

- `join_request`: the private answer first (Telegram lets a bot write to someone whose
  join request is pending), then `approveChatJoinRequest` for an active subscription (or
  an admin), else `declineChatJoinRequest`; decided once per request key.
- `invite`: `createChatInviteLink` (member_limit 1, expiring after `VIP_INVITE_TTL`) for
  an active member, sent privately once per request key.
- `remind_due` / `expire_due` (beat, queue `scheduled`): claim due rows in bounded batches
  (`VIP_EXPIRY_BATCH`), one transaction each. `vip.expired` and `vip.revoked` start
  `remove`: ban then unban (so they can come back when they renew) with the keys
  `vip:ban:<event>` / `vip:unban:<event>`; a Telegram failure retries the task, which finds
  the ban done and goes on; a member who is VIP again before the ban (or an admin) is
  never kicked. The expired member is told once, after the removal.
Task arguments are ids, numbers and request keys; a code typed by a member is hidden from
Flower and the logs by the bot (`argsrepr`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Task

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import Delivery, User
from services import admins, users, vip
from services.messages import vip as vip_messages
from tasks import telegram
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit, subscribe
from tasks.telegram import TelegramError, deliver
from worker.app import app

logger = logging.getLogger(__name__)


def _language(user_id: int) -> str:
    with read_session() as session:
        user = session.get(User, user_id)
        return user.language if user is not None else get_settings().default_language


def _delivered(key: str) -> bool:
    with read_session() as session:
        row = session.get(Delivery, key)
        return row is not None and row.status in telegram.DONE


def _done(outcome: vip.Outcome) -> dict[str, Any]:
    publish_after_commit(outcome.events)
    return outcome.as_dict()


# --- admin actions ---------------------------------------------------------------------------


@app.task(base=YabotTask, name="tasks.vip.grant")
def grant(actor_id: int, user_id: int, days: int, plan: str | None,
          request_key: str) -> dict[str, Any]:
    """`/vip_dar`: give (or extend) a member's VIP; refused politely for non-admins."""
    with unit_of_work() as session:
        outcome = vip.grant(session, actor_id, user_id, days, plan, request_key)
    return _done(outcome)


@app.task(base=YabotTask, name="tasks.vip.revoke")
def revoke(actor_id: int, user_id: int, request_key: str) -> dict[str, Any]:
    """`/vip_quitar`: end a member's VIP now (they leave the channel: `remove`)."""
    with unit_of_work() as session:
        outcome = vip.revoke(session, actor_id, user_id, request_key)
    return _done(outcome)


@app.task(base=YabotTask, name="tasks.vip.codes", bind=True)
def codes(self: Task, actor_id: int, count: int, days: int, plan: str | None,
          request_key: str) -> dict[str, Any]:
    """`/vip_codigos`: make single-use codes and show them to the admin, once. A
    redelivered task recomputes the same codes; the message goes once per key."""
    with unit_of_work() as session:
        outcome = vip.create_codes(session, actor_id, count, days, plan, request_key)
    result = _done(outcome)
    if outcome.ok:
        rendered = vip_messages.codes_view(_language(actor_id), outcome.codes, days,
                                           vip.normalize_plan(plan) or vip.DEFAULT_PLAN)
        deliver(self, f"vip:codes:{request_key}", actor_id, rendered.method,
                rendered.params(actor_id))
    return result


@subscribe(vip.GRANTED, vip.REVOKED_EVENT)
@app.task(base=YabotTask, name="tasks.vip.tell_admin", bind=True)
def tell_admin(self: Task, event: dict[str, Any]) -> None:
    """The acting admin's confirmation of a grant or a revocation (once per event)."""
    rendered = vip_messages.for_admin(event)
    if rendered is None:
        return
    actor_id = int(event["payload"]["actor_id"])
    deliver(self, f"event:{event['id']}:admin", actor_id, rendered.method,
            rendered.params(actor_id))


# --- members ---------------------------------------------------------------------------------


# NotRegistered is retried: the member's registration may still be in flight.
@app.task(base=YabotTask, name="tasks.vip.redeem", autoretry_for=RETRY_UNTIL_REGISTERED)
def redeem(user_id: int, code: str, request_key: str) -> dict[str, Any]:
    """`/canjear <code>`: redeem a single-use code (once per key); refusals are told."""
    with unit_of_work() as session:
        outcome = vip.redeem(session, user_id, code, request_key)
    return _done(outcome)


@app.task(base=YabotTask, name="tasks.vip.invite", bind=True)
def invite(self: Task, user_id: int, request_key: str) -> dict[str, Any]:
    """🔗 A single-use invite link to the VIP channel, sent privately (active members and
    admins only), once per request key."""
    key = f"vip:invite:{request_key}"
    if _delivered(key):
        return {"status": "sent"}
    settings = get_settings()
    language = _language(user_id)

    def answer(text_key: str, status: str) -> dict[str, Any]:
        rendered = vip_messages.notice(language, text_key)
        deliver(self, key, user_id, rendered.method, rendered.params(user_id))
        return {"status": status}

    chat_id = settings.vip_chat_id
    if chat_id is None:
        return answer("vip.unavailable", "no_channel")
    with read_session() as session:
        allowed = vip.may_join(session, user_id)
    if not allowed:
        return answer("vip.invite_refused", "refused")
    params = {"chat_id": chat_id, "name": f"VIP {user_id}"[:32],
              "expire_date": int(time.time()) + settings.vip_invite_ttl, "member_limit": 1}
    try:
        # Not through `deliver`: the link itself is the result we need. A redelivered task
        # may create a second link; only one is ever sent (the message's key), and an
        # unsent link expires unused.
        link = telegram.call("createChatInviteLink", params)
    except TelegramError as exc:
        if exc.code == 429:
            raise self.retry(countdown=float(exc.retry_after or 1),
                             max_retries=telegram.RATE_LIMIT_RETRIES) from exc
        logger.error("createChatInviteLink refused: %s", exc.description[:200])
        return answer("vip.unavailable", "unavailable")
    rendered = vip_messages.invite_view(language, str(link["invite_link"]),
                                        max(settings.vip_invite_ttl // 60, 1))
    # Sent by its own task: a 429 (or any retry) of the message then retries only the
    # message, never this task, which would create a second link.
    telegram.send.delay(key, user_id, rendered.method, rendered.params(user_id))
    return {"status": "sent"}


@app.task(base=YabotTask, name="tasks.vip.join_request", bind=True)
def join_request(self: Task, user_id: int, chat_id: int, request_key: str) -> dict[str, Any]:
    """Someone asked to join the VIP channel: approve an active subscription (or an
    admin), else decline and explain privately. Decided once per request key."""
    if get_settings().vip_chat_id is None or chat_id != get_settings().vip_chat_id:
        return {"status": "ignored"}
    with unit_of_work() as session:
        approved, event = vip.join_decision(session, user_id, chat_id, request_key)
    publish_after_commit([event])
    rendered = vip_messages.render(event.as_message())
    if rendered is not None:
        try:  # first, while the request is pending: then Telegram lets the bot write
            deliver(self, f"event:{event.id}", user_id, rendered.method,
                    rendered.params(user_id))
        except TelegramError as exc:  # e.g. the window to write to them has closed
            logger.info("join answer not sent: %s", exc.description[:200])
    method = "approveChatJoinRequest" if approved else "declineChatJoinRequest"
    try:
        deliver(self, f"vip:join:{request_key}", chat_id, method,
                {"chat_id": chat_id, "user_id": user_id})
    except TelegramError as exc:
        if exc.code != 400:
            raise
        # HIDE_REQUESTER_MISSING: an admin (or a twin) handled the request already
        logger.info("join request already handled: %s", exc.description[:200])
        return {"status": "handled_elsewhere", "approved": approved}
    return {"status": "approved" if approved else "declined"}


# --- removal, reminders, expiry --------------------------------------------------------------


def _kick(task: Task, event_id: str, chat_id: int, user_id: int) -> bool:
    """Ban, then unban (so they can come back), each once per event; False when Telegram
    refused the ban for good (the bot is not an admin of the channel, …)."""
    ban_key = f"vip:ban:{event_id}"
    if not _delivered(ban_key):
        try:
            deliver(task, ban_key, chat_id, "banChatMember",
                    {"chat_id": chat_id, "user_id": user_id, "revoke_messages": False})
        except TelegramError as exc:  # 5xx and 429 retry inside deliver; this is for good
            logger.error("banChatMember refused for good: %s", exc.description[:200])
            return False
    deliver(task, f"vip:unban:{event_id}", chat_id, "unbanChatMember",
            {"chat_id": chat_id, "user_id": user_id, "only_if_banned": True})
    return True


@subscribe(vip.EXPIRED_EVENT, vip.REVOKED_EVENT)
@app.task(base=YabotTask, name="tasks.vip.remove", bind=True)
def remove(self: Task, event: dict[str, Any]) -> dict[str, Any]:
    """Remove an expired or revoked member from the VIP channel and tell the expired one
    why. A member who is VIP again by now is left alone (neither kicked nor told); an
    admin is never kicked."""
    payload = event["payload"]
    user_id = int(payload["user_id"])
    chat_id = get_settings().vip_chat_id
    started = _delivered(f"vip:ban:{event['id']}")
    with read_session() as session:
        user = session.get(User, user_id)
        active = user is not None and users.is_vip(user)
        admin = admins.is_admin(session, user_id)
    if active and not started:
        return {"status": "kept", "user_id": user_id}
    removed = False
    if payload.get("remove") and chat_id is not None and (started or not admin):
        removed = _kick(self, event["id"], chat_id, user_id)
    if event["type"] == vip.EXPIRED_EVENT:  # (the revoked member is told by tasks.notify)
        rendered = vip_messages.render(event, removed=removed)
        if rendered is not None:
            deliver(self, f"event:{event['id']}", user_id, rendered.method,
                    rendered.params(user_id))
    return {"status": "removed" if removed else "ended", "user_id": user_id}


@app.task(base=YabotTask, name="tasks.vip.remind_due")
def remind_due() -> dict[str, int]:
    """Beat: send the reminders whose time has come (a bounded batch, each claimed once)."""
    with read_session() as session:
        ids = vip.due_reminders(session, limit=get_settings().vip_expiry_batch)
    sent = 0
    for reminder_id in ids:
        with unit_of_work() as session:
            recorded = vip.remind(session, reminder_id)
        if recorded:
            publish_after_commit(recorded)
            sent += 1
    return {"due": len(ids), "sent": sent}


@app.task(base=YabotTask, name="tasks.vip.expire_due")
def expire_due() -> dict[str, int]:
    """Beat: end the subscriptions whose end has passed (a bounded batch, each claimed
    once); `vip.expired` starts the removal. Safe to run twice or concurrently."""
    with read_session() as session:
        ids = vip.due_expiries(session, limit=get_settings().vip_expiry_batch)
    expired = renewed = 0
    for subscription_id in ids:
        with unit_of_work() as session:
            outcome = vip.expire(session, subscription_id)
        if outcome is None:
            continue
        publish_after_commit(outcome.events)
        if outcome.reason == vip.EXPIRED:
            expired += 1
        else:
            renewed += 1
    return {"due": len(ids), "expired": expired, "renewed": renewed}
