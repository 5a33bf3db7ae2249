"""Bot intake: an update the bot has received is never lost, and is processed once.

- polling: a bot SIGKILLed right after recording an update's command (before publishing it
  and before the next getUpdates confirms the update) gets the update again when it starts;
  the command it recorded is finished once (the reconciler sends its workflow);
- webhook: a bot SIGKILLed after an update arrived, before handling it, never answered 200,
  so the stand-in (as Telegram) delivers it again to the restarted bot;
- the same update delivered to two webhook bots at once is one command, one effect;
- SQL unreachable: the bot answers "could not take that" and never "working…", the API
  answers a 503 problem naming sql.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import or_

from api import idempotency
from dev.stack import free_port
from models.db import read_session, unit_of_work
from models.tables import Command, GiftClaim, OutboxEvent
from services import apikeys, messages
from tasks import events, workflows
from tests.faults.helpers import (
    assert_books_balance,
    bot_api,
    message_counts,
    polling_bot,
    start_beat,
)
from tests.support import Process, wait_until

pytestmark = pytest.mark.slow

GIFT_TEXT = "+10 besitos"
UNLOCK_TEXT = "Primera misión"
EXPECTED_BALANCE = 65  # gift 10 + the "gift of the day" mission + its achievement
SECRET = "intake-webhook-secret"
NOT_TAKEN = messages.t("es", "not_taken")
WORKING = messages.t("es", "working")
QUEUED = messages.t("es", "gift.queued")


# ----------------------------------------------------------------------------- helpers



def webhook_bot(log_dir: Path, name: str, port: int,
                env: dict[str, str] | None = None) -> Process:
    webhook = {"TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}",
               "TELEGRAM_WEBHOOK_SECRET": SECRET, "BOT_WEBHOOK_PORT": str(port)}
    process = Process(name, [sys.executable, "-m", "bot"], log_dir,
                      {**webhook, **(env or {})}).start()
    process.wait_for_log("bot ready (webhook)", timeout=40)
    wait_until(lambda: _answers(port), timeout=15, message=f"{name} listening")
    return process


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def died_by_sigkill(process: Process, timeout: float = 30) -> None:
    assert process.process is not None
    wait_until(lambda: process.process.poll() is not None, timeout=timeout,  # type: ignore[union-attr]
               message=f"{process.name} killed by its failpoint")
    assert process.process.returncode == -9, process.log()[-2000:]


def menu_for(standin: Any, uid: int) -> dict[str, Any]:
    """Register the member and send them the welcome menu (through a worker, no bot)."""
    key = f"intake-start:{uid}"
    events.start(workflows.start_member(uid, {"first_name": "Intake", "language_code": "es"},
                                        "es", key), command_id=key, member_id=uid)
    return standin.wait_for_message(uid, "mayordomo", timeout=20)


def command(key: str) -> Command | None:
    with read_session() as session:
        return session.get(Command, key)


def claims(uid: int) -> int:
    with read_session() as session:
        return session.query(GiftClaim).filter(GiftClaim.user_id == uid).count()


def settled(uid: int) -> bool:
    """Every command of the member finished and every event about them handled."""
    with read_session() as session:
        open_commands = session.query(Command).filter(Command.member_id == uid,
                                                      Command.state == "accepted").count()
        open_events = session.query(OutboxEvent).filter(
            or_(OutboxEvent.id.like(f"%:{uid}:%"), OutboxEvent.id.like(f"%:{uid}")),
            OutboxEvent.handled_at.is_(None)).count()
    return open_commands == 0 and open_events == 0


def answers(standin: Any, query_id: str) -> list[dict[str, Any]]:
    return [r for r in standin.sent(method="answerCallbackQuery")
            if r["params"].get("callback_query_id") == query_id]


def assert_gift_done_once(standin: Any, uid: int, key: str, query_id: str) -> None:
    """The pressed 🎁 ended in one command (done), one claim, one message of each kind, one
    answer to the button, books balanced, after the member's work has drained."""
    wait_until(lambda: (row := command(key)) is not None and row.state == "done",
               timeout=60, interval=0.2, message=f"command {key} done")
    wait_until(lambda: message_counts(standin, [uid], GIFT_TEXT)[uid] >= 1
               and message_counts(standin, [uid], UNLOCK_TEXT)[uid] >= 1,
               timeout=60, interval=0.2, message="member told of the gift and the achievement")
    wait_until(lambda: settled(uid), timeout=60, interval=0.2,
               message="every command finished and every event handled")
    time.sleep(2.0)  # settle: let any duplicate show itself
    row = command(key)
    assert row is not None and row.state == "done"
    assert row.result is not None and row.result["status"] == "claimed"
    assert claims(uid) == 1
    assert message_counts(standin, [uid], GIFT_TEXT)[uid] == 1
    assert message_counts(standin, [uid], UNLOCK_TEXT)[uid] == 1
    assert message_counts(standin, [uid], QUEUED)[uid] == 0
    assert [a["params"].get("text") for a in answers(standin, query_id)] == [WORKING]
    assert_books_balance([uid], expected_balance=EXPECTED_BALANCE)


