"""The daily gift: once per calendar day (configured time zone), with streaks.

Amount = (base + streak bonus) × VIP multiplier, where the streak bonus is
`gift_streak_bonus` per consecutive day after the first, counting at most
`gift_streak_bonus_max_days` days. Missing a day resets the streak to 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import Settings, get_settings
from models.tables import GiftClaim, User
from services import events, users, wallet


@dataclass(frozen=True)
class GiftOutcome:
    status: str  # "claimed" | "already_claimed"
    user_id: int
    day: str
    amount: int
    streak: int
    balance: int
    next_at: str  # ISO time of the next possible claim
    event_id: str
    lang: str
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "user_id": self.user_id, "day": self.day,
                "amount": self.amount, "streak": self.streak, "balance": self.balance,
                "event_id": self.event_id}


def local_day(now: datetime, settings: Settings) -> date:
    return now.astimezone(settings.zone).date()


def next_claim_at(day: date, settings: Settings) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=settings.zone)


def gift_amount(streak: int, vip: bool, settings: Settings) -> int:
    bonus_days = min(max(streak - 1, 0), settings.gift_streak_bonus_max_days)
    amount = settings.gift_base + bonus_days * settings.gift_streak_bonus
    if vip:
        amount = int(round(amount * settings.gift_vip_multiplier))
    return amount


def claim(session: Session, user_id: int, request_key: str,
          now: datetime | None = None, settings: Settings | None = None) -> GiftOutcome:
    """Claim today's gift for the member. Idempotent per `request_key` and per day."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    user = session.get(User, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")
    wallet.lock(session, user_id)  # one claim at a time per member, on every database
    today = local_day(now, settings)
    next_at = next_claim_at(today, settings).isoformat()
    existing = session.scalars(
        select(GiftClaim).where(GiftClaim.user_id == user_id, GiftClaim.day == today)
    ).one_or_none()
    if existing is not None:
        if existing.request_key == request_key:  # this very request, delivered again
            status, event_id = "claimed", f"gift.claimed:{user_id}:{today.isoformat()}"
            recorded = events.unpublished(session, [event_id])
        else:
            status, event_id = "already_claimed", f"gift.denied:{request_key}"
            recorded = [events.record(session, event_id, "gift.denied",
                                      {"user_id": user_id, "day": today.isoformat(),
                                       "next_at": next_at, "lang": user.language})]
        return GiftOutcome(status, user_id, today.isoformat(), existing.amount, existing.streak,
                           wallet.balance(session, user_id), next_at, event_id, user.language,
                           recorded)

    yesterday = session.scalars(
        select(GiftClaim).where(GiftClaim.user_id == user_id,
                                GiftClaim.day == today - timedelta(days=1))
    ).one_or_none()
    streak = yesterday.streak + 1 if yesterday else 1
    amount = gift_amount(streak, users.is_vip(user, now), settings)
    session.add(GiftClaim(user_id=user_id, day=today, streak=streak, amount=amount,
                          request_key=request_key))
    change = wallet.credit(session, user_id, amount, reason="daily_gift",
                           key=f"gift:{user_id}:{today.isoformat()}")
    claims_total = session.scalar(
        select(func.count()).select_from(GiftClaim).where(GiftClaim.user_id == user_id))
    event_id = f"gift.claimed:{user_id}:{today.isoformat()}"
    event = events.record(session, event_id, "gift.claimed",
                  {"user_id": user_id, "day": today.isoformat(), "amount": amount,
                   "streak": streak, "balance": change.balance,
                   "claims_total": int(claims_total or 0), "next_at": next_at,
                   "lang": user.language})
    return GiftOutcome("claimed", user_id, today.isoformat(), amount, streak, change.balance,
                       next_at, event_id, user.language, [event, *change.events])
