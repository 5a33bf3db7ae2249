"""📣 Broadcasts over the API (admins): start one, read its progress, pause, resume, cancel.

`POST /admin/broadcasts` starts `tasks.broadcasts.start` — the task `/difundir` starts —
as the admin who created the key, once per `Idempotency-Key`: the service checks that admin
again, resolves the segment, audits (`broadcast.start`) and records `broadcast.started`;
the live progress message (with ⏸ / ▶️ / ✖️) goes to that admin's private chat in
Telegram, since the task sends it to the acting admin. The controls start
`tasks.broadcasts.control`, the task of those buttons (audited, refusals told). Progress
is `services/broadcasts.py` `progress`: sent / failed / blocked / left, rate and ETA.

`parse_mode: null` sends the text as it is written: it is escaped into HTML, which is what
the task sends, so `<b>` arrives as the characters `<b>`.
"""

from __future__ import annotations

import html
import re
from typing import Annotated, Any, Literal

from celery.canvas import Signature
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.actions import actor, invalid, start
from api.auth import AdminKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey
from api.members import MAX_ID
from api.problems import TYPE_BASE, ProblemError, responses
from models.db import read_session
from models.tables import ApiKey, Broadcast
from services import broadcasts
from tasks import broadcasts as broadcast_tasks

router = APIRouter(prefix="/admin/broadcasts", tags=["admin", "broadcasts"],
                   responses=responses(401, 403, 404, 422, 500))

BroadcastId = Annotated[int, Path(ge=1, le=MAX_ID, description="A broadcast's id.")]


class Segment(BaseModel):
    kind: Literal["all", "vip", "free", "inactive", "list"] = Field(
        description="all · vip · free (at the start) · inactive (no ledger entry for `days` "
                    "days) · list (those of `ids` who are registered); reachable members only.")
    days: int | None = Field(None, ge=1, le=broadcasts.MAX_DAYS,
                             description="With kind inactive only.")
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, min_length=1, max_length=broadcasts.MAX_LIST,
        description="Telegram ids, with kind list only.")


class BroadcastIn(BaseModel):
    segment: Segment
    text: str = Field(min_length=1, max_length=broadcasts.MAX_STORED_TEXT)
    parse_mode: Literal["HTML"] | None = Field("HTML", description="HTML (Telegram's "
                                               "subset), or null for plain text.")


class ProgressOut(BaseModel):
    id: int
    status: str = Field(description="running · paused · done · cancelled")
    total: int
    sent: int
    failed: int
    blocked: int
    left: int
    percent: float
    rate: float = Field(description="Messages per second (recent while running; overall "
                                    "once ended).")
    eta_seconds: float | None = Field(description="Null when not running or not measurable "
                                                  "yet.")
    elapsed_seconds: float
    created_by: int


def _segment(segment: Segment) -> dict[str, Any]:
    """The segment as the service stores it; 422 naming the field that does not fit."""
    if segment.kind == "inactive" and segment.days is None:
        raise invalid("segment.days", "required with kind inactive")
    if segment.kind != "inactive" and segment.days is not None:
        raise invalid("segment.days", "only with kind inactive")
    if segment.kind == "list" and segment.ids is None:
        raise invalid("segment.ids", "required with kind list")
    if segment.kind != "list" and segment.ids is not None:
        raise invalid("segment.ids", "only with kind list")
    raw: dict[str, Any] = {"kind": segment.kind}
    if segment.days is not None:
        raw["days"] = segment.days
    if segment.ids is not None:
        raw["ids"] = segment.ids
    return broadcasts.normalize_segment(raw)


