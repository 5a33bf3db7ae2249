"""The bench runner: start the stack, run the four measurements, profile misses, report.

Everything started here (Redis, MongoDB-protocol server, stand-in, workers, bot) is
stopped on exit, on error and on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from bench import (  # api_read, broadcast, coldstart, posts: issue 7 parts (5–8)
    api_read,
    broadcast,
    coldstart,
    economy,
    gifts,
    latency,
    posts,
    raw,
)
from bench.machine import describe
from bench.procs import WORKER_OPTIONS, format_shares
from bench.report import Report
from bench.stack import BenchStack, restore_env, set_env

MEMBER_BASE = 7_100_000_001  # Telegram-like user ids for the bench's members
WARM_BASE = 7_000_000_001
DIAG_BASE = 7_200_000_001
ECONOMY_BASE = 7_300_000_001
# used when the warm-up's worker log cannot be read (the warm-up counts the real shape)
TASKS_PER_GIFT = {"tasks.gifts.claim": 1, "tasks.missions.progress": 2,
                  "tasks.achievements.check": 3, "tasks.notify.member": 4}
TARGET_GIFT_RATE = 100.0
TARGET_RATIO = 0.60
TARGET_P99_MS = 100.0
LOCK_WAIT = "waiting for SQLite's writer lock"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--chains", type=int, default=3000, help="(1) chains to publish")
    parser.add_argument("--members", type=int, default=10_000, help="(2) members / workflows")
    parser.add_argument("--rate", type=float, default=50.0, help="(3) updates per second")
    parser.add_argument("--duration", type=float, default=20.0, help="(3) seconds of updates")
    parser.add_argument("--drain", type=float, default=45.0,
                        help="(2) seconds to wait, after the last gift message, for the "
                             "achievement messages still queued")
    parser.add_argument("--economy-members", type=int, default=2000,
                        help="(4) members, each starting a gift, a purchase, a bid and a "
                             "reaction at once")
    # -- issue 7 parts (5–8): bench/broadcast.py, posts.py, coldstart.py, api_read.py
    parser.add_argument("--broadcast-members", type=int, default=10_000,
                        help="(5) members the broadcast goes to (at most 10,000: a list)")
    parser.add_argument("--broadcast-429", type=int, default=3,
                        help="(5) sends given a forced 429 (retry_after 2 s) early on")
    parser.add_argument("--posts", type=int, default=40, help="(6) scheduled posts")
    parser.add_argument("--posts-span", type=float, default=75.0,
                        help="(6) seconds over which the posts fall due")
    parser.add_argument("--posts-restarts", type=int, default=4,
                        help="(6) beat restarts around due times")
    parser.add_argument("--coldstart-runs", type=int, default=3,
                        help="(7) cold starts of each Procfile process")
    parser.add_argument("--api-rate", type=float, default=200.0, help="(8) requests per second")
    parser.add_argument("--api-duration", type=float, default=30.0,
                        help="(8) seconds of requests")
    # -- end of issue 7 parts
    parser.add_argument("--only", default="12345678", help="parts to run, e.g. 13")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="worker pool processes (the targets are for 2)")
    parser.add_argument("--loglevel", default="INFO", help="worker log level (INFO gives "
                        "the per-task runtimes the profile reads)")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="profile a part when its target is missed (auto)")
    parser.add_argument("--keep", action="store_true", help="keep logs and data (temp dir)")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    return parser.parse_args(argv)


def _sigterm(*_: Any) -> None:
    raise KeyboardInterrupt


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    WORKER_OPTIONS.update(concurrency=args.concurrency, loglevel=args.loglevel)
    signal.signal(signal.SIGTERM, _sigterm)
    started = time.monotonic()
    stack = BenchStack(keep=args.keep)
    try:
        print("starting the stack (Redis, MongoDB-protocol server, SQLite, stand-in) …",
              flush=True)
        stack.start()
        machine = describe(stack.redis.url, stack.mongo.url)
        print("\n== Machine ==")
        for key, value in machine.items():
            print(f"  {key:20} {value}")
        report = Report(machine, command="python -m bench " + " ".join(argv or sys.argv[1:]))
        report.command = report.command.strip()
        run_parts(args, stack, report)
        report.runtime_s = time.monotonic() - started
        report.print_table()
        for title, lines in report.sections:
            print(f"\n== {title} ==")
            for line in lines:
                print(line)
        if not args.no_write:
            print(f"\nwritten to {report.write()}")
        print(f"total runtime {report.runtime_s:.0f}s")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the bench started …", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stack.close()


def run_parts(args: argparse.Namespace, stack: BenchStack, report: Report) -> None:
    from dev.standin.client import StandinClient

    cores = os.cpu_count() or 1
    pids = {"bench": os.getpid(), "redis": stack.redis.process.pid,
            "mongo": stack.mongo.process.pid, "standin": stack.standin.pid}
    standin = StandinClient(stack.standin_url)
    raw_res = gift_res = lat_res = None
    members = [MEMBER_BASE + i for i in range(args.members)]
    registered = False
    want_profile: set[str] = set()

    if "1" in args.only:
        print(f"\n== (1) raw Celery throughput: {args.chains:,} chains step→step→done, "
              f"{args.concurrency} worker processes ==", flush=True)
        raw_res = raw.run(stack, args.chains, pids)
        print(f"  {raw_res.rate:,.1f} chains/s ({3 * raw_res.rate:,.0f} tasks/s)", flush=True)
        report.add("1", f"raw Celery: 3-step no-op chain, {args.chains:,} chains, "
                   f"{args.concurrency} procs",
                   f"{raw_res.rate:,.1f} chains/s ({3 * raw_res.rate:,.0f} tasks/s)",
                   "baseline", "")
        report.section("(1) raw Celery: where the CPU went", [
            "  " + format_shares(raw_res.cpu, cores),
            f"  publishing alone (one producer, bench process, worker running): "
            f"{raw_res.publish_rate:,.0f} chains/s"])

    if "2" in args.only:
        print(f"\n== (2) daily-gift workflows: {args.members:,} distinct members, "
              f"{args.concurrency} worker processes ==", flush=True)
        warm = [WARM_BASE + i for i in range(20)]
        gift_res = gifts.run(stack, members, warm, pids, standin, drain=args.drain)
        registered = True
        ratio = gift_res.rate / raw_res.rate if raw_res and raw_res.rate else None
        complete = gift_res.done >= gift_res.workflows
        print(f"  {gift_res.rate:,.1f} workflows/s (gift message delivered)"
              + (f", {100 * ratio:.0f}% of (1)" if ratio else ""), flush=True)
        report.add("2", f"gift workflows, {args.members:,} members (gift message sent)"
                   + ("" if complete else f" — only {gift_res.done:,} done"),
                   f"{gift_res.rate:,.1f} workflows/s", f"≥ {TARGET_GIFT_RATE:.0f}/s",
                   _verdict(complete and gift_res.rate >= TARGET_GIFT_RATE))
        if ratio is not None:
            report.add("2", "  ratio to (1)", f"{100 * ratio:.0f} %",
                       f"≥ {100 * TARGET_RATIO:.0f} %", _verdict(ratio >= TARGET_RATIO))
        full, measured = gift_res.complete_rate
        if measured:
            result = f"{full:,.1f} workflows/s"
        elif full:
            expected = gift_res.per_workflow * gift_res.workflows
            result = (f"≈ {full:,.1f} workflows/s (estimate: drain stopped at "
                      f"{gift_res.messages:,}/{expected:,} messages)")
        else:
            result = (f"{gift_res.messages:,}/{gift_res.per_workflow * gift_res.workflows:,} "
                      "messages sent")
        report.add("2", f"  same workflows complete (all {gift_res.per_workflow} messages: "
                   "gift, mission, achievement, level)", result,
                   "info", "")
        missed = not complete or gift_res.rate < TARGET_GIFT_RATE or \
            (ratio is not None and ratio < TARGET_RATIO)
        if (missed and args.profile == "auto") or args.profile == "always":
            want_profile.add("2")
        report.section("(2) gift workflows: where the time went",
                       gift_analysis(gift_res, raw_res, cores, report if missed else None))

    if "3" in args.only:
        n = max(1, int(args.rate * args.duration))
        print(f"\n== (3) latency: wallet button → editMessageText at {args.rate:.0f} "
              f"updates/s for {args.duration:.0f}s ({n:,} distinct members), real bot + "
              "worker ==", flush=True)
        users = members[:n] if registered and len(members) >= n else \
            [MEMBER_BASE + args.members + i for i in range(n)]
        warm = [WARM_BASE + 100 + i for i in range(20)]
        print("  registering and seeding menus …", flush=True)
        gifts.register_members(warm + ([] if users[0] in members and registered else users))
        lat_res = latency.run(stack, users, warm, pids, rate=args.rate)
        s, a = lat_res.stats(), lat_res.stats(lat_res.answers)
        print(f"  editMessageText: p50 {s['p50']:.1f} ms, p90 {s['p90']:.1f}, "
              f"p99 {s['p99']:.1f}, max {s['max']:.1f} (missing {lat_res.missing})",
              flush=True)
        ok = lat_res.missing == 0 and s["p99"] <= TARGET_P99_MS
        report.add("3", f"wallet press → editMessageText @ {lat_res.rate:.0f} updates/s, "
                   f"{lat_res.injected:,} presses",
                   f"p50 {s['p50']:.0f} / p90 {s['p90']:.0f} / p99 {s['p99']:.0f} / "
                   f"max {s['max']:.0f} ms"
                   + (f", {lat_res.missing} missing" if lat_res.missing else ""),
                   f"p99 ≤ {TARGET_P99_MS:.0f} ms", _verdict(ok))
        report.add("3", "  press → answerCallbackQuery (bot only, no Celery)",
                   f"p50 {a['p50']:.0f} / p90 {a['p90']:.0f} / p99 {a['p99']:.0f} / "
                   f"max {a['max']:.0f} ms", "info", "")
        if (not ok and args.profile == "auto") or args.profile == "always":
            want_profile.add("3")
        report.section("(3) latency: where the time went", latency_analysis(lat_res, cores))

    if "4" in args.only:
        n = args.economy_members
        print(f"\n== (4) mixed economy: {n:,} members × (gift, purchase, bid, reaction) at "
              f"once, {args.concurrency} worker processes ==", flush=True)
        eco = economy.run(stack, [ECONOMY_BASE + i for i in range(n)], pids, standin)
        for kind in economy.KINDS:
            s = eco.stats(kind)
            outcomes = ", ".join(f"{t} {c:,}" for t, c in sorted(eco.outcomes[kind].items()))
            print(f"  {kind:9} {s['rate']:7.1f}/s  p50 {s['p50']:7.0f} ms  p99 "
                  f"{s['p99']:7.0f} ms  ({outcomes})", flush=True)
            report.add("4", f"  {kind}: {s['n']:,} workflows ({outcomes})",
                       f"{s['rate']:,.1f}/s, p50 {s['p50']:,.0f} / p99 {s['p99']:,.0f} ms "
                       "(publish → committed)", "info", "")
        everything = sum(eco.stats(k)["n"] for k in economy.KINDS)
        span = max(max(v.values()) for v in eco.committed.values()) - eco.t0
        report.add("4", f"mixed economy, {n:,} members × 4 workflows, {args.concurrency} procs",
                   f"{everything / span:,.1f} workflows/s; {eco.messages:,} messages drained "
                   f"after {eco.messages_s:.0f}s; wallets ≠ ledger: {eco.mismatches}",
                   "info (balances = ledger)", _verdict(eco.mismatches == 0))
        report.section("(4) mixed economy: where the CPU went",
                       ["  " + format_shares(eco.cpu, cores)])

    # -- issue 7 parts (5–8): each module prints, adds its rows, section and notes
    if "5" in args.only:
        broadcast.part(args, stack, report, pids, cores)
    if "6" in args.only:
        posts.part(args, stack, report, pids, cores)
    if "7" in args.only:
        coldstart.part(args, stack, report, pids, cores)
    if "8" in args.only:
        api_read.part(args, stack, report, pids, cores)
    # -- end of issue 7 parts

    if "2" in want_profile:
        print("\n== profiling (2): the gift workflow in one process, attributed …",
              flush=True)
        report.section("(2) profile: one workflow's task bodies, in one process",
                       gift_diagnosis(stack))
        from bench.profile import MONGO_COSTS

        fam = MONGO_COSTS.get("find_one_and_update({_id}, upsert, AFTER)")
        upd = MONGO_COSTS.get("update_one({_id, applied: {$ne}}, upsert)")
        one = MONGO_COSTS.get("find_one({_id})")
        if fam and upd and one and fam > 5 * (upd + one):
            users_of = _project_uses("find_one_and_")
            report.note(f"(2) MongoDB server: find_one_and_update by _id takes {fam:.0f} ms at "
                        f"{MONGO_COSTS['documents']:,.0f} member documents, update_one "
                        f"{upd:.1f} ms + find_one {one:.1f} ms ({fam / (upd + one):.0f}x): "
                        "SecantusDB scans the collection for findAndModify. "
                        + (f"Still used in: {', '.join(users_of)}." if users_of else
                           "The project's code no longer uses it (keep it that way)."))
    standin.close()


# ---------------------------------------------------------------------- analysis
def _project_uses(text: str) -> list[str]:
    """Project source files (not bench/, tests/) whose code calls `text`."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = []
    for folder in ("models", "services", "tasks", "bot", "api", "worker", "core"):
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                code = line.split("#", 1)[0]
                if f"{text}" in code and "(" in code and "`" not in code:
                    found.append(f"{path.relative_to(root)}:{number}")
    return found


