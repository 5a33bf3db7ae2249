"""Synchronous client for the stand-in's control API (``/_standin/``), for tests and scripts.

Typical test flow::

    client = StandinClient("http://127.0.0.1:8081")
    client.reset()
    mark = client.mark()
    client.inject_message(1001, "/start", language_code="es")
    reply = client.wait_for_message(1001, since=mark)        # the bot's answer
    client.press(1001, "menu:help", reply["result"]["message_id"])

Records returned by :meth:`StandinClient.sent` are dicts ``{"id", "time", "method",
"chat_id", "params", "result"}`` describing successful Bot API calls, oldest first.
The module-level functions use a shared client whose URL comes from ``STANDIN_URL`` (default
``http://127.0.0.1:$STANDIN_PORT``, port 8081).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import httpx


class StandinError(RuntimeError):
    """The control API refused a request (bad body, unknown message, ...)."""


def default_url() -> str:
    """``STANDIN_URL``, else ``http://127.0.0.1:$STANDIN_PORT`` (default port 8081)."""
    return os.environ.get("STANDIN_URL") or \
        f"http://127.0.0.1:{os.environ.get('STANDIN_PORT', '8081')}"


class StandinClient:
    """Control a running stand-in at ``base_url`` (``http://host:port``, no trailing path)."""

    def __init__(self, base_url: str | None = None, timeout: float = 10.0):
        self.base_url = (base_url or default_url()).rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    @property
    def api_base_url(self) -> str:
        """Value for python-telegram-bot's ``base_url``: ``<base_url>/bot``."""
        return f"{self.base_url}/bot"

    def close(self) -> None:
        """Close the underlying HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> StandinClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, f"/_standin/{path}", **kwargs)
        if response.status_code != 200:
            raise StandinError(response.json().get("error", response.text))
        return response.json()

    # ------------------------------------------------------------------ updates
    def inject_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw Update dict (``update_id`` is assigned); return the queued update."""
        return self._call("POST", "updates", json=update)

    def inject_message(self, user_id: int, text: str, *, chat_id: int | None = None,
                       first_name: str | None = None, language_code: str | None = None,
                       username: str | None = None, last_name: str | None = None,
                       chat_title: str | None = None,
                       reply_to_message_id: int | None = None) -> dict[str, Any]:
        """User ``user_id`` writes ``text`` to the bot; return the Update.

        The message goes to the private chat with the bot unless ``chat_id`` (a negative group
        id) is given. Texts starting with ``/`` carry a ``bot_command`` entity, as on Telegram.
        Name and language are remembered for later updates of the same user.
        """
        body = {"kind": "message", "user_id": user_id, "text": text, "chat_id": chat_id,
                "first_name": first_name, "language_code": language_code,
                "username": username, "last_name": last_name, "chat_title": chat_title,
                "reply_to_message_id": reply_to_message_id}
        return self.inject_update({k: v for k, v in body.items() if v is not None})

    def press(self, user_id: int, data: str, message_id: int | None = None, *,
              chat_id: int | None = None, force: bool = False) -> dict[str, Any]:
        """User ``user_id`` presses the inline button with ``callback_data == data``.

        ``message_id`` is the bot message carrying the button (default: the latest message in
        the chat that has such a button). The button must exist unless ``force`` is true.
        Returns the Update; its ``callback_query.id`` is what the bot must answer.
        """
        body = {"kind": "callback", "user_id": user_id, "data": data, "message_id": message_id,
                "chat_id": chat_id, "force": force}
        return self.inject_update({k: v for k, v in body.items() if v is not None})

    def inject_join_request(self, user_id: int, chat_id: int, *,
                            first_name: str | None = None,
                            language_code: str | None = None) -> dict[str, Any]:
        """User ``user_id`` asks to join group ``chat_id``; return the Update."""
        body = {"kind": "join_request", "user_id": user_id, "chat_id": chat_id,
                "first_name": first_name, "language_code": language_code}
        return self.inject_update({k: v for k, v in body.items() if v is not None})

    def answer_poll(self, user_id: int, poll_id: str, option_ids: list[int], *,
                    force: bool = False) -> dict[str, Any]:
        """User ``user_id`` votes ``option_ids`` (empty: retracts) on the bot's poll
        ``poll_id``; return the ``poll_answer`` Update.

        Refused as Telegram would (unknown, anonymous or closed poll — open_period and
        close_date are honoured —, options out of range, a second vote on a poll without
        revoting) unless ``force``, which injects the update without counting the vote.
        """
        return self.inject_update({"kind": "poll_answer", "user_id": user_id,
                                   "poll_id": poll_id, "option_ids": list(option_ids),
                                   "force": force})

    # ------------------------------------------------------------------ recorder
    def sent(self, chat_id: int | str | None = None, method: str | None = None,
             since: int = 0) -> list[dict[str, Any]]:
        """Recorded successful Bot API calls, oldest first, optionally filtered.

        ``since`` is a record id (see :meth:`mark`); only later records are returned.
        """
        params = {k: v for k, v in {"chat_id": chat_id, "method": method,
                                    "since": since}.items() if v is not None}
        return self._call("GET", "sent", params=params)

    def mark(self) -> int:
        """Id of the newest record, to pass as ``since`` to see only later calls."""
        return self.stats()["last_record_id"]

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Current messages of a chat (user's and bot's, after edits and deletions)."""
        return self._call("GET", "chat", params={"chat_id": chat_id})["messages"]

    def stats(self) -> dict[str, Any]:
        """Counters: ``methods`` (successful calls per method), ``too_many_requests``,
        ``rejected``, ``errors`` (per code), ``spec_rejected`` and ``spec_rejections`` (calls
        the official spec refuses: unknown method, bad or missing parameter — the latest 20),
        ``forced_faults``, ``pending_updates``,
        ``last_record_id``."""
        return self._call("GET", "stats")

    def wait_for(self, predicate: Callable[[dict[str, Any]], Any], timeout: float = 5.0, *,
                 chat_id: int | str | None = None, method: str | None = None,
                 since: int = 0, interval: float = 0.05) -> dict[str, Any]:
        """Poll the recorder until a record satisfies ``predicate``; return that record.

        Only records after ``since`` matching ``chat_id``/``method`` are considered.
        Raises :class:`TimeoutError` after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            for record in self.sent(chat_id, method, since):
                since = record["id"]
                if predicate(record):
                    return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching Bot API call within {timeout} s")
            time.sleep(interval)

    def wait_for_message(self, chat_id: int, contains: str | None = None, *, since: int = 0,
                         timeout: float = 5.0) -> dict[str, Any]:
        """Wait for a call that put a message in ``chat_id`` (text or caption containing
        ``contains``, if given); return its record (the Message is ``record["result"]``)."""
        def matches(record: dict[str, Any]) -> bool:
            result = record["result"]
            if not isinstance(result, dict) or "message_id" not in result:
                return False
            text = result.get("text", result.get("caption", ""))
            return contains is None or contains in text
        return self.wait_for(matches, timeout, chat_id=chat_id, since=since)

    # ------------------------------------------------------------------ control
    def reset(self, everything: bool = False) -> None:
        """Forget chats, messages, updates, records, stats, faults, blocks and limit state;
        config returns to its start values. ``everything`` also drops webhook and commands."""
        self._call("POST", "reset", json={"everything": everything})

    def configure(self, **options: Any) -> dict[str, Any]:
        """Change settings; return the resulting config.

        Options: ``limits_enabled``, ``global_per_second``, ``private_per_second``,
        ``private_burst``, ``group_per_minute``, ``blocked_chats`` (replace the set),
        ``block`` / ``unblock`` (lists of chat ids), ``require_start``, ``faults`` (list of
        fault dicts, see :meth:`fail_next`), ``clear_faults``, ``webhook_retry_seconds``.
        """
        return self._call("POST", "config", json=options)

    def block(self, *chat_ids: int) -> None:
        """Sends to these chats answer 403 ``Forbidden: bot was blocked by the user``."""
        self.configure(block=list(chat_ids))

    def unblock(self, *chat_ids: int) -> None:
        """Undo :meth:`block`."""
        self.configure(unblock=list(chat_ids))

    def fail_next(self, count: int = 1, kind: str = "429", *, retry_after: int = 1,
                  status: int = 502, delay: float = 10.0,
                  methods: list[str] | None = None,
                  chat_id: int | None = None) -> dict[str, Any]:
        """Force the next ``count`` matching calls to fail.

        ``kind``: ``"429"`` (Too Many Requests, ``retry_after`` seconds), ``"5xx"`` (HTTP
        ``status``) or ``"timeout"`` (held ``delay`` seconds, then 504). ``methods`` defaults to
        the message-sending methods; ``["*"]`` means every method except getUpdates.
        ``chat_id`` limits the fault to calls for that chat.
        """
        fault = {"kind": kind, "count": count, "retry_after": retry_after, "status": status,
                 "delay": delay, "methods": methods, "chat_id": chat_id}
        return self.configure(faults=[fault])


