"""/api/v1 VIP, scheduled posts, broadcasts and trivia with the real app, a real worker,
broker, databases and the Telegram stand-in: each action runs the task the bot runs, as the
key's admin, with the same audit rows and events as the bot path; a key of a non-admin is
refused (audited); 401/403 for keys, 404 for unknown ids, 422 naming the field."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import (
    AuditEntry,
    Broadcast,
    OutboxEvent,
    ScheduledPost,
    TriviaPoll,
    User,
    VipSubscription,
)
from services import apikeys, broadcasts, content
from tasks import broadcasts as broadcast_tasks
from tasks import events
from tasks import posts as post_tasks
from tasks import trivia as trivia_tasks
from tasks import vip as vip_tasks
from tests.api.conftest import KeyFactory, auth
from tests.api.test_gift_api import start_member
from tests.services.test_admin_members import audit_rows, registered_member
from tests.support import Process, start_worker, wait_until

FREE_CHAT = -1004440000001
ENV = {"FREE_CHAT_ID": str(FREE_CHAT)}
ZONE = "Europe/Madrid"


@pytest.fixture(scope="module")
def worker(log_dir: Path) -> Iterator[Process]:
    """A worker that knows the free channel (FREE_CHAT_ID), for the scheduled posts."""
    process = start_worker(log_dir, name="worker-api-admin", env=ENV)
    yield process
    process.stop()


# --- helpers -------------------------------------------------------------------------------


def admin_key(created_by: int | None) -> tuple[int, str]:
    with unit_of_work() as session:
        row, plaintext = apikeys.create(session, "admin tools", ("admin",),
                                        created_by=created_by)
        return row.id, plaintext


def an_admin(user_id: int) -> int:
    registered_member(user_id)
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]
    return user_id


def post(api_v1: httpx.Client, path: str, key: str, idem: str, **kwargs: Any) -> httpx.Response:
    return api_v1.post(path, headers=auth(key) | {"Idempotency-Key": idem}, **kwargs)


def accepted(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    return str(response.json()["request_key"])


def run_as_bot(signature: Any, update_key: str) -> None:
    """What the bot does with a command or a button: start the task with the update's key."""
    events.start(signature, command_id=update_key)


def audited(request_key: str) -> list[tuple[str, str]]:
    return [(row.action, row.result) for row in audit_rows(request_key)]


def wait_audited(request_key: str, expected: list[tuple[str, str]]) -> None:
    wait_until(lambda: audited(request_key) == expected, timeout=20,
               message=f"audit of {request_key}: {expected}")


def event_types(user_id: int) -> Counter[str]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.payload["user_id"].as_float() == float(user_id))).all()
        return Counter(row.type for row in rows)


def events_of(field: str, value: int) -> Counter[str]:
    with read_session() as session:
        rows = session.scalars(select(OutboxEvent).where(
            OutboxEvent.payload[field].as_float() == float(value))).all()
        return Counter(row.type for row in rows)


def problem_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {error["field"] for error in response.json()["errors"]}


def local(at: datetime) -> str:
    return at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%dT%H:%M")


# --- VIP ---------------------------------------------------------------------------------


