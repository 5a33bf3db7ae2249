"""(3) Update → Bot API call latency through the real bot, at a steady 50 updates/s.

The real bot (`python -m bot`, polling the stand-in) and a worker (2 processes, the
project's default Telegram limits) run. Each of ~1,000 registered members first gets a
menu message with the 💰 wallet button (sent straight to the stand-in's Bot API, as the
bot's /start would). Then, at 50 presses/s for ~20 s, each member presses `m:wallet` once:
the bot answers the callback query, reads the wallet (SQL) and enqueues the
`editMessageText` that a worker sends. Latency = the stand-in's record time of that
`editMessageText` − the time the press was injected (same machine, same clock). The
`answerCallbackQuery` the bot sends itself is reported too (the path without Celery).
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import CpuMeter, Proc, celery_worker, wait_until
from bench.profile import percentile


@dataclass
class LatencyResult:
    target_rate: float
    injected: int
    inject_s: float
    edits: list[float] = field(default_factory=list)  # seconds, per press
    answers: list[float] = field(default_factory=list)
    missing: int = 0
    cpu: list[tuple[str, float]] = field(default_factory=list)
    worker_log: str = ""
    bot_log: str = ""

    @property
    def rate(self) -> float:
        return self.injected / self.inject_s if self.inject_s else 0.0

    def stats(self, values: list[float] | None = None) -> dict[str, float]:
        values = self.edits if values is None else values
        if not values:
            return {k: float("nan") for k in ("p50", "p90", "p99", "max", "mean")}
        return {"p50": 1000 * percentile(values, 50), "p90": 1000 * percentile(values, 90),
                "p99": 1000 * percentile(values, 99), "max": 1000 * max(values),
                "mean": 1000 * statistics.fmean(values)}


def seed_menus(standin_url: str, user_ids: list[int]) -> None:
    """Put a bot message with the main menu (💰 wallet button) in each member's chat."""
    from core.settings import get_settings
    from services import messages

    url = f"{standin_url}/bot{get_settings().bot_token}/sendMessage"
    with httpx.Client(timeout=10) as client:
        for uid in user_ids:
            response = client.post(url, json=messages.main_menu("es").params(uid))
            response.raise_for_status()


def _inject(client: httpx.Client, user_ids: list[int], rate: float,
            sent_at: dict[int, float], query_user: dict[str, int]) -> float:
    """Press `m:wallet` for each member on a fixed schedule; returns the injection span."""
    start = time.perf_counter()
    for i, uid in enumerate(user_ids):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_at[uid] = time.time()
        response = client.post("/_standin/updates",
                               json={"kind": "callback", "user_id": uid, "data": "m:wallet"})
        response.raise_for_status()
        query_user[response.json()["callback_query"]["id"]] = uid
    return time.perf_counter() - start


def _collect(client: httpx.Client, mark: int, method: str) -> list[dict[str, Any]]:
    response = client.get("/_standin/sent", params={"method": method, "since": mark})
    response.raise_for_status()
    return response.json()


def run(stack: Any, user_ids: list[int], warm_ids: list[int], pids: dict[str, int | None],
        rate: float = 50.0) -> LatencyResult:
    seed_menus(stack.standin_url, warm_ids + user_ids)
    worker = stack.add(celery_worker(stack.base, "worker-latency"))
    bot = stack.add(Proc("bot", [sys.executable, "-m", "bot"], stack.base))
    client = httpx.Client(base_url=stack.standin_url, timeout=10)
    try:
        worker.wait_for_log("ready.", timeout=60)
        bot.wait_for_log("bot ready", timeout=60)
        # Warm up the bot, its threads and the worker; wait for every warm-up edit.
        mark = client.get("/_standin/stats").json()["last_record_id"]
        _inject(client, warm_ids, rate, {}, {})
        wait_until(lambda: len(_collect(client, mark, "editMessageText")) >= len(warm_ids),
                   30, interval=0.1, message="warm-up edits")
        time.sleep(0.5)
        mark = client.get("/_standin/stats").json()["last_record_id"]
        sent_at: dict[int, float] = {}
        query_user: dict[str, int] = {}
        with CpuMeter({**pids, "worker": worker.pid, "bot": bot.pid}) as meter:
            span = _inject(client, user_ids, rate, sent_at, query_user)
            print(f"  injected {len(user_ids):,} presses in {span:.1f}s "
                  f"({len(user_ids) / span:.1f}/s)", flush=True)
            try:
                wait_until(lambda: len(_collect(client, mark, "editMessageText"))
                           >= len(user_ids), 30, interval=0.1)
            except TimeoutError:
                pass
        edits = _collect(client, mark, "editMessageText")
        answers = _collect(client, mark, "answerCallbackQuery")
        result = LatencyResult(rate, len(user_ids), span, cpu=meter.shares())
        seen = set()
        for record in edits:
            uid = int(record["chat_id"])
            if uid in sent_at and uid not in seen:
                seen.add(uid)
                result.edits.append(record["time"] - sent_at[uid])
        for record in answers:
            uid = query_user.get(str(record["params"].get("callback_query_id")))
            if uid is not None:
                result.answers.append(record["time"] - sent_at[uid])
        result.missing = len(user_ids) - len(seen)
    finally:
        client.close()
        stack.stop(bot)
        stack.stop(worker)
    result.worker_log, result.bot_log = worker.log(), bot.log()
    return result


