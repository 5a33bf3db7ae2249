"""👑 VIP over the API: a member's status, redeeming a code, and the admins' grant, revoke
and codes.

Actions start the tasks the bot's commands start (`tasks.vip.redeem`, `.grant`, `.revoke`,
`.codes`) once per `Idempotency-Key`, so their subscriptions, events, audit rows and
Telegram messages are those of `/canjear`, `/vip_dar`, `/vip_quitar` and `/vip_codigos`.
Admin actions run as the admin who created the key, checked again and audited by the
service (a refusal is told to that admin in Telegram and audited).

Codes: the task shows them to the admin in Telegram, once. The API answers 202 and lets the
same key read them back with `GET /admin/vip/codes?request_key=…`: they are recomputed from
the request key (services/vip.py derives them with an HMAC keyed from the bot token), never
stored, and shown only for a batch this API key made, to a creator who is still an admin
(each read audited as `vip.codes_read`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from celery.canvas import Signature
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.actions import actor, invalid, start
from api.auth import AdminKey, MemberKey, ReadKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey, not_found
from api.members import UserId
from api.problems import TYPE_BASE, ProblemError, responses
from models.db import read_session, unit_of_work
from models.tables import ApiKey, OutboxEvent, VipCode
from services import admins, vip
from tasks import vip as vip_tasks

router = APIRouter(tags=["vip"], responses=responses(401, 403, 404, 422, 500))

PLAN_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
HIDDEN_CODE = "<code>"  # what Flower and the logs show instead of a typed code
Plan = Annotated[str | None, Field(pattern=PLAN_PATTERN, description="The plan's name "
                                   "(default `vip`).")]
Days = Annotated[int, Field(ge=1, le=vip.MAX_DAYS, description="Days of VIP access.")]


class VipStatus(BaseModel):
    user_id: int
    active: bool
    ends_at: datetime | None = Field(description="The end of the access (or when it ended); "
                                                 "null: never VIP.")
    since: datetime | None = Field(description="Start of the current uninterrupted access.")
    plan: str | None
    source: str | None = Field(description="admin · code · extend (the latest period).")


class Redeem(BaseModel):
    code: str = Field(min_length=1, max_length=64, description="A single-use code, as typed "
                                                               "(`VIP-XXXX-XXXX-XXXX-XXXX`).")


class Grant(BaseModel):
    days: Days
    plan: Plan = None


class NewCodes(BaseModel):
    count: int = Field(ge=1, le=vip.MAX_CODES, description="How many single-use codes.")
    days: Days
    plan: Plan = None


class CodeOut(BaseModel):
    code: str
    redeemed: bool


class CodesBatch(BaseModel):
    request_key: str
    status: Literal["made", "refused"]
    reason: str | None = Field(description="Why it was refused (not_admin, invalid…).")
    plan: str | None
    days: int | None
    codes: list[CodeOut]


# --- members -----------------------------------------------------------------------------------


@router.get("/members/{user_id}/vip", summary="A member's VIP status and end date")
def get_status(user_id: UserId, key: ReadKey) -> VipStatus:
    with read_session() as session:
        status = vip.status(session, user_id)
    if not status.registered:
        raise not_found(user_id)
    return VipStatus(user_id=user_id, active=status.active, ends_at=status.ends_at,
                     since=status.since, plan=status.plan, source=status.source)


@router.post("/members/{user_id}/vip/redeem", status_code=202, response_model=Accepted,
             summary="Redeem a VIP code for the member (the bot's /canjear)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def redeem(request: Request, user_id: UserId, body: Redeem, key: MemberKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.vip.redeem`; an unknown, used or expired code is told to the member in
    Telegram (`vip.refused`), as for the command. A text that cannot be a code is a 422."""
    def check() -> None:
        if vip.normalize_code(body.code) is None:
            raise invalid("code", "not a VIP code (VIP-XXXX-XXXX-XXXX-XXXX)")

    def build(rk: str) -> Signature:
        return vip_tasks.redeem.si(user_id, body.code, rk).set(
            argsrepr=f"({user_id}, '{HIDDEN_CODE}', {rk!r})")

    return await start(request, key, idempotency_key, build, user_id=user_id, check=check)


# --- admins ------------------------------------------------------------------------------------


