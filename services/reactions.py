"""Reactions on the community's posts pay besitos: once per member and post, rate limited.

Only posts the system knows count: a `channel_posts` row per (chat, message), added by
`register_post` (scheduled posts register theirs). Two ways in, one rule:
- `message_reaction` updates, which carry the member only in groups and discussion chats
  (Telegram reports channel reactions anonymously, as counts);
- reaction buttons under a post (`reaction_keyboard`, callback data `r:<ref>:<n>`), which
  work in channels too.

`reward` is ONE transaction: the member's wallet row is locked (it serializes everything one
member does), then the post's `reaction_rewards` row (unique per chat, message and member)
decides "already paid"; the per-member limit counts the member's paid reactions of the
last minute in that table (exact, and race-free under the wallet lock); the credit has the
key `reaction:<chat>:<message>:<member>`; the `reaction.rewarded` event joins the outbox.
A reaction over the limit pays nothing and leaves no row, so a later one to that post pays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import ChannelPost, ReactionReward, User
from services import events, wallet

DEFAULT_EMOJIS = ("❤️", "🔥", "💋")
MAX_EMOJIS = 10  # the index is one digit in the callback data
REF_PATTERN = r"[A-Za-z0-9_-]{1,32}"
_REF = re.compile(REF_PATTERN)
WINDOW = timedelta(minutes=1)
VIA = ("button", "reaction")

# What `reward` may answer; "rewarded" is the only one that pays.
REWARDED, ALREADY, LIMITED = "rewarded", "already", "limited"
UNKNOWN_POST, NOT_REGISTERED = "unknown_post", "not_registered"


@dataclass(frozen=True)
class RewardOutcome:
    status: str
    user_id: int
    chat_id: int
    message_id: int
    besitos: int = 0
    balance: int | None = None
    lang: str | None = None
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    @property
    def paid(self) -> bool:
        return self.status == REWARDED

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "user_id": self.user_id, "chat_id": self.chat_id,
                "message_id": self.message_id, "besitos": self.besitos,
                "balance": self.balance, "lang": self.lang}


def ledger_key(chat_id: int, message_id: int, user_id: int) -> str:
    return f"reaction:{chat_id}:{message_id}:{user_id}"


def event_id(chat_id: int, message_id: int, user_id: int) -> str:
    return f"reaction.rewarded:{chat_id}:{message_id}:{user_id}"


def register_post(session: Session, chat_id: int, message_id: int, *, source: str = "manual",
                  ref: str | None = None) -> ChannelPost:
    """Make a post's reactions pay (idempotent: the existing row is returned as it is).

    `ref` is the name its reaction buttons carry (see `reaction_keyboard`); `source` says
    who registered it (`scheduled`, `manual`, ...).
    """
    if ref is not None and not _REF.fullmatch(ref):
        raise ValueError(f"a post ref is 1-32 characters of {REF_PATTERN}")
    post = known_post(session, chat_id, message_id)
    if post is None:
        post = ChannelPost(chat_id=chat_id, message_id=message_id, source=source[:32], ref=ref)
        session.add(post)
        session.flush()
    return post


def known_post(session: Session, chat_id: int, message_id: int) -> ChannelPost | None:
    return session.scalars(select(ChannelPost).where(ChannelPost.chat_id == chat_id,
                                                     ChannelPost.message_id == message_id)
                           ).one_or_none()


def button_data(ref: str, index: int) -> str:
    """Callback data of reaction button `index` under the post named `ref` (≤ 36 bytes)."""
    if not _REF.fullmatch(ref) or not 0 <= index < MAX_EMOJIS:
        raise ValueError("a ref of 1-32 [A-Za-z0-9_-] and an index of 0-9 are required")
    return f"r:{ref}:{index}"


def reaction_keyboard(ref: str, emojis: tuple[str, ...] | list[str] = DEFAULT_EMOJIS
                      ) -> dict[str, Any]:
    """The inline keyboard of reaction buttons to send with a post (one row). Any button
    pays the same, once per member and post; the emoji is the member's choice of words."""
    if not 1 <= len(emojis) <= MAX_EMOJIS:
        raise ValueError(f"1 to {MAX_EMOJIS} emojis")
    return {"inline_keyboard": [[{"text": emoji, "callback_data": button_data(ref, n)}
                                 for n, emoji in enumerate(emojis)]]}


