"""Configuration, Telegram flood limits and injected faults for the stand-in.

Limits are token buckets checked before a message is delivered: one bucket for the whole bot
(≈30 messages/s), one per private chat (1 message/s with a small burst) and one per group or
channel (20 messages/min). A request is admitted only if every bucket it touches has a token;
otherwise it gets a 429 whose ``retry_after`` is the whole number of seconds (≥ 1) until the
emptiest bucket refills a token.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass
class StandinConfig:
    """Settings of a stand-in server; every field can be changed via ``POST /_standin/config``."""

    limits_enabled: bool = True
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: int = 3
    group_per_minute: float = 20.0
    blocked_chats: set[int] = field(default_factory=set)
    require_start: bool = False  # 403 on sends to private chats that never wrote to the bot
    bot_username: str = "yabot_standin_bot"
    bot_first_name: str = "YABOT Stand-in"
    webhook_retry_seconds: float = 1.0
    max_records: int = 10_000

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> StandinConfig:
        config = cls()
        config.update(data or {})
        return config

    def update(self, data: dict[str, Any]) -> None:
        """Set known fields from ``data`` (converting JSON types); raise ValueError on others."""
        kinds = {f.name: f.type for f in fields(self)}
        for key, value in data.items():
            if key not in kinds:
                raise ValueError(f"unknown config option {key!r}")
            current = getattr(self, key)
            if isinstance(current, set):
                value = {int(v) for v in value}
            elif isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
            else:
                value = type(current)(value)
            setattr(self, key, value)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["blocked_chats"] = sorted(self.blocked_chats)
        return data


class _Bucket:
    def __init__(self, capacity: float, per_second: float, now: float):
        self.capacity, self.rate, self.tokens, self.stamp = capacity, per_second, capacity, now

    def wait(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class RateLimiter:
    """Telegram's per-bot, per-private-chat and per-group message limits."""

    def __init__(self, config: StandinConfig, clock=time.monotonic):
        self.config, self.clock = config, clock
        self._global = _Bucket(config.global_per_second, config.global_per_second, clock())
        self._chats: dict[int, _Bucket] = {}

    def check(self, chat_id: int) -> int | None:
        """``retry_after`` seconds if a message to ``chat_id`` is over a limit now, else None."""
        if not self.config.limits_enabled:
            return None
        now = self.clock()
        wait = max(self._global.wait(now), self._chat(chat_id, now).wait(now))
        return max(1, math.ceil(wait)) if wait > 0 else None

    def consume(self, chat_id: int) -> None:
        """Count a delivered message to ``chat_id`` (call right after a successful check)."""
        if self.config.limits_enabled:
            self._global.tokens -= 1
            self._chat(chat_id, self.clock()).tokens -= 1

    def _chat(self, chat_id: int, now: float) -> _Bucket:
        if chat_id not in self._chats:
            if chat_id > 0:
                bucket = _Bucket(self.config.private_burst, self.config.private_per_second, now)
            else:
                bucket = _Bucket(self.config.group_per_minute,
                                 self.config.group_per_minute / 60, now)
            self._chats[chat_id] = bucket
        return self._chats[chat_id]


@dataclass
class Fault:
    """A forced failure for the next ``count`` matching calls.

    ``kind`` is ``"429"`` (Too Many Requests with ``retry_after``), ``"5xx"`` (HTTP ``status``,
    default 502 Bad Gateway) or ``"timeout"`` (the answer is held back ``delay`` seconds, then
    504). ``methods`` limits the fault to those Bot API methods; by default it hits only
    message-sending methods, ``["*"]`` hits every method except getUpdates. ``chat_id``, when
    set, limits it to calls for that chat (so a test's fault never hits another test's send).
    """

    kind: str = "429"
    count: int = 1
    retry_after: int = 1
    status: int = 502
    delay: float = 10.0
    methods: list[str] | None = None
    chat_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("429", "5xx", "timeout"):
            raise ValueError("fault kind must be '429', '5xx' or 'timeout'")
        self.count, self.retry_after, self.status = (
            int(self.count), int(self.retry_after), int(self.status))
        if not 500 <= self.status <= 599:
            raise ValueError("fault status must be 5xx")

    def matches(self, method: str, is_message: bool, chat_id: int | None = None) -> bool:
        if self.count <= 0 or method == "getUpdates":
            return False
        if self.chat_id is not None and self.chat_id != chat_id:
            return False
        if self.methods is None:
            return is_message
        return "*" in self.methods or method.lower() in {m.lower() for m in self.methods}
