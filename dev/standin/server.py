"""aiohttp application of the Telegram Bot API stand-in, plus a background-thread runner.

Routes
------
``/bot<token>/<method>`` (GET or POST; JSON, form-encoded or multipart)
    The Bot API, validated against the bundled spec (see :mod:`dev.standin.botapi`).
``POST /_standin/updates``
    Inject an update: a raw Update dict, or ``{"kind": "message", "user_id", "text",
    ["chat_id", "first_name", "last_name", "username", "language_code", "chat_title",
    "reply_to_message_id"]}``, ``{"kind": "callback", "user_id", "data", ["message_id",
    "chat_id", "force"]}`` (a button press on a bot message; without ``message_id`` the latest
    message carrying that callback_data is used), ``{"kind": "join_request", "user_id",
    "chat_id"}`` or ``{"kind": "poll_answer", "user_id", "poll_id", "option_ids", ["force"]}``
    (a vote on a bot's poll, refused as Telegram would unless ``force``). Answers the update
    with its ``update_id``.
``GET /_standin/sent?chat_id=&method=&since=``
    Successful Bot API calls (except getUpdates) in order: ``{"id", "time", "method",
    "chat_id", "params", "result"}``; ``since`` is a record id (exclusive).
``GET /_standin/chat?chat_id=``
    The current messages of a chat (both directions, after edits and deletions; polls past
    their open time are closed on the way) and ``poll_votes``: per poll id, each voter's
    ``option_ids`` (user ids as string keys).
``GET /_standin/stats``
    Calls per method, 429 count, rejected count, errors per code, ``last_record_id``...
``POST /_standin/reset``
    Forget the world (``{"everything": true}`` also drops webhook and commands).
``GET|POST /_standin/config``
    Read or change :class:`~dev.standin.limits.StandinConfig` fields, plus ``block`` /
    ``unblock`` (lists of chat ids answering 403), ``faults`` (list of
    :class:`~dev.standin.limits.Fault` dicts) and ``clear_faults``.
``GET /file/bot<token>/<file_path>``
    File downloads for paths from getFile (placeholder bytes).
``GET /``
    A web chat page for talking to the bot as a user.

Control requests never count toward limits or stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .botapi import TOKEN_RE, Standin
from .limits import StandinConfig
from .spec import ApiError, Upload

log = logging.getLogger(__name__)

STANDIN = web.AppKey("standin", Standin)
_PAGE = Path(__file__).with_name("webchat.html")


def create_app(config: StandinConfig | dict[str, Any] | None = None) -> web.Application:
    """Build the stand-in aiohttp application (state lives in ``app[STANDIN]``)."""
    if not isinstance(config, StandinConfig):
        config = StandinConfig.from_dict(config)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[STANDIN] = Standin(config)
    app.router.add_route("*", "/bot{token}/{method}", _bot_api)
    app.router.add_get("/file/bot{token}/{path:.+}", _file_download)
    app.router.add_get("/", _page)
    app.router.add_post("/_standin/updates", _control(_inject))
    app.router.add_get("/_standin/sent", _control(_sent))
    app.router.add_get("/_standin/chat", _control(_chat))
    app.router.add_get("/_standin/stats", _control(lambda s, r, b: s.snapshot_stats()))
    app.router.add_post("/_standin/reset", _control(_reset))
    app.router.add_get("/_standin/config", _control(lambda s, r, b: s.describe_config()))
    app.router.add_post("/_standin/config", _control(lambda s, r, b: s.configure(b)))
    app.cleanup_ctx.append(_webhook_pusher)
    app.on_shutdown.append(_on_shutdown)
    return app


async def _on_shutdown(app: web.Application) -> None:
    app[STANDIN].close()  # wakes long polls so they answer before the server closes


async def _bot_api(request: web.Request) -> web.Response:
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.method == "POST" and request.body_exists:
        try:
            if request.content_type == "application/json":
                body = await request.json()
                if not isinstance(body, dict):
                    raise ValueError
                raw.update(body)
            else:
                for key, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        size = len(value.file.read())
                        value = files[key] = Upload(key, value.filename or key, size,
                                                    value.content_type)
                    raw[key] = value
        except ValueError:
            error = ApiError(400, "Bad Request: can't parse request body")
            return web.json_response(error.payload(), status=400)
    status, body = await request.app[STANDIN].call(request.match_info["token"],
                                                   request.match_info["method"], raw, files)
    return web.json_response(body, status=status)


def _control(func):
    async def handler(request: web.Request) -> web.Response:
        try:
            body = await request.json() if request.body_exists else {}
            return web.json_response(func(request.app[STANDIN], request, body))
        except ApiError as err:
            return web.json_response({"error": err.description}, status=400)
        except (ValueError, KeyError, TypeError) as err:
            return web.json_response({"error": f"{type(err).__name__}: {err}"}, status=400)
    return handler


def _inject(standin: Standin, request: web.Request, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return standin.inject(body)


def _sent(standin: Standin, request: web.Request, body: Any) -> list[dict[str, Any]]:
    q = request.query
    return standin.sent(q.get("chat_id") or None, q.get("method") or None,
                        int(q.get("since") or 0))


def _chat(standin: Standin, request: web.Request, body: Any) -> dict[str, Any]:
    return standin.chat_history(int(request.query["chat_id"]))


def _reset(standin: Standin, request: web.Request, body: Any) -> dict[str, Any]:
    standin.reset(everything=bool(body.get("everything")))
    return {"ok": True}


async def _file_download(request: web.Request) -> web.Response:
    """Downloads of getFile paths: 16 placeholder bytes for any path (PTB's base_file_url)."""
    if not TOKEN_RE.match(request.match_info["token"]):
        return web.json_response(ApiError(401, "Unauthorized").payload(), status=401)
    return web.Response(body=b"standin-file\x00\x01\x02\x03",
                        content_type="application/octet-stream")


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE.read_text(encoding="utf-8"), content_type="text/html")


