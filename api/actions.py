"""Starting a bot workflow from the API when the request must be checked first.

`start` is `api.idempotency.accept` with two steps before it, for the routers of VIP,
scheduled posts, broadcasts and trivia (api/vip.py, api/posts.py, api/broadcasts.py,
api/trivia.py):

1. the `Idempotency-Key` is checked (400), and so is the request key it makes: the
   services key their events with at most `MAX_REQUEST_KEY` characters, so a key that
   would not fit is refused here instead of failing in the worker;
2. a request already answered with this key is replayed BEFORE the endpoint's own checks
   (unknown ids, a time that has passed meanwhile), so a retry always gets the first answer.

Admin actions run as the admin who created the key (`actor`); the service checks that admin
again and audits every attempt, allowed or refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from celery.canvas import Signature
from fastapi import Request
from fastapi.responses import JSONResponse

from api import idempotency
from api.problems import TYPE_BASE, ProblemError
from models.tables import ApiKey

MAX_REQUEST_KEY = 150  # services/vip.py, posts.py, broadcasts.py, trivia.py


def actor(key: ApiKey) -> int:
    """The admin the key acts as (0, never an admin, when it names nobody)."""
    return key.created_by or 0


def invalid(field: str, message: str) -> ProblemError:
    """A 422 naming the field, shaped like the request-validation ones."""
    return ProblemError(422, f"Invalid {field}: {message}"[:1000], title="Invalid request",
                        type_=TYPE_BASE + "validation-error",
                        errors=[{"field": field, "location": "body", "message": message}])


async def start(request: Request, key: ApiKey, idempotency_key: str | None,
                build: Callable[[str], Signature], *, user_id: int | None = None,
                check: Callable[[], None] | None = None) -> JSONResponse:
    """Replay, else run `check` (in a thread; it raises a problem to refuse) and start
    `build(request_key)` once."""
    idem = idempotency.check_idempotency_key(idempotency_key)
    if len(idempotency.request_key(key.id, idem)) > MAX_REQUEST_KEY:
        raise ProblemError(400, f"This Idempotency-Key makes a request key longer than "
                                f"{MAX_REQUEST_KEY} characters; use a shorter one (a UUID is "
                                "fine).",
                           title="Invalid Idempotency-Key",
                           type_=TYPE_BASE + "invalid-idempotency-key")
    body = await request.body()
    print_ = idempotency.fingerprint(request.method, request.url.path, body)
    existing = await asyncio.to_thread(idempotency._find, key.id, idem)
    if existing is not None:
        return idempotency._replayed(existing, print_)
    if check is not None:
        await asyncio.to_thread(check)
    return await idempotency.accept(request, user_id, key.id, idem, build)
