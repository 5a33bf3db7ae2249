"""Security promises checked against the real parts (README "Security").

- Celery takes JSON only (configuration, every task, and kombu refusing a pickle body).
- Secrets never print: the settings repr/str, and the logs and answers of the real API, bot
  and worker processes started with secrets in their environment (including the failure
  paths: SQL, Redis and MongoDB unreachable, a Telegram call refused).
- Flower and the worker logs never see personal data or message text in task arguments
  (the published headers, read back from Redis).
- Outbox events carry ids and amounts, never a member's name, username or a text.
- requirements.txt pins every package with ==.
- The webhook compares its secret in constant time and refuses to run without one (the
  behaviour with a wrong/missing header is tested in tests/bot/test_webhook_and_callbacks.py).
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from dev.stack import free_port
from tests.support import ROOT, Process, start_worker, wait_until

# Values that must never appear in a log line, an answer or a repr.
TOKEN = "424242:SECRETtokenValue_do_not_log"
SECRETS = {
    "TELEGRAM_TOKEN": TOKEN,
    "TELEGRAM_WEBHOOK_SECRET": "SECRETwebhook_value",
    "FLOWER_PASSWORD": "SECRETflower_password",
}
PASSWORDS = ("SECRETpgpass", "SECRETredispass", "SECRETmongopass")
NEEDLES = ("SECRETtokenValue", "SECRETwebhook", "SECRETflower", *PASSWORDS)


def _leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def _unreachable_stores() -> dict[str, str]:
    """SQL, Redis and MongoDB URLs with passwords, on ports where nothing listens."""
    return {
        "DATABASE_URL": f"postgresql+psycopg://yabot:{PASSWORDS[0]}@127.0.0.1:{free_port()}/yabot",
        "REDIS_URL": f"redis://:{PASSWORDS[1]}@127.0.0.1:{free_port()}/0",
        "MONGODB_URI": f"mongodb://yabot:{PASSWORDS[2]}@127.0.0.1:{free_port()}/"
                       "?directConnection=true",
        "MONGODB_TIMEOUT_MS": "300",
    }


# --- Celery: JSON only -------------------------------------------------------------------


def test_celery_accepts_and_sends_json_only() -> None:
    from kombu.exceptions import ContentDisallowed
    from kombu.serialization import dumps, loads, prepare_accept_content

    from worker.app import app

    conf = app.conf
    assert list(conf.accept_content) == ["json"]
    assert conf.task_serializer == conf.result_serializer == conf.event_serializer == "json"
    assert conf.result_accept_content in (None, ["json"])  # None: same as accept_content
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if name.startswith("tasks.")}
    assert len(tasks) > 30
    assert {name: task.serializer for name, task in tasks.items()
            if task.serializer != "json"} == {}
    # What a worker does with a message body of another content type: refuse it.
    accept = prepare_accept_content(conf.accept_content)  # as the worker's consumer does
    for serializer in ("pickle", "yaml", "msgpack"):
        content_type, encoding, body = dumps({"x": 1}, serializer=serializer)
        with pytest.raises(ContentDisallowed):
            loads(body, content_type, encoding, accept=accept)
    content_type, encoding, body = dumps({"x": 1}, serializer="json")
    assert loads(body, content_type, encoding, accept=accept) == {"x": 1}


# --- secrets never print -----------------------------------------------------------------


def test_settings_repr_and_str_hide_every_secret(monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from core.settings import Settings

    for name, value in {**SECRETS, **_unreachable_stores()}.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level("DEBUG"):
        settings = Settings()
        import logging

        logging.getLogger("yabot.test").info("settings in use: %s / %r", settings, settings)
    assert settings.bot_token == TOKEN  # read, and usable by the code that needs it
    assert PASSWORDS[0] in settings.database_url
    for shown in (repr(settings), str(settings), f"{settings}", caplog.text):
        assert _leaks(shown) == [], shown


def test_api_logs_and_answers_hold_no_secret(log_dir: Path) -> None:
    """The real API process, with every store unreachable (the error paths), at DEBUG."""
    port = free_port()
    script = ("from core.context import setup_logging; setup_logging('DEBUG'); import uvicorn; "
              f"uvicorn.run('api.app:app', host='127.0.0.1', port={port}, log_level='debug')")
    name = f"api-secrets-{uuid.uuid4().hex[:6]}"
    api = Process(name, [sys.executable, "-c", script], log_dir,
                  {**SECRETS, **_unreachable_stores(), "LOG_LEVEL": "DEBUG"}).start()
    answers: list[str] = []
    try:
        api.wait_for_log("Uvicorn running", timeout=30)
        base = f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer yb_0123456789ab_SECRETtokenValue"}  # no such key
        with httpx.Client(base_url=base, timeout=30) as client:
            for method, path in [("GET", "/health"), ("GET", "/metrics"),
                                 ("GET", "/openapi.json"), ("GET", "/api/v1/members/1"),
                                 ("POST", "/api/v1/members/1/daily-gift")]:
                response = client.request(method, path, headers=headers)
                answers.append(f"{method} {path} {response.status_code} "
                               f"{dict(response.headers)} {response.text}")
        assert any(" 503 " in answer for answer in answers[:1]), answers[0]  # stores down
    finally:
        api.stop()
    log = api.log()
    assert "health check" in log  # the failures were logged...
    # ...without a password, token or secret (the presented key's secret part excepted: it
    # never reaches a log either, which the needle in it checks)
    assert _leaks(log) == [], log[-3000:]
    for answer in answers:
        assert _leaks(answer) == [], answer


def test_polling_bot_never_logs_its_token(log_dir: Path, standin) -> None:  # type: ignore[no-untyped-def]
    """Every Bot API URL carries the token: the bot's logging (at DEBUG) must not print it."""
    name = f"bot-secrets-{uuid.uuid4().hex[:6]}"
    bot = Process(name, [sys.executable, "-m", "bot"], log_dir,
                  {"TELEGRAM_TOKEN": TOKEN, "LOG_LEVEL": "DEBUG"}).start()
    try:
        bot.wait_for_log("bot ready", timeout=30)
        time.sleep(1.5)  # a few long polls (getUpdates, with the token in the URL)
    finally:
        bot.stop()
    log = bot.log()
    assert "bot ready" in log
    assert _leaks(log) == [], log[-3000:]


