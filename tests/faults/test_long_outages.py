"""Long outages lose nothing and double nothing.

- MongoDB away for much longer than the retry budget (TASK_MAX_RETRIES=6, backoff capped
  at 3 s: about 15-20 s) while members press 🎁 and make a story choice: the tasks that
  outlive their retries are handed back to the reconciler (tasks/base.py
  `_after_last_retry`), never dead-lettered; when MongoDB returns, the reconciler re-drives
  the commands and events from SQL and everything finishes once.
- PostgreSQL crashed (`pg_ctl stop -m immediate`, then started again) in the middle of a
  burst of 🎁 presses, on a private cluster of its own: every press answered "working…"
  completes once; a press that arrives while it is down is answered "could not take that"
  (and not "working…"); pressed again later, it completes once too.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from dev.stack import free_port
from models import mongo
from models.db import get_engine, read_session, unit_of_work
from models.tables import Command, DeadLetter, GiftClaim, LedgerEntry, OutboxEvent, Wallet
from services import content, messages, users, wallet
from tasks import events, workflows
from tests.faults.helpers import (
    answer_texts as answers,
)
from tests.faults.helpers import (
    assert_books_balance,
    bot_api,
    message_counts,
    polling_bot,
    start_beat,
)
from tests.support import Process, buttons, start_worker, wait_until

pytestmark = pytest.mark.slow

GIFT_TEXT = "Regalo reclamado! +10 besitos"
UNLOCK_TEXT = "Logro desbloqueado: Primera misión"
WORKING = messages.t("es", "working")
NOT_TAKEN = messages.t("es", "not_taken")
HANDED_BACK = "handed back to the reconciler"
MONGO_DOWN_FOR = 55.0  # seconds; the retry budget is nominally 15-20 s
PG_DOWN_FOR = 3.0  # seconds PostgreSQL stays crashed in the middle of the burst
CRASH_AFTER = 8  # presses of the burst before the crash
FINISHED_OK = ("done", "refused")


# ----------------------------------------------------------------------------- helpers



def stop_all(processes: list[Process]) -> None:
    for process in reversed(processes):
        process.stop()




def text_of(record: dict[str, Any]) -> str:
    params = record.get("params", {})
    return str(params.get("text") or params.get("caption") or "")


def choice_data(page: dict[str, Any], fragment: str, choice_id: str) -> str:
    index = [c.id for c in content.story().fragments[fragment].choices].index(choice_id)
    return next(d for d in buttons(page) if d.startswith(f"p:{fragment}:{index}:"))


def last_dead_letter_id(url: str | None = None) -> int:
    with read_session(url) as session:
        return int(session.scalar(select(func.coalesce(func.max(DeadLetter.id), 0))) or 0)


def new_dead_letters(since_id: int, url: str | None = None) -> list[tuple[str, str]]:
    with read_session(url) as session:
        return [(d.task_name, d.error[:200]) for d in
                session.scalars(select(DeadLetter).where(DeadLetter.id > since_id))]


def command_states(members: list[int], url: str | None = None) -> dict[str, str]:
    with read_session(url) as session:
        return {c.id: c.state for c in
                session.scalars(select(Command).where(Command.member_id.in_(members)))}


def open_events(members: list[int], url: str | None = None) -> list[str]:
    """Events about these members that some subscriber has not finished yet."""
    wanted = set(members)
    with read_session(url) as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.handled_at.is_(None)))
        return [r.id for r in rows if (r.payload or {}).get("user_id") in wanted]


def settled(members: list[int], url: str | None = None) -> bool:
    """Every command of these members finished and every event about them handled."""
    states = command_states(members, url)
    return all(s != "accepted" for s in states.values()) and not open_events(members, url)


def ledger_reasons(uid: int, url: str | None = None) -> Counter[str]:
    with read_session(url) as session:
        return Counter(session.scalars(select(LedgerEntry.reason)
                                       .where(LedgerEntry.user_id == uid)))


def said_to(standin: Any, uid: int, since: int) -> list[tuple[str, str]]:
    """(method, text) of every message the bot sent or edited for the member since `since`."""
    return [(r["method"], text_of(r)) for r in standin.sent(chat_id=uid, since=since)
            if r["method"] in ("sendMessage", "editMessageText", "sendPhoto")]


def show_where_it_stopped(members: list[int], processes: list[Process],
                          url: str | None = None) -> None:
    """For a failure seen only in CI: what was left, and the logs' tails."""
    print(f"commands: {command_states(members, url)}")
    print(f"open events: {open_events(members, url)}")
    for process in processes:
        print(f"--- {process.name} log tail ---\n" + "\n".join(process.log().splitlines()[-60:]))


