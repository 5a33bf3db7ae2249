"""End to end: the real bot, the stand-in, a real worker and real beat — an admin writes a
post and replies to it with /programar; beat publishes it once at its time (protected in the
VIP channel, its message id kept); a post whose first send fails at Telegram (5xx) is
retried and published once; and (slow) a post due while beat is restarted, and claimed by
several dispatchers at once, is published once."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.settings import get_settings, reset_settings
from models.db import read_session, unit_of_work
from models.tables import ScheduledPost, User
from services import posts, reactions
from tests.support import Process, celery_beat, start_in_bot, wait_until
from worker.app import app

FREE = -1007770000001
VIP = -1007770000002
LEAD = 15  # seconds between scheduling and the due time (margin for a busy 2-core machine)
ENV = {"FREE_CHAT_ID": str(FREE), "VIP_CHAT_ID": str(VIP), "POSTS_DISPATCH_INTERVAL": "1"}


@pytest.fixture(scope="module", autouse=True)
def channels() -> Iterator[None]:
    """The channels' ids (and a 1 s dispatch interval) for every process of this module:
    set before its worker, bot and beat start, restored after."""
    saved = {name: os.environ.get(name) for name in ENV}
    os.environ.update(ENV)
    reset_settings()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    reset_settings()


def start_beat(log_dir) -> Process:  # type: ignore[no-untyped-def]
    beat = celery_beat(log_dir).start()
    beat.wait_for_log("beat: Starting", timeout=30)
    return beat


def as_channel(standin, chat_id: int, title: str) -> None:  # type: ignore[no-untyped-def]
    """Telegram describes a channel in its updates; the stand-in learns its type from one."""
    standin.inject_update({"channel_post": {
        "message_id": 1, "date": int(time.time()), "text": "👋",
        "chat": {"id": chat_id, "type": "channel", "title": title}}})


def make_admin(user_id: int) -> None:
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]


def own_message(standin, user_id: int, message_id: int, **content: Any) -> None:  # type: ignore[no-untyped-def]
    """The admin writes the post to the bot, as Telegram delivers it (with its entities)."""
    standin.inject_update({"message": {
        "message_id": message_id, "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": "Admin"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Admin", "language_code": "es"},
        **content}})


def local_time(at: datetime) -> str:
    return at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m-%d %H:%M:%S")


def the_post(admin: int) -> ScheduledPost:
    with read_session() as session:
        row = session.scalars(select(ScheduledPost).where(ScheduledPost.created_by == admin)
                              .order_by(ScheduledPost.id.desc())).first()
        assert row is not None
        return row


def sends(standin, chat_id: int, needle: str, method: str = "sendMessage") -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    def text(record: dict[str, Any]) -> str:
        return record["params"].get("text") or record["params"].get("caption") or ""

    return [r for r in standin.sent(chat_id=chat_id, method=method) if needle in text(r)]


def publications(post_id: int) -> list[tuple[str, int | None, int]]:
    with read_session() as session:
        return [(p.status, p.message_id, p.attempts) for p in posts.publications(session, post_id)]


def test_an_admin_schedules_a_post_by_reply_and_it_is_published_once(  # type: ignore[no-untyped-def]
        bot, standin, log_dir, new_user_id) -> None:
    beat = start_beat(log_dir)
    try:
        admin, member = new_user_id(), new_user_id()
        start_in_bot(standin, admin, "Admin")
        start_in_bot(standin, member, "Ana")
        make_admin(admin)
        as_channel(standin, VIP, "Canal VIP")
        marker = f"directo {admin}"
        body = f"Esta noche hay {marker} 🌙 & más\n\n[Entrar](https://example.com/live?a=1&b=2)"
        own_message(standin, admin, 5000, text=body,
                    entities=[{"type": "bold", "offset": 0, "length": 10}])
        mark = standin.mark()

        # a member may not schedule; the attempt is refused politely
        own_message(standin, member, 5000, text="Mi post")
        standin.inject_message(member, "/programar vip 2030-01-01 10:00",
                               reply_to_message_id=5000)
        standin.wait_for_message(member, "Solo un administrador", since=mark, timeout=20)

        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
        standin.inject_message(admin, f"/programar vip {local_time(due)} --reacciones",
                               reply_to_message_id=5000)
        told = standin.wait_for_message(admin, "programado", since=mark, timeout=20)
        post_id = the_post(admin).id
        assert f"Post #{post_id} programado" in told["result"]["text"]
        assert sends(standin, VIP, marker) == []  # not before its time

        published = standin.wait_for(lambda r: marker in r["params"].get("text", ""),
                                     timeout=LEAD + 30, chat_id=VIP, method="sendMessage",
                                     since=mark)
        assert published["time"] >= due.timestamp()
        assert published["time"] - due.timestamp() < 10  # within seconds of its time
        params = published["params"]
        assert params["text"] == f"<b>Esta noche</b> hay {marker} 🌙 &amp; más"
        assert params["parse_mode"] == "HTML" and params["protect_content"] is True
        rows = params["reply_markup"]["inline_keyboard"]
        assert rows[0] == [{"text": "Entrar", "url": "https://example.com/live?a=1&b=2"}]
        assert [b["callback_data"] for b in rows[1]] == \
            [f"r:post{post_id}:{n}" for n in range(len(reactions.DEFAULT_EMOJIS))]
        message_id = published["result"]["message_id"]
        standin.wait_for_message(admin, f"Post #{post_id} publicado", since=mark, timeout=20)

        time.sleep(4)  # several more dispatch runs: nothing more is sent
        assert len(sends(standin, VIP, marker)) == 1
        assert publications(post_id) == [("sent", message_id, 1)]
        assert the_post(admin).status == "published"
        with read_session() as session:
            known = reactions.known_post(session, VIP, message_id)
            assert known is not None and known.ref == f"post{post_id}"

        # a member reacts with the button under the post: paid, once (the post is registered)
        mark = standin.mark()
        standin.press(member, f"r:post{post_id}:0", message_id, chat_id=VIP)
        standin.wait_for(lambda r: "+1 besito" in r["params"].get("text", ""), timeout=15,
                         method="answerCallbackQuery", since=mark)
    finally:
        beat.stop()
    assert "Traceback" not in bot.log()


def test_a_post_that_fails_once_at_telegram_is_retried_and_published_once(  # type: ignore[no-untyped-def]
        bot, standin, log_dir, new_user_id) -> None:
    beat = start_beat(log_dir)
    try:
        admin = new_user_id()
        start_in_bot(standin, admin, "Admin")
        make_admin(admin)
        as_channel(standin, FREE, "Canal libre")
        marker = f"foto {admin}"
        own_message(standin, admin, 6000, caption=f"Nueva {marker}",
                    caption_entities=[{"type": "italic", "offset": 0, "length": 5}],
                    photo=[{"file_id": f"AgAC-small-{admin}", "file_unique_id": "s1",
                            "width": 90, "height": 67},
                           {"file_id": f"AgAC-large-{admin}", "file_unique_id": "l1",
                            "width": 800, "height": 600}])
        mark = standin.mark()
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD)
        standin.inject_message(admin, f"/programar free {local_time(due)}",
                               reply_to_message_id=6000)
        standin.wait_for_message(admin, "programado", since=mark, timeout=20)
        post_id = the_post(admin).id
        faults = standin.stats()["forced_faults"]
        standin.fail_next(1, kind="5xx", methods=["sendPhoto"])  # only the post sends a photo

        published = standin.wait_for(lambda r: marker in r["params"].get("caption", ""),
                                     timeout=LEAD + 40, chat_id=FREE, method="sendPhoto",
                                     since=mark)
        assert standin.stats()["forced_faults"] == faults + 1  # the first try failed
        params = published["params"]
        assert params["photo"] == f"AgAC-large-{admin}"  # the largest size
        assert params["caption"] == f"<i>Nueva</i> {marker}"
        assert "protect_content" not in params  # off by default in the free channel
        standin.wait_for_message(admin, f"Post #{post_id} publicado", since=mark, timeout=20)
        time.sleep(4)
        assert len(sends(standin, FREE, marker, "sendPhoto")) == 1
        assert publications(post_id) == [("sent", published["result"]["message_id"], 2)]
        row = the_post(admin)
        assert (row.status, row.attempts) == ("published", 2)
    finally:
        standin.configure(clear_faults=True)
        beat.stop()
    assert "Traceback" not in bot.log()


def schedule_directly(admin: int, text: str, due: datetime) -> int:
    with unit_of_work() as session:
        done = posts.create(session, actor_id=admin, request_key=f"e2e:{text}",
                            draft=posts.Draft(target="free", when=due, text=text))
    assert done.post_id is not None
    return done.post_id


@pytest.mark.slow
def test_a_post_due_while_beat_is_restarted_is_published_once(  # type: ignore[no-untyped-def]
        worker, standin, log_dir, registered) -> None:
    admin = registered
    make_admin(admin)
    as_channel(standin, FREE, "Canal libre")
    beat = start_beat(log_dir)
    try:
        marker = f"reinicio {admin}"
        due = datetime.now(UTC) + timedelta(seconds=LEAD)
        post_id = schedule_directly(admin, marker, due)
        wait_until(lambda: datetime.now(UTC) >= due - timedelta(seconds=2), timeout=LEAD + 5,
                   interval=0.1)
        beat.stop()  # just before it is due
        wait_until(lambda: datetime.now(UTC) >= due + timedelta(seconds=4), timeout=15,
                   interval=0.1)
        assert sends(standin, FREE, marker) == []  # nobody dispatches while beat is down
        assert publications(post_id) == []
        beat = start_beat(log_dir)  # back: the post is overdue, published at once
        standin.wait_for(lambda r: marker in r["params"].get("text", ""), timeout=30,
                         chat_id=FREE, method="sendMessage")

        # another post, claimed by beat and two more dispatchers at the same moment
        second = f"a la vez {admin}"
        due = datetime.now(UTC) + timedelta(seconds=6)
        second_id = schedule_directly(admin, second, due)
        wait_until(lambda: datetime.now(UTC) >= due, timeout=15, interval=0.05)
        for _ in range(2):
            app.send_task("tasks.posts.dispatch")
        results: list[list[posts.Claim]] = []

        def dispatcher() -> None:
            with unit_of_work() as session:
                results.append(posts.claim_due(session))

        threads = [threading.Thread(target=dispatcher) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        for result in results:  # what these two claimed, they publish (as dispatch does)
            for claim in result:
                app.send_task("tasks.posts.publish", args=[claim.post_id,
                                                           claim.due_at.isoformat()])
        standin.wait_for(lambda r: second in r["params"].get("text", ""), timeout=30,
                         chat_id=FREE, method="sendMessage")
        time.sleep(6)  # several more beat runs
    finally:
        beat.stop()
    assert len(sends(standin, FREE, marker)) == 1
    assert len(sends(standin, FREE, second)) == 1
    assert [p[0] for p in publications(post_id)] == ["sent"]
    assert [p[0] for p in publications(second_id)] == ["sent"]
