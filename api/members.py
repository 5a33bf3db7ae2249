"""/api/v1/members: a member's context, their ledger, and the daily gift.

The same services the bot reads with, and the same workflow the bot starts
(`tasks.workflows.daily_gift` through `tasks.events.start`), so a gift claimed here has
exactly the ledger entries, events and messages of one claimed with the 🎁 button.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.auth import MemberKey, ReadKey
from api.problems import TYPE_BASE, ProblemError, responses
from models.db import read_session, unit_of_work
from models.tables import IdempotencyRecord, LedgerEntry, User
from services import users, wallet
from tasks import events, workflows

router = APIRouter(prefix="/members", tags=["members"],
                   responses=responses(401, 403, 404, 422, 500))

MAX_ID = 2**63 - 1  # SQL BIGINT
UserId = Annotated[int, Path(ge=1, le=MAX_ID, description="The member's Telegram user id.")]
IDEMPOTENCY_KEY_MAX = 200
REQUEST_KEY_MAX = 160  # fits the event, delivery and claim keys derived from it
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


class Accepted(BaseModel):
    status: Literal["accepted"]
    request_key: str = Field(description="The workflow's idempotency key.")
    queued: bool = Field(description="True when the workflow reached the broker now; false "
                                     "when it was kept in SQL and the relay will start it "
                                     "as soon as the broker is back.")


def _not_found(user_id: int) -> ProblemError:
    return ProblemError(404, f"No member with id {user_id}.", title="Unknown member",
                        type_=TYPE_BASE + "unknown-member")


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
            raise _not_found(user_id)
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
            raise _not_found(user_id)
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


# --- the daily gift, with Idempotency-Key ------------------------------------------------

def _check_idempotency_key(value: str | None) -> str:
    if value is None:
        raise ProblemError(400, "This request requires an 'Idempotency-Key' header "
                                "(1-200 printable ASCII characters), e.g. a UUID.",
                           title="Idempotency-Key required",
                           type_=TYPE_BASE + "idempotency-key-required")
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or any(not 0x20 <= ord(c) <= 0x7E
                                                         for c in value):
        raise ProblemError(400, "The 'Idempotency-Key' header must be 1-200 printable ASCII "
                                "characters.", title="Invalid Idempotency-Key",
                           type_=TYPE_BASE + "invalid-idempotency-key")
    return value


def request_key(key_id: int, idempotency_key: str) -> str:
    """`api:<key id>:<Idempotency-Key>`; a long Idempotency-Key is replaced by its hash so
    the keys derived from it (claim, events, deliveries) stay within their columns."""
    plain = f"api:{key_id}:{idempotency_key}"
    if len(plain) <= REQUEST_KEY_MAX:
        return plain
    return f"api:{key_id}:sha256:{hashlib.sha256(idempotency_key.encode()).hexdigest()}"


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), hashlib.sha256(body).digest()):
        digest.update(part + b"\n")
    return digest.hexdigest()


def _replayed(record: IdempotencyRecord, print_: str) -> JSONResponse:
    if record.fingerprint != print_:
        raise ProblemError(422, "This Idempotency-Key was used for a different request "
                                "(another method, path or body). Use a new key.",
                           title="Idempotency-Key reused",
                           type_=TYPE_BASE + "idempotency-key-reused")
    if record.status_code is None:
        raise ProblemError(409, "The first request with this Idempotency-Key is still "
                                "being processed; retry shortly.",
                           title="Request in progress",
                           type_=TYPE_BASE + "idempotency-request-in-progress",
                           headers={"Retry-After": "1"})
    return JSONResponse(record.response, status_code=record.status_code,
                        headers={"Idempotent-Replayed": "true"})


def _find(key_id: int, idem: str) -> IdempotencyRecord | None:
    with read_session() as session:
        return session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.api_key_id == key_id, IdempotencyRecord.key == idem)
        ).one_or_none()


def _claim_gift(user_id: int, key_id: int, idem: str, print_: str) -> JSONResponse:
    existing = _find(key_id, idem)
    if existing is not None:
        return _replayed(existing, print_)
    with read_session() as session:
        if session.get(User, user_id) is None:
            raise _not_found(user_id)
    # Reserve the key first, so two concurrent requests cannot both act.
    try:
        with unit_of_work() as session:
            record = IdempotencyRecord(api_key_id=key_id, key=idem, fingerprint=print_)
            session.add(record)
            session.flush()
            record_id = record.id
    except IntegrityError:
        existing = _find(key_id, idem)
        if existing is None:  # pragma: no cover - the winner rolled back meanwhile
            raise
        return _replayed(existing, print_)
    workflow_key = request_key(key_id, idem)
    try:
        queued = events.start(workflows.daily_gift(user_id, workflow_key),
                              command_id=workflow_key)
    except Exception:
        with unit_of_work() as session:  # not started: free the key for a retry
            session.execute(IdempotencyRecord.__table__.delete()
                            .where(IdempotencyRecord.id == record_id))
        raise
    body = Accepted(status="accepted", request_key=workflow_key, queued=queued)
    content = body.model_dump(mode="json")
    with unit_of_work() as session:
        saved = session.get(IdempotencyRecord, record_id)
        assert saved is not None
        saved.status_code, saved.response = 202, content
    return JSONResponse(content, status_code=202)


@router.post("/{user_id}/daily-gift", status_code=202, response_model=Accepted,
             summary="Claim today's gift for the member (the bot's 🎁 workflow)",
             responses={**responses(400, 409), 202: {
                 "description": "Accepted; replays carry `Idempotent-Replayed: true`."}})
async def claim_daily_gift(
    request: Request, user_id: UserId, key: MemberKey,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="Required; 1-200 printable characters. The "
        "same key with the same request replays the first response.")] = None,
) -> JSONResponse:
    """Starts `daily_gift(user_id, "api:<key id>:<Idempotency-Key>")` and answers 202. The
    member gets the same ledger entry and messages as when pressing 🎁 in Telegram; whether
    today's gift was already claimed is told to them in Telegram, as for the button."""
    idem = _check_idempotency_key(idempotency_key)
    body = await request.body()
    print_ = fingerprint(request.method, request.url.path, body)
    return await asyncio.to_thread(_claim_gift, user_id, key.id, idem, print_)
