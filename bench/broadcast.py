"""(5) Broadcast to 10,000 members at Telegram's pace, through a stand-in enforcing the limits.

The project's broadcast workflow runs unchanged: `tasks.broadcasts.start` (what `/difundir`
and `POST /admin/broadcasts` enqueue) as an admin, to a `list` segment of the bench's
members, then the chain of `tasks.broadcasts.run` batches, each send through
`tasks.telegram.deliver` (the shared Redis limiter at the project's default 30 messages/s).
A worker (the bench's concurrency) talks to a stand-in of its own, started with Telegram's
limits on (≈30 messages/s for the bot, 1/s per chat) and every attempt logged
(bench/standin_probe.py), so refused calls and their times are known too.

Members are written straight to SQL (user and wallet rows, one transaction), as the e2e
broadcast test does. A few members have blocked the bot (403, not lost) and a few sends
get a forced 429 early on (so there is a 429 to honour even when the limiter keeps the bot
under the stand-in's limits). Measured from the stand-in's records and attempts:
- messages/s from the first to the last delivery, and over the steady middle (10 %–90 %);
- duplicates (a chat got the text twice) and lost (a member not blocked who never got it);
- 429s, and whether each was honoured: no attempt to that chat before `retry_after`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import CpuMeter, Proc, celery_worker

BASE = 7_400_000_001
ADMIN = 7_499_999_001
TEXT = "📣 Bench: un mensaje para todas las miembros, gracias por estar aquí"
IDEAL_RATE = 30.0
# the project's defaults, explicitly (the gift phase lifts them for its own worker only)
TELEGRAM_LIMITS = {"TELEGRAM_GLOBAL_RATE": "30", "TELEGRAM_CHAT_RATE": "1",
                   "TELEGRAM_CHAT_BURST": "3"}


@dataclass
class BroadcastResult:
    members: int
    blocked: list[int]
    forced: list[int]
    status: str = ""
    numbers: tuple[int, int, int, int] = (0, 0, 0, 0)  # total, sent, failed, blocked (SQL)
    times: list[float] = field(default_factory=list)  # delivery times, sorted
    order: list[int] = field(default_factory=list)  # chat of each delivery, same order
    duplicates: int = 0
    lost: list[int] = field(default_factory=list)
    blocked_got: int = 0
    attempts: list[list[Any]] = field(default_factory=list)
    started_at: float = 0.0
    ended_at: float = 0.0
    batch: int = 50
    cpu: list[tuple[str, float]] = field(default_factory=list)
    log: str = ""
    spec_rejected: int = 0

    @property
    def rate(self) -> float:
        """Messages/s from the first to the last delivery."""
        if len(self.times) < 2:
            return 0.0
        return (len(self.times) - 1) / (self.times[-1] - self.times[0])

    @property
    def steady_rate(self) -> float:
        """Messages/s between the 10 % and the 90 % delivery."""
        n = len(self.times)
        if n < 20:
            return self.rate
        a, b = n // 10, (9 * n) // 10
        return (b - a) / (self.times[b] - self.times[a])

    def too_many(self) -> list[dict[str, Any]]:
        """Every 429 with whether it was honoured (next attempt to the chat ≥ retry_after
        later) and how many message sends (any chat) arrived inside its window."""
        out = []
        rows = self.attempts
        for i, (t, method, chat, status, retry, forced) in enumerate(rows):
            if status != 429:
                continue
            wait = float(retry or 1)
            later = next((r for r in rows[i + 1:] if r[2] == chat and r[1] == method), None)
            gap = later[0] - t if later else None
            inside = sum(1 for r in rows[i + 1:] if t < r[0] < t + wait
                         and r[1].startswith("send"))
            out.append({"time": t, "chat": chat, "method": method, "retry_after": wait,
                        "forced": forced, "next_after": gap,
                        "honoured": gap is None or gap >= wait - 0.005,
                        "others_inside": inside})
        return out


def register_in_bulk(user_ids: list[int], admin: int) -> float:
    """Users (reachable, Spanish) and wallets in one transaction; `admin` with the role."""
    from sqlalchemy import insert, select

    from models.db import unit_of_work
    from models.tables import User, Wallet

    t0 = time.monotonic()
    with unit_of_work() as session:
        known = set(session.scalars(select(User.id).where(User.id.in_([admin]))))
        rows = [uid for uid in [admin, *user_ids] if uid not in known]
        for start in range(0, len(rows), 2000):
            chunk = rows[start:start + 2000]
            session.execute(insert(User), [
                {"id": uid, "first_name": "", "language": "es", "reachable": True,
                 "role": "admin" if uid == admin else "member"} for uid in chunk])
            session.execute(insert(Wallet), [{"user_id": uid, "balance": 0,
                                              "lifetime_earned": 0} for uid in chunk])
    return time.monotonic() - t0


def _broadcast_row(key: str) -> Any:
    from sqlalchemy import select

    from models.db import read_session
    from models.tables import Broadcast

    with read_session() as session:
        row = session.scalars(select(Broadcast).where(Broadcast.request_key == key)).first()
        if row is None:
            return None
        return (row.status, row.total, row.sent, row.failed, row.blocked)


def run(stack: Any, n: int, pids: dict[str, int | None], forced_429: int = 3,
        block_every: int = 500) -> BroadcastResult:
    from core.settings import get_settings
    from dev.stack import free_port
    from dev.standin.client import StandinClient
    from services.broadcasts import MAX_LIST
    from tasks import broadcasts as tasks

    n = min(n, MAX_LIST)
    members = [BASE + i for i in range(n)]
    blocked = members[block_every // 2::block_every]
    # forced 429s on members early in the run (before the steady window), spread out
    forced = [members[int(n * (k + 1) * 0.02)] for k in range(forced_429)] if n >= 100 else []
    forced = [uid for uid in forced if uid not in set(blocked)]
    result = BroadcastResult(n, blocked, forced, batch=get_settings().broadcast_batch)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    probe = stack.add(Proc("standin-limited", [
        sys.executable, "-m", "bench.standin_probe", "--port", str(port),
        "--max-records", str(2 * n + 5000)], stack.base))
    worker = None
    standin = StandinClient(url)
    try:
        probe.wait_for_log("standin listening", timeout=30)
        took = register_in_bulk(members, ADMIN)
        print(f"  registered {n:,} members in {took:.1f}s; blocked {len(blocked)}, "
              f"forced 429s {len(forced)}", flush=True)
        standin.block(*blocked)
        for uid in forced:
            standin.fail_next(1, kind="429", retry_after=2, chat_id=uid)
        worker = stack.add(celery_worker(stack.base, "worker-broadcast",
                                         env={"TELEGRAM_API_URL": url, **TELEGRAM_LIMITS}))
        worker.wait_for_log("ready.", timeout=60)
        key = f"bench:broadcast:{time.time_ns()}"
        with CpuMeter({**pids, "standin": probe.pid, "worker": worker.pid}) as meter:
            result.started_at = time.time()
            tasks.start.apply_async((ADMIN, {"kind": "list", "ids": members}, TEXT, key))
            deadline = time.monotonic() + n / 20 + 120
            shown = time.monotonic()
            while True:
                row = _broadcast_row(key)
                if row and row[0] in ("done", "cancelled"):
                    break
                if time.monotonic() > deadline:
                    print("  gave up waiting for the broadcast to end", flush=True)
                    break
                if time.monotonic() - shown >= 30 and row:
                    shown = time.monotonic()
                    done = row[2] + row[3] + row[4]
                    elapsed = time.time() - result.started_at
                    print(f"  … {done:,}/{row[1]:,} after {elapsed:.0f}s "
                          f"({done / elapsed:.1f}/s)", flush=True)
                time.sleep(0.5)
            result.ended_at = time.time()
        result.cpu = meter.shares()
        if row:
            result.status, result.numbers = row[0], tuple(row[1:])  # type: ignore[assignment]
        records = standin.sent(method="sendMessage")
        stats = standin.stats()
        result.spec_rejected = int(stats.get("spec_rejected", 0))
        with httpx.Client(timeout=30) as client:
            result.attempts = client.get(f"{url}/_probe/attempts").json()["attempts"]
    finally:
        standin.close()
        if worker is not None:
            stack.stop(worker)
        stack.stop(probe)
    result.log = worker.log() if worker is not None else ""
    wanted = set(members)
    mine = sorted((r["time"], int(r["chat_id"])) for r in records
                  if r["chat_id"] in wanted and (r["result"] or {}).get("text") == TEXT)
    result.times = [t for t, _ in mine]
    result.order = [c for _, c in mine]
    got = Counter(result.order)
    result.duplicates = sum(c - 1 for c in got.values() if c > 1)
    blocked_set = set(blocked)
    result.lost = [uid for uid in members if uid not in blocked_set and not got[uid]]
    result.blocked_got = sum(got[uid] for uid in blocked)
    return result


def analysis(res: BroadcastResult, cores: int, missed: bool) -> list[str]:
    """Where the time went: gaps between deliveries, by cause (batch boundary, 429 wait,
    within a batch), the pace over time, CPU shares, and task runtimes (on a miss)."""
    from bench.procs import format_shares

    lines = [f"  {len(res.times):,} deliveries of {res.members:,} members "
             f"({len(res.blocked)} blocked: 403, not lost); broadcast row: status "
             f"{res.status or '?'}, total/sent/failed/blocked = "
             f"{'/'.join(str(x) for x in res.numbers)}"]
    if len(res.times) < 2:
        return lines + ["  (too few deliveries to analyse)"]
    span = res.times[-1] - res.times[0]
    lines.append(f"  first → last delivery {span:.1f}s: {res.rate:.2f}/s; steady 10–90 %: "
                 f"{res.steady_rate:.2f}/s; start → first delivery "
                 f"{res.times[0] - res.started_at:.1f}s (the task, the segment's rows, "
                 "the admin's progress message)")
    sends = [a for a in res.attempts if a[1] == "sendMessage"]
    codes = Counter(a[3] for a in sends)
    lines.append("  sendMessage attempts at the stand-in: " + ", ".join(
        f"HTTP {code} ×{count:,}" for code, count in sorted(codes.items()))
                 + f"; calls refused by the Bot API spec: {res.spec_rejected}")
    # gaps between consecutive deliveries, attributed
    position = {uid: i for i, uid in enumerate(sorted(set(res.order) | set(res.blocked)))}
    windows = [(t["time"], t["time"] + t["retry_after"]) for t in res.too_many()]
    ideal = 1.0 / IDEAL_RATE
    lost = {"batch boundary": 0.0, "429 wait": 0.0, "within a batch": 0.0}
    counts = Counter[str]()
    big: list[float] = []
    for i in range(1, len(res.times)):
        gap = res.times[i] - res.times[i - 1]
        extra = gap - ideal
        if extra <= 0:
            continue
        prev_t, uid = res.times[i - 1], res.order[i]
        if any(a <= res.times[i] and b >= prev_t for a, b in windows):
            cause = "429 wait"
        elif position.get(uid, 1) % res.batch == 0:
            cause = "batch boundary"
        else:
            cause = "within a batch"
        lost[cause] += extra
        counts[cause] += 1
        if gap > 0.2:
            big.append(gap)
    total_lost = sum(lost.values())
    lines.append(f"  time beyond the ideal 1/{IDEAL_RATE:.0f} s between deliveries: "
                 f"{total_lost:.1f}s of {span:.1f}s")
    for cause, seconds in sorted(lost.items(), key=lambda kv: -kv[1]):
        lines.append(f"    {cause:15} {seconds:6.1f}s over {counts[cause]:,} gaps"
                     + (f" (mean +{1000 * seconds / counts[cause]:.0f} ms)"
                        if counts[cause] else ""))
    gaps = sorted(b - a for a, b in zip(res.times, res.times[1:], strict=False))
    lines.append(f"  gap between deliveries: median {1000 * gaps[len(gaps) // 2]:.1f} ms, "
                 f"p99 {1000 * gaps[int(0.99 * (len(gaps) - 1))]:.0f} ms, max "
                 f"{1000 * gaps[-1]:.0f} ms; {len(big)} gaps > 200 ms")
    # pace over time, in tenths of the run
    if len(res.times) >= 100:
        tenths = []
        for k in range(10):
            a, b = k * len(res.times) // 10, (k + 1) * len(res.times) // 10 - 1
            tenths.append((b - a) / max(res.times[b] - res.times[a], 1e-9))
        lines.append("  pace per tenth of the deliveries (msg/s): "
                     + " ".join(f"{r:.1f}" for r in tenths))
    for t in res.too_many():
        kind = "forced" if t["forced"] else "limit"
        lines.append(f"  429 on {t['method']} to {t['chat']} ({kind}, retry_after "
                     f"{t['retry_after']:.0f}s): next attempt to that chat "
                     + (f"{t['next_after']:.2f}s later" if t["next_after"] is not None
                        else "never")
                     + f" → {'honoured' if t['honoured'] else 'NOT honoured'}; "
                     f"{t['others_inside']} sends to other chats inside the window")
    lines.append("  " + format_shares(res.cpu, cores))
    if missed and res.log:
        from bench.profile import format_task_times, task_times

        lines.append("  worker task runtimes (a batch = "
                     f"{res.batch} sends; at 30/s it takes {res.batch / IDEAL_RATE:.2f}s):")
        lines += format_task_times(task_times(res.log))
        retries = res.log.count("Retry in")
        lines.append(f"  task retries in the worker log: {retries}")
    return lines


TARGET_RATE = 29.0


def part(args: Any, stack: Any, report: Any, pids: dict[str, int | None], cores: int) -> None:
    """Run (5), print its numbers, add its rows and its section to `report`."""
    n = args.broadcast_members
    print(f"\n== (5) broadcast to {n:,} members through the stand-in's Telegram limits "
          f"(≈30 msg/s: about {n / IDEAL_RATE / 60:.1f} min) ==", flush=True)
    res = run(stack, n, pids, forced_429=args.broadcast_429)
    honours = res.too_many()
    unhonoured = [t for t in honours if not t["honoured"]]
    print(f"  {res.rate:.2f} msg/s first→last, {res.steady_rate:.2f} msg/s steady (10–90 %); "
          f"duplicates {res.duplicates}, lost {len(res.lost)}, 429s {len(honours)} "
          f"({len(unhonoured)} not honoured)", flush=True)
    complete = res.status == "done"
    rate_ok = complete and res.steady_rate >= TARGET_RATE
    report.add("5", f"broadcast to {res.members:,} members, stand-in limits on "
               f"({len(res.blocked)} blocked)" + ("" if complete else
                                                   f" — status {res.status or 'unknown'}"),
               f"{res.steady_rate:.1f} msg/s steady (10–90 %), {res.rate:.1f} first→last",
               f"≥ {TARGET_RATE:.0f} msg/s", "PASS" if rate_ok else "MISS")
    report.add("5", "  duplicates / lost (blocked excluded)",
               f"{res.duplicates} / {len(res.lost)}"
               + (f"; blocked got {res.blocked_got}" if res.blocked_got else ""),
               "0 / 0", "PASS" if res.duplicates == 0 and not res.lost
               and not res.blocked_got else "MISS")
    forced = sum(1 for t in honours if t["forced"])
    report.add("5", "  429s honoured (no attempt to the chat before retry_after)",
               f"{len(honours) - len(unhonoured)} of {len(honours)} ({forced} forced, "
               f"{len(honours) - forced} from the limits)", "all", "MISS" if unhonoured
               else "PASS")
    missed = not rate_ok or bool(unhonoured) or bool(res.lost) or res.duplicates > 0
    report.section("(5) broadcast: where the time went",
                   analysis(res, cores, missed or args.profile == "always"))
    if not rate_ok and len(res.times) > 1:
        report.note(f"(5) broadcast: {res.steady_rate:.1f} msg/s steady against "
                    f"{IDEAL_RATE:.0f} allowed; see the section for the time lost between "
                    "deliveries (batch boundaries, 429 waits, sends slower than 33 ms).")
