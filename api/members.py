"""/api/v1/members: a member's context, their ledger, and the daily gift.

The same services the bot reads with, and the same workflow the bot starts
(`tasks.workflows.daily_gift` through `tasks.events.start`), so a gift claimed here has
exactly the ledger entries, events and messages of one claimed with the 🎁 button.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.auth import MemberKey, ReadKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey, accept, not_found
from api.problems import responses
from models.db import read_session
from models.tables import LedgerEntry, User
from services import users, wallet
from tasks import workflows

router = APIRouter(prefix="/members", tags=["members"],
                   responses=responses(401, 403, 404, 422, 500))

MAX_ID = 2**63 - 1  # SQL BIGINT
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The member's Telegram user id.")]
DEGRADED_NOTE = ("MongoDB is unavailable: story, counters and achievements are missing "
                 "from this answer; the SQL profile and balance are current.")


class Names(BaseModel):
    first_name: str
    last_name: str | None
    username: str | None


class StateSummary(BaseModel):
    story_position: str | None = Field(description="Current story fragment.")
    counters: dict[str, Any] = Field(description="Event counters (e.g. gift_claimed).")
    achievements: list[str] = Field(description="Ids of unlocked achievements.")


class Member(BaseModel):
    user_id: int
    language: str
    role: str
    vip: bool
    vip_until: datetime | None
    reachable: bool
    balance: int
    created_at: datetime | None
    names: Names | None = Field(None, description="Only for keys with the admin scope.")
    state: StateSummary | None = Field(description="Null when MongoDB is unavailable.")
    degraded: bool = Field(description="True when part of the answer could not be read.")
    note: str | None = None


class Entry(BaseModel):
    id: int
    amount: int
    reason: str
    balance_after: int
    created_at: datetime | None


class Ledger(BaseModel):
    user_id: int
    balance: int
    entries: list[Entry] = Field(description="Newest first.")
    next_before_id: int | None = Field(
        description="Pass as `before_id` for the next page; null on the last page.")


def _summary(state: dict[str, Any] | None) -> StateSummary:
    state = state or {}
    story = state.get("story") or {}
    return StateSummary(story_position=story.get("position", "start"),
                        counters=dict(state.get("counters") or {}),
                        achievements=sorted(state.get("achievements") or {}))


def _member(user_id: int, with_names: bool) -> Member:
    with read_session() as session:
        context = users.member_context(session, user_id)
        if context is None:
            raise not_found(user_id)
        user = session.get(User, user_id)
        assert user is not None
    return Member(
        user_id=user_id, language=context["language"], role=context["role"],
        vip=context["vip"], vip_until=user.vip_until, reachable=context["reachable"],
        balance=context["balance"], created_at=user.created_at,
        names=Names(first_name=user.first_name, last_name=user.last_name,
                    username=user.username) if with_names else None,
        state=None if context["degraded"] else _summary(context["state"]),
        degraded=context["degraded"], note=DEGRADED_NOTE if context["degraded"] else None,
    )


@router.get("/{user_id}", summary="A member's profile and combined SQL + MongoDB context")
def get_member(user_id: UserId, key: ReadKey) -> Member:
    """Names (first, last, username) are included only for keys with the admin scope.
    When MongoDB is down the answer is still 200, with `degraded: true` and a note."""
    return _member(user_id, with_names="admin" in key.scopes)


@router.get("/{user_id}/ledger", summary="Balance and ledger entries, newest first")
def get_ledger(user_id: UserId, key: ReadKey,
               limit: Annotated[int, Query(ge=1, le=100)] = 20,
               before_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> Ledger:
    """Keyset pagination: pass the answer's `next_before_id` as `before_id`."""
    with read_session() as session:
        if session.get(User, user_id) is None:
            raise not_found(user_id)
        query = select(LedgerEntry).where(LedgerEntry.user_id == user_id)
        if before_id is not None:
            query = query.where(LedgerEntry.id < before_id)
        rows = list(session.scalars(query.order_by(LedgerEntry.id.desc()).limit(limit + 1)))
        balance = wallet.balance(session, user_id)
    more = len(rows) > limit
    rows = rows[:limit]
    return Ledger(user_id=user_id, balance=balance,
                  entries=[Entry(id=r.id, amount=r.amount, reason=r.reason,
                                 balance_after=r.balance_after, created_at=r.created_at)
                           for r in rows],
                  next_before_id=rows[-1].id if more and rows else None)


@router.post("/{user_id}/daily-gift", status_code=202, response_model=Accepted,
             summary="Claim today's gift for the member (the bot's 🎁 workflow)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def claim_daily_gift(request: Request, user_id: UserId, key: MemberKey,
                           idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `daily_gift(user_id, "api:<key id>:<Idempotency-Key>")` and answers 202. The
    member gets the same ledger entry and messages as when pressing 🎁 in Telegram; whether
    today's gift was already claimed is told to them in Telegram, as for the button."""
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: workflows.daily_gift(user_id, rk))