# ----------------------------------------------------------------------------- MongoDB
def test_mongodb_down_longer_than_the_retry_budget_loses_and_doubles_nothing(
        log_dir, standin, mongo_server, new_user_id) -> None:  # type: ignore[no-untyped-def]
    bot_api("deleteWebhook", drop_pending_updates=True)  # this test's bot gets its updates
    members = [new_user_id() for _ in range(4)]
    dead_before = last_dead_letter_id()
    processes: list[Process] = []
    try:
        # Each attempt against a MongoDB that is away costs the server selection timeout;
        # at the suite's 1 s, 2 pool processes and the reconciler's re-drives queue the
        # attempts so that the 6 retries take longer than the outage. A short timeout keeps
        # the budget at its nominal 15-20 s, which the outage then clearly outlasts.
        worker = start_worker(log_dir, name="longout-mongo-worker",
                              env={"MONGODB_TIMEOUT_MS": "250"})
        processes.append(worker)
        processes.append(start_beat(log_dir, "longout-mongo-beat"))
        processes.append(polling_bot(log_dir, "longout-mongo-bot"))
        for uid in members:  # registered (SQL and MongoDB state) and shown the menu
            key = f"longout-start:{uid}"
            events.start(workflows.start_member(uid, {"first_name": "Larga",
                                                      "language_code": "es"}, "es", key),
                         command_id=key, member_id=uid)
        menus = {uid: standin.wait_for_message(uid, "mayordomo", timeout=30) for uid in members}
        pages, follow = {}, {}
        for uid in members:  # 📖 opened while MongoDB is up: the first page and its choices
            mark = standin.mark()
            standin.press(uid, "q:view", menus[uid]["result"]["message_id"])
            pages[uid] = standin.wait_for(
                lambda r: any(d.startswith("p:la-invitacion:") for d in buttons(r)),
                timeout=30, chat_id=uid, since=mark)
            follow[uid] = choice_data(pages[uid], "la-invitacion", "seguir")
        log_from = len(worker.log())
        mark = standin.mark()

        mongo_server.stop()
        down_since = time.monotonic()
        try:
            presses: dict[int, list[dict[str, Any]]] = {}
            for uid in members:
                page_id = pages[uid]["result"]["message_id"]
                gift = standin.press(uid, "m:gift", page_id, force=True)  # the menu was edited
                choice = standin.press(uid, follow[uid], page_id)
                presses[uid] = [gift, choice]
            query_ids = [p["callback_query"]["id"] for ps in presses.values() for p in ps]
            wait_until(lambda: all(answers(standin, q) for q in query_ids), timeout=30,
                       message="every press answered")
            assert all(answers(standin, q) == [WORKING] for q in query_ids)

            # The budget is exceeded: a story step (a command) and a subscriber of the
            # gift's event (missions, achievements) each gave up retrying and went back to
            # the reconciler; nothing became a dead letter.
            def handed_back() -> bool:
                log = worker.log()[log_from:]
                return (f"{HANDED_BACK} (command)" in log and f"{HANDED_BACK} (event)" in log)

            wait_until(handed_back, timeout=MONGO_DOWN_FOR, interval=0.5,
                       message="tasks handed back to the reconciler after their last retry")
            choice_keys = [f"upd:{uid}:{presses[uid][1]['update_id']}" for uid in members]
            states = command_states(members)
            assert [states.get(k) for k in choice_keys] == ["accepted"] * len(members)
            assert new_dead_letters(dead_before) == []
            # MongoDB stays away well past the budget (the outage itself, not a proof).
            time.sleep(max(0.0, MONGO_DOWN_FOR - (time.monotonic() - down_since)))
            assert "tasks.story.take: still" in worker.log()[log_from:]
        finally:
            mongo_server.start(timeout=60)
        mongo.reset_client()

        def everything_done() -> bool:
            if not settled(members):
                return False
            for uid in members:
                said = [t for _, t in said_to(standin, uid, mark)]
                if not (any(GIFT_TEXT in t for t in said) and any(UNLOCK_TEXT in t for t in said)
                        and any("🏁" in t for t in said)):
                    return False
            return True

        try:
            wait_until(everything_done, timeout=100, interval=0.5,
                       message="every command finished and every member told, MongoDB back")
        except TimeoutError:
            show_where_it_stopped(members, processes)
            raise
        time.sleep(3.0)  # settle: let any duplicate show itself
        assert settled(members)
        for uid in members:  # what each member was told, for the record (pytest -s)
            print(uid, [t.splitlines()[0] for _, t in said_to(standin, uid, mark)])

        states = command_states(members)
        assert states and all(s in FINISHED_OK for s in states.values()), states
        hall = content.story().fragments["el-vestibulo"]
        assert hall.milestone is not None
        for uid in members:
            gift_key = f"upd:{uid}:{presses[uid][0]['update_id']}"
            choice_key = f"upd:{uid}:{presses[uid][1]['update_id']}"
            assert states[gift_key] == "done" and states[choice_key] == "done"
            with read_session() as session:
                assert session.get(Command, gift_key).result["status"] == "claimed"  # type: ignore[union-attr]
                assert session.query(GiftClaim).filter(GiftClaim.user_id == uid).count() == 1
            # The choice was made once: one move, one step.
            state = mongo.member_state(uid)
            assert state is not None
            assert (state["story"]["position"], state["story"]["step"]) == ("el-vestibulo", 1)
            # Paid once each: the gift, its mission, the choice's mission, the milestone.
            reasons = ledger_reasons(uid)
            for reason in ("daily_gift", "mission:regalo-del-dia", "mission:decision-diaria",
                           "story-milestone:el-vestibulo"):
                assert reasons[reason] == 1, (uid, reason, reasons)
            assert all(count == 1 for count in reasons.values()), (uid, reasons)
            # Told once each, and nothing said twice.
            said = said_to(standin, uid, mark)
            assert Counter(said).most_common(1)[0][1] == 1, (uid, said)
            texts = [t for _, t in said]
            for needle in (GIFT_TEXT, "completada: Regalo del día", "completada: Decisión del día",
                           UNLOCK_TEXT, "🏁"):
                assert sum(needle in t for t in texts) == 1, (uid, needle, texts)
            assert sum(any(d.startswith("p:el-vestibulo:") for d in buttons(r))
                       for r in standin.sent(chat_id=uid, since=mark)) == 1
            assert not any("ya pasó" in t for t in texts)  # no stale page shown
        assert new_dead_letters(dead_before) == []
        assert_books_balance(members)
        for process in processes:
            assert "Traceback" not in process.log(), process.name
    finally:
        stop_all(processes)