def test_vip_grant_codes_redeem_and_revoke_equal_the_bots(
        api_v1: httpx.Client, worker: Any, standin: Any, make_key: KeyFactory,
        new_user_id: Any) -> None:
    admin = an_admin(new_user_id())
    via_bot, via_api = (registered_member(new_user_id()) for _ in range(2))
    _, key = admin_key(admin)
    mark = standin.mark()

    run_as_bot(vip_tasks.grant.si(admin, via_bot, 30, "mensual", f"u:{via_bot}"),
               f"u:{via_bot}")
    rk = accepted(post(api_v1, f"/admin/members/{via_api}/vip", key, "grant-1",
                       json={"days": 30, "plan": "mensual"}))
    assert post(api_v1, f"/admin/members/{via_api}/vip", key, "grant-1",
                json={"days": 30, "plan": "mensual"}).headers["idempotent-replayed"] == "true"
    wait_audited(f"u:{via_bot}", [("vip.grant", "ok")])
    wait_audited(rk, [("vip.grant", "ok")])
    for member in (via_bot, via_api):
        standin.wait_for_message(admin, f"VIP para {member} hasta el", since=mark, timeout=20)
    wait_until(lambda: event_types(via_bot) == event_types(via_api), timeout=20,
               message="the same events")
    assert event_types(via_api)["vip.granted"] == 1
    status = api_v1.get(f"/members/{via_api}/vip", headers=auth(key)).json()
    assert (status["active"], status["plan"], status["source"]) == (True, "mensual", "admin")
    assert datetime.fromisoformat(status["ends_at"]) > datetime.now(UTC) + timedelta(days=29)

    # codes: shown to the admin in Telegram by the task, and readable back by this key
    rk = accepted(post(api_v1, "/admin/vip/codes", key, "codes-1",
                       json={"count": 2, "days": 7}))
    wait_audited(rk, [("vip.codes", "ok")])
    batch = api_v1.get("/admin/vip/codes", params={"request_key": rk}, headers=auth(key))
    assert batch.status_code == 200, batch.text
    codes = [c["code"] for c in batch.json()["codes"]]
    assert len(codes) == 2 and batch.json()["days"] == 7
    standin.wait_for_message(admin, codes[1], since=mark, timeout=20)
    _, other = admin_key(admin)  # another key of the same admin does not see them
    assert api_v1.get("/admin/vip/codes", params={"request_key": rk},
                      headers=auth(other)).status_code == 404

    # redeem: over the API (member scope) ≡ /canjear
    api_member, bot_member = (registered_member(new_user_id()) for _ in range(2))
    _, member_key = make_key("member")
    bad = post(api_v1, f"/members/{api_member}/vip/redeem", member_key, "r-0",
               json={"code": "hola"})
    assert problem_fields(bad) == {"code"}
    accepted(post(api_v1, f"/members/{api_member}/vip/redeem", member_key, "r-1",
                  json={"code": codes[0].lower()}))
    run_as_bot(vip_tasks.redeem.si(bot_member, codes[1], f"u:{bot_member}"), f"u:{bot_member}")
    wait_until(lambda: all(api_v1.get(f"/members/{m}/vip", headers=auth(member_key))
                           .json()["active"] for m in (api_member, bot_member)),
               timeout=20, message="both redeemed")
    wait_until(lambda: event_types(api_member) == event_types(bot_member), timeout=20,
               message="the same events")
    assert event_types(api_member)["vip.redeemed"] == 1
    assert all(c["redeemed"] for c in api_v1.get(
        "/admin/vip/codes", params={"request_key": rk}, headers=auth(key)).json()["codes"])

    # revoke ≡ /vip_quitar
    rk = accepted(post(api_v1, f"/admin/members/{via_api}/vip/revoke", key, "revoke-1"))
    run_as_bot(vip_tasks.revoke.si(admin, via_bot, f"u:r:{via_bot}"), f"u:r:{via_bot}")
    wait_audited(rk, [("vip.revoke", "ok")])
    wait_audited(f"u:r:{via_bot}", [("vip.revoke", "ok")])
    wait_until(lambda: event_types(via_bot) == event_types(via_api), timeout=20,
               message="the same events")
    assert not api_v1.get(f"/members/{via_api}/vip", headers=auth(key)).json()["active"]
    with read_session() as session:
        ended = session.scalars(select(VipSubscription.end_reason).where(
            VipSubscription.user_id == via_api)).all()
    assert ended == ["revoked"]

    # unknown ids and invalid bodies
    nobody = new_user_id()
    assert api_v1.get(f"/members/{nobody}/vip", headers=auth(key)).status_code == 404
    assert post(api_v1, f"/admin/members/{nobody}/vip", key, "grant-x",
                json={"days": 3}).status_code == 404
    assert problem_fields(post(api_v1, f"/admin/members/{via_api}/vip", key, "grant-y",
                               json={"days": 0, "plan": "no plan"})) == {"days", "plan"}
    assert problem_fields(post(api_v1, "/admin/vip/codes", key, "codes-x",
                               json={"count": 500, "days": 7})) == {"count"}


# --- non-admin keys, scopes ------------------------------------------------------------------