_default: StandinClient | None = None


def default_client() -> StandinClient:
    """The shared client used by the module-level functions (URL from :func:`default_url`)."""
    global _default
    if _default is None:
        _default = StandinClient()
    return _default


def inject_message(user_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
    """:meth:`StandinClient.inject_message` on the default client."""
    return default_client().inject_message(user_id, text, **kwargs)


def press(user_id: int, data: str, message_id: int | None = None,
          **kwargs: Any) -> dict[str, Any]:
    """:meth:`StandinClient.press` on the default client."""
    return default_client().press(user_id, data, message_id, **kwargs)


def sent(chat_id: int | str | None = None, method: str | None = None,
         since: int = 0) -> list[dict[str, Any]]:
    """:meth:`StandinClient.sent` on the default client."""
    return default_client().sent(chat_id, method, since)


def wait_for(predicate: Callable[[dict[str, Any]], Any], timeout: float = 5.0,
             **kwargs: Any) -> dict[str, Any]:
    """:meth:`StandinClient.wait_for` on the default client."""
    return default_client().wait_for(predicate, timeout, **kwargs)


def reset(everything: bool = False) -> None:
    """:meth:`StandinClient.reset` on the default client."""
    default_client().reset(everything)


def configure(**options: Any) -> dict[str, Any]:
    """:meth:`StandinClient.configure` on the default client."""
    return default_client().configure(**options)
