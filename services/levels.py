"""Levels and the leaderboard, both from lifetime *earned* besitos (`wallets.lifetime_earned`).

A level is reached when lifetime earnings reach its threshold (content/levels.yaml).
`services.wallet.apply` calls `on_earned` for every earned credit, in the credit's own
transaction: crossing a threshold records one `level.up` event (id `level.up:<user>:<level>`,
so it happens once per level even if thresholds are edited later). A credit that jumps
several levels announces only the highest one. Refunds (`earned=False`) never level anyone up.

This module must not import services.wallet (wallet imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import User, Wallet
from services import content, events
from services.content import Level


def level_for(lifetime_earned: int, catalog: tuple[Level, ...] | None = None) -> Level:
    """The highest level whose threshold `lifetime_earned` reaches."""
    catalog = catalog or content.levels()
    reached = catalog[0]
    for level in catalog:
        if lifetime_earned >= level.threshold:
            reached = level
    return reached


def next_level(level: Level, catalog: tuple[Level, ...] | None = None) -> Level | None:
    catalog = catalog or content.levels()
    return catalog[level.level] if level.level < len(catalog) else None


def on_earned(session: Session, user_id: int, before: int, after: int) -> list[events.Event]:
    """Record `level.up` when lifetime earnings went from `before` to `after` across a
    threshold (in the caller's transaction; the wallet row is locked, so no race)."""
    old, new = level_for(before), level_for(after)
    if new.level <= old.level:
        return []
    user = session.get(User, user_id)
    language = user.language if user is not None else get_settings().default_language
    return [events.record(session, f"level.up:{user_id}:{new.level}", "level.up",
                          {"user_id": user_id, "level": new.level, "previous": old.level,
                           "lifetime_earned": after, "lang": language})]


@dataclass(frozen=True)
class Leader:
    rank: int
    user_id: int
    first_name: str
    lifetime_earned: int


@dataclass(frozen=True)
class Standing:
    """A member's own place: rank (None before they earned anything), level, next level."""

    user_id: int
    lifetime_earned: int
    rank: int | None
    level: Level
    next: Level | None

    @property
    def to_next(self) -> int | None:
        return None if self.next is None else self.next.threshold - self.lifetime_earned


def lifetime_earned(session: Session, user_id: int) -> int:
    value = session.scalar(select(Wallet.lifetime_earned).where(Wallet.user_id == user_id))
    return int(value or 0)


def top(session: Session, limit: int) -> list[Leader]:
    """The members who earned most, best first; equal earnings share a rank (1, 2, 2, 4)."""
    rows = session.execute(
        select(Wallet.user_id, Wallet.lifetime_earned, User.first_name)
        .join(User, User.id == Wallet.user_id)
        .where(Wallet.lifetime_earned > 0)
        .order_by(Wallet.lifetime_earned.desc(), Wallet.user_id)
        .limit(limit))
    leaders: list[Leader] = []
    for position, (user_id, earned, first_name) in enumerate(rows, start=1):
        rank = leaders[-1].rank if leaders and leaders[-1].lifetime_earned == earned \
            else position
        leaders.append(Leader(rank, int(user_id), first_name or "", int(earned)))
    return leaders


def rank_of(session: Session, earned: int) -> int | None:
    """1 + how many members earned more (an index range count); None for 0 earned."""
    if earned <= 0:
        return None
    ahead = session.scalar(select(func.count()).select_from(Wallet)
                           .where(Wallet.lifetime_earned > earned))
    return int(ahead or 0) + 1


def standing(session: Session, user_id: int) -> Standing:
    earned = lifetime_earned(session, user_id)
    level = level_for(earned)
    return Standing(user_id, earned, rank_of(session, earned), level, next_level(level))