def _task_lines(log: str, per_workflow: dict[str, int] | None = None,
                ) -> tuple[list[str], dict[str, Any]]:
    from bench.profile import format_task_times, task_times

    stats = task_times(log)
    return format_task_times(stats, per_workflow), stats


def gift_analysis(res: gifts.GiftResult, raw_res: raw.RawResult | None,
                  cores: int, report: Report | None = None) -> list[str]:
    lines = [f"  registration before timing: {res.workflows + 20:,} members in "
             f"{res.register_s:.1f}s (not timed)",
             f"  publishing {res.workflows:,} workflows took {res.publish_s:.2f}s; "
             f"gift messages done after {res.elapsed_s:.1f}s; retries in the worker log: "
             f"{res.retries}",
             "  " + format_shares(res.cpu, cores)]
    shape = res.shape or TASKS_PER_GIFT
    lines.append("  tasks per complete workflow (counted in the warm-up): " + ", ".join(
        f"{name.removeprefix('tasks.')} x{n}" for name, n in shape.items()))
    lines.append("  worker task runtimes (Celery's 'succeeded in', whole phase incl. warm-up):")
    task_lines, stats = _task_lines(res.log, shape)
    lines += task_lines
    pool_ms = sum(stats[name].mean_ms * count for name, count in shape.items()
                  if name in stats)
    tasks_per_wf = sum(shape.values())
    busy = sum(pct for name, pct in res.cpu)
    children = sum(pct for name, pct in res.cpu if name == "worker (children)")
    window = res.all_messages_s or res.drained_at_s or res.elapsed_s
    # The work done in the window, in complete workflows (the backlog may be partly done).
    done_s = sum(stats[name].total_s for name in shape if name in stats)
    equivalent = 1000 * done_s / pool_ms if pool_ms else res.workflows
    cpu_ms = 10 * busy * window / max(equivalent, 1)  # % of a core × s → ms per workflow
    if res.worker_stats:
        from bench import instrument

        lines.append("  inside the worker's tasks (bench.instrument: SQLite writer-lock wait = "
                     "time in BEGIN IMMEDIATE):")
        lines += instrument.format_stats(res.worker_stats, shape)
    lines.append("  what bounds a complete workflow (gift, mission, achievement, level-up):")
    if pool_ms and res.worker_stats:
        waits = _waits_per_workflow(res.worker_stats, shape)
        name, value = max(waits.items(), key=lambda kv: kv[1])
        lines.append(f"    → the largest share of the pool time: {name}, {value:.1f} of "
                     f"{pool_ms:.1f} ms per workflow ({100 * value / pool_ms:.0f}%); "
                     f"the rest is CPU in the tasks, publishing, Redis and HTTP")
        if report is not None:
            slowest = max(stats.values(), key=lambda s: s.mean_ms)
            report.note(f"(2) {tasks_per_wf} tasks per workflow take {pool_ms:.0f} ms of a pool "
                        f"process (at most {res.concurrency * 1000 / pool_ms:.0f} complete "
                        f"workflows/s on {res.concurrency}); the largest share is {name}: "
                        f"{value:.0f} ms ({100 * value / pool_ms:.0f}%); slowest task "
                        f"{slowest.name} {slowest.mean_ms:.0f} ms mean; SQLite writer-lock "
                        f"wait {waits[LOCK_WAIT]:.1f} ms per workflow.")
    if pool_ms:
        lines.append(f"    pool time: {tasks_per_wf} tasks = {pool_ms:.1f} ms of a pool process "
                     f"per workflow → at most {res.concurrency * 1000 / pool_ms:.0f} "
                     f"workflows/s on {res.concurrency} processes")
        lines.append(f"    the pool processes used {children:.0f}% CPU of "
                     f"{100 * res.concurrency}%: {100 - children / res.concurrency:.0f}% of "
                     "their time they waited on round trips (SQL, MongoDB, Redis, HTTP)")
    lines.append(f"    machine CPU: ~{cpu_ms:.1f} ms CPU per complete workflow over all "
                 f"processes → at most ~{1000 * cores / cpu_ms:.0f} workflows/s on {cores} "
                 f"cores (used {busy:.0f}% of {100 * cores}%)")
    if raw_res and raw_res.rate:
        per_task = 1000 / (3 * raw_res.rate)
        lines.append(f"    Celery floor: (1) costs {per_task:.2f} ms per no-op task; "
                     f"{tasks_per_wf} tasks per workflow → at most "
                     f"{raw_res.rate * 3 / tasks_per_wf:.0f} workflows/s even if the task "
                     "bodies were free")
        lines.append(f"    {100 * TARGET_RATIO:.0f}% of (1) = {TARGET_RATIO * raw_res.rate:.0f} "
                     f"workflows/s allows {3 / TARGET_RATIO:.1f} no-op-priced tasks per "
                     "workflow: with real bodies the workflow needs fewer tasks to get there")
        if report is not None:
            report.note(f"(2) Celery alone: {tasks_per_wf} tasks per workflow at (1)'s "
                        f"{per_task:.2f} ms per no-op task cap it at "
                        f"{raw_res.rate * 3 / tasks_per_wf:.0f} workflows/s; the ratio target "
                        f"({100 * TARGET_RATIO:.0f}% of (1)) needs fewer tasks per workflow.")
    lines.append(f"    gift-message rate vs complete rate: the {res.workflows:,} claims and their "
                 "gift messages run first (FIFO per queue) while missions/achievements queue")
    lines.append("    behind them, so the gift-message rate pays for ~2 of the 5 tasks; the "
                 "complete rate is the sustainable one")
    return lines


