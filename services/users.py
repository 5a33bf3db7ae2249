"""Members: registration across SQL (profile, wallet) and MongoDB (dynamic state).

A member exists when the SQL row exists. Registration commits the row, the wallet and a
`member.registered` event together; the event's subscriber creates the MongoDB state by an
idempotent upsert, so registration succeeds while MongoDB is down and converges later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from models.tables import User, Wallet
from services import events, wallet

SUPPORTED_LANGUAGES = ("es", "en")


class NotRegistered(Exception):
    """The member has no SQL row yet. Tasks retry it: registration may still be in flight."""


def normalize_language(code: str | None) -> str:
    """'en-GB' → 'en'; anything unsupported → the default language."""
    short = (code or "").split("-")[0].lower()
    return short if short in SUPPORTED_LANGUAGES else get_settings().default_language


@dataclass(frozen=True)
class Profile:
    user_id: int
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


def register(session: Session, profile: Profile) -> tuple[User, list[events.Event]]:
    """Create or refresh the member. Returns the user and the events recorded (none when
    the member existed already)."""
    if profile.user_id <= 0:
        raise ValueError("a member's Telegram id is positive")
    language = normalize_language(profile.language_code)
    user = session.get(User, profile.user_id)
    if user is not None:
        user.first_name = profile.first_name[:128]
        user.last_name = profile.last_name
        user.username = profile.username
        user.reachable = True
        return user, []
    role = "admin" if profile.user_id in get_settings().admin_ids else "member"
    user = User(id=profile.user_id, first_name=profile.first_name[:128],
                last_name=profile.last_name, username=profile.username,
                language=language, role=role, reachable=True)
    session.add(user)
    session.add(Wallet(user_id=profile.user_id, balance=0, lifetime_earned=0))
    session.flush()
    event = events.record(session, f"member.registered:{profile.user_id}", "member.registered",
                          {"user_id": profile.user_id, "lang": language})
    return user, [event]


def ensure_state(user_id: int, language: str) -> bool:
    """Create the member's MongoDB state if missing (idempotent)."""
    return mongo.ensure_member(user_id, language)


def is_vip(user: User, now: datetime | None = None) -> bool:
    if user.vip_until is None:
        return False
    return user.vip_until > (now or datetime.now(UTC))


def mark_unreachable(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is not None:
        user.reachable = False


def member_context(session: Session, user_id: int) -> dict[str, Any] | None:
    """Profile and wallet from SQL merged with MongoDB state; `degraded` when Mongo is down."""
    user = session.get(User, user_id)
    if user is None:
        return None
    result: dict[str, Any] = {
        "user_id": user.id, "language": user.language, "role": user.role,
        "vip": is_vip(user), "reachable": user.reachable,
        "balance": wallet.balance(session, user_id), "state": None, "degraded": False,
    }
    try:
        result["state"] = mongo.member_state(user_id)
    except mongo.UNAVAILABLE:
        result["degraded"] = True
    return result
