"""`Idempotency-Key` for state-changing requests: the same key with the same request
replays the first response; the same key with another request is a 422.

`accept` runs one member workflow behind a key: it reserves the key (a unique row, so two
concurrent requests cannot both act), starts the workflow through `tasks.events.start`
(kept in SQL for the relay when the broker is down) with the request key
`api:<key id>:<Idempotency-Key>`, and stores the 202 answer for replays.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Annotated, Literal

from celery.canvas import Signature
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.problems import TYPE_BASE, ProblemError
from models.db import read_session, unit_of_work
from models.tables import IdempotencyRecord, User
from tasks import events

IDEMPOTENCY_KEY_MAX = 200
REQUEST_KEY_MAX = 160  # fits the event, delivery and claim keys derived from it

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", description="Required; 1-200 printable characters. The "
    "same key with the same request replays the first response.")]


class Accepted(BaseModel):
    status: Literal["accepted"]
    request_key: str = Field(description="The workflow's idempotency key.")
    queued: bool = Field(description="True when the workflow reached the broker now; false "
                                     "when it was kept in SQL and the relay will start it "
                                     "as soon as the broker is back.")


ACCEPTED_RESPONSE = {202: {"description": "Accepted; replays carry "
                                          "`Idempotent-Replayed: true`."}}


def not_found(user_id: int) -> ProblemError:
    return ProblemError(404, f"No member with id {user_id}.", title="Unknown member",
                        type_=TYPE_BASE + "unknown-member")


def check_idempotency_key(value: str | None) -> str:
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


def _accept(user_id: int | None, key_id: int, idem: str, print_: str,
            build: Callable[[str], Signature]) -> JSONResponse:
    existing = _find(key_id, idem)
    if existing is not None:
        return _replayed(existing, print_)
    if user_id is not None:
        with read_session() as session:
            if session.get(User, user_id) is None:
                raise not_found(user_id)
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
        queued = events.start(build(workflow_key), command_id=workflow_key)
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


async def accept(request: Request, user_id: int | None, key_id: int,
                 idempotency_key: str | None,
                 build: Callable[[str], Signature]) -> JSONResponse:
    """Start `build(request_key)` once per Idempotency-Key and answer 202; `user_id`: the
    member it acts on (404 when not registered), None when it acts on no member."""
    idem = check_idempotency_key(idempotency_key)
    raw = await request.body()
    print_ = fingerprint(request.method, request.url.path, raw)
    return await asyncio.to_thread(_accept, user_id, key_id, idem, print_, build)
