"""(8) REST API reads: latency at 200 requests/s, open loop, over a mix of read endpoints.

The API runs as the Procfile starts it (`uvicorn api.app:app`, one process, its default
access log), against the bench's SQLite, MongoDB and Redis. Members are registered through
the services (SQL and MongoDB state) and get ledger entries (`services.wallet.credit`); a
`read` key is made with `services.apikeys.create`. Then requests go out on a fixed schedule
(open loop: request i is due at t0 + i/rate whatever the answers do) from this process
(asyncio + aiohttp), over a mix of member reads: profile and context (SQL + MongoDB),
balance and ledger page, missions, store, achievements, VIP status. Latency is measured
from each request's scheduled time to its complete answer, so a server that falls behind
shows as the queue it builds, not as fewer requests.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import pstats
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.procs import CpuMeter, Proc, wait_until
from bench.profile import percentile

BASE = 7_500_000_001
TARGET_P99_MS = 50.0
MIX = (("member", "/api/v1/members/{uid}", 30), ("ledger", "/api/v1/members/{uid}/ledger", 25),
       ("missions", "/api/v1/members/{uid}/missions", 15),
       ("store", "/api/v1/members/{uid}/store", 15),
       ("achievements", "/api/v1/members/{uid}/achievements", 10),
       ("vip", "/api/v1/members/{uid}/vip", 5))


@dataclass
class ApiResult:
    rate: float
    sent: int = 0
    span_s: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    lag: list[float] = field(default_factory=list)  # how late the client sent (s)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: list[tuple[str, float]] = field(default_factory=list)
    service_ms: dict[str, float] = field(default_factory=dict)  # one at a time, mean
    profile: list[str] = field(default_factory=list)

    @property
    def all(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]

    def stats(self, values: list[float] | None = None) -> dict[str, float]:
        values = self.all if values is None else values
        if not values:
            return {k: float("nan") for k in ("p50", "p90", "p99", "max")}
        return {"p50": 1000 * percentile(values, 50), "p90": 1000 * percentile(values, 90),
                "p99": 1000 * percentile(values, 99), "max": 1000 * max(values)}


def seed(user_ids: list[int], entries: int = 8) -> str:
    """Register members, give each `entries` ledger entries; return a new read key."""
    from bench import gifts
    from models.db import unit_of_work
    from services import apikeys, wallet

    gifts.register_members(user_ids)
    with unit_of_work() as session:
        for uid in user_ids:
            for k in range(entries):
                wallet.credit(session, uid, 5 + k, reason="daily_gift",
                              key=f"bench:api:{uid}:{k}")
        _, plaintext = apikeys.create(session, "bench api reads", ("read",), created_by=None)
    return plaintext


def plan(user_ids: list[int], count: int, rng: random.Random) -> list[tuple[str, str]]:
    names = [m[0] for m in MIX]
    paths = {m[0]: m[1] for m in MIX}
    chosen = rng.choices(names, weights=[m[2] for m in MIX], k=count)
    return [(name, paths[name].format(uid=rng.choice(user_ids))) for name in chosen]


async def _drive(url: str, key: str, requests: list[tuple[str, str]], rate: float,
                 res: ApiResult) -> None:
    import aiohttp

    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=1000)
    timeout = aiohttp.ClientTimeout(total=30)

    async def one(session: aiohttp.ClientSession, name: str, path: str, due: float) -> None:
        res.lag.append(loop.time() - due)
        try:
            async with session.get(path) as response:
                await response.read()
                if response.status != 200:
                    res.errors[f"HTTP {response.status}"] += 1
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            res.errors[type(exc).__name__] += 1
            return
        res.latencies[name].append(loop.time() - due)

    async with aiohttp.ClientSession(url, headers={"Authorization": f"Bearer {key}"},
                                     connector=connector, timeout=timeout) as session:
        start = loop.time() + 0.1
        tasks = []
        for i, (name, path) in enumerate(requests):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, name, path, due)))
        res.span_s = loop.time() - start
        await asyncio.gather(*tasks)
    res.sent = len(requests)


def service_times(url: str, key: str, user_ids: list[int], each: int = 30) -> dict[str, float]:
    """Mean ms per endpoint, one request at a time (no queueing): the server's own cost."""
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"},
                      timeout=10) as client:
        for name, path, _ in MIX:
            times = []
            for i in range(each):
                t0 = time.perf_counter()
                client.get(path.format(uid=user_ids[i % len(user_ids)]))
                times.append(time.perf_counter() - t0)
            out[name] = 1000 * statistics.fmean(times[3:])
    return out


