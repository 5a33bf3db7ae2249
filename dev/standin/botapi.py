"""The simulated Telegram world: chats, messages, updates, webhook, recorder and Bot API methods.

:class:`Standin` holds all state of one stand-in server and implements the Bot API methods a
bot uses (see the ``_m_<method>`` handlers). Every other method of the spec is validated and
answered generically: ``True``, a well-formed Message for message-returning methods, or a
minimal object of the declared return type. All access happens on the server's event loop.
"""

# Method handlers are named _m_<BotApiMethod> after the spec, hence:
# ruff: noqa: N802

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import logging
import re
import time
from collections import Counter, deque
from typing import Any

from . import formatting
from .limits import Fault, RateLimiter, StandinConfig
from .spec import ApiError, Spec, Upload, bad_request

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
DEFAULT_UPDATES = {"message", "edited_message", "channel_post", "edited_channel_post",
                   "callback_query", "inline_query", "chosen_inline_result", "shipping_query",
                   "pre_checkout_query", "poll", "poll_answer", "my_chat_member",
                   "chat_join_request", "chat_boost", "removed_chat_boost", "business_connection",
                   "business_message", "edited_business_message", "deleted_business_messages",
                   "purchased_paid_media", "guest_message"}
CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                "upload_voice", "upload_document", "choose_sticker", "find_location",
                "record_video_note", "upload_video_note"}
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
SPEC_REJECTIONS_KEPT = 20
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message")


def _now() -> int:
    return int(time.time())


def _jsonable(value: Any) -> Any:
    if isinstance(value, Upload):
        return value.describe()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


