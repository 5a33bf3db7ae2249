"""The FastAPI application: `uvicorn api.app:app`.

Importing this module connects to nothing: every client (SQL, MongoDB, Redis, the Celery
broker) is created on first use by a request. Routers live in their own modules; domain
routers join under `API_PREFIX` (`/api/v1`) as later issues add them.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from api import VERSION, health

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    application = FastAPI(
        title="YABOT API",
        version=VERSION,
        description="Admin and operator API of the YABOT Telegram community bot.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    application.include_router(health.router)
    # Domain routers (auth, users, broadcasts, ...) are included here under API_PREFIX.
    logger.debug("YABOT API %s created", VERSION)
    return application


app = create_app()
