"""A local stand-in for the Telegram Bot API, for development and tests.

Run ``python -m dev.standin --port 8081`` and point python-telegram-bot at it with
``base_url="http://127.0.0.1:8081/bot"`` (or send plain JSON POSTs to
``http://127.0.0.1:8081/bot<token>/<method>``). Requests are validated against the bundled
Bot API spec, Telegram's flood limits are enforced, every successful call is recorded, and a
control API under ``/_standin/`` injects updates and faults. ``/`` serves a web chat page.

Programmatic use::

    from dev.standin import start_in_thread
    from dev.standin.client import StandinClient

    with start_in_thread() as server:
        client = StandinClient(server.base_url)
        client.inject_message(1001, "/start")
        client.wait_for(lambda r: r["method"] == "sendMessage", timeout=5)
"""

from .limits import Fault, StandinConfig
from .server import StandinServer, create_app, start_in_thread

__all__ = ["Fault", "StandinConfig", "StandinServer", "create_app", "start_in_thread"]