def _text(body: BroadcastIn) -> str:
    """The text the task sends (HTML); 422 naming `text` when the service would refuse it."""
    text = body.text if body.parse_mode == "HTML" else html.escape(body.text, quote=False)
    if not html.unescape(re.sub(r"<[^>]*>", "", text)).strip():
        raise invalid("text", "must not be blank")
    if broadcasts.visible_length(text) > broadcasts.MAX_TEXT:
        raise invalid("text", f"longer than {broadcasts.MAX_TEXT} characters")
    if len(text) > broadcasts.MAX_STORED_TEXT:
        raise invalid("text", f"longer than {broadcasts.MAX_STORED_TEXT} characters with its "
                              "markup")
    return text


def _unknown(broadcast_id: int) -> ProblemError:
    return ProblemError(404, f"No broadcast {broadcast_id}.", title="Unknown broadcast",
                        type_=TYPE_BASE + "unknown-broadcast")


def _exists(broadcast_id: int) -> None:
    with read_session() as session:
        if session.get(Broadcast, broadcast_id) is None:
            raise _unknown(broadcast_id)


@router.post("", status_code=202, response_model=Accepted,
             summary="Start a broadcast (the bot's /difundir)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def start_broadcast(request: Request, body: BroadcastIn, key: AdminKey,
                          idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.broadcasts.start` as the key's admin, who gets the progress message in
    Telegram; its id is in that message and in the audit log (`broadcast.start`, target
    `broadcast:<id>`). A segment with nobody in it is refused there, told and audited."""
    segment, text = _segment(body.segment), _text(body)
    admin = actor(key)

    def build(rk: str) -> Signature:
        return broadcast_tasks.start.si(admin, segment, text, rk).set(
            argsrepr=f"({admin}, {segment['kind']!r}, <text>, {rk!r})")  # Flower and logs

    return await start(request, key, idempotency_key, build)


@router.get("/{broadcast_id}", summary="A broadcast's progress")
def get_progress(broadcast_id: BroadcastId, key: AdminKey) -> ProgressOut:
    with read_session() as session:
        shown = broadcasts.progress(session, broadcast_id)
    if shown is None:
        raise _unknown(broadcast_id)
    return ProgressOut(id=shown.broadcast_id, status=shown.status, total=shown.total,
                       sent=shown.sent, failed=shown.failed, blocked=shown.blocked,
                       left=shown.left, percent=round(100 * shown.share, 1),
                       rate=round(shown.rate, 3),
                       eta_seconds=None if shown.eta_seconds is None
                       else round(shown.eta_seconds, 1),
                       elapsed_seconds=round(shown.elapsed_seconds, 1),
                       created_by=shown.created_by)


async def _control(request: Request, broadcast_id: int, action: str, key: ApiKey,
                   idempotency_key: str | None) -> JSONResponse:
    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: broadcast_tasks.control.si(admin, broadcast_id, action, rk),
                       check=lambda: _exists(broadcast_id))


CONTROL = {"responses": {**responses(400, 409), **ACCEPTED_RESPONSE}, "status_code": 202,
           "response_model": Accepted}


@router.post("/{broadcast_id}/pause", summary="Pause a running broadcast (⏸)", **CONTROL)
async def pause(request: Request, broadcast_id: BroadcastId, key: AdminKey,
                idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.broadcasts.control` (pause) as the key's admin; one that is not
    running is refused, told and audited."""
    return await _control(request, broadcast_id, "pause", key, idempotency_key)


@router.post("/{broadcast_id}/resume", summary="Resume a paused broadcast (▶️)", **CONTROL)
async def resume(request: Request, broadcast_id: BroadcastId, key: AdminKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.broadcasts.control` (resume) as the key's admin."""
    return await _control(request, broadcast_id, "resume", key, idempotency_key)


@router.post("/{broadcast_id}/cancel", summary="Cancel a broadcast (✖️)", **CONTROL)
async def cancel(request: Request, broadcast_id: BroadcastId, key: AdminKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.broadcasts.control` (cancel) as the key's admin: the members not yet
    sent to get nothing; the final report goes to the admin."""
    return await _control(request, broadcast_id, "cancel", key, idempotency_key)
