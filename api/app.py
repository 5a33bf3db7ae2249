"""The FastAPI application: `uvicorn api.app:app`.

Importing this module connects to nothing: every client (SQL, MongoDB, Redis, the Celery
broker) is created on first use by a request. Routers live in their own modules; domain
routers join under `API_PREFIX` (`/api/v1`). Every error is an RFC 9457 problem document
(`api/problems.py`); every request gets a correlation id (`X-Correlation-ID`), carried by
the tasks it starts and printed on every log line.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class CorrelationMiddleware:
    """One correlation id per request: set for the request's code and its tasks, returned in
    `X-Correlation-ID`; an unexpected error is answered here as a problem carrying it.

    Plain ASGI: Starlette's `BaseHTTPMiddleware` (`@app.middleware`) ran every request in an
    extra task with memory streams, the largest framework cost of a read in `bench` (8).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cid = context.new_correlation_id("a-")
        token = context.correlation_id.set(cid)
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).append(CORRELATION_HEADER, cid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:  # the answer is on its way: nothing better to send
                raise
            response = await problems.unexpected(Request(scope, receive), exc)
            response.headers[CORRELATION_HEADER] = cid
            await response(scope, receive, send)
        finally:
            context.correlation_id.reset(token)


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
    application.add_middleware(CorrelationMiddleware)
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