@router.post("/admin/members/{user_id}/vip", status_code=202, response_model=Accepted,
             tags=["admin"], summary="Grant (or extend) a member's VIP (the bot's /vip_dar)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def grant(request: Request, user_id: UserId, body: Grant, key: AdminKey,
                idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.vip.grant` as the key's admin: `days` more from the current end while
    the member is VIP, else from now; the member and the admin are told in Telegram."""
    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: vip_tasks.grant.si(admin, user_id, body.days, body.plan, rk),
                       user_id=user_id)


@router.post("/admin/members/{user_id}/vip/revoke", status_code=202, response_model=Accepted,
             tags=["admin"], summary="End a member's VIP now (the bot's /vip_quitar)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def revoke(request: Request, user_id: UserId, key: AdminKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.vip.revoke` as the key's admin (the member leaves the VIP channel); a
    member who is not VIP is a refusal told to the admin (`not_vip`) and audited."""
    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: vip_tasks.revoke.si(admin, user_id, rk), user_id=user_id)


@router.post("/admin/vip/codes", status_code=202, response_model=Accepted, tags=["admin"],
             summary="Make single-use VIP codes (the bot's /vip_codigos)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def make_codes(request: Request, body: NewCodes, key: AdminKey,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.vip.codes` as the key's admin, who gets the codes in Telegram; read
    them back with `GET /admin/vip/codes?request_key=<the answer's request_key>`."""
    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: vip_tasks.codes.si(admin, body.count, body.days, body.plan,
                                                     rk))


def _no_batch() -> ProblemError:
    return ProblemError(404, "No batch of codes made with that request key by this API key "
                             "(yet: retry shortly if it was just accepted).",
                        title="Unknown batch", type_=TYPE_BASE + "unknown-batch",
                        headers={"Retry-After": "1"})


def _read_codes(key: ApiKey, request_key: str) -> CodesBatch | str:
    """The batch, or the refusal code of this read ("not_admin", "unknown", "changed")."""
    admin = actor(key)
    details = {"via": "api", "api_key": key.id, "request_key": request_key}
    with unit_of_work() as session:
        if not admins.is_admin(session, admin):
            admins.audit(session, key.created_by, "vip.codes_read", None, "not_admin", details)
            return "not_admin"
        rows = list(session.scalars(select(VipCode).where(VipCode.batch_key == request_key)
                                    .order_by(VipCode.id)))
        if not rows:
            refused = session.get(OutboxEvent, f"{vip.REFUSED}:{request_key}")
            if refused is None:
                return "unknown"
            return CodesBatch(request_key=request_key, status="refused",
                              reason=str(refused.payload.get("reason", "invalid")),
                              plan=None, days=None, codes=[])
        by_hash = {row.code_hash: row for row in rows}
        codes = [vip._code(request_key, index) for index in range(len(rows))]
        found = [by_hash.get(vip.code_hash(code) or "") for code in codes]
        if any(row is None for row in found):
            admins.audit(session, key.created_by, "vip.codes_read", None, "changed", details)
            return "changed"
        admins.audit(session, key.created_by, "vip.codes_read", None, "ok",
                     {**details, "code_ids": [row.id for row in rows]})
        return CodesBatch(request_key=request_key, status="made", reason=None,
                          plan=rows[0].plan, days=rows[0].days,
                          codes=[CodeOut(code=code, redeemed=row.redeemed_by is not None)
                                 for code, row in zip(codes, found, strict=True)
                                 if row is not None])


@router.get("/admin/vip/codes", tags=["admin"], responses=responses(409),
            summary="The codes of a batch this key made (recomputed, audited)")
def read_codes(key: AdminKey, request_key: Annotated[str, Query(
        min_length=1, max_length=160, description="The `request_key` of the 202 answer.")]
        ) -> CodesBatch:
    if not request_key.startswith(f"api:{key.id}:"):
        raise _no_batch()
    result = _read_codes(key, request_key)
    if result == "not_admin":
        raise ProblemError(403, "The admin who created this key is not an admin any more.",
                           title="Not an admin", type_=TYPE_BASE + "not-admin")
    if result == "unknown":
        raise _no_batch()
    if result == "changed":
        raise ProblemError(409, "These codes cannot be recomputed: the bot token changed "
                                "since they were made.", title="Codes unavailable",
                           type_=TYPE_BASE + "codes-unavailable")
    assert isinstance(result, CodesBatch)
    return result