# ----------------------------------------------------------------------------- PostgreSQL
def _postgres_binaries() -> Path | None:
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True):
        if all(os.access(Path(bindir) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(bindir)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI: {reason}")
    pytest.skip(reason)


class PrivateCluster:
    """A PostgreSQL cluster of this test only, on a free port, data in a temp dir; run as
    the `postgres` OS user when the test runs as root (initdb refuses root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="yabot-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                _unavailable("running as root without runuser: cannot run initdb as postgres")
            try:
                shutil.chown(self.base, user="postgres", group="postgres")
            except (LookupError, OSError) as exc:
                _unavailable(f"running as root and no usable `postgres` OS user ({exc})")
            self.as_user = [str(runuser), "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 90) -> None:
        argv = [*self.as_user, str(self.bindir / tool), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, cwd=self.base)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {args} failed ({done.returncode}):\n{done.stdout}\n"
                               f"{done.stderr}\n{log}")

    def init(self) -> PrivateCluster:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
                  "-o", options, "start")

    def crash(self) -> None:
        """Stop it the way a crash does: no checkpoint, connections cut."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self.crash()
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivateCluster]:
    if os.environ.get("YABOT_TEST_DB", "sqlite") != "postgresql":
        pytest.skip("a PostgreSQL crash is only meaningful on the PostgreSQL pass "
                    "(YABOT_TEST_DB=postgresql)")
    bindir = _postgres_binaries()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    assert bindir is not None
    cluster = PrivateCluster(bindir)
    try:
        cluster.init().start()
        yield cluster
    finally:
        engine = get_engine(cluster.url)
        engine.dispose()
        cluster.remove()


def _register(url: str, members: list[int]) -> None:
    with unit_of_work(url) as session:
        for uid in members:
            users.register(session, users.Profile(user_id=uid, first_name="Crash",
                                                  language_code="es"))
    for uid in members:
        mongo.ensure_member(uid, "es")


def _books_balance(url: str, members: list[int], expected: int) -> None:
    ledger = (select(func.coalesce(func.sum(LedgerEntry.amount), 0))
              .where(LedgerEntry.user_id == Wallet.user_id).scalar_subquery())
    with read_session(url) as session:
        assert wallet.mismatches(session) == []
        found = session.execute(select(Wallet.user_id, Wallet.balance, ledger)
                                .where(Wallet.user_id.in_(members)))
        rows = {uid: (balance, total) for uid, balance, total in found}
    for uid in members:
        balance, total = rows[uid]
        assert balance == total == expected, (uid, balance, total)


def test_postgresql_crashed_during_a_burst_of_gift_presses(
        log_dir, standin, redis_server, private_postgres, new_user_id) -> None:  # type: ignore[no-untyped-def]
    cluster = private_postgres
    url = cluster.url
    from models.migrate import upgrade

    upgrade(url)
    bot_api("deleteWebhook", drop_pending_updates=True)
    members = [new_user_id() for _ in range(20)]
    _register(url, members)
    # The private database, and a Redis database of its own: no message meant for the
    # session's database reaches these processes, and none of theirs leaves.
    env = {"DATABASE_URL": url, "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/7"}
    processes: list[Process] = []
    try:
        processes.append(start_worker(log_dir, name="longout-pg-worker", env=env))
        processes.append(start_beat(log_dir, "longout-pg-beat", env))
        bot = polling_bot(log_dir, "longout-pg-bot", env)
        processes.append(bot)
        menu = messages.main_menu("es", welcome=True)
        menus = {uid: bot_api("sendMessage", **menu.params(uid)) for uid in members}
        mark = standin.mark()

        crashed = threading.Event()
        back = threading.Event()
        fault_errors: list[BaseException] = []

        def crash_and_recover() -> None:
            try:
                cluster.crash()
                crashed.set()
                time.sleep(PG_DOWN_FOR)  # the outage itself
                cluster.start()
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                fault_errors.append(exc)
            finally:
                crashed.set()
                back.set()

        fault = threading.Thread(target=crash_and_recover, name="pg-crash", daemon=True)
        presses: list[tuple[int, dict[str, Any]]] = []
        for index, uid in enumerate(members):
            if index == CRASH_AFTER:  # their claims and messages are in flight
                fault.start()
                crashed.wait(30)
            presses.append((uid, standin.press(uid, "m:gift", menus[uid]["message_id"])))
            time.sleep(0.05 if index < CRASH_AFTER else 0.2)  # the pace of the burst
        fault.join(90)
        assert not fault.is_alive() and fault_errors == [], fault_errors

        def answered(query_id: str) -> bool:
            return bool(answers(standin, query_id))

        wait_until(lambda: all(answered(p["callback_query"]["id"]) for _, p in presses),
                   timeout=60, message="every press of the burst answered")
        taken: dict[int, list[str]] = {uid: [] for uid in members}  # command keys
        refused_presses = 0
        for uid, press in presses:
            said = answers(standin, press["callback_query"]["id"])
            assert said in ([WORKING], [NOT_TAKEN]), said  # one answer, and an honest one
            if said == [WORKING]:
                taken[uid].append(f"upd:{uid}:{press['update_id']}")
            else:
                refused_presses += 1
        print(f"burst: {len(presses) - refused_presses} press(es) taken, {refused_presses} "
              f"not taken while PostgreSQL was down")
        assert refused_presses >= 1, "no press reached the bot while PostgreSQL was down"
        assert any(taken.values()), "no press was taken before the crash"

        # Members whose press was not taken try again, as told, once PostgreSQL is back.
        for uid in members:
            if not taken[uid]:
                again = standin.press(uid, "m:gift", menus[uid]["message_id"])
                query_id = again["callback_query"]["id"]
                wait_until(lambda q=query_id: answered(q), timeout=30,  # type: ignore[misc]
                           message="the second press answered")
                assert answers(standin, query_id) == [WORKING]
                taken[uid].append(f"upd:{uid}:{again['update_id']}")

        def everyone_done() -> bool:
            states = command_states(members, url)
            if any(states.get(k) != "done" for ks in taken.values() for k in ks):
                return False
            gifts = message_counts(standin, members, GIFT_TEXT)
            unlocks = message_counts(standin, members, UNLOCK_TEXT)
            return all(gifts[u] >= 1 and unlocks[u] >= 1 for u in members) \
                and settled(members, url)

        try:
            wait_until(everyone_done, timeout=90, interval=0.5,
                       message="every taken press done and every member told")
        except TimeoutError:
            show_where_it_stopped(members, processes, url)
            raise
        time.sleep(3.0)  # settle: let any duplicate show itself
        assert settled(members, url)

        states = command_states(members, url)
        assert all(s in FINISHED_OK for s in states.values()), states
        with read_session(url) as session:
            for uid in members:
                for key in taken[uid]:
                    row = session.get(Command, key)
                    assert row is not None and row.state == "done", key
                assert session.query(GiftClaim).filter(GiftClaim.user_id == uid).count() == 1
            assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0
        for needle in (GIFT_TEXT, UNLOCK_TEXT):
            counts = message_counts(standin, members, needle)
            assert [counts[u] for u in members] == [1] * len(members), needle
        for uid in members:
            reasons = ledger_reasons(uid, url)
            assert all(count == 1 for count in reasons.values()), (uid, reasons)
            for said in Counter(said_to(standin, uid, mark)).values():
                assert said == 1, uid
        # gift 10 + the "gift of the day" mission 5 + the first-mission achievement 50
        _books_balance(url, members, expected=65)
        assert "not taken: SQL unavailable" in bot.log()
        assert "OperationalError" in processes[0].log()  # the crash reached the workers too
        for process in processes:
            assert "Traceback" not in process.log(), process.name
    finally:
        stop_all(processes)
