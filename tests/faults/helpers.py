"""Shared checks for fault tests: money adds up, and every message arrived exactly once."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from models.db import read_session
from services import wallet
from tests.support import Process, balance_and_ledger_sum


def assert_books_balance(user_ids: list[int], expected_balance: int | None = None) -> None:
    with read_session() as session:
        assert wallet.mismatches(session) == []
    for uid in user_ids:
        balance, total = balance_and_ledger_sum(uid)  # one statement: a consistent pair
        assert balance == total, uid
        if expected_balance is not None:
            assert balance == expected_balance, uid


def message_counts(standin, user_ids: list[int], needle: str) -> Counter[int]:  # type: ignore[no-untyped-def]
    counts: Counter[int] = Counter()
    wanted = set(user_ids)
    for record in standin.sent(method="sendMessage"):
        chat = record["params"].get("chat_id")
        if chat in wanted and needle in record["params"].get("text", ""):
            counts[chat] += 1
    return counts


def register_directly(user_ids: list[int], language: str = "es") -> None:
    from models.db import unit_of_work
    from services import users

    with unit_of_work() as session:
        for uid in user_ids:
            users.register(session, users.Profile(user_id=uid, language_code=language))


def bot_api(method: str, **params: Any) -> Any:
    """Call the stand-in's Bot API as the bot would (same token)."""
    import httpx

    from core.settings import get_settings

    url = f"{os.environ['STANDIN_URL']}/bot{get_settings().bot_token}/{method}"
    response = httpx.post(url, json=params, timeout=10)
    response.raise_for_status()
    return response.json()["result"]


def start_beat(log_dir: Path, name: str = "beat", env: dict[str, str] | None = None) -> Process:
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "-l", "INFO",
            "-s", str(log_dir / f"{name}-schedule")]
    process = Process(name, argv, log_dir, env).start()
    process.wait_for_log("beat: Starting", timeout=30)
    return process


def polling_bot(log_dir: Path, name: str, env: dict[str, str] | None = None) -> Process:
    process = Process(name, [sys.executable, "-m", "bot"], log_dir, env).start()
    process.wait_for_log("bot ready", timeout=40)
    return process


def answer_texts(standin, query_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The texts the bot answered a button press with (Telegram takes one answer)."""
    return [str(r["params"].get("text", "")) for r in standin.sent(method="answerCallbackQuery")
            if r["params"].get("callback_query_id") == query_id]
