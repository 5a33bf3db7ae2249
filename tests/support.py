"""Real processes for tests: Celery workers and beat (see dev/processes.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from dev.processes import ALL_QUEUES, ROOT, Process, celery_worker_argv, wait_until

__all__ = ["ALL_QUEUES", "ROOT", "Process", "celery_beat", "celery_worker", "start_worker",
           "wait_until"]


def celery_worker(log_dir: Path, name: str = "worker", queues: str = ALL_QUEUES,
                  concurrency: int = 2, env: dict[str, str] | None = None) -> Process:
    return Process(name, celery_worker_argv("worker.app", name, queues, concurrency),
                   log_dir, env)


def start_worker(log_dir: Path, **kwargs: Any) -> Process:
    worker = celery_worker(log_dir, **kwargs).start()
    worker.wait_for_log("ready.", timeout=60)
    return worker


def celery_beat(log_dir: Path, env: dict[str, str] | None = None) -> Process:
    argv = [sys.executable, "-m", "celery", "-A", "worker.app", "beat", "-l", "INFO",
            "-s", str(log_dir / "celerybeat-schedule")]
    return Process("beat", argv, log_dir, env)


def start_in_bot(standin: Any, user_id: int, first_name: str,
                 language_code: str = "es") -> dict[str, Any]:
    """Send /start through the stand-in; return the welcome menu's record once the member
    is registered (the bot and a worker must run)."""
    from models.db import read_session
    from models.tables import User

    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name=first_name,
                           language_code=language_code)
    menu = standin.wait_for(lambda r: "reply_markup" in r["params"], timeout=15,
                            chat_id=user_id, method="sendMessage", since=mark)

    def registered() -> bool:
        with read_session() as session:
            return session.get(User, user_id) is not None

    wait_until(registered, timeout=15, message="member registered")
    return menu


def buttons(record: dict[str, Any]) -> list[str]:
    """The callback data of every inline button of a recorded Bot API call."""
    result = record.get("result")
    markup = record.get("params", {}).get("reply_markup") or \
        (result.get("reply_markup") if isinstance(result, dict) else None) or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
            if "callback_data" in b]


def balance_and_ledger_sum(user_id: int) -> tuple[int, int]:
    """The member's balance and ledger sum read in ONE statement: on PostgreSQL (READ
    COMMITTED) two statements can straddle a credit a worker commits meanwhile."""
    from sqlalchemy import func, select

    from models.db import read_session
    from models.tables import LedgerEntry, Wallet

    ledger = (select(func.coalesce(func.sum(LedgerEntry.amount), 0))
              .where(LedgerEntry.user_id == user_id).scalar_subquery())
    with read_session() as session:
        balance, total = session.execute(
            select(Wallet.balance, ledger).where(Wallet.user_id == user_id)).one()
    return int(balance), int(total)
