"""The broker is a transport: whatever it loses in the middle of a burst, SQL has.

Members press 🎁 through a real polling bot, a worker and beat; part-way through the burst:

- Redis is SIGKILLed (a crash: with `appendfsync everysec` the last second of its writes is
  gone) and started again 3 s later on the same data directory;
- the broker's database is flushed (`FLUSHDB`): every queued and unacknowledged message gone;
- the worker's main process is SIGKILLed (its pool children orphaned, its prefetched and
  unacknowledged messages stranded) and a new worker started.

Each run asserts: every press answered "working…" once; every command done; 0 claims lost
or doubled; each member told of the gift and of the achievement once, and nothing said
twice; every ledger reason once; balance = ledger sum; no dead letters.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import func, select

from core.settings import get_settings
from models import mongo
from models.db import read_session
from models.tables import Command, DeadLetter, GiftClaim, LedgerEntry, OutboxEvent
from services import messages
from tests.faults.helpers import (
    answer_texts,
    assert_books_balance,
    bot_api,
    message_counts,
    polling_bot,
    register_directly,
    start_beat,
)
from tests.support import Process, start_worker, wait_until

pytestmark = pytest.mark.slow

GIFT_TEXT = "+10 besitos"
UNLOCK_TEXT = "Primera misión"
WORKING = messages.t("es", "working")
EXPECTED_BALANCE = 65  # gift 10 + the "gift of the day" mission 5 + its achievement 50
MEMBERS = 24
FAULT_AT = 12  # presses of the burst before the fault


class Stack:
    """The processes of one burst: a worker (replaceable), beat and a polling bot."""

    def __init__(self, log_dir: Path, name: str) -> None:
        self.log_dir = log_dir
        self.name = name
        self.processes: list[Process] = []
        self.workers: list[Process] = []

    def start(self) -> Stack:
        self.new_worker()
        self.processes.append(start_beat(self.log_dir, f"{self.name}-beat"))
        self.processes.append(polling_bot(self.log_dir, f"{self.name}-bot"))
        return self

    def new_worker(self) -> Process:
        worker = start_worker(self.log_dir, name=f"{self.name}-worker{len(self.workers) + 1}")
        self.processes.append(worker)
        self.workers.append(worker)
        return worker

    @property
    def worker(self) -> Process:
        return self.workers[-1]

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.process is not None and process.process.poll() is not None:
                process.kill()  # its main process died: reap what it left (pool children)
            else:
                process.stop()


def crash_redis(stack: Stack, redis_server: Any) -> None:
    redis_server.kill()
    time.sleep(3.0)
    redis_server.start()


def flush_broker(stack: Stack, redis_server: Any) -> None:
    redis.Redis.from_url(get_settings().redis_url.get_secret_value()).flushdb()


def kill_worker_main_process(stack: Stack, redis_server: Any) -> None:
    doomed = stack.worker
    assert doomed.pid is not None
    os.kill(doomed.pid, signal.SIGKILL)  # the main process only, as the OOM killer would
    stack.new_worker()


FAULTS: dict[str, Callable[[Stack, Any], None]] = {
    "none": lambda stack, redis_server: None,
    "redis-sigkill": crash_redis,
    "flushdb": flush_broker,
    "worker-main-sigkill": kill_worker_main_process,
}


def _states(keys: list[str]) -> dict[str, str]:
    with read_session() as session:
        return {c.id: c.state for c in session.scalars(select(Command)
                                                       .where(Command.id.in_(keys)))}


def _open_events(members: list[int]) -> list[str]:
    wanted = set(members)
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.handled_at.is_(None)))
        return [r.id for r in rows if (r.payload or {}).get("user_id") in wanted]


def _texts_said(standin: Any, uid: int, since: int) -> list[str]:
    return [str(r["params"].get("text") or r["params"].get("caption") or "")
            for r in standin.sent(chat_id=uid, since=since)
            if r["method"] in ("sendMessage", "editMessageText", "sendPhoto")]


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_broker_fault_in_the_middle_of_a_burst_loses_and_doubles_nothing(
        fault, log_dir, standin, redis_server, new_user_id) -> None:  # type: ignore[no-untyped-def]
    bot_api("deleteWebhook", drop_pending_updates=True)  # this test's bot gets the updates
    members = [new_user_id() for _ in range(MEMBERS)]
    register_directly(members)
    for uid in members:
        mongo.ensure_member(uid, "es")
    with read_session() as session:
        dead_before = int(session.scalar(select(func.coalesce(func.max(DeadLetter.id), 0))) or 0)
    menu = messages.main_menu("es", welcome=True)
    menus = {uid: bot_api("sendMessage", **menu.params(uid)) for uid in members}
    stack = Stack(log_dir, f"broker-{fault}").start()
    mark = standin.mark()
    try:
        fault_errors: list[BaseException] = []

        def inject() -> None:
            try:
                FAULTS[fault](stack, redis_server)
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                fault_errors.append(exc)

        injector = threading.Thread(target=inject, name=fault, daemon=True)
        presses: list[tuple[int, dict[str, Any]]] = []
        for index, uid in enumerate(members):
            if index == FAULT_AT:  # earlier presses are in flight: claims, events, sends
                injector.start()
            presses.append((uid, standin.press(uid, "m:gift", menus[uid]["message_id"])))
            time.sleep(0.02)  # faster than the cascades complete: work queues up
        injector.join(60)
        assert not injector.is_alive() and fault_errors == [], fault_errors
        keys = [f"upd:{uid}:{press['update_id']}" for uid, press in presses]

        def everything_done() -> bool:
            if any(state != "done" for state in _states(keys).values()) or \
                    len(_states(keys)) < len(keys):
                return False
            gifts = message_counts(standin, members, GIFT_TEXT)
            unlocks = message_counts(standin, members, UNLOCK_TEXT)
            return all(gifts[u] >= 1 and unlocks[u] >= 1 for u in members) \
                and not _open_events(members)

        try:
            wait_until(everything_done, timeout=150, interval=0.5,
                       message="every press done and every member told")
        except TimeoutError:  # say where it stopped, for a failure seen only in CI
            left = {k: s for k, s in _states(keys).items() if s != "done"}
            print(f"commands not done: {left}; open events: {_open_events(members)}")
            gifts = message_counts(standin, members, GIFT_TEXT)
            unlocks = message_counts(standin, members, UNLOCK_TEXT)
            print("(gift, achievement) messages missing: " + str(
                {u: (gifts[u], unlocks[u]) for u in members if not (gifts[u] and unlocks[u])}))
            for process in stack.processes:
                print(f"--- {process.name} ---\n" + "\n".join(process.log().splitlines()[-50:]))
            raise
        time.sleep(3.0)  # settle: let any duplicate show itself

        for _, press in presses:  # each press answered once, and honestly
            assert answer_texts(standin, press["callback_query"]["id"]) == [WORKING]
        assert set(_states(keys).values()) == {"done"}
        assert not _open_events(members)
        with read_session() as session:
            claimed = Counter(session.scalars(select(GiftClaim.user_id)
                                              .where(GiftClaim.user_id.in_(members))))
            reasons = Counter(session.execute(select(LedgerEntry.user_id, LedgerEntry.reason)
                                              .where(LedgerEntry.user_id.in_(members))))
            dead = [(d.task_name, d.error[:120]) for d in session.scalars(
                select(DeadLetter).where(DeadLetter.id > dead_before))]
            redriven = session.scalar(select(func.count()).select_from(Command)
                                      .where(Command.id.in_(keys), Command.attempts >= 1))
            events_redriven = sum(
                row.redrives for row in session.scalars(
                    select(OutboxEvent).where(OutboxEvent.type != "member.registered"))
                if (row.payload or {}).get("user_id") in set(members))  # registered directly
        print(f"{fault}: {redriven} command(s) and {events_redriven} event delivery(ies) "
              f"re-driven from SQL")
        if fault != "none":  # the fault hit work in flight, and SQL drove it again
            assert redriven + events_redriven > 0
        assert [claimed[uid] for uid in members] == [1] * MEMBERS
        assert all(count == 1 for count in reasons.values()), reasons.most_common(3)
        assert dead == []
        for needle in (GIFT_TEXT, UNLOCK_TEXT):
            counts = message_counts(standin, members, needle)
            assert [counts[uid] for uid in members] == [1] * MEMBERS, needle
        for uid in members:  # nothing said twice
            said = Counter(_texts_said(standin, uid, mark))
            assert said.most_common(1)[0][1] == 1, (uid, said)
        assert_books_balance(members, expected_balance=EXPECTED_BALANCE)
    finally:
        stack.stop()
