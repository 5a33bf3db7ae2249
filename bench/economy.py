"""(4) Mixed economy: gifts, purchases, auction bids and reactions at once, 2 workers.

Every member (registered and funded directly through the services before timing, with a
credit that does not count as earned, so no level-ups) starts four workflows at the same
moment, interleaved member by member:

- the daily gift (`tasks.workflows.daily_gift`: claim → missions, achievements, notify),
- a store purchase (`tasks.store.purchase` of an unlimited item),
- a bid on one of the open auctions (`tasks.auctions.bid`; members of one auction bid
  rising amounts that arrive in any order, so some outbid others — refund and message —
  and some are refused as too low: both are complete workflows),
- a reaction button press on a known channel post (`tasks.reactions.reward`).

A workflow's decision is committed when its outbox event is (the event ids are derived
from the request, so they are looked up exactly): latency = that event's `created_at`
minus the moment the bench published the request. Throughput per workflow type = requests
/ (last commit − first publish). The messages members are told (gift, purchase, bids,
outbid, missions, achievements, level-ups) are counted at the stand-in as they drain.
The worker's Telegram limiter is lifted as in (2): this measures the task system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.gifts import UNLIMITED_TELEGRAM, register_members
from bench.procs import CpuMeter, celery_worker, wait_until

ITEM = "rosa-roja"  # unlimited stock, 20 besitos
FUNDS = 1000
BIDDERS_PER_AUCTION = 20
POSTS = 50
POST_CHAT = -1_009_000_000_001
KINDS = ("gift", "purchase", "bid", "reaction")


@dataclass
class EconomyResult:
    members: int
    published: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → id → t
    committed: dict[str, dict[str, float]] = field(default_factory=dict)  # kind → id → t
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # kind → type → n
    t0: float = 0.0
    publish_s: float = 0.0
    messages: int = 0
    messages_s: float = 0.0
    cpu: list[tuple[str, float]] = field(default_factory=list)
    mismatches: int = 0

    def stats(self, kind: str) -> dict[str, float]:
        lat = sorted(1000 * (self.committed[kind][i] - self.published[kind][i])
                     for i in self.committed.get(kind, {}))
        if not lat:
            return {"n": 0, "rate": 0.0, "p50": 0.0, "p99": 0.0, "max": 0.0}
        last = max(self.committed[kind].values())
        first = min(self.published[kind].values())

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * (len(lat) - 1)))]

        return {"n": len(lat), "rate": len(lat) / max(last - first, 1e-6),
                "p50": pct(0.50), "p99": pct(0.99), "max": lat[-1]}


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def prepare(members: list[int]) -> tuple[list[int], list[int]]:
    """Register and fund the members; open one auction per 20 members; register posts.
    Returns (auction ids, post message ids)."""
    from sqlalchemy import update

    from models.db import unit_of_work
    from models.tables import OutboxEvent
    from services import auctions, reactions, wallet

    register_members(members)
    for start in range(0, len(members), 500):
        with unit_of_work() as session:
            for uid in members[start:start + 500]:
                wallet.credit(session, uid, FUNDS, reason="bench", key=f"bench-fund:{uid}",
                              earned=False)
    auction_ids = []
    with unit_of_work() as session:
        for n in range(0, len(members), BIDDERS_PER_AUCTION):
            created = auctions.create(session, actor_id=None, item_id=ITEM, start_price=10,
                                      min_increment=5, minutes=120,
                                      request_key=f"bench-auction:{members[0]}:{n}",
                                      console=True)
            auction_ids.append(created.auction_id)
        posts = [reactions.register_post(session, POST_CHAT, 1 + j, source="bench").message_id
                 for j in range(POSTS)]
    with unit_of_work() as session:  # no relay runs: nothing should republish these
        session.execute(update(OutboxEvent).where(OutboxEvent.published_at.is_(None))
                        .values(published_at=datetime.now(UTC)))
    return auction_ids, posts


def _publish(members: list[int], auction_ids: list[int], posts: list[int],
             result: EconomyResult) -> None:
    from tasks import workflows
    from worker.app import app

    day = datetime.now(UTC).astimezone(_zone()).date().isoformat()
    published: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
    with app.producer_or_acquire() as producer:
        for i, uid in enumerate(members):
            workflows.daily_gift(uid, f"bench-eco:{uid}").apply_async(producer=producer)
            published["gift"][f"gift.claimed:{uid}:{day}"] = time.time()
            key = f"bench-eco-buy:{uid}"
            app.send_task("tasks.store.purchase", args=[uid, ITEM, key], producer=producer)
            published["purchase"][key] = time.time()
            auction = auction_ids[i // BIDDERS_PER_AUCTION]
            amount = 10 + 5 * (i % BIDDERS_PER_AUCTION)
            key = f"bench-eco-bid:{uid}"
            app.send_task("tasks.auctions.bid", args=[uid, auction, amount, key],
                          producer=producer)
            published["bid"][key] = time.time()
            post = posts[i % len(posts)]
            app.send_task("tasks.reactions.reward",
                          args=[POST_CHAT, post, uid, f"bench-eco-react:{uid}"],
                          producer=producer)
            published["reaction"][f"reaction.rewarded:{POST_CHAT}:{post}:{uid}"] = time.time()
    result.published = published


def _zone() -> Any:
    from core.settings import get_settings

    return get_settings().zone


def _committed(result: EconomyResult) -> int:
    """Read the commit times of the workflows' outbox events; returns how many are done."""
    from sqlalchemy import select

    from models.db import read_session
    from models.tables import OutboxEvent

    ids = {
        "gift": list(result.published["gift"]),
        "purchase": [f"item.purchased:{k}" for k in result.published["purchase"]]
        + [f"item.purchase_refused:{k}" for k in result.published["purchase"]],
        "bid": [f"auction.bid_placed:{k}" for k in result.published["bid"]]
        + [f"auction.bid_refused:{k}" for k in result.published["bid"]],
        "reaction": list(result.published["reaction"]),
    }
    done = 0
    with read_session() as session:
        for kind, wanted in ids.items():
            found = result.committed.setdefault(kind, {})
            outcomes = result.outcomes.setdefault(kind, {})
            missing = [i for i in wanted if i.split(":", 1)[1] not in found and i not in found]
            for chunk in range(0, len(missing), 900):
                for event_id, event_type, created in session.execute(
                        select(OutboxEvent.id, OutboxEvent.type, OutboxEvent.created_at)
                        .where(OutboxEvent.id.in_(missing[chunk:chunk + 900]))):
                    request = event_id if kind in ("gift", "reaction") else \
                        event_id.split(":", 1)[1]
                    if request not in found:
                        found[request] = _epoch(created)
                        outcomes[event_type] = outcomes.get(event_type, 0) + 1
            done += len(found)
    return done


