"""(2) Daily-gift workflow throughput: 10,000 distinct members, 2 worker processes.

Members are registered before timing, directly through the services (SQL row, wallet and
`member.registered` outbox event per member, in batches; the events are then marked
published since no relay runs) and their MongoDB state is created with the same upsert
as `models.mongo.ensure_member` (bulk). Then `tasks.workflows.daily_gift(user_id, key)` is
started for each member; a workflow is complete when its gift notification
(`event:gift.claimed:…`) is recorded as sent in `deliveries`, i.e. the stand-in answered
the `sendMessage`. Each workflow also unlocks the first-gift achievement (a second
message), so the stand-in receives 2 messages per workflow; both rates are reported.

The worker's own Telegram limiter (30 messages/s, which alone would cap this at 15
workflows/s) is lifted for this phase through its environment, as the stand-in's limits
are: this measures the task system, not Telegram's flood limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.procs import WORKER_OPTIONS, CpuMeter, celery_worker, wait_until

UNLIMITED_TELEGRAM = {
    "TELEGRAM_GLOBAL_RATE": "1000000",
    "TELEGRAM_CHAT_RATE": "1000",
    "TELEGRAM_CHAT_BURST": "100",
}
GIFT_PREFIX = "event:gift.claimed:"
ACHIEVEMENT_PREFIX = "event:achievement.unlocked:"


@dataclass
class GiftResult:
    workflows: int
    done: int
    publish_s: float
    elapsed_s: float  # first publish → last gift notification
    all_messages_s: float | None  # first publish → last message (gift + achievement)
    messages: int
    register_s: float
    per_workflow: int  # messages one complete workflow sends (counted in the warm-up)
    retries: int
    drained_at_s: float = 0.0  # when the bench stopped waiting for the remaining messages
    # Messages sent at the last gift message, and the rate at which the rest (mission,
    # achievement, level messages: queued behind all the claims, so whole workflows finish
    # only near the end) were sent while draining: to estimate the complete rate when the
    # drain is cut short.
    messages_at_gift_end: int = 0
    remainder_rate: float = 0.0  # messages/s while draining
    concurrency: int = 2
    cpu: list[tuple[str, float]] = field(default_factory=list)
    log: str = ""
    timeline: list[tuple[float, int]] = field(default_factory=list)
    worker_stats: dict[str, Any] = field(default_factory=dict)
    shape: dict[str, int] = field(default_factory=dict)  # tasks per complete workflow

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def complete_rate(self) -> tuple[float, bool]:
        """(complete workflows/s, measured) — estimated when the drain was cut short:
        time to the last gift message + what was left at the drain's completion rate."""
        if self.all_messages_s:
            return self.workflows / self.all_messages_s, True
        if self.remainder_rate <= 0:
            return 0.0, False
        left = self.per_workflow * self.workflows - self.messages
        return self.workflows / (self.drained_at_s + left / self.remainder_rate), False


def register_members(user_ids: list[int], batch: int = 1000) -> float:
    """Register members through services.users.register and create their Mongo state."""
    from pymongo import UpdateOne
    from sqlalchemy import update

    from models import mongo
    from models.db import unit_of_work
    from models.tables import OutboxEvent
    from services import users

    t0 = time.monotonic()
    for start in range(0, len(user_ids), batch):
        chunk = user_ids[start:start + batch]
        with unit_of_work() as session:
            for uid in chunk:
                users.register(session, users.Profile(user_id=uid, first_name=f"Bench {uid}",
                                                      language_code="es"))
        mongo.members().bulk_write(
            [UpdateOne({"_id": uid}, {"$setOnInsert": mongo.new_member_state(uid, "es")},
                       upsert=True) for uid in chunk], ordered=False)
    with unit_of_work() as session:  # no relay runs: nothing should republish these
        session.execute(update(OutboxEvent).where(OutboxEvent.type == "member.registered",
                                                  OutboxEvent.published_at.is_(None))
                        .values(published_at=datetime.now(UTC)))
    return time.monotonic() - t0


def _as_epoch(value: datetime | str | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def delivered(prefix: str = GIFT_PREFIX) -> tuple[int, float | None]:
    """(count, time of the latest) of deliveries sent whose key starts with `prefix`."""
    from sqlalchemy import func, select

    from models.db import read_session
    from models.tables import Delivery

    with read_session() as session:
        count, last = session.execute(
            select(func.count(), func.max(Delivery.sent_at))
            .where(Delivery.key.startswith(prefix, autoescape=True),
                   Delivery.status == "sent")).one()
    return int(count), _as_epoch(last)


def workflow_shape(log: str, workflows: int) -> dict[str, int]:
    """Tasks per complete workflow, counted in the worker log after the warm-up."""
    from bench.profile import task_times

    counts = {name: round(s.count / workflows) for name, s in task_times(log).items()}
    return {name: n for name, n in counts.items() if n > 0}


def _publish(user_ids: list[int], tag: str) -> float:
    """Accept each gift through the intake the bot uses (`tasks.events.start`: the command
    recorded in SQL, then its workflow published)."""
    from tasks import events, workflows

    t0 = time.time()
    for uid in user_ids:
        key = f"bench:{tag}:{uid}"
        events.start(workflows.daily_gift(uid, key), command_id=key, member_id=uid)
    return t0


def _sent_messages(standin: Any) -> int:
    return int(standin.stats()["methods"].get("sendMessage", 0))


def _settled_messages(standin: Any, quiet: float = 2.0) -> int:
    """sendMessage calls at the stand-in once no new one came for `quiet` seconds."""
    last, since = -1, time.monotonic()
    while time.monotonic() - since < quiet:
        now = _sent_messages(standin)
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.1)
    return last