async def _webhook_pusher(app: web.Application):
    """Background task POSTing pending updates, one at a time, to the configured webhook."""
    standin = app[STANDIN]

    async def push() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while not standin.closing:
                hook = standin.webhook
                pending = standin.deliverable(1) if hook else []
                if not pending:
                    await standin.wait_changed(1.0)
                    continue
                update = pending[0]
                headers = {}
                if hook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
                try:
                    async with session.post(hook["url"], json=update, headers=headers) as resp:
                        error = None if 200 <= resp.status < 300 else \
                            f"Wrong response from the webhook: {resp.status} {resp.reason}"
                except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
                    error = f"Connection failed: {type(err).__name__}"
                if error is None:
                    standin.confirm(update["update_id"])
                    standin.counters["webhook_deliveries"] += 1
                elif standin.webhook is hook:
                    hook.update(last_error_date=int(time.time()), last_error_message=error)
                    log.warning("webhook delivery failed: %s", error)
                    await asyncio.sleep(standin.config.webhook_retry_seconds)

    task = asyncio.create_task(push())
    yield
    standin.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class StandinServer:
    """A stand-in served from a background thread; use :func:`start_in_thread`.

    Attributes: ``base_url`` (``http://host:port``), ``api_base_url`` (``base_url + "/bot"``,
    the value for PTB's ``base_url``), ``port`` and ``app``. Usable as a context manager.
    """

    def __init__(self, config: StandinConfig | dict[str, Any] | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.app, self.host, self.port = create_app(config), host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.base_url}/bot"

    @property
    def standin(self) -> Standin:
        """The server's state (only safe to read while no request is in flight)."""
        return self.app[STANDIN]

    def start(self) -> StandinServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port)
                loop.run_until_complete(site.start())
                self.port = runner.addresses[0][1]
            except BaseException as err:  # reported to the starting thread
                failure.append(err)
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=run, name="standin", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)

    def __enter__(self) -> StandinServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_in_thread(config: StandinConfig | dict[str, Any] | None = None,
                    host: str = "127.0.0.1", port: int = 0) -> StandinServer:
    """Start a stand-in in a daemon thread (``port=0``: a free port); call ``.stop()`` after."""
    return StandinServer(config, host, port).start()
