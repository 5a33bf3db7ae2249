"""Command line entry point: ``python -m dev.standin [--host H] [--port P] [--no-limits]``.

The port comes from ``--port``, else the ``STANDIN_PORT`` environment variable, else 8081;
port 0 picks a free port. Prints ``standin listening on http://HOST:PORT`` once bound.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal

from aiohttp import web

from .limits import StandinConfig
from .server import create_app


async def _serve(host: str, port: int, config: StandinConfig) -> None:
    await serve(create_app(config), host, port)


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve `app` until SIGINT/SIGTERM, printing the bound address (also bench's probe)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = runner.addresses[0][1]
    print(f"standin listening on http://{host}:{bound_port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dev.standin",
                                     description="Local stand-in for the Telegram Bot API")
    parser.add_argument("--host", default=os.environ.get("STANDIN_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STANDIN_PORT", 8081)))
    parser.add_argument("--no-limits", action="store_true", help="disable flood limits")
    parser.add_argument("--log-level", default=os.environ.get("STANDIN_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = StandinConfig(limits_enabled=not args.no_limits)
    asyncio.run(_serve(args.host, args.port, config))


if __name__ == "__main__":
    main()