def _waits_per_workflow(worker_stats: dict[str, Any],
                        shape: dict[str, int]) -> dict[str, float]:
    labels = {"mongo": "MongoDB commands", "sql_begin": LOCK_WAIT,
              "sql_stmt": "SQL statements"}
    out = dict.fromkeys(labels.values(), 0.0)
    for task, count in shape.items():
        data = worker_stats.get(task)
        if not data or not data.get("runs"):
            continue
        for kind, name in labels.items():
            out[name] += count * 1000 * data.get(kind, {}).get("total", 0.0) / data["runs"]
    return out


def latency_analysis(res: latency.LatencyResult, cores: int) -> list[str]:
    s, a = res.stats(), res.stats(res.answers)
    lines = [f"  injected {res.injected:,} presses in {res.inject_s:.1f}s "
             f"({res.rate:.1f}/s); edits recorded {len(res.edits):,}, missing {res.missing}",
             f"  editMessageText    p50 {s['p50']:.1f}  p90 {s['p90']:.1f}  p99 {s['p99']:.1f}"
             f"  max {s['max']:.1f}  mean {s['mean']:.1f} ms",
             f"  answerCallbackQuery p50 {a['p50']:.1f}  p90 {a['p90']:.1f}  p99 {a['p99']:.1f}"
             f"  max {a['max']:.1f}  mean {a['mean']:.1f} ms",
             f"  → the Celery hop (publish, queue, telegram.send) adds ~{s['p50'] - a['p50']:.0f}"
             f" ms at p50, ~{s['p99'] - a['p99']:.0f} ms at p99",
             "  " + format_shares(res.cpu, cores),
             "  worker task runtimes:"]
    task_lines, _ = _task_lines(res.worker_log)
    lines += task_lines
    return lines