def test_a_key_whose_creator_is_not_an_admin_is_refused_and_audited(
        api_v1: httpx.Client, worker: Any, standin: Any, new_user_id: Any) -> None:
    someone = registered_member(new_user_id())
    member = registered_member(new_user_id())
    key_id, key = admin_key(someone)  # the admin scope, made for a member
    mark = standin.mark()
    grant = accepted(post(api_v1, f"/admin/members/{member}/vip", key, "g", json={"days": 5}))
    codes = accepted(post(api_v1, "/admin/vip/codes", key, "c", json={"count": 1, "days": 5}))
    scheduled = accepted(post(api_v1, "/admin/posts", key, "p", json={
        "target": "free", "text": "Hola", "publish_at": local(datetime.now(UTC)
                                                              + timedelta(days=2))}))
    started = accepted(post(api_v1, "/admin/broadcasts", key, "b", json={
        "segment": {"kind": "list", "ids": [member]}, "text": "Hola"}))
    wait_audited(grant, [("vip.grant", "not_admin")])
    wait_audited(codes, [("vip.codes", "not_admin")])
    wait_audited(scheduled, [("post.create", "not_admin")])
    wait_audited(started, [("broadcast.start", "not_admin")])
    with read_session() as session:
        assert session.get(User, member).vip_until is None  # type: ignore[union-attr]
        assert session.scalars(select(ScheduledPost).where(
            ScheduledPost.request_key == scheduled)).first() is None
        assert session.scalars(select(Broadcast).where(
            Broadcast.request_key == started)).first() is None
    assert event_types(someone)["vip.refused"] == 2
    assert event_types(someone)["post.refused"] == 1
    assert event_types(someone)["broadcast.refused"] == 1
    standin.wait_for_message(someone, None, since=mark, timeout=20)  # told politely
    refused = api_v1.get("/admin/vip/codes", params={"request_key": codes}, headers=auth(key))
    assert refused.status_code == 403
    with read_session() as session:
        reads = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "vip.codes_read", AuditEntry.actor_id == someone)).all()
        assert [(r.result, r.details["api_key"]) for r in reads] == [("not_admin", key_id)]


def test_keys_and_scopes(api_v1: httpx.Client, make_key: KeyFactory, registered: int) -> None:
    _, reader = make_key("read")
    _, member = make_key("member")
    member_actions = (f"/members/{registered}/vip/redeem", f"/members/{registered}/trivia/play")
    admin_actions = (f"/admin/members/{registered}/vip", f"/admin/members/{registered}/vip/revoke",
                     "/admin/vip/codes", "/admin/posts", "/admin/posts/1/reschedule",
                     "/admin/posts/1/cancel", "/admin/broadcasts", "/admin/broadcasts/1/pause",
                     "/admin/broadcasts/1/resume", "/admin/broadcasts/1/cancel")
    for path in member_actions + admin_actions:
        assert api_v1.post(path, headers={"Idempotency-Key": "k"}).status_code == 401, path
    for path in member_actions:
        assert post(api_v1, path, reader, "k").status_code == 403, path
    for path in admin_actions:
        assert post(api_v1, path, member, "k").status_code == 403, path
    for path in ("/admin/posts", "/admin/posts/1", "/admin/broadcasts/1",
                 "/admin/vip/codes?request_key=x"):
        assert api_v1.get(path, headers=auth(member)).status_code == 403, path
    for path in (f"/members/{registered}/vip", f"/members/{registered}/trivia"):
        assert api_v1.get(path).status_code == 401
        assert api_v1.get(path, headers=auth(reader)).status_code == 200, path


# --- scheduled posts -------------------------------------------------------------------------


