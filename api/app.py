"""The FastAPI application: `uvicorn api.app:app`.

Importing this module connects to nothing: every client (SQL, MongoDB, Redis, the Celery
broker) is created on first use by a request. Routers live in their own modules; domain
routers join under `API_PREFIX` (`/api/v1`). Every error is an RFC 9457 problem document
(`api/problems.py`); every request gets a correlation id (`X-Correlation-ID`), carried by
the tasks it starts and printed on every log line.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from api import (
    VERSION,
    admin,
    broadcasts,
    health,
    members,
    metrics,
    play,
    posts,
    problems,
    trivia,
    vip,
)
from core import context

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
CORRELATION_HEADER = "X-Correlation-ID"


async def _correlation(request: Request,
                       call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    cid = context.new_correlation_id("a-")
    token = context.correlation_id.set(cid)
    try:
        response = await call_next(request)
    except Exception as exc:  # answered here, so the problem carries the correlation id
        response = await problems.unexpected(request, exc)
    finally:
        context.correlation_id.reset(token)
    response.headers[CORRELATION_HEADER] = cid
    return response


def create_app() -> FastAPI:
    application = FastAPI(
        title="YABOT API",
        version=VERSION,
        description="Admin and operator API of the YABOT Telegram community bot. "
                    "Authenticate with `Authorization: Bearer <key>` (or `X-API-Key`); "
                    "keys are created with `python -m api.keys create NAME --scopes ...`.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    problems.install(application)
    application.middleware("http")(_correlation)
    application.include_router(health.router)
    application.include_router(metrics.router)
    application.include_router(members.router, prefix=API_PREFIX)
    application.include_router(play.router, prefix=API_PREFIX)
    application.include_router(admin.router, prefix=API_PREFIX)
    for router in (vip.router, posts.router, broadcasts.router, trivia.router):
        application.include_router(router, prefix=API_PREFIX)
    logger.debug("YABOT API %s created", VERSION)
    return application


app = create_app()
