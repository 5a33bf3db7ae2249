"""Webhook mode: a Starlette app that checks Telegram's secret token and takes updates.

Telegram sends `X-Telegram-Bot-Api-Secret-Token` with the secret given to `setWebhook`;
a request without the right one is refused (403) before its body is read. Malformed or
oversized bodies get 400/413, never a traceback.

An update is answered 200 only once it has been handled: its handler has recorded its
command in SQL (or told the member it could not). A bot killed before that never answered,
so Telegram sends the update again; its command is keyed by the update, so an update that
reaches two bot processes, or comes twice, is done once.
"""

from __future__ import annotations

import hmac
import json
import logging
import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from core import failpoints

logger = logging.getLogger(__name__)

MAX_BODY = 1_000_000
PATH = "/telegram"
# What Telegram accepts as `secret_token` (1-256 characters: A-Z, a-z, 0-9, _ and -).
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def create_webhook_app(application: Application, secret: str) -> Starlette:
    if not SECRET_PATTERN.fullmatch(secret or ""):
        # An empty secret would let every request without the header through.
        raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, "
                         "0-9, _ and -")

    async def receive(request: Request) -> Response:
        given = request.headers.get("x-telegram-bot-api-secret-token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return JSONResponse({"detail": "wrong or missing secret token"}, status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"detail": "update too large"}, status_code=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or type(data.get("update_id")) is not int:
                raise ValueError("an update is an object with an integer update_id")
            update = Update.de_json(data, application.bot)
        except Exception:
            return JSONResponse({"detail": "malformed update"}, status_code=400)
        failpoints.reached("webhook-received")
        try:
            await application.process_update(update)  # handler errors: the error handler
        except Exception:  # an update no handler can even inspect: sending it again won't help
            logger.warning("update %s could not be processed", data["update_id"],
                           exc_info=True)
        return Response(status_code=200)

    async def health(_: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(routes=[Route(PATH, receive, methods=["POST"]),
                             Route("/healthz", health, methods=["GET"])])