def run(stack: Any, members: list[int], pids: dict[str, int | None], standin: Any,
        timeout: float = 300.0) -> EconomyResult:
    print(f"  registering and funding {len(members):,} members, opening "
          f"{-(-len(members) // BIDDERS_PER_AUCTION)} auctions, {POSTS} posts …", flush=True)
    auction_ids, posts = prepare(members)
    result = EconomyResult(len(members))
    worker = stack.add(celery_worker(stack.base, "worker-economy", env=UNLIMITED_TELEGRAM))
    try:
        worker.wait_for_log("ready.", timeout=60)
        base_msgs = int(standin.stats()["methods"].get("sendMessage", 0))
        total = len(members) * len(KINDS)
        with CpuMeter({**pids, "worker": worker.pid}) as meter:
            result.t0 = time.time()
            _publish(members, auction_ids, posts, result)
            result.publish_s = time.time() - result.t0
            print(f"  published {total:,} workflows in {result.publish_s:.2f}s", flush=True)
            next_print = time.monotonic() + 5

            def all_committed() -> bool:
                nonlocal next_print
                done = _committed(result)
                if time.monotonic() >= next_print:
                    print(f"  {time.time() - result.t0:6.1f}s  committed {done:,}/{total:,}",
                          flush=True)
                    next_print = time.monotonic() + 5
                return done >= total

            wait_until(all_committed, timeout, interval=0.5, message="every workflow committed")
            # then the messages drain (no new ones for 3 s = drained)
            last, last_change = -1, time.monotonic()
            while time.monotonic() - last_change < 3:
                sent = int(standin.stats()["methods"].get("sendMessage", 0)) - base_msgs
                if sent != last:
                    last, last_change = sent, time.monotonic()
                    result.messages_s = time.time() - result.t0
                time.sleep(0.25)
            result.messages = last
    finally:
        stack.stop(worker)
    result.cpu = meter.shares()
    from models.db import read_session
    from services import wallet

    with read_session() as session:
        result.mismatches = len(wallet.mismatches(session))
    return result