def run(stack: Any, members: list[int], warmup: list[int], pids: dict[str, int | None],
        standin: Any, drain: float = 45.0, stall_timeout: float = 60.0) -> GiftResult:
    print(f"  registering {len(members) + len(warmup):,} members (SQL + Mongo) …", flush=True)
    register_s = register_members(warmup + members)
    print(f"  registered in {register_s:.1f}s", flush=True)
    stats_dir = stack.base / "stats-gift"
    stats_dir.mkdir(exist_ok=True)
    worker = stack.add(celery_worker(stack.base, "worker-gift",
                                     env={**UNLIMITED_TELEGRAM,
                                          "BENCH_STATS_DIR": str(stats_dir)}))
    try:
        worker.wait_for_log("ready.", timeout=60)
        _publish(warmup, "warm")
        wait_until(lambda: delivered()[0] >= len(warmup), 60, interval=0.1,
                   message="warm-up workflows")
        wait_until(lambda: delivered(ACHIEVEMENT_PREFIX)[0] >= len(warmup), 30, interval=0.1,
                   message="warm-up achievement messages")
        per_workflow = _settled_messages(standin) // len(warmup)  # gift, mission, achievement…
        shape = workflow_shape(worker.log(), len(warmup))
        base_done = delivered()[0]
        base_msgs = standin.stats()["methods"].get("sendMessage", 0)
        total = len(members)
        timeline: list[tuple[float, int]] = []
        with CpuMeter({**pids, "worker": worker.pid}) as meter:
            t0 = _publish(members, "run")
            publish_s = time.time() - t0
            print(f"  published {total:,} workflows in {publish_s:.2f}s", flush=True)
            last_progress, last_count, next_print = time.monotonic(), -1, time.monotonic() + 5
            while True:
                count = delivered()[0] - base_done
                now = time.monotonic()
                timeline.append((time.time() - t0, count))
                if count != last_count:
                    last_progress, last_count = now, count
                if now >= next_print or count >= total:
                    msgs = _sent_messages(standin) - base_msgs
                    el = time.time() - t0
                    print(f"  {el:6.1f}s  gift messages {count:>6,}/{total:,}  "
                          f"({count / el:6.1f}/s)  all messages {msgs:>6,}/"
                          f"{per_workflow * total:,}",
                          flush=True)
                    next_print = now + 5
                if count >= total or now - last_progress > stall_timeout:
                    break
                time.sleep(0.25)
            gift_end = time.time()
            done, last_gift = delivered()
            done -= base_done
            # The achievement messages (and the missions/achievements tasks before them) are
            # queued behind the claims; wait up to `drain` seconds more for them.
            all_s = None
            messages_at_gift_end = _sent_messages(standin) - base_msgs
            drain_t0 = time.monotonic()
            deadline = drain_t0 + drain
            while time.monotonic() < deadline:
                msgs = _sent_messages(standin) - base_msgs
                if msgs >= per_workflow * total:
                    _, last_any = delivered("event:")
                    all_s = (last_any - t0) if last_any else time.time() - t0
                    break
                if time.monotonic() >= next_print:
                    print(f"  {time.time() - t0:6.1f}s  draining: all messages "
                          f"{msgs:>6,}/{per_workflow * total:,}", flush=True)
                    next_print = time.monotonic() + 5
                time.sleep(0.25)
            drained_at = time.time() - t0
            drained = _sent_messages(standin) - base_msgs - messages_at_gift_end
            remainder_rate = drained / max(time.monotonic() - drain_t0, 1e-6)
        msgs = _sent_messages(standin) - base_msgs
        elapsed = (last_gift - t0) if last_gift and done >= total else gift_end - t0
    finally:
        stack.stop(worker)
    if all_s is None:
        # Leave no backlog to the next part: drop what is still queued (bench data only).
        from worker.app import app

        purged = app.control.purge()
        print(f"  stopped waiting after {drained_at:.0f}s: {msgs:,}/{per_workflow * total:,} "
              f"messages sent; {purged:,} queued task(s) dropped", flush=True)
    from bench import instrument

    log = worker.log()
    retries = log.count(" retry: ")
    worker_stats = instrument.load(stats_dir)
    return GiftResult(total, done, publish_s, elapsed, all_s, msgs, register_s, per_workflow,
                      retries, drained_at, messages_at_gift_end, remainder_rate,
                      int(WORKER_OPTIONS["concurrency"]), meter.shares(), log, timeline,
                      worker_stats, shape)