def test_worker_never_logs_its_token_or_the_message_text(log_dir: Path) -> None:
    """A worker with a real token sends one message and has one refused (a dead letter):
    neither its log nor the dead letter's error holds the token."""
    from models.db import read_session
    from models.tables import DeadLetter
    from tasks import telegram

    worker = start_worker(log_dir, name=f"worker-secrets-{uuid.uuid4().hex[:6]}",
                          queues="telegram", concurrency=1,
                          env={"TELEGRAM_TOKEN": TOKEN, "LOG_LEVEL": "INFO"})
    run = uuid.uuid4().hex[:8]
    try:
        sent = telegram.send.delay(f"sec:{run}:ok", 4242, "sendMessage",
                                   {"chat_id": 4242, "text": "SECRETtext of a member"})
        refused = telegram.send.delay(f"sec:{run}:bad", 4242, "sendMessage",
                                      {"chat_id": 4242, "text": ""})  # empty text: a 400
        ids = {sent.id, refused.id}

        def letters() -> list[DeadLetter]:
            with read_session() as session:
                return list(session.scalars(select(DeadLetter)
                                            .where(DeadLetter.task_id.in_(ids))).all())

        def both_ended() -> bool:
            dead = {letter.task_id for letter in letters()}
            return refused.id in dead and (sent.id in dead
                                           or f"{sent.id}] succeeded" in worker.log())

        wait_until(both_ended, timeout=30, message="both sends ended")
    finally:
        worker.stop()
    for letter in letters():
        assert _leaks(f"{letter.error} {letter.args}") == [], letter.error
    log = worker.log()
    assert _leaks(log) == [], log[-3000:]
    assert "SECRETtext" not in log


# --- personal data: task arguments shown to Flower and the logs ---------------------------


@pytest.fixture
def probe_queue() -> Iterator[str]:
    """A queue no worker consumes: what a task message looks like on the broker."""
    from worker.app import app

    name = f"security-probe-{uuid.uuid4().hex[:8]}"
    yield name
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(name)


def _published(queue: str, count: int) -> list[object]:
    from worker.app import app

    messages = []
    with app.connection_for_read() as conn, conn.SimpleQueue(queue, no_ack=True) as simple:
        for _ in range(count):
            messages.append(simple.get(timeout=5))
    return messages