def test_posts_created_listed_moved_and_cancelled_like_in_the_bot(
        api_v1: httpx.Client, worker: Any, standin: Any, new_user_id: Any) -> None:
    admin = an_admin(new_user_id())
    _, key = admin_key(admin)
    mark = standin.mark()
    when = datetime.now(UTC) + timedelta(days=2)
    body = {"target": "free", "text": "<b>Hola</b> a todas", "parse_mode": "HTML",
            "url_buttons": [{"text": "Entrar", "url": "https://example.com/a?b=1"}],
            "reaction_buttons": True, "publish_at": local(when), "timezone": ZONE,
            "repeat": "daily"}
    rk = accepted(post(api_v1, "/admin/posts", key, "post-1", json=body))
    draft = {"target": "free", "when": local(when).replace("T", " "), "zone": ZONE,
             "repeat": "daily", "cron": None, "text": "<b>Hola</b> a todas",
             "parse_mode": "HTML", "photo": None, "url_buttons": body["url_buttons"],
             "reaction_buttons": True, "protect_content": None}
    run_as_bot(post_tasks.create.si(admin, draft, f"u:p:{admin}"), f"u:p:{admin}")
    wait_audited(rk, [("post.create", "ok")])
    wait_audited(f"u:p:{admin}", [("post.create", "ok")])

    def the_post(request_key: str) -> ScheduledPost:
        with read_session() as session:
            row = session.scalars(select(ScheduledPost).where(
                ScheduledPost.request_key == request_key)).one()
            session.expunge(row)
            return row

    api_post, bot_post = the_post(rk), the_post(f"u:p:{admin}")
    fields = ("target", "chat_id", "text", "parse_mode", "url_buttons", "reaction_buttons",
              "protect_content", "publish_at", "timezone", "repeat", "cron", "status",
              "created_by")
    assert [getattr(api_post, f) for f in fields] == [getattr(bot_post, f) for f in fields]
    assert api_post.chat_id == FREE_CHAT
    wait_until(lambda: events_of("post_id", api_post.id) == events_of("post_id", bot_post.id)
               == Counter({"post.scheduled": 1}), timeout=20, message="the same events")
    standin.wait_for_message(admin, f"Post #{api_post.id} programado", since=mark, timeout=20)

    listed = api_v1.get("/admin/posts", params={"status": "scheduled", "limit": 200},
                        headers=auth(key))
    assert listed.status_code == 200 and api_post.id in {p["id"] for p in listed.json()}
    one = api_v1.get(f"/admin/posts/{api_post.id}", headers=auth(key)).json()
    assert (one["repeat"], one["timezone"], one["publications"]) == ("daily", ZONE, [])
    assert one["local_time"].startswith(local(when))
    assert one["url_buttons"] == body["url_buttons"]

    later = when + timedelta(days=1)
    moved = accepted(post(api_v1, f"/admin/posts/{api_post.id}/reschedule", key, "move-1",
                          json={"publish_at": local(later)}))
    wait_audited(moved, [("post.edit", "ok")])
    assert the_post(rk).publish_at == later.replace(second=0, microsecond=0)
    run_as_bot(post_tasks.edit.si(admin, bot_post.id, local(later).replace("T", " "), None,
                                  None, f"u:e:{admin}"), f"u:e:{admin}")
    wait_audited(f"u:e:{admin}", [("post.edit", "ok")])

    cancelled = accepted(post(api_v1, f"/admin/posts/{api_post.id}/cancel", key, "cancel-1"))
    run_as_bot(post_tasks.cancel.si(admin, bot_post.id, f"u:c:{admin}"), f"u:c:{admin}")
    wait_audited(cancelled, [("post.cancel", "ok")])
    wait_audited(f"u:c:{admin}", [("post.cancel", "ok")])
    assert the_post(rk).status == "cancelled"
    wait_until(lambda: events_of("post_id", api_post.id) == events_of("post_id", bot_post.id),
               timeout=20, message="the same events")
    again = accepted(post(api_v1, f"/admin/posts/{api_post.id}/cancel", key, "cancel-2"))
    wait_audited(again, [("post.cancel", "not_editable")])  # checked by the service

    # 422 naming the field, 404 for unknown posts
    past = local(datetime.now(UTC) - timedelta(hours=1))
    cases = [({"publish_at": past}, "publish_at"),
             ({"publish_at": "2030-02-30T10:00"}, "publish_at"),
             ({"timezone": "Mars/Base"}, "timezone"), ({"timezone": "America"}, "timezone"),
             ({"cron": "0 10 * * *"}, "cron"), ({"repeat": "cron", "cron": "99 * * * *"}, "cron"),
             ({"url_buttons": [{"text": "x", "url": "http://example.com"}]}, "url_buttons[0].url"),
             ({"text": "", "parse_mode": None}, "text"), ({"text": "x" * 4097}, "text"),
             ({"photo": "http://example.com/a.jpg"}, "photo"), ({"target": "vip2"}, "target")]
    for n, (change, field) in enumerate(cases):
        response = post(api_v1, "/admin/posts", key, f"bad-{n}", json=body | change)
        assert problem_fields(response) == {field}, (change, response.text)
    assert problem_fields(post(api_v1, f"/admin/posts/{bot_post.id}/reschedule", key, "bad-m",
                               json={"publish_at": past})) == {"publish_at"}
    assert api_v1.get("/admin/posts/999999999", headers=auth(key)).status_code == 404
    for path in ("/admin/posts/999999999/cancel", "/admin/posts/999999999/reschedule"):
        assert post(api_v1, path, key, "nope", json={"publish_at": local(later)}
                    ).status_code == 404, path


