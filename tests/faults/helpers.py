"""Shared checks for fault tests: money adds up, and every message arrived exactly once."""

from __future__ import annotations

from collections import Counter

from models.db import read_session
from services import wallet
from tests.support import balance_and_ledger_sum


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