def test_task_arguments_with_personal_data_are_hidden(probe_queue: str) -> None:
    """The bot once sent `register(user_id, profile)` with only `kwargsrepr` hidden: Flower
    showed the profile. Whatever the caller sets, names and texts stay out of the headers
    (argsrepr/kwargsrepr) that Flower and the logs show, and reach the worker intact."""
    from tasks import telegram, users

    profile = {"first_name": "Zebulon", "last_name": "Piiperson", "username": "zeb_pii",
               "language_code": "es"}
    users.register.si(4243, profile).apply_async(queue=probe_queue)
    users.register.si(user_id=4243, profile=profile).apply_async(queue=probe_queue)
    telegram.send.si("k:1", 4243, "sendMessage",
                     {"chat_id": 4243, "text": "1. Zebulon — 30 besitos"}).apply_async(
        queue=probe_queue)
    for message in _published(probe_queue, 3):
        shown = f"{message.headers['argsrepr']} {message.headers['kwargsrepr']}"  # type: ignore[attr-defined]
        assert "<params>" in shown, shown
        assert not re.search("Zebulon|Piiperson|zeb_pii", shown), shown
        assert "Zebulon" in json.dumps(message.payload)  # type: ignore[attr-defined]


# --- personal data: events ---------------------------------------------------------------

MEMBER_STRINGS = ("Zebulon", "Piiperson", "zeb_pii_handle")


def test_outbox_events_carry_no_member_name_username_or_text(new_user_id) -> None:  # type: ignore[no-untyped-def]
    """Register a member with a distinctive profile, let them claim a gift, have an admin
    adjust their besitos and broadcast a text naming them: no event written on the way
    holds the name, the username or the text."""
    from models.db import read_session, unit_of_work
    from models.tables import OutboxEvent, User
    from services import admin_members, broadcasts, gifts, users

    started = datetime.now(UTC) - timedelta(seconds=1)
    member, admin = new_user_id(), new_user_id()
    run = uuid.uuid4().hex[:8]
    try:
        with unit_of_work() as session:
            users.register(session, users.Profile(member, "Zebulon", "Piiperson",
                                                  "zeb_pii_handle", "es"))
            users.register(session, users.Profile(admin, "Admina", None, "admina_x", "es"))
            session.flush()
            session.get(User, admin).role = "admin"  # type: ignore[union-attr]
        with unit_of_work() as session:
            users.register(session, users.Profile(member, "Zebulon", "Piiperson",
                                                  "zeb_pii_handle", "es"))  # a refresh
            gifts.claim(session, member, f"sec:{run}:gift")
        with unit_of_work() as session:
            outcome = admin_members.adjust_besitos(session, admin, member, 5,
                                                   "welcome bonus", f"sec:{run}:adjust")
            assert outcome.result == "ok", outcome
        with unit_of_work() as session:
            segment = broadcasts.parse_segment(["lista", str(member)])
            started_broadcast = broadcasts.start(session, admin, segment,
                                                 "Hola <b>Zebulon</b>, ¿qué tal?",
                                                 f"sec:{run}:broadcast")
            assert started_broadcast.result == "ok", started_broadcast
        with read_session() as session:
            rows = session.scalars(select(OutboxEvent)
                                   .where(OutboxEvent.created_at >= started)).all()
            ours = (str(member), str(admin), f"sec:{run}")
            mine = [row for row in rows
                    if any(mark in json.dumps(row.payload) or mark in row.id for mark in ours)]
            seen = {row.type for row in mine}
            assert {"member.registered", "gift.claimed", "broadcast.started"} <= seen, seen
            for row in mine:
                text = json.dumps([row.id, row.payload], ensure_ascii=False)
                assert not [s for s in MEMBER_STRINGS if s in text], (row.type, text)
    finally:  # no worker runs here: a later test's relay must not publish these
        with unit_of_work() as session:
            session.execute(update(OutboxEvent).where(OutboxEvent.published_at.is_(None),
                                                      OutboxEvent.created_at >= started)
                            .values(published_at=datetime.now(UTC)))


# --- pins and the webhook ----------------------------------------------------------------

PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9_,.-]+\])?==[A-Za-z0-9.+!-]+$")


def test_every_requirement_is_pinned_with_double_equals() -> None:
    lines = [line.split("#", 1)[0].strip()
             for line in (ROOT / "requirements.txt").read_text().splitlines()]
    requirements = [line for line in lines if line]
    assert len(requirements) > 20
    assert [line for line in requirements if not PIN.match(line)] == []


def test_webhook_secret_is_compared_in_constant_time_and_required() -> None:
    from bot import webhook
    from bot.app import build_application
    from core.settings import get_settings

    tree = ast.parse(inspect.getsource(webhook.create_webhook_app))
    compares = [node for node in ast.walk(tree) if isinstance(node, ast.Compare)
                and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
                and "secret" in ast.unparse(node)]
    calls = {ast.unparse(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert "hmac.compare_digest" in calls
    assert compares == []  # no `==` on the secret anywhere
    application = build_application(get_settings(), webhook=True)
    for bad in ("", "has space", "x" * 257, "ünïcode"):
        with pytest.raises(ValueError):
            webhook.create_webhook_app(application, bad)
