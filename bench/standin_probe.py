"""`python -m bench.standin_probe --port P`: the stand-in, limits on, every attempt logged.

The stand-in (dev/standin) records only successful Bot API calls. To tell whether a 429 was
honoured, the bench needs every attempt, refused ones included, with its arrival time: this
runs the same aiohttp application and wraps `Standin.call` so each call (except getUpdates)
is appended to an in-memory list served at `GET /_probe/attempts?since=N` as
`[time, method, chat_id, status, retry_after, forced]` rows (`forced`: a fault injected
through `/_standin/config`, not the flood limits). Nothing in dev/standin changes.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from aiohttp import web

from dev.standin.__main__ import serve
from dev.standin.botapi import Standin
from dev.standin.limits import StandinConfig
from dev.standin.server import create_app

ATTEMPTS: list[list[Any]] = []


def _instrument() -> None:
    original = Standin.call

    async def call(self: Standin, token: str, name: str, raw: dict[str, Any],
                   files: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        arrived = time.time()
        forced = self.counters["forced_faults"]
        status, body = await original(self, token, name, raw, files)
        if name != "getUpdates":
            retry = (body.get("parameters") or {}).get("retry_after") if status == 429 else None
            ATTEMPTS.append([arrived, name, str(raw.get("chat_id", "")), status, retry,
                             self.counters["forced_faults"] > forced])
        return status, body

    Standin.call = call  # type: ignore[method-assign]


async def _attempts(request: web.Request) -> web.Response:
    since = int(request.query.get("since") or 0)
    return web.json_response({"next": len(ATTEMPTS), "attempts": ATTEMPTS[since:]})


async def _serve(port: int, max_records: int) -> None:
    _instrument()
    app = create_app(StandinConfig(limits_enabled=True, max_records=max_records))
    app.router.add_get("/_probe/attempts", _attempts)
    await serve(app, "127.0.0.1", port)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.standin_probe")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--max-records", type=int, default=50_000)
    args = parser.parse_args()
    asyncio.run(_serve(args.port, args.max_records))


if __name__ == "__main__":
    main()
