"""🗓️ Scheduled posts with the real database: validation, time zones, repeats across a change
of daylight saving time, claiming due occurrences once (also from two threads), publishing
and failing, edit and cancel rules, and admins only (every attempt audited).

The clock is passed in (`now`, in 2030), so nothing here is ever due for real: a later test
stack's beat leaves these posts alone."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core.settings import reset_settings
from models.db import read_session, unit_of_work
from models.tables import AuditEntry, OutboxEvent, PostPublication, ScheduledPost, User
from services import events, messages, posts, reactions

FREE_CHAT, VIP_CHAT = -1001230000001, -1001230000002
NOW = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)
MADRID = "Europe/Madrid"
BIG_BATCH = 10_000  # other tests' posts may be due at the same fake time

_keys = itertools.count(1)


def key(label: str = "k") -> str:
    return f"t:{label}:{next(_keys)}:{datetime.now(UTC).timestamp()}"


@pytest.fixture(autouse=True)
def channels(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("FREE_CHAT_ID", str(FREE_CHAT))
    monkeypatch.setenv("VIP_CHAT_ID", str(VIP_CHAT))
    monkeypatch.setenv("TIMEZONE", MADRID)
    reset_settings()
    yield monkeypatch
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def admin(registered: int) -> int:
    with unit_of_work() as session:
        session.get(User, registered).role = "admin"  # type: ignore[union-attr]
    return registered


def draft(**fields: Any) -> posts.Draft:
    values: dict[str, Any] = {"target": "vip", "when": "2030-01-10 15:00",
                              "text": "<b>Hola</b> &amp; bienvenida", "parse_mode": "HTML"}
    values.update(fields)
    return posts.Draft(**values)


def create(actor: int | None, request_key: str | None = None, now: datetime = NOW,
           **fields: Any) -> posts.Done:
    """As the task does: a refusal is recorded (audit row + event) in its own transaction."""
    request_key = request_key or key("create")
    try:
        with unit_of_work() as session:
            return posts.create(session, actor_id=actor, request_key=request_key,
                                draft=draft(**fields), now=now)
    except posts.Refused as exc:
        with unit_of_work() as session:
            posts.refuse(session, actor_id=actor, request_key=request_key, action="create",
                         reason=exc.code)
        raise


def post(post_id: int) -> ScheduledPost:
    with read_session() as session:
        row = session.get(ScheduledPost, post_id)
        assert row is not None
        return row


def audits(action: str, request_key: str) -> list[tuple[int | None, str]]:
    with read_session() as session:
        return [(row.actor_id, row.result) for row in session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
            if row.details.get("request_key") == request_key]


def told(event_id: str) -> str:
    with read_session() as session:
        row = session.get(OutboxEvent, event_id)
        assert row is not None, event_id
        rendered = messages.for_event(events.Event.from_row(row).as_message())
    assert rendered is not None
    return rendered.text


def claim(now: datetime) -> list[posts.Claim]:
    with unit_of_work() as session:
        return posts.claim_due(session, now, BIG_BATCH)


def mine(claims: list[posts.Claim], post_id: int) -> list[posts.Claim]:
    return [c for c in claims if c.post_id == post_id]


# --- creation: time zones, defaults, validation ---------------------------------------------


def test_a_post_is_scheduled_in_the_admins_time_zone_and_the_admin_is_told(admin) -> None:  # type: ignore[no-untyped-def]
    request_key = key()
    done = create(admin, request_key)
    again = create(admin, request_key)  # redelivered: the same post
    assert again.post_id == done.post_id
    row = post(done.post_id)  # type: ignore[arg-type]
    # 15:00 in Madrid in January (CET, UTC+1) is 14:00 UTC
    assert row.publish_at == datetime(2030, 1, 10, 14, 0, tzinfo=UTC)
    assert (row.target, row.chat_id, row.timezone, row.status, row.repeat, row.cron) == \
        ("vip", VIP_CHAT, MADRID, "scheduled", "none", None)
    assert row.protect_content is True  # on by default in the VIP channel
    assert audits("post.create", request_key) == [(admin, "ok")]
    text = told(f"post.scheduled:{done.post_id}")
    assert f"Post #{done.post_id} programado para el 10/01/2030 15:00 (Europe/Madrid)" in text
    assert "canal VIP" in text

    free = post(create(admin, target="free").post_id)  # type: ignore[arg-type]
    assert (free.chat_id, free.protect_content) == (FREE_CHAT, False)
    unprotected = post(create(admin, protect_content=False).post_id)  # type: ignore[arg-type]
    assert unprotected.protect_content is False

    summer = post(create(admin, when="2030-07-01 10:00").post_id)  # type: ignore[arg-type]
    assert summer.publish_at == datetime(2030, 7, 1, 8, 0, tzinfo=UTC)  # CEST, UTC+2
    mexico = post(create(admin, when="2030-07-01 10:00",  # type: ignore[arg-type]
                         zone="America/Mexico_City").post_id)
    assert (mexico.publish_at, mexico.timezone) == \
        (datetime(2030, 7, 1, 16, 0, tzinfo=UTC), "America/Mexico_City")
    seconds = post(create(admin, when="2030-01-10 13:00:30").post_id)  # type: ignore[arg-type]
    assert seconds.publish_at == datetime(2030, 1, 10, 12, 0, 30, tzinfo=UTC)


def test_a_time_the_clock_skips_lands_after_the_jump() -> None:
    zone = ZoneInfo(MADRID)
    # 2030-03-31 02:00 CET jumps to 03:00 CEST: 02:30 does not exist, it is read as 03:30
    assert posts.to_utc("2030-03-31 02:30", zone) == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    # 2030-10-27 03:00 CEST falls back to 02:00 CET: 02:30 happens twice, the first counts
    assert posts.to_utc("2030-10-27 02:30", zone) == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("fields", "error"), [
    ({"text": "a" * 4097}, posts.TextTooLong),
    ({"text": "   ", "parse_mode": None}, posts.Empty),
    ({"text": "<b></b>"}, posts.Empty),
    ({"photo": "AgACAgQAAx0", "text": "b" * 1025}, posts.CaptionTooLong),
    ({"photo": "http://example.com/a.jpg"}, posts.BadPhoto),
    ({"url_buttons": [{"text": "Web", "url": "http://example.com"}]}, posts.BadButton),
    ({"url_buttons": [{"text": "Web", "url": "javascript:alert(1)"}]}, posts.BadButton),
    ({"url_buttons": [{"text": "", "url": "https://example.com"}]}, posts.BadButton),
    ({"url_buttons": [{"text": "x" * 65, "url": "https://example.com"}]}, posts.BadButton),
    ({"url_buttons": [{"text": "W", "url": "https://example.com"}] * 11}, posts.BadButton),
    ({"when": "2030-01-10 12:59"}, posts.InPast),  # 11:59 UTC, before NOW
    ({"when": "2031-02-01 10:00"}, posts.TooFar),
    ({"when": "mañana a las 10"}, posts.BadTime),
    ({"when": "2030-02-30 10:00"}, posts.BadTime),
    ({"zone": "Mars/Olympus"}, posts.BadZone),
    ({"repeat": "cron", "cron": "0 25 * * *"}, posts.BadCron),
    ({"repeat": "cron", "cron": "0 9 * *"}, posts.BadCron),
    ({"repeat": "cron", "cron": "0 0 31 2 *"}, posts.BadCron),  # never happens
    ({"repeat": "cron"}, posts.BadCron),
    ({"repeat": "hourly"}, posts.Usage),
    ({"target": "elsewhere"}, posts.Usage),
    ({"problem": "usage"}, posts.Usage),
    ({"problem": "no_content"}, posts.NoContent),
    ({"parse_mode": "MarkdownV2"}, posts.Usage),
])
def test_invalid_posts_are_refused_politely_and_audited(admin, fields, error) -> None:  # type: ignore[no-untyped-def]
    request_key = key("bad")
    with pytest.raises(error):
        create(admin, request_key, **fields)
    with pytest.raises(error):
        create(admin, request_key, **fields)  # redelivered: still refused, audited once
    assert audits("post.create", request_key) == [(admin, error.code)]
    text = told(f"post.refused:{request_key}")
    assert text and "{" not in text


def test_limits_count_the_text_telegram_shows_not_the_markup(admin) -> None:  # type: ignore[no-untyped-def]
    long_markup = "<b>" + "a" * 4090 + "</b> &amp;"  # 4093 characters once parsed
    assert post(create(admin, text=long_markup).post_id).text == long_markup  # type: ignore[arg-type]
    caption = post(create(admin, photo="AgACAgQAAx0", text="c" * 1024).post_id)  # type: ignore[arg-type]
    assert caption.photo == "AgACAgQAAx0"


def test_a_channel_without_an_id_is_refused(admin, channels) -> None:  # type: ignore[no-untyped-def]
    channels.delenv("VIP_CHAT_ID")
    reset_settings()
    with pytest.raises(posts.NoChat):
        create(admin)


def test_only_admins_act_and_every_attempt_is_audited(admin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    member = new_user_id()
    with unit_of_work() as session:
        from services import users

        users.register(session, users.Profile(user_id=member, language_code="en"))
    post_id = create(admin).post_id
    assert post_id is not None

    request_key = key("member")
    with pytest.raises(posts.NotAdmin):
        create(member, request_key)
    assert audits("post.create", request_key) == [(member, "not_admin")]
    assert "Only an admin" in told(f"post.refused:{request_key}")
    with read_session() as session:
        assert session.scalars(select(ScheduledPost).where(
            ScheduledPost.request_key == request_key)).first() is None

    attempts = {
        "edit": lambda s, k: posts.edit(s, actor_id=member, post_id=post_id, request_key=k,
                                        when="2030-01-11 10:00", now=NOW),
        "cancel": lambda s, k: posts.cancel(s, actor_id=member, post_id=post_id,
                                            request_key=k),
        "list": lambda s, k: posts.listing(s, actor_id=member, request_key=k),
        "preview": lambda s, k: posts.preview(s, actor_id=member, post_id=post_id,
                                              request_key=k),
    }
    for action, attempt in attempts.items():
        request_key = key(action)
        with pytest.raises(posts.NotAdmin), unit_of_work() as session:
            attempt(session, request_key)
        with unit_of_work() as session:
            posts.refuse(session, actor_id=member, request_key=request_key, action=action,
                         reason="not_admin", post_id=None if action == "list" else post_id)
        assert audits(f"post.{action}", request_key) == [(member, "not_admin")], action
    row = post(post_id)
    assert (row.status, row.publish_at) == ("scheduled", datetime(2030, 1, 10, 14, tzinfo=UTC))


# --- repeats across a change of daylight saving time ----------------------------------------


def test_daily_and_weekly_keep_the_local_wall_time_across_dst(admin) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2030, 3, 20, tzinfo=UTC)
    daily = post(create(admin, now=now, when="2030-03-30 10:00",  # type: ignore[arg-type]
                        repeat="daily").post_id)
    assert (daily.publish_at, daily.cron) == (datetime(2030, 3, 30, 9, tzinfo=UTC),
                                              "0 10 * * *")
    # spring forward on 2030-03-31: 10:00 CEST is 08:00 UTC
    assert posts.next_occurrence(daily.cron, MADRID, daily.publish_at) == \
        datetime(2030, 3, 31, 8, tzinfo=UTC)
    # fall back on 2030-10-27: 10:00 CET is 09:00 UTC again
    assert posts.next_occurrence(daily.cron, MADRID, datetime(2030, 10, 26, 8, tzinfo=UTC)) \
        == datetime(2030, 10, 27, 9, tzinfo=UTC)

    weekly = post(create(admin, now=now, when="2030-03-24 10:00",  # type: ignore[arg-type]
                         repeat="weekly").post_id)
    assert weekly.cron == "0 10 * * 0"  # Sundays
    assert posts.next_occurrence(weekly.cron, MADRID, weekly.publish_at) == \
        datetime(2030, 3, 31, 8, tzinfo=UTC)


def test_cron_runs_in_the_posts_time_zone_across_dst(admin) -> None:  # type: ignore[no-untyped-def]
    now = datetime(2030, 3, 20, tzinfo=UTC)
    row = post(create(admin, now=now, when="2030-03-29 09:30", repeat="cron",  # type: ignore[arg-type]
                      cron="  30 9   * * 1-5 ").post_id)
    assert row.cron == "30 9 * * 1-5"
    # Friday 09:30 CET → Monday 09:30 CEST (after the change): 07:30 UTC
    assert posts.next_occurrence(row.cron, MADRID, row.publish_at) == \
        datetime(2030, 4, 1, 7, 30, tzinfo=UTC)
    # a skipped wall time runs after the jump; a doubled one runs once
    first = posts.next_occurrence("30 2 * * *", MADRID, datetime(2030, 3, 30, 1, 30, tzinfo=UTC))
    assert first == datetime(2030, 3, 31, 1, 30, tzinfo=UTC)
    assert posts.next_occurrence("30 2 * * *", MADRID, first) == \
        datetime(2030, 4, 1, 0, 30, tzinfo=UTC)
    doubled = posts.next_occurrence("30 2 * * *", MADRID,
                                    datetime(2030, 10, 26, 0, 30, tzinfo=UTC))
    assert doubled == datetime(2030, 10, 27, 0, 30, tzinfo=UTC)
    assert posts.next_occurrence("30 2 * * *", MADRID, doubled) == \
        datetime(2030, 10, 28, 1, 30, tzinfo=UTC)
    with pytest.raises(posts.BadCron):
        posts.next_occurrence("0 0 29 2 1", MADRID, now)  # no Monday 29 February in 5 years


# --- claiming, publishing, failing ---------------------------------------------------------


def test_claim_due_twice_claims_once(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin).post_id
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    assert mine(claim(due - timedelta(seconds=1)), post_id) == []  # not due yet
    first = mine(claim(due), post_id)
    assert first == [posts.Claim(post_id, due)]  # type: ignore[arg-type]
    assert mine(claim(due + timedelta(seconds=5)), post_id) == []  # claimed already
    with read_session() as session:
        rows = posts.publications(session, post_id)  # type: ignore[arg-type]
    assert [(r.due_at, r.status, r.attempts) for r in rows] == [(due, "sending", 0)]


def test_two_dispatchers_at_the_same_moment_claim_once(admin) -> None:  # type: ignore[no-untyped-def]
    post_ids = [create(admin).post_id for _ in range(5)]
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    barrier = threading.Barrier(2)
    results: list[list[posts.Claim]] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait(10)
            results.append(claim(due))
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    claimed = [c.post_id for result in results for c in result if c.post_id in post_ids]
    assert sorted(claimed) == sorted(post_ids)  # each once, by one dispatcher or the other


def test_publishing_keeps_the_message_id_and_registers_the_post(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin, reaction_buttons=True,
                     url_buttons=[{"text": "Web", "url": "https://example.com/x?a=1&b=2"}]).post_id
    assert post_id is not None
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    assert mine(claim(due), post_id)
    with unit_of_work() as session:
        job = posts.start_attempt(session, post_id, due, now=due)
    assert job is not None
    assert job.key == f"post:{post_id}:2030-01-10T14:00:00+00:00"
    assert (job.chat_id, job.method) == (VIP_CHAT, "sendMessage")
    assert job.params == {
        "chat_id": VIP_CHAT, "text": "<b>Hola</b> &amp; bienvenida", "parse_mode": "HTML",
        "protect_content": True,
        "reply_markup": {"inline_keyboard": [
            [{"text": "Web", "url": "https://example.com/x?a=1&b=2"}],
            reactions.reaction_keyboard(f"post{post_id}")["inline_keyboard"][0]]}}

    with unit_of_work() as session:
        outcome = posts.mark_sent(session, post_id, due, 4321, now=due)
    assert outcome.status == "sent" and [e.type for e in outcome.events] == ["post.published"]
    with unit_of_work() as session:
        again = posts.mark_sent(session, post_id, due, 4321, now=due)  # redelivered
        assert posts.start_attempt(session, post_id, due) is None  # nothing left to send
    assert again.status == "sent"
    row = post(post_id)
    assert (row.status, row.attempts) == ("published", 1)
    with read_session() as session:
        publication = posts.publications(session, post_id)[0]
        assert (publication.status, publication.message_id) == ("sent", 4321)
        registered = reactions.known_post(session, VIP_CHAT, 4321)
        assert registered is not None and registered.ref == f"post{post_id}"
    assert "publicado en el canal VIP (mensaje 4321)" in \
        told(f"post.published:{post_id}:2030-01-10T14:00:00+00:00")
    assert mine(claim(due + timedelta(days=1)), post_id) == []  # a one-off post is done


def test_a_repeating_post_moves_on_after_each_occurrence(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin, repeat="daily", photo="AgACAgQAAx0").post_id
    assert post_id is not None
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    assert mine(claim(due), post_id)
    with unit_of_work() as session:
        job = posts.start_attempt(session, post_id, due, now=due)
        assert job is not None and job.method == "sendPhoto"
        assert job.params["photo"] == "AgACAgQAAx0" and "caption" in job.params
        posts.mark_sent(session, post_id, due, 11, now=due + timedelta(seconds=3))
    row = post(post_id)
    tomorrow = due + timedelta(days=1)
    assert (row.status, row.publish_at) == ("scheduled", tomorrow)
    assert "Próxima publicación: 11/01/2030 15:00" in \
        told(f"post.published:{post_id}:{due.isoformat()}")
    assert mine(claim(tomorrow), post_id) == [posts.Claim(post_id, tomorrow)]
    # published three days late (beat was down): the missed occurrences are skipped
    with unit_of_work() as session:
        posts.mark_sent(session, post_id, tomorrow, 12, now=tomorrow + timedelta(days=3, hours=1))
    assert post(post_id).publish_at == tomorrow + timedelta(days=4)


def test_a_final_failure_tells_the_admin(admin) -> None:  # type: ignore[no-untyped-def]
    one_off = create(admin).post_id
    daily = create(admin, repeat="daily").post_id
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    claim(due)
    with unit_of_work() as session:
        posts.mark_failed(session, one_off, due, "forbidden", now=due)  # type: ignore[arg-type]
        posts.mark_failed(session, daily, due, "unavailable", "HTTP 502", now=due)  # type: ignore[arg-type]
        twice = posts.mark_failed(session, daily, due, "unavailable", now=due)  # type: ignore[arg-type]
    assert twice.status == "failed"
    assert (post(one_off).status, post(one_off).last_error) == ("failed", "forbidden")  # type: ignore[arg-type]
    repeating = post(daily)  # type: ignore[arg-type]
    assert (repeating.status, repeating.publish_at) == ("scheduled", due + timedelta(days=1))
    assert repeating.last_error == "unavailable: HTTP 502"
    text = told(f"post.failed:{one_off}:{due.isoformat()}")
    assert f"No pude publicar el post #{one_off}" in text and "administrador" in text
    assert "Próxima publicación" in told(f"post.failed:{daily}:{due.isoformat()}")


def test_an_occurrence_whose_task_was_lost_is_claimed_again_once(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin).post_id
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    assert mine(claim(due), post_id)
    later = due + posts.stale_after() + timedelta(seconds=1)
    assert mine(claim(later), post_id) == [posts.Claim(post_id, due, again=True)]  # type: ignore[arg-type]
    assert mine(claim(later + timedelta(seconds=1)), post_id) == []
    with unit_of_work() as session:  # an attempt touches it: it is not stale
        posts.start_attempt(session, post_id, due, now=later + posts.stale_after())  # type: ignore[arg-type]
    assert mine(claim(later + posts.stale_after() + timedelta(seconds=2)), post_id) == []


# --- edit, cancel, list, preview -------------------------------------------------------------


def edit(actor: int, post_id: int, when: str, request_key: str | None = None,
         now: datetime = NOW, **extra: Any) -> posts.Done:
    with unit_of_work() as session:
        return posts.edit(session, actor_id=actor, post_id=post_id, when=when,
                          request_key=request_key or key("edit"), now=now, **extra)


def cancel(actor: int, post_id: int, request_key: str | None = None) -> posts.Done:
    with unit_of_work() as session:
        return posts.cancel(session, actor_id=actor, post_id=post_id,
                            request_key=request_key or key("cancel"))


def test_edit_and_cancel_only_while_scheduled(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin).post_id
    assert post_id is not None
    request_key = key("edit")
    edit(admin, post_id, "2030-01-11 09:15", request_key)
    edit(admin, post_id, "2030-01-11 09:15", request_key)  # redelivered
    moved = post(post_id)
    assert moved.publish_at == datetime(2030, 1, 11, 8, 15, tzinfo=UTC)
    assert audits("post.edit", request_key) == [(admin, "ok")]
    assert "movido al 11/01/2030 09:15 (Europe/Madrid)" in told(f"post.rescheduled:{request_key}")
    with pytest.raises(posts.InPast):
        edit(admin, post_id, "2030-01-09 10:00")
    with pytest.raises(posts.UnknownPost):
        edit(admin, 10**15, "2030-01-11 10:00")

    due = moved.publish_at
    assert mine(claim(due), post_id)  # being published: hands off
    with pytest.raises(posts.NotEditable):
        edit(admin, post_id, "2030-01-12 10:00")
    with pytest.raises(posts.NotEditable):
        cancel(admin, post_id)
    with unit_of_work() as session:
        posts.mark_sent(session, post_id, due, 99, now=due)
    with pytest.raises(posts.NotEditable):
        edit(admin, post_id, "2030-01-12 10:00")  # published
    with pytest.raises(posts.NotEditable):
        cancel(admin, post_id)


def test_a_cancelled_post_is_never_published(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin, repeat="weekly").post_id
    assert post_id is not None
    request_key = key("cancel")
    cancel(admin, post_id, request_key)
    assert cancel(admin, post_id, request_key).status == "cancelled"  # redelivered
    assert audits("post.cancel", request_key) == [(admin, "ok")]
    assert post(post_id).status == "cancelled"
    assert "cancelado" in told(f"post.cancelled:{post_id}")
    with pytest.raises(posts.NotEditable):
        cancel(admin, post_id)  # another request: already cancelled
    with pytest.raises(posts.NotEditable):
        edit(admin, post_id, "2030-01-12 10:00")
    assert mine(claim(datetime(2030, 2, 1, tzinfo=UTC)), post_id) == []


def test_a_post_cancelled_after_its_claim_is_not_sent(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin).post_id
    due = datetime(2030, 1, 10, 14, tzinfo=UTC)
    assert mine(claim(due), post_id)
    with unit_of_work() as session:  # as if cancelled by hand (the service refuses it now)
        session.get(ScheduledPost, post_id).status = "cancelled"  # type: ignore[union-attr]
    with unit_of_work() as session:
        assert posts.start_attempt(session, post_id, due) is None  # type: ignore[arg-type]
    with read_session() as session:
        row = session.scalars(select(PostPublication).where(
            PostPublication.post_id == post_id)).one()
        assert (row.status, row.error) == ("failed", "cancelled")


def test_list_and_preview_show_exactly_what_will_be_sent(admin) -> None:  # type: ignore[no-untyped-def]
    post_id = create(admin, text="Ver <i>esto</i>", reaction_buttons=True,
                     repeat="cron", cron="0 20 * * 5").post_id
    request_key = key("list")
    with unit_of_work() as session:
        listing = posts.listing(session, actor_id=admin, request_key=request_key)
    shown = [v for v in listing.posts if v.id == post_id]
    assert len(shown) == 1 and shown[0].snippet == "Ver esto" and shown[0].repeat == "cron"
    assert audits("post.list", request_key) == [(admin, "ok")]

    request_key = key("preview")
    with unit_of_work() as session:
        preview = posts.preview(session, actor_id=admin, post_id=post_id,  # type: ignore[arg-type]
                                request_key=request_key)
        job_method, job_params = posts.message_params(session.get(ScheduledPost, post_id),  # type: ignore[arg-type]
                                                      VIP_CHAT)
    assert preview.method == job_method == "sendMessage"
    assert preview.params == {**job_params, "chat_id": admin}
    assert audits("post.preview", request_key) == [(admin, "ok")]


# --- what the bot reads (bot/handlers/posts.py, bot/callbacks.py) ----------------------------


@pytest.mark.parametrize(("words", "expected"), [
    ("vip 2030-05-01 20:30", ("vip", "2030-05-01 20:30", "none", None, False, None, None)),
    ("libre 2030-05-01 9:05 diario --reacciones",
     ("free", "2030-05-01 9:05", "daily", None, True, None, None)),
    ("free 2030-05-01 20:30:15 weekly --proteger",
     ("free", "2030-05-01 20:30:15", "weekly", None, False, True, None)),
    ('vip 2030-05-01 20:30 cron "0 9 * * 1" --sin-proteger --zona=America/Mexico_City',
     ("vip", "2030-05-01 20:30", "cron", "0 9 * * 1", False, False, "America/Mexico_City")),
    ("vip 2030-05-01 20:30 cron “0  9 * * 1-5”",  # a phone's typographic quotes
     ("vip", "2030-05-01 20:30", "cron", "0 9 * * 1-5", False, None, None)),
    ("vip 2030-05-01 20:30 cron 0 9 * * 1", ("vip", "2030-05-01 20:30", "cron", "0 9 * * 1",
                                             False, None, None)),
    ("vip 2030-05-01", None),
    ("canal 2030-05-01 20:30", None),
    ("vip mañana 20:30", None),
    ('vip 2030-05-01 20:30 cron "0 9"', None),
    ("vip 2030-05-01 20:30 diario semanal", None),
    ("vip 2030-05-01 20:30 --otra", None),
    ('vip 2030-05-01 20:30 "sin cerrar', None),
])
def test_the_schedule_command_words(words, expected) -> None:  # type: ignore[no-untyped-def]
    from bot.handlers.posts import parse_schedule

    parsed = parse_schedule(words)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None
        assert (parsed.target, parsed.when, parsed.repeat, parsed.cron, parsed.reactions,
                parsed.protect, parsed.zone) == expected


def test_trailing_button_lines_become_url_buttons() -> None:
    from bot.handlers.posts import split_buttons

    assert split_buttons("Hola <b>tú</b>\n\n[Web](https://a.com/?x=1&amp;y=2)\n"
                         "[Otra web](http://b.com)\n") == \
        ("Hola <b>tú</b>", [{"text": "Web", "url": "https://a.com/?x=1&y=2"},
                             {"text": "Otra web", "url": "http://b.com"}])  # refused later
    assert split_buttons('Hola\n<a href="https://ex.com">Ver</a>') == \
        ("Hola", [{"text": "Ver", "url": "https://ex.com"}])  # Telegram Desktop's link
    assert split_buttons("[enlace](https://a.com) en medio\nfin") == \
        ("[enlace](https://a.com) en medio\nfin", [])
    assert split_buttons("<b>[no](https://a.com)</b>") == ("<b>[no](https://a.com)</b>", [])


@pytest.mark.parametrize("raw", [
    "o:view:0", "o:view:-1", "o:view:01", "o:view:1\n", "o:drop", "o:list:1", "o:cancel:x",
    "o:view:1234567890123456789", "o:" + "9" * 70, "O:list", None, 12, b"o:list",
])
def test_tampered_post_buttons_parse_to_none(raw) -> None:  # type: ignore[no-untyped-def]
    from bot import callbacks

    assert callbacks.parse_post(raw) is None


def test_post_buttons_fit_in_64_bytes() -> None:
    from bot import callbacks

    longest = 10**18 - 1
    for verb in ("view", "cancel", "drop"):
        data = callbacks.post_data(verb, longest)
        assert len(data.encode()) <= 64 and callbacks.parse_post(data) == (verb, longest)
    assert callbacks.parse_post(callbacks.post_data("list")) == ("list", None)


@pytest.mark.parametrize("name", ["America", "Etc", "Mars/Olympus", "../etc/passwd", ""])
def test_a_name_that_is_no_time_zone_is_refused_politely(name: str) -> None:
    if not name:  # empty means the default zone
        assert posts.zone_of(name) == posts.zone_of(None)
        return
    with pytest.raises(posts.BadZone):
        posts.zone_of(name)