# --- broadcasts --------------------------------------------------------------------------------


def test_a_broadcast_over_the_api_reports_progress_and_is_controlled(
        api_v1: httpx.Client, worker: Any, standin: Any, new_user_id: Any) -> None:
    admin = an_admin(new_user_id())
    _, key = admin_key(admin)
    api_members = [registered_member(new_user_id()) for _ in range(3)]
    bot_members = [registered_member(new_user_id()) for _ in range(3)]
    mark = standin.mark()
    text = "Hola <b>todas</b> & más"
    rk = accepted(post(api_v1, "/admin/broadcasts", key, "bc-1", json={
        "segment": {"kind": "list", "ids": api_members}, "text": text, "parse_mode": None}))
    run_as_bot(broadcast_tasks.start.si(admin, {"kind": "list", "ids": bot_members},
                                        "Hola <b>todas</b>", f"u:b:{admin}"), f"u:b:{admin}")
    wait_audited(rk, [("broadcast.start", "ok")])
    wait_audited(f"u:b:{admin}", [("broadcast.start", "ok")])
    with read_session() as session:
        api_id, bot_id = (session.scalars(select(Broadcast.id).where(
            Broadcast.request_key == k)).one() for k in (rk, f"u:b:{admin}"))
    standin.wait_for_message(admin, f"#{api_id}", since=mark, timeout=20)  # to the key's admin

    def progress(broadcast_id: int) -> dict[str, Any]:
        response = api_v1.get(f"/admin/broadcasts/{broadcast_id}", headers=auth(key))
        assert response.status_code == 200, response.text
        return dict(response.json())

    wait_until(lambda: progress(api_id)["status"] == "done", timeout=30, message="sent")
    shown = progress(api_id)
    assert (shown["total"], shown["sent"], shown["left"], shown["percent"]) == (3, 3, 0, 100.0)
    for member in api_members:  # plain text: sent as written
        assert standin.wait_for_message(member, since=mark, timeout=20)["result"]["text"] == text
    wait_until(lambda: progress(bot_id)["status"] == "done", timeout=30, message="bot's sent")
    wait_until(lambda: events_of("broadcast_id", api_id) == events_of("broadcast_id", bot_id)
               == Counter({"broadcast.started": 1, "broadcast.finished": 1}), timeout=20,
               message="the same events")

    # controls: the task of ⏸ / ▶️ / ✖️, on a broadcast held before its first batch
    more = [registered_member(new_user_id()) for _ in range(2)]
    with unit_of_work() as session:
        held = broadcasts.start(session, admin, {"kind": "list", "ids": more}, "Otra",
                                f"held:{admin}").broadcast_id
    assert held is not None
    paused = accepted(post(api_v1, f"/admin/broadcasts/{held}/pause", key, "pause-1"))
    wait_audited(paused, [("broadcast.pause", "ok")])
    assert progress(held)["status"] == "paused"
    again = accepted(post(api_v1, f"/admin/broadcasts/{held}/pause", key, "pause-2"))
    wait_audited(again, [("broadcast.pause", "wrong_state")])
    resumed = accepted(post(api_v1, f"/admin/broadcasts/{held}/resume", key, "resume-1"))
    wait_audited(resumed, [("broadcast.resume", "ok")])
    wait_until(lambda: progress(held)["status"] == "done", timeout=30, message="resumed")
    assert progress(held)["sent"] == 2
    late = accepted(post(api_v1, f"/admin/broadcasts/{held}/cancel", key, "cancel-1"))
    wait_audited(late, [("broadcast.cancel", "wrong_state")])

    # 422 naming the field, 404 for unknown broadcasts
    assert problem_fields(post(api_v1, "/admin/broadcasts", key, "bad-1", json={
        "segment": {"kind": "inactive"}, "text": "x"})) == {"segment.days"}
    assert problem_fields(post(api_v1, "/admin/broadcasts", key, "bad-2", json={
        "segment": {"kind": "all"}, "text": "<b> </b>"})) == {"text"}
    assert problem_fields(post(api_v1, "/admin/broadcasts", key, "bad-3", json={
        "segment": {"kind": "everyone"}, "text": "x"})) == {"segment.kind"}
    assert api_v1.get("/admin/broadcasts/999999999", headers=auth(key)).status_code == 404
    assert post(api_v1, "/admin/broadcasts/999999999/pause", key, "nope").status_code == 404