CATEGORIES = (("SQLAlchemy", ("sqlalchemy",)), ("sqlite3", ("sqlite3", "_sqlite3")),
              ("pymongo/bson", ("pymongo", "bson")), ("pydantic", ("pydantic",)),
              ("FastAPI/Starlette/anyio", ("fastapi", "starlette", "anyio")),
              ("logging", ("logging",)), ("project code", ("/api/", "/services/",
                                                          "/models/", "/core/")))


def cprofile_reads(key: str, user_ids: list[int], n: int = 300) -> list[str]:
    """The mix, `n` requests one at a time in this process (the ASGI app over httpx's ASGI
    transport, no network) under cProfile: own time grouped by library, and the top
    functions. FastAPI's thread pool is bypassed for this run (endpoints and dependencies
    called in the profiled thread), so the profile sees the request's whole work."""
    import fastapi.dependencies.utils as dep_utils
    import fastapi.routing as routing

    from api.app import app

    async def inline(func: Any, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    requests = plan(user_ids, n, random.Random(7))
    profiler = cProfile.Profile()

    async def go() -> float:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            for _, path in requests[:20]:
                await client.get(path)
            t0 = time.perf_counter()
            profiler.enable()
            for _, path in requests:
                await client.get(path)
            profiler.disable()
            return time.perf_counter() - t0

    saved = routing.run_in_threadpool, dep_utils.run_in_threadpool
    routing.run_in_threadpool = dep_utils.run_in_threadpool = inline  # type: ignore[assignment]
    try:
        wall = asyncio.run(go())
    finally:
        routing.run_in_threadpool, dep_utils.run_in_threadpool = saved  # type: ignore[assignment]
    stats = pstats.Stats(profiler)
    own: dict[str, float] = defaultdict(float)
    total = 0.0
    rows = []
    for (filename, line, func), (_, calls, tottime, _cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        total += tottime
        label = next((cat for cat, needles in CATEGORIES
                      if any(needle in filename for needle in needles)), "other Python")
        if filename == "~":
            label = "sqlite3" if "sqlite3" in func else \
                "socket I/O (MongoDB, Redis)" if "socket" in func or "select" in func \
                else "other C calls"
        own[label] += tottime
        rows.append((tottime, calls, f"{os.path.basename(filename)}:{line} {func}"))
    lines = [f"  in-process (one at a time, {n} requests, no network, no access log): "
             f"{1000 * wall / n:.1f} ms per request under cProfile; own time by library:",
             "    " + ", ".join(f"{k} {100 * v / total:.0f}%"
                                for k, v in sorted(own.items(), key=lambda kv: -kv[1]))]
    lines.append("    top functions by own time:")
    for tottime, calls, label in sorted(rows, reverse=True)[:8]:
        lines.append(f"      {1000 * tottime / n:6.2f} ms/request  {calls:7,} calls  {label}")
    return lines


def run(stack: Any, rate: float, duration: float, pids: dict[str, int | None],
        members: int = 200, profile: bool = False) -> ApiResult:
    from bench.coldstart import expand, procfile
    from dev.stack import free_port

    user_ids = [BASE + i for i in range(members)]
    key = seed(user_ids)
    port = free_port()
    env = {**os.environ, "API_PORT": str(port)}
    api = stack.add(Proc("api-read", expand(procfile()["api"], env), stack.base, env))
    url = f"http://127.0.0.1:{port}"
    res = ApiResult(rate)
    try:
        def answering() -> bool:
            try:
                return httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answering, 60, interval=0.1, message="api answering")
        rng = random.Random(1)
        warm = ApiResult(rate)
        asyncio.run(_drive(url, key, plan(user_ids, int(rate * 2), rng), rate / 2, warm))
        requests = plan(user_ids, int(rate * duration), rng)
        with CpuMeter({**pids, "api": api.pid}) as meter:
            asyncio.run(_drive(url, key, requests, rate, res))
        res.cpu = meter.shares()
        if profile:
            res.service_ms = service_times(url, key, user_ids)
    finally:
        stack.stop(api)
    if profile:
        res.profile = cprofile_reads(key, user_ids)
    return res


def part(args: Any, stack: Any, report: Any, pids: dict[str, int | None], cores: int) -> None:
    """Run (8), print its numbers, add its rows and its section to `report`."""
    from bench.procs import format_shares

    print(f"\n== (8) API reads: {args.api_rate:.0f} requests/s for {args.api_duration:.0f}s, "
          "open loop, one uvicorn process as in the Procfile ==", flush=True)
    res = run(stack, args.api_rate, args.api_duration, pids, profile=True)
    s = res.stats()
    errors = sum(res.errors.values())
    print(f"  p50 {s['p50']:.1f} ms, p90 {s['p90']:.1f}, p99 {s['p99']:.1f}, max "
          f"{s['max']:.1f}; errors {errors} of {res.sent:,}", flush=True)
    ok = errors == 0 and s["p99"] <= TARGET_P99_MS
    report.add("8", f"API reads @ {res.sent / res.span_s if res.span_s else 0:.0f} req/s "
               f"(open loop, {res.sent:,} requests, mix of {len(MIX)} endpoints)",
               f"p50 {s['p50']:.0f} / p90 {s['p90']:.0f} / p99 {s['p99']:.0f} / max "
               f"{s['max']:.0f} ms" + (f", {errors} errors" if errors else ""),
               f"p99 ≤ {TARGET_P99_MS:.0f} ms", "PASS" if ok else "MISS")
    lag = sorted(res.lag)
    lines = [f"  {res.sent:,} requests scheduled over {res.span_s:.1f}s; the client sent them "
             f"late by p50 {1000 * percentile(lag, 50):.1f} ms / p99 "
             f"{1000 * percentile(lag, 99):.1f} ms (counted in the latency)",
             "  latency per endpoint (scheduled send → complete answer):"]
    for name, _, weight in MIX:
        v = res.stats(res.latencies.get(name, []))
        lines.append(f"    {name:13} {weight:3}%  n {len(res.latencies.get(name, [])):5,}  "
                     f"p50 {v['p50']:7.1f}  p99 {v['p99']:7.1f}  max {v['max']:7.1f} ms")
    if res.errors:
        lines.append("  errors: " + ", ".join(f"{k} ×{v}" for k, v in res.errors.items()))
    lines.append("  " + format_shares(res.cpu, cores))
    if res.service_ms:
        weighted = sum(res.service_ms[name] * w for name, _, w in MIX) / sum(w for *_, w in MIX)
        lines.append("  one request at a time (no queueing), mean ms: " + ", ".join(
            f"{k} {v:.1f}" for k, v in res.service_ms.items())
            + f"; the mix {weighted:.1f} ms → one process serves at most "
            f"~{1000 / weighted:.0f} req/s if that time is its CPU (one core: the GIL)")
    lines += res.profile
    report.section("(8) API reads: where the time went", lines)
    if not ok:
        api_cpu = sum(p for n, p in res.cpu if n.startswith("api"))
        report.note(f"(8) API reads: p99 {s['p99']:.0f} ms at {args.api_rate:.0f} req/s; the "
                    f"uvicorn process used {api_cpu:.0f}% of a core (one process, one core at "
                    "most): see the section for the per-request cost by library.")