def gift_diagnosis(stack: BenchStack, n: int = 200) -> list[str]:
    """Attribute one workflow's time (SQL / Mongo / publish / HTTP …) in this process."""
    from bench import profile
    from worker.app import app

    saved = set_env(gifts.UNLIMITED_TELEGRAM)  # as the worker of (2) ran
    users = [DIAG_BASE + i for i in range(n + 5 + 50)]
    try:
        gifts.register_members(users)
        att, runs, elapsed = profile.diagnose_gift(users[:n + 5])
        rows = profile.diagnosis_rows(att, runs)
        lines = [f"  {runs} workflows run one after another in the bench process (no worker, "
                 f"no concurrency, no queueing): {runs / elapsed:.1f} workflows/s "
                 f"({1000 * elapsed / runs:.1f} ms each)",
                 *profile.format_diagnosis(rows)]
        total = {k: sum(r[k] for r in rows) for k in (*profile.CATEGORIES, "other", "wall")}
        ranked = sorted(((k, v) for k, v in total.items() if k != "wall"), key=lambda kv: -kv[1])
        lines.append("  by kind: " + ", ".join(f"{k} {v:.1f} ms ({100 * v / total['wall']:.0f}%)"
                                               for k, v in ranked))
        mongo_cmds = sum(r["#Mongo"] for r in rows)
        if mongo_cmds:
            lines.append(f"  MongoDB: {mongo_cmds:.0f} commands per workflow, "
                         f"{total['Mongo'] / mongo_cmds:.2f} ms each; a bare `ping` takes "
                         f"{profile.mongo_ping_ms():.2f} ms now")
        lines += profile.mongo_costs(users[:30])
        lines.append("  SQL transactions per workflow (each write takes SQLite's one writer "
                     "lock: BEGIN IMMEDIATE):")
        lines += profile.format_sql_callers(att, runs)
        out_dir = os.path.join(os.path.dirname(__file__), "out")
        os.makedirs(out_dir, exist_ok=True)
        prof_path = os.path.join(out_dir, "gift-workflow.prof")
        lines += profile.cprofile_gift(users[n + 5:], top=10, out_path=prof_path)
        lines.append(f"  (full profile: {os.path.relpath(prof_path)}; "
                     "python -m pstats to browse)")
        return lines
    finally:
        restore_env(saved)
        try:
            app.control.purge()  # what the in-process run published, no worker consumed
        except Exception:  # noqa: BLE001
            pass