# --- trivia ------------------------------------------------------------------------------------


def test_trivia_over_the_api_plays_like_the_button(
        api_v1: httpx.Client, worker: Any, standin: Any, make_key: KeyFactory,
        new_user_id: Any) -> None:
    via_api, via_bot = new_user_id(), new_user_id()
    for uid in (via_api, via_bot):
        start_member(uid, standin)
    _, key = make_key("member")
    first = content.trivia()[0]
    before = api_v1.get(f"/members/{via_api}/trivia", headers=auth(key)).json()
    assert (before["can_play"], before["reason"], before["sent_today"],
            before["next_question"]) == (True, None, 0, first.id)
    assert {s["id"] for s in before["sets"]} == set(content.trivia_sets())
    mark = standin.mark()
    rk = accepted(post(api_v1, f"/members/{via_api}/trivia/play", key, "play-1"))
    run_as_bot(trivia_tasks.play.si(via_bot, f"cb:t:{via_bot}"), f"cb:t:{via_bot}")
    for uid in (via_api, via_bot):
        poll = standin.wait_for(lambda r: True, timeout=20, chat_id=uid, method="sendPoll",
                                since=mark)
        assert poll["params"]["question"] == first.question.es

    def polls(user_id: int) -> list[tuple[str, str]]:
        with read_session() as session:
            return [(p.question_id, p.status) for p in session.scalars(
                select(TriviaPoll).where(TriviaPoll.user_id == user_id))]

    wait_until(lambda: polls(via_api) == polls(via_bot) == [(first.id, "open")], timeout=20,
               message="the same polls")
    with read_session() as session:
        assert session.scalars(select(TriviaPoll).where(
            TriviaPoll.delivery_key == f"trivia:{rk}")).one_or_none() is not None
    after = api_v1.get(f"/members/{via_api}/trivia", headers=auth(key)).json()
    assert (after["can_play"], after["reason"], after["sent_today"],
            after["open_poll"]["question_id"]) == (False, "pending", 1, first.id)
    refused = accepted(post(api_v1, f"/members/{via_api}/trivia/play", key, "play-2"))
    run_as_bot(trivia_tasks.play.si(via_bot, f"cb:t2:{via_bot}"), f"cb:t2:{via_bot}")
    for request_key in (refused, f"cb:t2:{via_bot}"):
        wait_until(lambda k=request_key: _refused(k) == "pending", timeout=20,
                   message="refused: a poll still open")
    wait_until(lambda: event_types(via_api) == event_types(via_bot), timeout=20,
               message="the same events")
    nobody = new_user_id()
    assert api_v1.get(f"/members/{nobody}/trivia", headers=auth(key)).status_code == 404
    assert post(api_v1, f"/members/{nobody}/trivia/play", key, "play-x").status_code == 404


def _refused(request_key: str) -> str | None:
    with read_session() as session:
        row = session.get(OutboxEvent, f"trivia.play_refused:{request_key}")
        return None if row is None else str(row.payload.get("reason"))