def paid_in_window(session: Session, user_id: int, now: datetime) -> int:
    """The member's paid reactions in the minute before `now` (the rate limit's count)."""
    value = session.scalar(select(func.count(ReactionReward.id))
                           .where(ReactionReward.user_id == user_id,
                                  ReactionReward.created_at > now - WINDOW))
    return int(value or 0)


def reward(session: Session, chat_id: int, message_id: int, user_id: int, *, via: str,
           ref: str | None = None, now: datetime | None = None) -> RewardOutcome:
    """Pay the member for reacting to a registered post, once per post (see the module).

    Never raises for the member's situation: an unknown post, an unregistered member, a
    post already paid or the rate limit are outcomes that pay nothing. `ref`, when the
    reaction came from a button, must name the post (a stale or copied button does not).
    """
    if via not in VIA:
        raise ValueError(f"via must be one of {VIA}")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    outcome = {"user_id": user_id, "chat_id": chat_id, "message_id": message_id}
    user = session.get(User, user_id)
    if user is None:  # they never /start-ed: nothing paid, nothing said
        return RewardOutcome(NOT_REGISTERED, **outcome)
    post = known_post(session, chat_id, message_id)
    if post is None or (ref is not None and post.ref is not None and post.ref != ref):
        return RewardOutcome(UNKNOWN_POST, lang=user.language, **outcome)
    account = wallet.lock(session, user_id)  # one change at a time per member
    done = session.scalars(select(ReactionReward).where(
        ReactionReward.chat_id == chat_id, ReactionReward.message_id == message_id,
        ReactionReward.user_id == user_id)).one_or_none()
    the_event = event_id(chat_id, message_id, user_id)
    if done is not None:  # removed and added again, the other way in, or redelivered
        return RewardOutcome(ALREADY, besitos=0, balance=account.balance, lang=user.language,
                             events=events.unpublished(session, [the_event]), **outcome)
    settings = get_settings()
    if paid_in_window(session, user_id, now) >= settings.reaction_rate_per_minute:
        return RewardOutcome(LIMITED, balance=account.balance, lang=user.language, **outcome)
    amount = settings.reaction_reward
    change = wallet.credit(session, user_id, amount, reason="reaction",
                           key=ledger_key(chat_id, message_id, user_id))
    session.add(ReactionReward(chat_id=chat_id, message_id=message_id, user_id=user_id,
                               via=via, besitos=amount, created_at=now))
    session.flush()
    event = events.record(session, the_event, "reaction.rewarded",
                          {"user_id": user_id, "chat_id": chat_id, "message_id": message_id,
                           "besitos": amount, "balance": change.balance, "via": via,
                           "lang": user.language})
    return RewardOutcome(REWARDED, besitos=amount, balance=change.balance, lang=user.language,
                         events=[event, *change.events], **outcome)  # + a level-up


def limited_notice(session: Session, user_id: int, request_key: str) -> list[events.Event]:
    """Record the polite "slow down" notice for one limited reaction (once per request key;
    the caller makes sure it is at most one a minute)."""
    user = session.get(User, user_id)
    if user is None:
        return []
    return [events.record(session, f"reaction.limited:{request_key}"[:200], "reaction.limited",
                          {"user_id": user_id,
                           "per_minute": get_settings().reaction_rate_per_minute,
                           "lang": user.language})]


def rewarded_count(session: Session, user_id: int) -> int:
    """Every paid reaction of the member, ever."""
    value = session.scalar(select(func.count(ReactionReward.id))
                           .where(ReactionReward.user_id == user_id))
    return int(value or 0)
