"""(1) Raw Celery throughput: N chains `step → step → done` of no-op tasks.

Same broker and worker command line as the project's workers (2 prefork processes, every
queue, no gossip/mingle/heartbeat); the bench tasks are routed to `default`. N chains are
published as fast as one reused producer allows; the rate is N / (last completion − first
publish), read from the counter and time stamp `bench.noop.done` keeps in Redis.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from bench.procs import CpuMeter, celery_worker, wait_until


@dataclass
class RawResult:
    chains: int
    publish_s: float
    elapsed_s: float
    cpu: list[tuple[str, float]] = field(default_factory=list)
    log: str = ""

    @property
    def rate(self) -> float:
        return self.chains / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def publish_rate(self) -> float:
        return self.chains / self.publish_s if self.publish_s else 0.0


def _publish(n: int, offset: int = 0) -> float:
    from celery import chain

    from bench import noop
    from worker.app import app

    t0 = time.time()
    with app.producer_or_acquire() as producer:
        for i in range(offset, offset + n):
            chain(noop.step.si(i), noop.step.si(i), noop.done.si(i)).apply_async(
                producer=producer)
    return t0


def run(stack: Any, chains: int, pids: dict[str, int | None]) -> RawResult:
    import redis

    from bench import noop

    r = redis.Redis.from_url(stack.redis.url)
    worker = stack.add(celery_worker(stack.base, "worker-raw"))
    try:
        worker.wait_for_log("ready.", timeout=60)
        # Warm up (imports, connections, pool children), then reset the counter.
        _publish(100, offset=10_000_000)
        wait_until(lambda: int(r.get(noop.DONE_KEY) or 0) >= 100, 60, message="warm-up chains")
        r.delete(noop.DONE_KEY, noop.LAST_KEY)
        with CpuMeter({**pids, "worker": worker.pid}) as meter:
            t0 = _publish(chains)
            publish_s = time.time() - t0
            print(f"  published {chains:,} chains in {publish_s:.2f}s "
                  f"({chains / publish_s:,.0f} chains/s)", flush=True)
            wait_until(lambda: int(r.get(noop.DONE_KEY) or 0) >= chains,
                       max(60.0, chains / 20), interval=0.02, message=f"{chains} chains done")
        last = float(r.get(noop.LAST_KEY))
        result = RawResult(chains, publish_s, last - t0, meter.shares())
    finally:
        stack.stop(worker)
        r.close()
    result.log = worker.log()
    return result