class Standin:
    """State and Bot API behaviour of one stand-in server."""

    def __init__(self, config: StandinConfig, spec: Spec | None = None):
        self.spec = spec or Spec.load()
        self._initial = copy.deepcopy(config)
        # Identifiers never restart, so cursors and offsets survive a reset.
        # Update and callback ids start from the clock, so a restarted stand-in never repeats
        # one that a bot's database kept from an earlier run (message ids start at 1 per chat,
        # as on Telegram).
        self._id_base = (int(time.time()) - 1_700_000_000) * 10
        self._update_ids = itertools.count(self._id_base + 1)
        self._record_ids = itertools.count(1)
        self._callback_ids = itertools.count(self._id_base + 1)
        self._file_ids = itertools.count(1)
        self._message_ids: dict[int, int] = {}
        self._new_update = asyncio.Event()
        self._poll_generation = 0
        self.bot_id = 1  # taken from the token of each request
        self.closing = False
        self.reset(everything=True)

    # ----------------------------------------------------------------- state control
    def reset(self, everything: bool = False) -> None:
        """Forget chats, messages, updates, records, stats, faults and limit state.

        Webhook, bot commands and allowed_updates (bot-side settings) are kept unless
        ``everything`` is true. Config returns to the values the server started with.
        """
        self.config = copy.deepcopy(self._initial)
        self.limiter = RateLimiter(self.config)
        self.faults: list[Fault] = []
        self.updates: list[dict[str, Any]] = []
        self.messages: dict[int, dict[int, dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.chats: dict[int, dict[str, Any]] = {}
        self.usernames: dict[str, int] = {}
        self.callbacks: dict[str, dict[str, Any]] = {}
        self.join_requests: set[tuple[int, int]] = set()
        self.poll_votes: dict[str, dict[int, list[int]]] = {}  # poll id -> user -> options
        self.members: dict[tuple[int, int], str] = {}
        self.records: deque[dict[str, Any]] = deque(maxlen=self.config.max_records)
        self.stats: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        # Calls refused by the spec itself (unknown method, bad or missing parameter): a bug
        # in the caller, unlike the refusals Telegram would also make (blocked, 429, …).
        self.spec_rejections: list[dict[str, str]] = []  # the latest SPEC_REJECTIONS_KEPT
        self.spec_rejected = 0
        self.counters: Counter[str] = Counter()
        if everything:
            self.webhook: dict[str, Any] | None = None
            self.allowed_updates: list[str] | None = None
            self.commands: dict[str, list[dict[str, Any]]] = {}
        self._wake()

    def configure(self, data: dict[str, Any]) -> dict[str, Any]:
        """Apply a ``POST /_standin/config`` body (config fields, ``block``, ``unblock``,
        ``faults``, ``clear_faults``); return the resulting config."""
        data = dict(data)
        block, unblock = data.pop("block", []), data.pop("unblock", [])
        clear = data.pop("clear_faults", False)
        faults = [Fault(**f) for f in data.pop("faults", [])]
        StandinConfig().update(data)  # validate everything before changing anything
        if clear:
            self.faults.clear()
        limit_keys = {"limits_enabled", "global_per_second", "private_per_second",
                      "private_burst", "group_per_minute"}
        self.config.update(data)
        self.config.blocked_chats |= {int(c) for c in block}
        self.config.blocked_chats -= {int(c) for c in unblock}
        self.faults.extend(faults)
        if limit_keys & data.keys():
            self.limiter = RateLimiter(self.config)
        return self.describe_config()

    def describe_config(self) -> dict[str, Any]:
        return {**self.config.to_dict(),
                "faults": [f.__dict__ for f in self.faults if f.count > 0]}

    def snapshot_stats(self) -> dict[str, Any]:
        return {"methods": dict(self.stats), "too_many_requests": self.errors[429],
                "rejected": sum(self.errors.values()),
                "spec_rejected": self.spec_rejected,
                "spec_rejections": list(self.spec_rejections),
                "errors": {str(k): v for k, v in self.errors.items()},
                "forced_faults": self.counters["forced_faults"],
                "updates_injected": self.counters["updates_injected"],
                "webhook_deliveries": self.counters["webhook_deliveries"],
                "pending_updates": len(self.updates),
                "last_record_id": self.records[-1]["id"] if self.records else 0}

    def sent(self, chat_id: str | None = None, method: str | None = None,
             since: int = 0) -> list[dict[str, Any]]:
        return [r for r in self.records if r["id"] > since
                and (chat_id is None or str(r["chat_id"]) == chat_id)
                and (method is None or r["method"].lower() == method.lower())]

    def chat_history(self, chat_id: int) -> dict[str, Any]:
        """The chat, its messages (polls past their open time closed on the way) and, per poll
        id, each voter's current ``option_ids`` (``poll_votes``; user ids as strings)."""
        history = self.messages.get(chat_id, {})
        votes: dict[str, dict[str, list[int]]] = {}
        for message_id in sorted(history):
            if poll := history[message_id].get("poll"):
                self._close_if_due(history[message_id])
                votes[poll["id"]] = {str(user): list(option_ids) for user, option_ids in
                                     self.poll_votes.get(poll["id"], {}).items()}
        return {"chat": self.chat(chat_id), "messages": [history[k] for k in sorted(history)],
                "poll_votes": votes}

    def close(self) -> None:
        self.closing = True
        self._wake()

    async def wait_changed(self, seconds: float) -> None:
        """Return when updates, webhook or pollers change, or after ``seconds``."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new_update.wait(), seconds)

    def _wake(self) -> None:
        event, self._new_update = self._new_update, asyncio.Event()
        event.set()

    # ----------------------------------------------------------------- chats and users
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.config.bot_first_name,
                "username": self.config.bot_username}

    def user(self, user_id: int) -> dict[str, Any]:
        return dict(self.users.get(user_id) or {"id": user_id, "is_bot": False,
                                                "first_name": f"User {user_id}"})

    def chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if chat_id > 0:
            u = self.user(chat_id)
            return {"id": chat_id, "type": "private", **{k: u[k] for k in (
                "first_name", "last_name", "username") if k in u}}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}

    def resolve_chat(self, value: int | str) -> int:
        if isinstance(value, int):
            if value == 0:
                raise bad_request("chat not found")
            return value
        if not re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", value):
            raise bad_request("chat not found")
        name = value[1:].lower()
        if name not in self.usernames:
            chat_id = -1_001_000_000_000 - len(self.usernames)
            self.usernames[name] = chat_id
            self.chats[chat_id] = {"id": chat_id, "type": "channel", "title": value[1:],
                                   "username": value[1:]}
        return self.usernames[name]

    def _remember(self, obj: Any) -> None:
        """Learn users and chats mentioned in an injected update."""
        if isinstance(obj, dict):
            if isinstance(obj.get("id"), int) and "is_bot" in obj and "first_name" in obj:
                self.users[obj["id"]] = dict(obj)
            elif isinstance(obj.get("id"), int) and obj.get("type") in (
                    "group", "supergroup", "channel"):
                self.chats[obj["id"]] = {k: v for k, v in obj.items() if k in (
                    "id", "type", "title", "username", "is_forum")}
            for value in obj.values():
                self._remember(value)
        elif isinstance(obj, list):
            for value in obj:
                self._remember(value)

    def _next_message_id(self, chat_id: int) -> int:
        self._message_ids[chat_id] = self._message_ids.get(chat_id, 0) + 1
        return self._message_ids[chat_id]

    def _store(self, message: dict[str, Any]) -> dict[str, Any]:
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        self._message_ids[chat_id] = max(self._message_ids.get(chat_id, 0), message_id)
        self.messages.setdefault(chat_id, {})[message_id] = copy.deepcopy(message)
        return copy.deepcopy(message)

    def find_message(self, chat_id: int, message_id: int, missing: str) -> dict[str, Any]:
        message = self.messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise bad_request(missing)
        return message

    # ----------------------------------------------------------------- updates
    def inject(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue an update given raw or in a convenience form; return it with its update_id."""
        kind = body.get("kind")
        if kind is None:
            update = {k: v for k, v in body.items() if k != "update_id"}
            if len(update) != 1:
                raise ValueError("a raw update needs exactly one field besides update_id")
            self.spec.decode({"update_id": 0, **update}, ["Update"], "update")
            self._remember(update)
            for key in ("message", "channel_post", "edited_message", "business_message"):
                if isinstance(update.get(key), dict):
                    self._store(copy.deepcopy(update[key]))
            if "chat_join_request" in update:
                request = update["chat_join_request"]
                self.join_requests.add((request["chat"]["id"], request["from"]["id"]))
            if "callback_query" in update:
                query = update["callback_query"]
                chat = (query.get("message") or {}).get("chat", {}).get("id")
                self.callbacks[str(query["id"])] = {"chat_id": chat, "answered": False}
        else:
            user_id = int(body["user_id"])
            user = self.user(user_id)
            for key in ("first_name", "last_name", "username", "language_code"):
                if body.get(key):
                    user[key] = body[key]
            self.users[user_id] = user
            chat_id = int(body.get("chat_id") or user_id)
            if chat_id < 0 and body.get("chat_title"):
                self.chats[chat_id] = {**self.chat(chat_id), "title": body["chat_title"]}
            maker = {"message": self._user_message, "callback": self._callback,
                     "join_request": self._join_request,
                     "poll_answer": self._poll_answer}.get(kind)
            if maker is None:
                raise ValueError("kind must be 'message', 'callback', 'join_request' or "
                                 "'poll_answer'")
            update = maker(body, user, chat_id)
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        self.counters["updates_injected"] += 1
        self._wake()
        return update

    def _user_message(self, body: dict[str, Any], user: dict[str, Any],
                      chat_id: int) -> dict[str, Any]:
        text = str(body.get("text", ""))
        message = {"message_id": self._next_message_id(chat_id), "from": user,
                   "chat": self.chat(chat_id), "date": _now(), "text": text}
        if command := re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": formatting.utf16_len(command.group(0))}]
        if body.get("reply_to_message_id"):
            message["reply_to_message"] = copy.deepcopy(self.find_message(
                chat_id, int(body["reply_to_message_id"]), "message to reply not found"))
        return {"message": self._store(message)}

    def _callback(self, body: dict[str, Any], user: dict[str, Any],
                  chat_id: int) -> dict[str, Any]:
        data = str(body["data"])
        if body.get("message_id"):
            message = self.find_message(chat_id, int(body["message_id"]), "message not found")
        else:
            message = next((m for _, m in sorted(self.messages.get(chat_id, {}).items(),
                                                 reverse=True) if data in _callback_data(m)),
                           None)
            if message is None:
                raise bad_request(f"no message in chat {chat_id} has a button with this data")
        if not body.get("force") and data not in _callback_data(message):
            raise bad_request("the message has no inline button with this callback_data")
        query_id = str(4_000_000_000 + next(self._callback_ids))
        self.callbacks[query_id] = {"chat_id": chat_id, "answered": False}
        return {"callback_query": {"id": query_id, "from": user,
                                   "message": copy.deepcopy(message),
                                   "chat_instance": str(abs(chat_id) * 7919 % 10**12),
                                   "data": data}}

    def _join_request(self, body: dict[str, Any], user: dict[str, Any],
                      chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            raise ValueError("join requests need a group or channel chat_id (negative)")
        self.join_requests.add((chat_id, user["id"]))
        return {"chat_join_request": {"chat": self.chat(chat_id), "from": user,
                                      "user_chat_id": user["id"], "date": _now()}}

    def _find_poll(self, poll_id: str) -> dict[str, Any] | None:
        for history in self.messages.values():
            for message in history.values():
                if (message.get("poll") or {}).get("id") == poll_id:
                    return message
        return None

    def _close_if_due(self, message: dict[str, Any]) -> None:
        """Close the (stored) poll of ``message`` once its open_period / close_date passed."""
        poll = message["poll"]
        deadline = poll.get("close_date") or (message["date"] + poll["open_period"]
                                              if poll.get("open_period") else None)
        if deadline is not None and _now() >= deadline and not poll["is_closed"]:
            poll["is_closed"] = True
            self._store(message)

    def _vote_problem(self, message: dict[str, Any], user_id: int,
                      option_ids: list[int]) -> str | None:
        """Why Telegram would not let this user cast this vote, or None. A poll past its
        open_period / close_date is closed on the way."""
        poll = message["poll"]
        self._close_if_due(message)
        previous = self.poll_votes.get(poll["id"], {}).get(user_id)
        if poll["is_anonymous"]:
            return "the poll is anonymous: Telegram sends no poll_answer for it"
        if poll["is_closed"]:
            return "the poll is closed"
        if not all(0 <= i < len(poll["options"]) for i in option_ids) or \
                len(set(option_ids)) != len(option_ids):
            return "option ids out of range"
        if len(option_ids) > 1 and not poll["allows_multiple_answers"]:
            return "the poll allows one answer"
        if previous and not poll["allows_revoting"]:
            return "the user has voted already and the poll allows no revoting"
        if not option_ids and not previous:
            return "there is no vote to retract"
        return None

    def _poll_answer(self, body: dict[str, Any], user: dict[str, Any],
                     chat_id: int) -> dict[str, Any]:
        """User votes ``option_ids`` (empty: retracts) on poll ``poll_id``. Refused as
        Telegram would (unknown, anonymous or closed poll, second vote on a poll without
        revoting, ...) unless ``force``, which injects the update without counting it."""
        poll_id = str(body["poll_id"])
        option_ids = [int(i) for i in body.get("option_ids", [])]
        message = self._find_poll(poll_id)
        problem = "poll not found" if message is None else \
            self._vote_problem(message, user["id"], option_ids)
        if problem and not body.get("force"):
            raise bad_request(problem)
        persistent = [str(i) for i in option_ids]
        if message is not None:
            poll = message["poll"]
            persistent = [poll["options"][i]["persistent_id"] for i in option_ids
                          if 0 <= i < len(poll["options"])]
            if problem is None:
                votes = self.poll_votes.setdefault(poll_id, {})
                for i in votes.get(user["id"], []):
                    poll["options"][i]["voter_count"] -= 1
                for i in option_ids:
                    poll["options"][i]["voter_count"] += 1
                votes[user["id"]] = option_ids
                poll["total_voter_count"] = sum(1 for v in votes.values() if v)
                self._store(message)
        return {"poll_answer": {"poll_id": poll_id, "user": user, "option_ids": option_ids,
                                "option_persistent_ids": persistent}}

    def _allowed(self) -> set[str]:
        if self.allowed_updates:
            return set(self.allowed_updates)
        return DEFAULT_UPDATES

    def deliverable(self, limit: int = 100) -> list[dict[str, Any]]:
        """Pending updates the bot currently accepts; discards filtered-out ones."""
        allowed = self._allowed()
        self.updates = [u for u in self.updates if next(k for k in u if k != "update_id")
                        in allowed]
        return self.updates[:limit]

    def confirm(self, update_id: int) -> None:
        self.updates = [u for u in self.updates if u["update_id"] > update_id]

    # ----------------------------------------------------------------- request handling
    async def call(self, token: str, name: str, raw: dict[str, Any],
                   files: dict[str, Upload]) -> tuple[int, dict[str, Any]]:
        """Handle one Bot API request; return ``(http_status, json_body)``."""
        try:
            match = TOKEN_RE.match(token)
            if not match:
                raise ApiError(401, "Unauthorized")
            self.bot_id = int(match.group(1))
            method = self.spec.canonical(name)
            try:
                if method is None:
                    raise ApiError(404, "Not Found")
                params = self.spec.decode_params(method, raw, files)
            except ApiError as err:
                self.spec_rejected += 1
                del self.spec_rejections[:-SPEC_REJECTIONS_KEPT]
                self.spec_rejections.append({"method": name[:64],
                                             "description": err.description[:300],
                                             "chat_id": str(raw.get("chat_id"))[:32],
                                             "params": ",".join(sorted(raw))[:300]})
                raise
            is_message = method in self.spec.message_methods
            chat_id = self.resolve_chat(params["chat_id"]) if "chat_id" in params else None
            await self._apply_fault(method, is_message, chat_id)
            if chat_id is not None and (is_message or method == "sendChatAction"):
                self._check_deliverable(chat_id)
            limited = is_message and chat_id is not None
            if limited and (retry := self.limiter.check(chat_id)) is not None:
                raise ApiError(429, f"Too Many Requests: retry after {retry}", retry)
            handler = getattr(self, f"_m_{method}", None)
            result = handler(params, chat_id) if handler else self._generic(method, params,
                                                                             chat_id)
            if asyncio.iscoroutine(result):
                result = await result
            if limited:  # message handlers never await, so check + consume is atomic
                self.limiter.consume(chat_id)
        except ApiError as err:
            self.errors[err.code] += 1
            log.debug("%s -> %s", name, err.code)
            return err.code, err.payload()
        self.stats[method] += 1
        if method != "getUpdates":
            if chat_id is None and method == "answerCallbackQuery":
                chat_id = self.callbacks.get(params["callback_query_id"], {}).get("chat_id")
            self.records.append({"id": next(self._record_ids), "time": time.time(),
                                 "method": method, "chat_id": chat_id,
                                 "params": _jsonable(params), "result": result})
        return 200, {"ok": True, "result": result}

    async def _apply_fault(self, method: str, is_message: bool, chat_id: int | None) -> None:
        fault = next((f for f in self.faults if f.matches(method, is_message, chat_id)), None)
        if fault is None:
            return
        fault.count -= 1
        self.counters["forced_faults"] += 1
        if fault.kind == "429":
            raise ApiError(429, f"Too Many Requests: retry after {fault.retry_after}",
                           fault.retry_after)
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
            raise ApiError(504, "Gateway Timeout")
        raise ApiError(fault.status, "Bad Gateway" if fault.status == 502 else
                       "Internal Server Error" if fault.status == 500 else "Server Error")

    def _check_deliverable(self, chat_id: int) -> None:
        if chat_id in self.config.blocked_chats:
            raise ApiError(403, "Forbidden: bot was blocked by the user" if chat_id > 0 else
                           "Forbidden: bot was kicked from the group chat")
        if self.config.require_start and chat_id > 0 and chat_id not in self.users:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")

    # ----------------------------------------------------------------- message building
    def _text(self, text: str, parse_mode: str | None, entities: list | None,
              limit: int, what: str) -> tuple[str, list]:
        plain, parsed = (text, entities) if entities else formatting.parse(text, parse_mode)
        if what == "text" and not plain.strip():
            raise bad_request("message text is empty")
        if len(plain) > limit:
            raise bad_request("message is too long" if what == "text"
                              else "message caption is too long")
        return plain, parsed or []

    def _markup(self, markup: dict[str, Any] | None) -> dict[str, Any] | None:
        """Validate an inline keyboard's buttons; return it if it belongs in the Message."""
        if not markup or "inline_keyboard" not in markup:
            return None
        for row in markup["inline_keyboard"]:
            for button in row:
                if "callback_data" in button and not 1 <= len(
                        button["callback_data"].encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
                if not set(button) - {"text", "icon_custom_emoji_id", "style"}:
                    raise bad_request("can't parse inline keyboard button: Text buttons are "
                                      "unallowed in the inline keyboard")
        return markup if markup["inline_keyboard"] else None

    def _new_message(self, p: dict[str, Any], chat_id: int, **content: Any) -> dict[str, Any]:
        """Validate caption, reply and keyboard of a send, then store the bot's new message."""
        extra: dict[str, Any] = {}
        if "caption" in p:
            caption, entities = self._text(p["caption"], p.get("parse_mode"),
                                           p.get("caption_entities"), 1024, "caption")
            extra["caption"] = caption
            if entities:
                extra["caption_entities"] = entities
        reply = p.get("reply_parameters")
        if reply:
            target = self.messages.get(int(reply.get("chat_id") or chat_id), {}).get(
                reply["message_id"])
            if target is not None:
                extra["reply_to_message"] = copy.deepcopy(target)
            elif not reply.get("allow_sending_without_reply"):
                raise bad_request("message to be replied not found")
        if markup := self._markup(p.get("reply_markup")):
            extra["reply_markup"] = markup
        chat = self.chat(chat_id)
        sender = {"sender_chat": chat} if chat["type"] == "channel" else {"from": self.bot_user()}
        return self._store({"message_id": self._next_message_id(chat_id), "date": _now(),
                            "chat": chat, **sender, **content, **extra})

    def _file(self, kind: str, value: Any) -> dict[str, Any]:
        file_id = value if isinstance(value, str) and "://" not in value else \
            f"standin-{kind}-{next(self._file_ids)}"
        return {"file_id": file_id, "file_unique_id": file_id[-16:]}

    # ----------------------------------------------------------------- implemented methods
    def _m_getMe(self, p, chat_id):
        return {**self.bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}

    async def _m_getUpdates(self, p, chat_id):
        if self.webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is "
                                "active; use deleteWebhook to delete the webhook first")
        offset = p.get("offset", 0)
        if offset > 0:
            self.confirm(offset - 1)
        elif offset < 0:
            self.updates = self.updates[offset:]
        if "allowed_updates" in p:
            self.allowed_updates = p["allowed_updates"]
        limit = min(max(p.get("limit", 100), 1), 100)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake()
        deadline = time.monotonic() + max(p.get("timeout", 0), 0)
        while not (batch := self.deliverable(limit)) and not self.closing:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self.wait_changed(remaining)
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")
            if self.webhook:
                return []
        return copy.deepcopy(batch)

    def _m_setWebhook(self, p, chat_id):
        url = p["url"]
        if url and not re.match(r"https?://[^/\s]+", url):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self.updates.clear()
        if "allowed_updates" in p:
            self.allowed_updates = p["allowed_updates"]
        self.webhook = {"url": url, "secret_token": secret,
                        "max_connections": p.get("max_connections", 40),
                        "ip_address": p.get("ip_address")} if url else None
        self._wake()
        return True

    def _m_deleteWebhook(self, p, chat_id):
        if p.get("drop_pending_updates"):
            self.updates.clear()
        self.webhook = None
        self._wake()
        return True

    def _m_getWebhookInfo(self, p, chat_id):
        info = {"url": "", "has_custom_certificate": False,
                "pending_update_count": len(self.deliverable(10**6))}
        if self.webhook:
            info.update({k: v for k, v in self.webhook.items() if v is not None and
                         k not in ("secret_token",)})
            if self.allowed_updates:
                info["allowed_updates"] = self.allowed_updates
        return info

    def _commands_key(self, p) -> str:
        scope = p.get("scope") or {"type": "default"}
        return f"{sorted(scope.items())}|{p.get('language_code', '')}"

    def _m_setMyCommands(self, p, chat_id):
        if len(p["commands"]) > 100:
            raise bad_request("too many commands")
        for command in p["commands"]:
            if not _COMMAND_RE.match(command["command"]):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in p["commands"]]
        return True

    def _m_getMyCommands(self, p, chat_id):
        return self.commands.get(self._commands_key(p), [])

    def _m_deleteMyCommands(self, p, chat_id):
        self.commands.pop(self._commands_key(p), None)
        return True

    def _m_sendMessage(self, p, chat_id):
        text, entities = self._text(p["text"], p.get("parse_mode"), p.get("entities"), 4096,
                                    "text")
        return self._new_message(p, chat_id, text=text, **({"entities": entities}
                                                          if entities else {}))

    def _m_sendPhoto(self, p, chat_id):
        file = self._file("photo", p["photo"])
        sizes = [{**file, "file_id": f"{file['file_id']}{suffix}", "width": width,
                  "height": width * 3 // 4} for suffix, width in (("-s", 90), ("-m", 320),
                                                                   ("", 800))]
        return self._new_message(p, chat_id, photo=sizes)

    def _m_sendPoll(self, p, chat_id):
        options = p["options"]
        if not 1 <= len(options) <= 12:
            raise bad_request("POLL_ANSWERS_INVALID")
        if not 1 <= len(p["question"]) <= 300:
            raise bad_request("POLL_QUESTION_INVALID")
        self._check_poll(p, chat_id)
        poll = {"id": str(5_000_000_000 + next(self._file_ids)), "question": p["question"],
                "options": [{"persistent_id": str(i), "text": o["text"], "voter_count": 0}
                            for i, o in enumerate(options)],
                "total_voter_count": 0, "is_closed": bool(p.get("is_closed")),
                "is_anonymous": p.get("is_anonymous", True), "type": p.get("type", "regular"),
                "allows_multiple_answers": bool(p.get("allows_multiple_answers")),
                "allows_revoting": bool(p.get("allows_revoting")),
                "members_only": bool(p.get("members_only"))}
        poll.update({k: p[k] for k in ("correct_option_ids", "explanation", "open_period",
                                       "close_date") if k in p})
        return self._new_message(p, chat_id, poll=poll)

    def _check_poll(self, p: dict[str, Any], chat_id: int) -> None:
        """What Telegram refuses in a poll beyond the spec's types: option lengths, quiz
        answers, explanation, open time, and non-anonymous polls in channels."""
        options = p["options"]
        if any(not 1 <= len(o["text"]) <= 100 for o in options):
            raise bad_request("POLL_OPTION_INVALID")
        kind = p.get("type", "regular")
        if kind not in ("regular", "quiz"):
            raise bad_request("POLL_TYPE_INVALID")
        correct = p.get("correct_option_ids")
        if kind == "quiz":
            if not correct:
                raise bad_request("correct_option_ids must be specified for quiz polls")
            if correct != sorted(set(correct)) or not all(0 <= i < len(options)
                                                          for i in correct):
                raise bad_request("wrong correct option ids specified")
        elif correct:
            raise bad_request("correct_option_ids can be specified only for quiz polls")
        explanation = p.get("explanation", "")
        if len(explanation) > 200 or explanation.count("\n") > 2:
            raise bad_request("explanation is too long")
        if "open_period" in p and "close_date" in p:
            raise bad_request("open_period and close_date can't be used together")
        if "open_period" in p and not 5 <= p["open_period"] <= 2_628_000:
            raise bad_request("open_period must be between 5 and 2628000 seconds")
        if self.chat(chat_id)["type"] == "channel" and p.get("is_anonymous") is False:
            raise bad_request("non-anonymous polls can't be sent to channel chats")

    def _m_sendChatAction(self, p, chat_id):
        if p["action"] not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _edit_target(self, p, chat_id) -> dict[str, Any] | None:
        if p.get("inline_message_id"):
            return None
        if chat_id is None or "message_id" not in p:
            raise bad_request("message identifier is not specified")
        message = self.find_message(chat_id, p["message_id"], "message to edit not found")
        if message.get("from", {}).get("id") != self.bot_id and "sender_chat" not in message:
            raise bad_request("message can't be edited")
        return message

    def _apply_edit(self, message: dict[str, Any] | None, changes: dict[str, Any],
                    markup: dict[str, Any] | None) -> Any:
        if message is None:
            return True
        updated = {k: v for k, v in message.items()
                   if k not in changes and k not in ("reply_markup", "edit_date")}
        updated.update({k: v for k, v in changes.items() if v is not None})
        if markup:
            updated["reply_markup"] = markup
        if updated == {k: v for k, v in message.items() if k != "edit_date"}:
            raise bad_request(NOT_MODIFIED)
        updated["edit_date"] = _now()
        return self._store(updated)

    def _m_editMessageText(self, p, chat_id):
        message = self._edit_target(p, chat_id)
        if message is not None and "text" not in message:
            raise bad_request("there is no text in the message to edit")
        text, entities = self._text(p.get("text", ""), p.get("parse_mode"), p.get("entities"),
                                    4096, "text")
        return self._apply_edit(message, {"text": text, "entities": entities or None},
                                self._markup(p.get("reply_markup")))

    def _m_editMessageCaption(self, p, chat_id):
        message = self._edit_target(p, chat_id)
        caption, entities = self._text(p.get("caption", ""), p.get("parse_mode"),
                                       p.get("caption_entities"), 1024, "caption")
        return self._apply_edit(message, {"caption": caption or None,
                                          "caption_entities": entities or None},
                                self._markup(p.get("reply_markup")))

    def _m_editMessageReplyMarkup(self, p, chat_id):
        return self._apply_edit(self._edit_target(p, chat_id), {},
                                self._markup(p.get("reply_markup")))

    def _m_deleteMessage(self, p, chat_id):
        self.find_message(chat_id, p["message_id"], "message to delete not found")
        del self.messages[chat_id][p["message_id"]]
        return True

    def _m_deleteMessages(self, p, chat_id):
        for message_id in p["message_ids"]:
            self.messages.get(chat_id, {}).pop(message_id, None)
        return True

    def _m_answerCallbackQuery(self, p, chat_id):
        query = self.callbacks.get(p["callback_query_id"])
        if query is None or query["answered"]:
            raise bad_request("query is too old and response timeout expired or query ID is "
                              "invalid")
        if len(p.get("text", "")) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        query["answered"] = True
        return True

    def _m_getFile(self, p, chat_id):
        file_id = p["file_id"]
        return {"file_id": file_id, "file_unique_id": file_id[-16:], "file_size": 16,
                "file_path": f"files/{file_id}"}

    def _m_getChat(self, p, chat_id):
        info = {**self.spec.synthesize("ChatFullInfo"), **self.chat(chat_id),
                "max_reaction_count": 11}
        return info

    def _m_getChatMember(self, p, chat_id):
        user_id = p["user_id"]
        user = self.bot_user() if user_id == self.bot_id else self.user(user_id)
        status = self.members.get((chat_id, user_id))
        if status is None:
            status = "administrator" if user_id == self.bot_id and chat_id < 0 else "member"
        type_name = {"creator": "ChatMemberOwner", "administrator": "ChatMemberAdministrator",
                     "member": "ChatMemberMember", "restricted": "ChatMemberRestricted",
                     "left": "ChatMemberLeft", "kicked": "ChatMemberBanned"}[status]
        return {**self.spec.synthesize(type_name), "status": status, "user": user}

    def _require_group(self, chat_id: int) -> None:
        if chat_id > 0:
            raise bad_request("method is available for supergroup and channel chats only")

    def _m_banChatMember(self, p, chat_id):
        self._require_group(chat_id)
        self.members[(chat_id, p["user_id"])] = "kicked"
        return True

    def _m_unbanChatMember(self, p, chat_id):
        self._require_group(chat_id)
        key = (chat_id, p["user_id"])
        if self.members.get(key) == "kicked" or not p.get("only_if_banned"):
            self.members[key] = "left"
        return True

    def _m_approveChatJoinRequest(self, p, chat_id):
        if (chat_id, p["user_id"]) not in self.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        self.join_requests.discard((chat_id, p["user_id"]))
        self.members[(chat_id, p["user_id"])] = "member"
        return True

    def _m_declineChatJoinRequest(self, p, chat_id):
        if (chat_id, p["user_id"]) not in self.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        self.join_requests.discard((chat_id, p["user_id"]))
        return True

    def _m_createChatInviteLink(self, p, chat_id):
        link = {"invite_link": f"https://t.me/+standin{next(self._file_ids):08d}",
                "creator": self.bot_user(),
                "creates_join_request": bool(p.get("creates_join_request")),
                "is_primary": False, "is_revoked": False}
        link.update({k: p[k] for k in ("name", "expire_date", "member_limit") if k in p})
        return link

    def _m_forwardMessage(self, p, chat_id):
        source_chat = self.resolve_chat(p["from_chat_id"])
        source = self.find_message(source_chat, p["message_id"], "message to forward not found")
        content = {k: v for k, v in source.items() if k not in (
            "message_id", "date", "chat", "from", "sender_chat", "reply_markup",
            "reply_to_message", "edit_date")}
        content["forward_origin"] = {"type": "user", "date": source["date"],
                                     "sender_user": source.get("from", self.bot_user())}
        return self._new_message({}, chat_id, **content)

    def _m_copyMessage(self, p, chat_id):
        source_chat = self.resolve_chat(p["from_chat_id"])
        source = self.find_message(source_chat, p["message_id"], "message to copy not found")
        content = {k: v for k, v in source.items() if k not in (
            "message_id", "date", "chat", "from", "sender_chat", "reply_markup",
            "reply_to_message", "edit_date") and not (k.startswith("caption") and "caption" in p)}
        message = self._new_message(p, chat_id, **content)
        return {"message_id": message["message_id"]}

    def _generic(self, method: str, p: dict[str, Any], chat_id: int | None) -> Any:
        returns = self.spec.methods[method]["returns"]
        if "Message" in returns and (p.get("inline_message_id") or "message_id" in p) and \
                not method.startswith(("send", "copy", "forward")):
            message = self._edit_target(p, chat_id)
            return True if message is None else self._store(
                {**message, "edit_date": _now()})
        kind = returns[0]
        if kind == "Boolean":
            return True
        if kind == "MessageId":
            return {"message_id": self._next_message_id(chat_id)}
        if kind == "Array of MessageId":
            return [{"message_id": self._next_message_id(chat_id)}
                    for _ in p.get("message_ids", [0])]
        if kind in ("Message", "Array of Message") and chat_id is not None:
            field = re.sub(r"(?<!^)(?=[A-Z])", "_", method[4:]).lower()
            content = {}
            type_name = next((f["types"][0] for f in self.spec.types["Message"]["fields"]
                              if f["name"] == field), None)
            if type_name:
                obj = self.spec.synthesize(type_name)
                obj.update({k: v for k, v in p.items() if k in obj and not isinstance(
                    v, (Upload, dict, list))})
                if "file_id" in obj:
                    obj.update(self._file(field, p.get(field)))
                content[field] = obj
            if kind == "Message":
                return self._new_message(p, chat_id, **content)
            return [self._new_message({}, chat_id) for _ in p.get("media", [0])]
        obj = self.spec.synthesize(kind)
        if isinstance(obj, dict):
            obj.update({k: v for k, v in p.items() if k in obj and not isinstance(v, Upload)})
        return obj


def _callback_data(message: dict[str, Any]) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]
