"""/api/v1/admin/…: admins' tools over the API (keys with the `admin` scope).

Actions run the same tasks as the /admin panel in the bot, as the admin who created the
key (`api_keys.created_by`): that admin is checked again by the service and every attempt,
allowed or refused, is an audit row — a key made without `--created-by`, or by someone who
is no longer an admin, is refused there, and the refusal is told to nobody in Telegram but
audited. Reads (members, audit log, dead letters) need the scope only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import AdminKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey, accept
from api.members import MAX_ID, UserId
from api.problems import TYPE_BASE, ProblemError, responses
from models.db import read_session, unit_of_work
from services import admin_members, admins
from tasks import admin as admin_tasks
from tasks import content as content_tasks
from tasks import deadletters

router = APIRouter(prefix="/admin", tags=["admin"],
                   responses=responses(401, 403, 404, 422, 500))

LetterId = Annotated[int, Path(ge=1, le=MAX_ID)]


class LedgerLine(BaseModel):
    amount: int
    reason: str
    created_at: datetime | None


class MemberCard(BaseModel):
    user_id: int
    username: str | None
    language: str
    role: str
    vip_until: datetime | None
    reachable: bool
    balance: int
    lifetime: int
    level: int
    ledger: list[LedgerLine] = Field(description="The latest entries, newest first.")


class Adjustment(BaseModel):
    amount: int = Field(ge=-admin_members.MAX_ADJUSTMENT, le=admin_members.MAX_ADJUSTMENT,
                        description="Besitos to credit (> 0) or debit (< 0); not 0.")
    reason: str = Field(min_length=1, max_length=admin_members.MAX_REASON,
                        description="Why (kept in the audit log only).")


class RoleChange(BaseModel):
    role: Literal["member", "admin"]


class AuditRow(BaseModel):
    id: int
    actor_id: int | None
    action: str
    target: str | None
    result: str
    created_at: datetime | None


class DeadLetterOut(BaseModel):
    id: int
    task_name: str
    error: str
    correlation_id: str | None
    failed_at: datetime | None


class Replayed(BaseModel):
    id: int
    task_id: str = Field(description="The id of the task sent again.")


@router.get("/members", summary="Find a member by Telegram id or @username")
def find_member(key: AdminKey, query: Annotated[str, Query(
        min_length=1, max_length=64, description="A Telegram id or @username.")]) -> MemberCard:
    with read_session() as session:
        user = admin_members.find(session, query)
        if user is None:
            raise ProblemError(404, "No member matches that id or username.",
                               title="Unknown member", type_=TYPE_BASE + "unknown-member")
        card = admin_members.card(session, user)
    return MemberCard(user_id=card.user_id, username=card.username, language=card.language,
                      role=card.role, vip_until=card.vip_until, reachable=card.reachable,
                      balance=card.balance, lifetime=card.lifetime, level=card.level,
                      ledger=[LedgerLine(amount=e.amount, reason=e.reason,
                                         created_at=e.created_at) for e in card.ledger])


def _actor(key: AdminKey) -> int:
    """The admin the key acts as (0, never an admin, when it names nobody)."""
    return key.created_by or 0


@router.post("/members/{user_id}/besitos", status_code=202, response_model=Accepted,
             summary="Adjust a member's besitos with a reason (audited)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def adjust_besitos(request: Request, user_id: UserId, body: Adjustment, key: AdminKey,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    if body.amount == 0:
        raise ProblemError(422, "amount must not be 0.", title="Invalid request",
                           type_=TYPE_BASE + "validation",
                           errors=[{"field": "amount", "message": "must not be 0"}])
    actor = _actor(key)
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: admin_tasks.adjust_besitos.si(actor, user_id, body.amount,
                                                                 body.reason, rk))


@router.post("/members/{user_id}/role", status_code=202, response_model=Accepted,
             summary="Set a member's role (audited)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def set_role(request: Request, user_id: UserId, body: RoleChange, key: AdminKey,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    actor = _actor(key)
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: admin_tasks.set_role.si(actor, user_id, body.role, rk))


@router.post("/content/reload", status_code=202, response_model=Accepted,
             summary="Reload the catalogs from content/ (audited; all or nothing)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def reload_content(request: Request, key: AdminKey,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    actor = _actor(key)
    return await accept(request, None, key.id, idempotency_key,
                        lambda rk: content_tasks.reload.si(actor, rk))


@router.get("/audit", summary="The audit log, newest first")
def audit_log(key: AdminKey,
              actor_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
              target: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[AuditRow]:
    with read_session() as session:
        rows = admin_members.audit_log(session, actor_id=actor_id, target=target, limit=limit)
        return [AuditRow(id=r.id, actor_id=r.actor_id, action=r.action, target=r.target,
                         result=r.result, created_at=r.created_at) for r in rows]


@router.get("/dead-letters", summary="Tasks that failed for good, oldest first")
def dead_letters(key: AdminKey,
                 limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[DeadLetterOut]:
    return [DeadLetterOut(id=d.id, task_name=d.task_name, error=d.error[:500],
                          correlation_id=d.correlation_id, failed_at=d.failed_at)
            for d in deadletters.pending(limit)]


def _letter_gone(letter_id: int) -> ProblemError:
    return ProblemError(404, f"No dead letter {letter_id} waiting (unknown, replayed or "
                             "discarded).", title="Unknown dead letter",
                        type_=TYPE_BASE + "unknown-dead-letter")


def _audit(key: AdminKey, action: str, letter_id: int, result: str) -> None:
    with unit_of_work() as session:
        admins.audit(session, key.created_by, action, str(letter_id), result,
                     {"via": "api", "api_key": key.id})


@router.post("/dead-letters/{letter_id}/replay", summary="Send a dead task again (audited)")
def replay_dead_letter(letter_id: LetterId, key: AdminKey) -> Replayed:
    try:
        task_id = deadletters.replay(letter_id)
    except LookupError:
        _audit(key, "deadletter.replay", letter_id, "unknown")
        raise _letter_gone(letter_id) from None
    _audit(key, "deadletter.replay", letter_id, "ok")
    return Replayed(id=letter_id, task_id=task_id)


@router.post("/dead-letters/{letter_id}/discard", status_code=204,
             summary="Drop a dead task for good (audited)")
def discard_dead_letter(letter_id: LetterId, key: AdminKey) -> None:
    try:
        deadletters.discard(letter_id)
    except LookupError:
        _audit(key, "deadletter.discard", letter_id, "unknown")
        raise _letter_gone(letter_id) from None
    _audit(key, "deadletter.discard", letter_id, "ok")
