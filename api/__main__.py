"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT (as the Procfile does)."""

from __future__ import annotations

import uvicorn

from core.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run("api.app:app", host=settings.api_host, port=settings.api_port,
                log_level=settings.log_level.lower())


if __name__ == "__main__":
    main()
