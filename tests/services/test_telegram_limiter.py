"""The shared Telegram limiter (a Lua script in the real Redis) never hands out more slots
than the configured rate, including when the wait is a fraction of a millisecond."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core.settings import get_settings
from tasks import telegram


@pytest.fixture
def global_rate(monkeypatch: pytest.MonkeyPatch) -> Iterator[float]:
    monkeypatch.setenv("TELEGRAM_GLOBAL_RATE", "30")  # 33.3 ms per slot: fractional waits
    monkeypatch.setenv("TELEGRAM_CHAT_RATE", "1000")
    get_settings.cache_clear()
    telegram.redis_client().delete("tg:limit:global")
    yield 30.0
    telegram.redis_client().delete("tg:limit:global")
    get_settings.cache_clear()


def test_slots_taken_never_exceed_the_rate(global_rate: float) -> None:
    taken, chat, started = 0, 900_000_001, time.monotonic()
    while (elapsed := time.monotonic() - started) < 1.0:
        wait = telegram.limiter_wait(chat)
        if wait == 0:
            taken, chat = taken + 1, chat + 1
        else:
            assert wait > 0
            time.sleep(min(wait, 0.002))  # poll often: sub-millisecond waits are the risk
    assert taken <= global_rate * elapsed + get_settings().telegram_global_burst + 1
    assert taken >= global_rate * elapsed * 0.8  # and the slots are handed out
