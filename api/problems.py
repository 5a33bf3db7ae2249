"""RFC 9457 problem documents for every error the API returns (`application/problem+json`).

Handlers for HTTPException (ours and Starlette's 404/405), request validation (422 naming
each offending field; malformed JSON is a 400) and anything unexpected (a 500 that says
nothing about internals; the traceback goes to the log).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import kombu.exceptions
import pymongo.errors
import redis.exceptions
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core import context
from services import commands

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:yabot:problem:"


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "error"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem(status: int, detail: str, *, title: str | None = None, type_: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_ or TYPE_BASE + _slug(status),
        "title": title or _title(status),
        "status": status,
        "detail": detail,
    }
    cid = context.current()
    if cid:
        body["correlation_id"] = cid
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


class ProblemError(Exception):
    """Raise from an endpoint to answer with a problem document."""

    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 type_: str | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.title, self.type_ = status, detail, title, type_
        self.headers, self.extra = headers, extra


def _field_name(loc: tuple[Any, ...]) -> str:
    """('query', 'limit') → 'limit'; ('body', 'items', 0, 'id') → 'items[0].id'."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie")
                 else loc)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or (str(loc[0]) if loc else "request")


async def _http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _title(exc.status_code)
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _problem_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem(exc.status, exc.detail, title=exc.title, type_=exc.type_,
                   headers=exc.headers, **exc.extra)


async def _validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    malformed_json = False
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            malformed_json = True
        errors.append({"field": _field_name(loc),
                       "location": str(loc[0]) if loc else "request",
                       "message": str(error.get("msg", "invalid"))})
    if malformed_json:
        return problem(400, "The request body is not valid JSON.", title="Malformed JSON",
                       type_=TYPE_BASE + "malformed-json", errors=errors)
    fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem(422, f"Invalid {fields}: {summary}"[:1000], title="Invalid request",
                   type_=TYPE_BASE + "validation-error", errors=errors)


def _dependency(exc: BaseException) -> str | None:
    """Which service an error says is unreachable (sql, mongodb, redis), or None."""
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
                  | commands.NotTaken):
        return "sql"
    if isinstance(exc, pymongo.errors.ConnectionFailure):  # server selection timeouts too
        return "mongodb"
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError
                  | kombu.exceptions.OperationalError):
        return "redis"
    return None


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    service = _dependency(exc)
    if service is not None:  # a dependency is down: say which, and that it is temporary
        logger.warning("%s unavailable on %s %s: %s", service, request.method,
                       request.url.path, type(exc).__name__)
        return problem(503, f"A service this request needs is unavailable ({service}); "
                            "try again shortly. /health tells what is down.",
                       title="Dependency unavailable",
                       type_=TYPE_BASE + "dependency-unavailable",
                       headers={"Retry-After": "5"}, services={service: "down"})
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "An unexpected error occurred. It has been logged; quote the "
                        "correlation id when reporting it.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Exception, unexpected)


# For `responses=` in route declarations: the problem schema in the OpenAPI document.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"},
        "status": {"type": "integer"}, "detail": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "location": {"type": "string"},
            "message": {"type": "string"}}}},
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"description": _title(status),
                     "content": {MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}}}
            for status in statuses}
