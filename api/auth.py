"""API key authentication and scopes, as FastAPI dependencies.

    @router.get(...)
    def endpoint(key: Annotated[ApiKey, Depends(require_scope("read"))]) -> ...

The key comes in `Authorization: Bearer <key>` or `X-API-Key: <key>`. Missing or wrong
(or revoked) → 401 with `WWW-Authenticate: Bearer`; a valid key without the scope → 403.
"admin" implies "member", which implies "read".
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ProblemError
from models.db import read_session, unit_of_work
from models.tables import ApiKey
from services import apikeys

logger = logging.getLogger(__name__)

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer yb_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: yb_…`")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="yabot"'}


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, detail, headers=CHALLENGE)


def current_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    header_key: Annotated[str | None, Security(_header)] = None,
) -> ApiKey:
    """The verified API key of this request."""
    presented = bearer.credentials if bearer is not None else header_key
    if not presented:
        raise _unauthorized("An API key is required: send 'Authorization: Bearer <key>' "
                            "or 'X-API-Key: <key>'.")
    with read_session() as session:
        key = apikeys.verify(session, presented.strip())
    if key is None:
        raise _unauthorized("The API key is not valid (unknown, malformed or revoked).")
    if apikeys.needs_touch(key):
        try:
            with unit_of_work() as session:
                apikeys.mark_used(session, key.id)
        except Exception:  # bookkeeping must not fail the request
            logger.warning("could not record use of API key %s", key.id, exc_info=True)
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def require_scope(scope: str) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    if scope not in apikeys.SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    # async: no I/O here, so FastAPI need not hand it to a worker thread (one hop less)
    async def dependency(key: CurrentKey) -> ApiKey:
        if not apikeys.has_scope(key.scopes, scope):
            raise ProblemError(403, f"This API key lacks the '{scope}' scope.",
                               required_scope=scope)
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency


ReadKey = Annotated[ApiKey, Depends(require_scope("read"))]
MemberKey = Annotated[ApiKey, Depends(require_scope("member"))]
AdminKey = Annotated[ApiKey, Depends(require_scope("admin"))]