@pytest.fixture
def quiet_standin(standin: Any) -> Iterator[Any]:
    """No webhook and no pending update left by earlier tests: the first update a bot of
    this test gets is the one the test sends. The webhook is removed afterwards too, so later
    polling bots work."""
    bot_api("deleteWebhook", drop_pending_updates=True)
    yield standin
    bot_api("deleteWebhook")


# ----------------------------------------------------------------------------- polling
def test_polling_bot_killed_after_recording_an_update_gets_it_again(
        log_dir, worker, quiet_standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    standin = quiet_standin
    uid = new_user_id()
    menu = menu_for(standin, uid)
    doomed = polling_bot(log_dir, "intake-polling-doomed", {"YABOT_FAILPOINTS":
                                                             "command-recorded"})
    started: list[Process] = [doomed]
    try:
        update = standin.press(uid, "m:gift", menu["result"]["message_id"])
        query_id = update["callback_query"]["id"]
        key = f"upd:{uid}:{update['update_id']}"
        died_by_sigkill(doomed)
        assert "failpoint command-recorded reached" in doomed.log()
        # Recorded, not started (no beat yet to re-drive it), not answered, not confirmed.
        row = command(key)
        assert row is not None and row.state == "accepted"
        assert claims(uid) == 0
        assert answers(standin, query_id) == []
        assert standin.stats()["pending_updates"] == 1

        started.append(start_beat(log_dir))
        survivor = polling_bot(log_dir, "intake-polling-survivor")
        started.append(survivor)
        # The same update reached the new bot: it answered the button (the dead one never
        # did) and confirmed the update with its next getUpdates.
        wait_until(lambda: answers(standin, query_id), timeout=30,
                   message="the restarted bot answered the redelivered press")
        wait_until(lambda: standin.stats()["pending_updates"] == 0, timeout=30,
                   message="the update confirmed")
        assert_gift_done_once(standin, uid, key, query_id)
        with read_session() as session:
            assert session.query(Command).filter(Command.id.like(f"upd:{uid}:%")).count() == 1
    finally:
        for process in reversed(started):
            process.stop()


# ----------------------------------------------------------------------------- webhook
def test_webhook_bot_killed_before_handling_an_update_gets_it_redelivered(
        log_dir, worker, quiet_standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    standin = quiet_standin
    uid = new_user_id()
    menu = menu_for(standin, uid)
    port = free_port()
    delivered = standin.stats()["webhook_deliveries"]
    doomed = webhook_bot(log_dir, "intake-webhook-doomed", port,
                         {"YABOT_FAILPOINTS": "webhook-received"})
    started: list[Process] = [doomed]
    try:
        assert bot_api("getWebhookInfo")["url"] == f"http://127.0.0.1:{port}/telegram"
        update = standin.press(uid, "m:gift", menu["result"]["message_id"])
        query_id = update["callback_query"]["id"]
        key = f"upd:{uid}:{update['update_id']}"
        died_by_sigkill(doomed)
        assert "failpoint webhook-received reached" in doomed.log()
        # Killed before handling: nothing recorded, nothing answered, the update pending.
        assert command(key) is None
        assert answers(standin, query_id) == []
        stats = standin.stats()
        assert stats["pending_updates"] == 1 and stats["webhook_deliveries"] == delivered
        # The stand-in keeps trying (as Telegram does) and records why it failed.
        wait_until(lambda: bot_api("getWebhookInfo").get("last_error_message"), timeout=15,
                   message="a failed delivery recorded")

        survivor = webhook_bot(log_dir, "intake-webhook-survivor", port)
        started.append(survivor)
        wait_until(lambda: standin.stats()["pending_updates"] == 0, timeout=30,
                   message="the update redelivered and answered 200")
        assert standin.stats()["webhook_deliveries"] == delivered + 1
        assert_gift_done_once(standin, uid, key, query_id)
    finally:
        for process in reversed(started):
            process.stop()


def test_the_same_update_delivered_to_two_webhook_bots_is_processed_once(
        log_dir, worker, quiet_standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    standin = quiet_standin
    uid = new_user_id()
    menu = menu_for(standin, uid)
    ports = [free_port(), free_port()]
    started: list[Process] = []
    try:
        for index, port in enumerate(ports):
            started.append(webhook_bot(log_dir, f"intake-twin-{index}", port))
        delivered = standin.stats()["webhook_deliveries"]
        # The stand-in pushes the update to the webhook set last (the second bot); the test
        # posts the very same body to both bots at the same moment, as a Telegram redelivery
        # racing the first delivery would.
        gate = threading.Barrier(len(ports) + 1)
        statuses: list[int] = []

        def post(port: int, body: dict[str, Any]) -> None:
            gate.wait(10)
            response = httpx.post(f"http://127.0.0.1:{port}/telegram", json=body, timeout=30,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
            statuses.append(response.status_code)

        update = standin.press(uid, "m:gift", menu["result"]["message_id"])
        threads = [threading.Thread(target=post, args=(port, update)) for port in ports]
        for thread in threads:
            thread.start()
        gate.wait(10)
        for thread in threads:
            thread.join(40)
        assert statuses == [200, 200]
        wait_until(lambda: standin.stats()["pending_updates"] == 0, timeout=30,
                   message="the stand-in's own delivery answered 200")
        assert standin.stats()["webhook_deliveries"] == delivered + 1
        key = f"upd:{uid}:{update['update_id']}"
        query_id = update["callback_query"]["id"]
        assert_gift_done_once(standin, uid, key, query_id)
        with read_session() as session:
            assert session.query(Command).filter(Command.id.like(f"upd:{uid}:%")).count() == 1
    finally:
        for process in reversed(started):
            process.stop()


# ----------------------------------------------------------------------------- SQL down
def unreachable_database() -> str:
    """A PostgreSQL URL on a port nothing listens on (refused at once)."""
    return (f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x"
            "?connect_timeout=1")


def test_sql_unreachable_the_bot_answers_politely_and_claims_no_progress(
        log_dir, worker, quiet_standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    standin = quiet_standin
    uid = new_user_id()
    menu = menu_for(standin, uid)  # registered in the session's database
    mark = standin.mark()
    bot = polling_bot(log_dir, "intake-sql-down-bot", {"DATABASE_URL": unreachable_database()})
    try:
        press = standin.press(uid, "m:gift", menu["result"]["message_id"])
        query_id = press["callback_query"]["id"]
        wait_until(lambda: answers(standin, query_id), timeout=30,
                   message="the press answered")
        start = standin.inject_message(uid, "/start", first_name="Intake", language_code="es")
        wait_until(lambda: message_counts(standin, [uid], NOT_TAKEN)[uid] >= 1, timeout=30,
                   message="/start answered")
        wait_until(lambda: standin.stats()["pending_updates"] == 0, timeout=30,
                   message="both updates confirmed")
        time.sleep(2.0)  # settle: anything more the bot would say
        [answer] = answers(standin, query_id)
        assert answer["params"].get("text") == NOT_TAKEN
        assert answer["params"].get("show_alert") is True
        told = standin.sent(chat_id=uid, since=mark)
        texts = [str(r["params"].get("text", "")) for r in told]
        assert texts == [NOT_TAKEN, NOT_TAKEN], texts  # the alert, then the message
        for text in texts:  # no false progress, no traceback
            assert WORKING not in text and QUEUED not in text and "Recibido" not in text
            assert "Traceback" not in text and "Error" not in text
        assert "update not taken" in bot.log()
        with read_session() as session:  # nothing recorded anywhere for these updates
            for update in (press, start):
                assert session.get(Command, f"upd:{uid}:{update['update_id']}") is None
        assert claims(uid) == 0
    finally:
        bot.stop()


def test_sql_unreachable_the_api_answers_503_naming_sql(log_dir, new_user_id) -> None:  # type: ignore[no-untyped-def]
    from tests.api.test_health import serve

    uid = new_user_id()
    with unit_of_work() as session:  # the key lives in the session's database
        row, plaintext = apikeys.create(session, "intake", ("member",), created_by=1)
        key_id = row.id
    api, url = serve(log_dir, "intake-sql-down-api", {"DATABASE_URL": unreachable_database()})
    try:
        response = httpx.post(f"{url}/api/v1/members/{uid}/daily-gift", timeout=30,
                              headers={"Authorization": f"Bearer {plaintext}",
                                       "Idempotency-Key": f"intake-{uid}"})
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers.get("retry-after")
        problem = response.json()
        assert problem["status"] == 503
        assert problem["services"] == {"sql": "down"}
        assert "sql" in problem["detail"]
        assert "Traceback" not in response.text
        health = httpx.get(f"{url}/health", timeout=30)
        assert health.status_code == 503
        assert health.json()["checks"]["sql"]["status"] != "ok"
        with read_session() as session:
            assert session.get(Command, idempotency.request_key(key_id, f"intake-{uid}")) \
                is None
            assert session.query(Command).filter(Command.member_id == uid).count() == 0
    finally:
        api.stop()
