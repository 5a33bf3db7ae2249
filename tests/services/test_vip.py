"""👑 VIP rules with the real database: grant, extend, revoke and redeem once per request
key; single-use codes kept as hashes; refusals (told, audited for admin actions); expiry
at the boundary; reminders once; admins and renewed members never removed; expiry run
twice (and concurrently) changes nothing."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from bot import callbacks
from bot.handlers import vip as vip_handlers
from core.settings import Settings, reset_settings
from models.db import read_session, unit_of_work
from models.tables import AuditEntry, OutboxEvent, User, VipCode, VipReminder, VipSubscription
from services import events, messages, missions, users, vip
from services.messages import vip as vip_messages

_keys = itertools.count(1)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def key(label: str = "k") -> str:
    return f"t:{label}:{next(_keys)}:{datetime.now(UTC).timestamp()}"


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()

    yield apply
    monkeypatch.undo()
    reset_settings()


def member(new_user_id: Callable[[], int], *, role: str = "member",
           language: str = "es") -> int:
    uid = new_user_id()
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=uid, language_code=language))
        session.flush()
        session.get(User, uid).role = role  # type: ignore[union-attr]
    return uid


def user(uid: int) -> User:
    with read_session() as session:
        row = session.get(User, uid)
        assert row is not None
        return row


def subscriptions(uid: int) -> list[VipSubscription]:
    with read_session() as session:
        return list(session.scalars(select(VipSubscription).where(VipSubscription.user_id == uid)
                                    .order_by(VipSubscription.id)))


def audits(request_key: str) -> list[AuditEntry]:
    with read_session() as session:
        return [row for row in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                if (row.details or {}).get("request_key") == request_key]


def event(event_id: str) -> dict[str, Any] | None:
    with read_session() as session:
        row = session.get(OutboxEvent, event_id)
        return None if row is None else events.Event.from_row(row).as_message()


def told(event_id: str) -> str:
    message = event(event_id)
    assert message is not None, event_id
    rendered = messages.for_event(message) or vip_messages.render(message)
    assert rendered is not None
    return rendered.text


def grant(actor: int | None, uid: int, days: int, request_key: str | None = None,
          plan: str | None = "mensual", now: datetime | None = None) -> vip.Outcome:
    with unit_of_work() as session:
        return vip.grant(session, actor, uid, days, plan, request_key or key("grant"), now=now)


def revoke(actor: int | None, uid: int, request_key: str | None = None,
           now: datetime | None = None) -> vip.Outcome:
    with unit_of_work() as session:
        return vip.revoke(session, actor, uid, request_key or key("revoke"), now=now)


def codes(actor: int | None, count: int, days: int, request_key: str | None = None,
          plan: str | None = None, valid_days: int | None = None,
          now: datetime | None = None) -> vip.Outcome:
    with unit_of_work() as session:
        return vip.create_codes(session, actor, count, days, plan, request_key or key("codes"),
                                valid_days=valid_days, now=now)


def redeem(uid: int, code: str, request_key: str | None = None,
           now: datetime | None = None) -> vip.Outcome:
    with unit_of_work() as session:
        return vip.redeem(session, uid, code, request_key or key("redeem"), now=now)


def expire(subscription_id: int, now: datetime) -> vip.Expiry | None:
    with unit_of_work() as session:
        return vip.expire(session, subscription_id, now=now)


def due(now: datetime) -> list[int]:
    with read_session() as session:
        return vip.due_expiries(session, now=now, limit=100_000)


def reminders(uid: int) -> list[VipReminder]:
    with read_session() as session:
        return list(session.scalars(select(VipReminder).where(VipReminder.user_id == uid)
                                    .order_by(VipReminder.days_before.desc())))


def remind_all(uid: int, now: datetime) -> list[dict[str, Any]]:
    """Run the reminder job's steps for this member's due reminders at `now`."""
    with read_session() as session:
        ids = [r for r in vip.due_reminders(session, now=now, limit=100_000)
               if session.get(VipReminder, r).user_id == uid]  # type: ignore[union-attr]
    sent: list[dict[str, Any]] = []
    for reminder_id in ids:
        with unit_of_work() as session:
            recorded = vip.remind(session, reminder_id, now=now)
        sent += [e.as_message() for e in recorded or []]
    return sent


# --- grant, extend, revoke -----------------------------------------------------------------


def test_grant_then_extend_once_per_key_and_access_counts_at_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id)
    now = datetime.now(UTC)
    assert not users.is_vip(user(uid)) and not missions_vip(uid)

    first_key = key("grant")
    first = grant(admin, uid, 30, first_key, now=now)
    assert first.ok and not first.replayed and first.ends_at == now + 30 * DAY
    again = grant(admin, uid, 30, first_key, now=now + DAY)  # redelivered
    assert again.ok and again.replayed and again.ends_at == first.ends_at
    assert user(uid).vip_until == now + 30 * DAY
    assert users.is_vip(user(uid)) and missions_vip(uid)  # every check reads vip_until
    assert [(r.actor_id, r.action, r.target, r.result) for r in audits(first_key)] == \
        [(admin, "vip.grant", str(uid), "ok")]
    granted = event(f"vip.granted:{first_key}")
    assert granted is not None and granted["payload"]["source"] == "admin"
    assert set(granted["payload"]) <= {"user_id", "subscription_id", "plan", "days", "source",
                                       "ends_at", "lang", "actor_id", "admin_lang"}
    assert "Ya eres VIP" in told(f"vip.granted:{first_key}")
    admin_note = vip_messages.for_admin(granted)
    assert admin_note is not None and str(uid) in admin_note.text

    second_key = key("grant")
    second = grant(admin, uid, 10, second_key, now=now + DAY)
    assert second.ends_at == now + 40 * DAY  # from the current end, not from now
    rows = subscriptions(uid)
    assert [(r.source, r.starts_at, r.ends_at, r.granted_by) for r in rows] == [
        ("admin", now, now + 30 * DAY, admin), ("extend", now + 30 * DAY, now + 40 * DAY, admin)]
    assert "ampliado 10 día(s)" in told(f"vip.granted:{second_key}")
    with read_session() as session:
        status = vip.status(session, uid)
    assert status.active and status.ends_at == now + 40 * DAY and status.since == now
    assert status.plan == "mensual"


def missions_vip(uid: int) -> bool:
    with read_session() as session:
        return missions.is_vip(session, uid)


def test_revoke_ends_access_now_once_per_key(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id)
    now = datetime.now(UTC) - 10 * SECOND
    grant(admin, uid, 30, now=now)
    revoke_key = key("revoke")
    done = revoke(admin, uid, revoke_key, now=now + SECOND)
    assert done.ok and user(uid).vip_until == now + SECOND
    assert not users.is_vip(user(uid)) and not missions_vip(uid)
    assert [(r.ended_at, r.end_reason) for r in subscriptions(uid)] == [(now + SECOND, "revoked")]
    again = revoke(admin, uid, revoke_key, now=now + 2 * SECOND)
    assert again.ok and again.replayed and user(uid).vip_until == now + SECOND
    assert [r.result for r in audits(revoke_key)] == ["ok"]
    revoked = event(f"vip.revoked:{revoke_key}")
    assert revoked is not None and revoked["payload"]["remove"] is True
    assert "retirado tu acceso VIP" in told(f"vip.revoked:{revoke_key}")
    # nothing left to expire, and a second revocation is refused: not VIP
    assert expire(subscriptions(uid)[0].id, now + 31 * DAY) is None
    refused_key = key("revoke")
    assert revoke(admin, uid, refused_key, now=now + 3 * SECOND).result == "not_vip"
    assert [r.result for r in audits(refused_key)] == ["not_vip"]
    assert "no tiene VIP activo" in told(f"vip.refused:{refused_key}")
    # granted again after a revocation: a fresh start, not an extension
    regranted = grant(admin, uid, 5, now=now + 4 * SECOND)
    assert regranted.ends_at == now + 4 * SECOND + 5 * DAY
    assert subscriptions(uid)[-1].source == "admin"


def test_non_admins_are_refused_and_every_attempt_is_audited_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    intruder, uid = member(new_user_id), member(new_user_id)
    attempts = {
        "grant": lambda k: grant(intruder, uid, 30, k),
        "revoke": lambda k: revoke(intruder, uid, k),
        "codes": lambda k: codes(intruder, 5, 30, k),
    }
    for action, attempt in attempts.items():
        request_key = key(action)
        first, again = attempt(request_key), attempt(request_key)  # redelivered
        assert (first.result, again.result, again.replayed) == ("not_admin", "not_admin", True)
        assert first.codes == [] and again.codes == []
        assert [(r.actor_id, r.action, r.result) for r in audits(request_key)] == \
            [(intruder, f"vip.{action}", "not_admin")]
        assert "solo para administradores" in told(f"vip.refused:{request_key}")
    assert user(uid).vip_until is None and subscriptions(uid) == []
    with read_session() as session:
        assert session.scalars(select(VipCode).where(VipCode.created_by == intruder)).all() == []


def test_admins_by_setting_and_bad_requests(new_user_id, settings_env) -> None:  # type: ignore[no-untyped-def]
    by_setting, uid = new_user_id(), member(new_user_id)  # an ADMIN_IDS admin, unregistered
    settings_env(ADMIN_IDS=str(by_setting))
    assert grant(by_setting, uid, 7).ok
    cases = [
        (lambda k: grant(by_setting, uid, 0, k), "invalid", "/vip_dar"),
        (lambda k: grant(by_setting, uid, 7, k, plan="no valid!"), "invalid", "/vip_dar"),
        (lambda k: grant(by_setting, 0, 7, k), "invalid", "/vip_dar"),
        (lambda k: grant(by_setting, new_user_id(), 7, k), "unknown_member", "/start"),
        (lambda k: revoke(by_setting, 0, k), "invalid", "/vip_quitar"),
        (lambda k: codes(by_setting, 0, 30, k), "invalid", "/vip_codigos"),
        (lambda k: codes(by_setting, 101, 30, k), "invalid", "/vip_codigos"),
        (lambda k: codes(by_setting, 1, 0, k), "invalid", "/vip_codigos"),
    ]
    for attempt, result, text in cases:
        request_key = key("bad")
        assert attempt(request_key).result == result
        assert [r.result for r in audits(request_key)] == [result]
        assert text in told(f"vip.refused:{request_key}")


# --- codes ---------------------------------------------------------------------------------


def test_codes_are_single_use_hashed_and_the_same_per_request_key(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id, role="admin")
    a, b = member(new_user_id), member(new_user_id)
    request_key = key("codes")
    made = codes(admin, 3, 15, request_key, plan="Mensual")
    assert made.ok and len(set(made.codes)) == 3
    assert codes(admin, 3, 15, request_key, plan="Mensual").codes == made.codes  # redelivered
    with read_session() as session:
        rows = list(session.scalars(select(VipCode).where(VipCode.batch_key == request_key)))
    assert len(rows) == 3 and {r.plan for r in rows} == {"mensual"}
    assert {r.code_hash for r in rows} == {hashlib.sha256(
        vip.normalize_code(c).encode()).hexdigest() for c in made.codes}  # type: ignore[union-attr]
    assert not any(c.split("-", 1)[1] in r.code_hash for c in made.codes for r in rows)
    assert [r.result for r in audits(request_key)] == ["ok"]
    plain = vip_messages.codes_view("es", made.codes, 15, "mensual")
    assert all(f"<code>{c}</code>" in plain.text for c in made.codes)

    # typed loosely: lower case, spaces, no prefix, O for 0 and I/L for 1
    typed = made.codes[0].lower().replace("-", " ").replace("0", "o").replace("1", "l")
    redeem_key = key("redeem")
    now = datetime.now(UTC)
    got = redeem(a, typed, redeem_key, now=now)
    assert got.ok and got.ends_at == now + 15 * DAY and users.is_vip(user(a))
    assert redeem(a, typed, redeem_key, now=now + DAY).replayed  # redelivered
    first_row = next(r for r in rows if r.code_hash == vip.code_hash(made.codes[0]))
    assert [(r.source, r.code_id, r.plan) for r in subscriptions(a)] == \
        [("code", first_row.id, "mensual")]
    assert "15 día(s) de VIP" in told(f"vip.redeemed:{redeem_key}")

    used_key = key("redeem")
    assert redeem(b, made.codes[0], used_key).result == "code_used"
    assert "ya se ha usado" in told(f"vip.refused:{used_key}")
    assert redeem(a, made.codes[0]).result == "code_used"  # the same member, another request
    unknown_key = key("redeem")
    assert redeem(b, "VIP-0000-0000-0000-0000", unknown_key).result == "unknown_code"
    assert "no existe" in told(f"vip.refused:{unknown_key}")
    assert redeem(b, "hola").result == "unknown_code"
    assert audits(used_key) == [] and audits(unknown_key) == []  # members' refusals: told only
    assert not users.is_vip(user(b))

    # a second code while VIP extends from the end
    extended = redeem(a, made.codes[1], now=now + DAY)
    assert extended.ends_at == now + 30 * DAY and subscriptions(a)[-1].source == "extend"


def test_expired_codes_are_refused(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id)
    now = datetime.now(UTC)
    made = codes(admin, 1, 30, valid_days=1, now=now)
    late_key = key("redeem")
    assert redeem(uid, made.codes[0], late_key, now=now + DAY + SECOND).result == "code_expired"
    assert "caducado" in told(f"vip.refused:{late_key}")
    assert redeem(uid, made.codes[0], now=now + DAY - SECOND).ok


def test_one_code_raced_by_many_members_is_redeemed_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id, role="admin")
    racers = [member(new_user_id) for _ in range(6)]
    code = codes(admin, 1, 30).codes[0]
    results: list[str] = []
    barrier = threading.Barrier(len(racers))

    def attempt(uid: int) -> None:
        barrier.wait()
        for _ in range(20):  # a unique-key race is retried, as the task would
            try:
                results.append(redeem(uid, code).result)
                return
            except Exception:  # noqa: BLE001
                continue

    threads = [threading.Thread(target=attempt, args=(uid,)) for uid in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["code_used"] * 5 + ["ok"]
    assert sum(users.is_vip(user(uid)) for uid in racers) == 1


# --- expiry --------------------------------------------------------------------------------


def test_expiry_at_the_boundary_and_running_it_twice(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id)
    now = datetime.now(UTC)
    end = now + 30 * DAY
    sub = subscriptions_after(grant(admin, uid, 30, now=now), uid)

    assert sub not in due(end - SECOND)
    assert expire(sub, end - SECOND) is None  # one second before: nothing happens
    assert users.is_vip(user(uid), end - SECOND)
    assert subscriptions(uid)[0].ended_at is None

    assert sub in due(end + SECOND)
    ended = expire(sub, end + SECOND)  # one second after: ended, the member is removed
    assert ended is not None and (ended.reason, ended.remove) == ("expired", True)
    assert [e.id for e in ended.events] == [f"vip.expired:{sub}"]
    assert not users.is_vip(user(uid), end + SECOND)
    row = subscriptions(uid)[0]
    assert (row.ended_at, row.end_reason) == (end + SECOND, "expired")
    message = event(f"vip.expired:{sub}")
    assert message is not None and message["payload"]["remove"] is True
    assert "sacado del canal VIP" in vip_messages.render(message, removed=True).text  # type: ignore[union-attr]

    # run again (and later): nothing changes
    assert expire(sub, end + 2 * SECOND) is None
    assert sub not in due(end + DAY)
    assert subscriptions(uid)[0].ended_at == end + SECOND


def subscriptions_after(outcome: vip.Outcome, uid: int) -> int:
    assert outcome.ok
    return subscriptions(uid)[-1].id


def test_expiry_run_concurrently_ends_a_subscription_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id)
    now = datetime.now(UTC)
    sub = subscriptions_after(grant(admin, uid, 1, now=now), uid)
    outcomes: list[vip.Expiry | None] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        for _ in range(20):
            try:
                outcomes.append(expire(sub, now + DAY + SECOND))
                return
            except Exception:  # noqa: BLE001  (a lock timeout: retried, as the task would)
                continue

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 4 and sum(o is not None for o in outcomes) == 1


def test_a_renewed_member_and_an_admin_are_never_removed(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id, role="admin")
    renewed, vip_admin = member(new_user_id), member(new_user_id, role="admin")
    now = datetime.now(UTC)
    first = subscriptions_after(grant(admin, renewed, 10, now=now), renewed)
    grant(admin, renewed, 10, now=now + 5 * DAY)  # renewed before the end: an extension
    ended = expire(first, now + 10 * DAY + SECOND)
    assert ended is not None and (ended.reason, ended.remove, ended.events) == \
        ("renewed", False, [])
    assert users.is_vip(user(renewed), now + 10 * DAY + SECOND)
    second = subscriptions(renewed)[-1].id
    assert expire(second, now + 20 * DAY - SECOND) is None
    assert expire(second, now + 20 * DAY + SECOND).remove  # type: ignore[union-attr]

    sub = subscriptions_after(grant(admin, vip_admin, 3, now=now), vip_admin)
    ended = expire(sub, now + 3 * DAY + SECOND)
    assert ended is not None and (ended.reason, ended.remove) == ("expired", False)
    message = event(f"vip.expired:{sub}")
    assert message is not None and message["payload"]["remove"] is False
    assert "sacado" not in vip_messages.render(message, removed=False).text  # type: ignore[union-attr]

    # two due periods at once (beat was down): only the last one expires the member
    late = member(new_user_id)
    a = subscriptions_after(grant(admin, late, 2, now=now), late)
    b = subscriptions_after(grant(admin, late, 2, now=now + DAY), late)
    results = [expire(a, now + 5 * DAY), expire(b, now + 5 * DAY)]
    assert [(r.reason, r.remove) for r in results if r] == [("renewed", False), ("expired", True)]


# --- reminders -----------------------------------------------------------------------------


def test_reminders_are_sent_once_at_their_time(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid = member(new_user_id, role="admin"), member(new_user_id, language="en")
    now = datetime.now(UTC)
    end = now + 10 * DAY
    grant(admin, uid, 10, now=now)
    assert [(r.days_before, r.due_at) for r in reminders(uid)] == \
        [(3, end - 3 * DAY), (1, end - DAY)]

    assert remind_all(uid, end - 3 * DAY - SECOND) == []
    three = remind_all(uid, end - 3 * DAY + SECOND)
    assert [(e["type"], e["payload"]["days"]) for e in three] == [("vip.reminder", 3)]
    rendered = messages.for_event(three[0])
    assert rendered is not None and "ends in 3 day(s)" in rendered.text
    assert remind_all(uid, end - 2 * DAY) == []  # claimed once
    one = remind_all(uid, end - DAY + SECOND)
    assert [e["payload"]["days"] for e in one] == [1]
    assert remind_all(uid, end) == []
    assert [r.outcome for r in reminders(uid)] == ["sent", "sent"]


def test_late_extended_and_short_grants_remind_sensibly(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id, role="admin")
    late, extended, short = (member(new_user_id) for _ in range(3))
    now = datetime.now(UTC)

    grant(admin, late, 10, now=now)  # beat was down: both due, only the nearer one is sent
    sent = remind_all(late, now + 10 * DAY - 12 * 3600 * SECOND)
    assert [e["payload"]["days"] for e in sent] == [1]
    assert [r.outcome for r in reminders(late)] == ["superseded", "sent"]

    grant(admin, extended, 10, now=now)
    grant(admin, extended, 30, now=now + DAY)  # the old end's reminders no longer apply
    assert remind_all(extended, now + 9 * DAY + SECOND) == []
    assert [e["payload"]["days"] for e in remind_all(extended, now + 37 * DAY + SECOND)] == [3]

    grant(admin, short, 2, now=now)  # 3 days before a 2-day grant is in the past: not planned
    assert [r.days_before for r in reminders(short)] == [1]


def test_reminder_days_parse_like_admin_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIP_REMINDER_DAYS", "1, 7,3")
    monkeypatch.setenv("VIP_CHAT_ID", "-1001234")
    settings = Settings()
    assert settings.vip_reminder_days == [7, 3, 1] and settings.vip_chat_id == -1001234
    monkeypatch.setenv("VIP_REMINDER_DAYS", "0")
    with pytest.raises(ValueError):
        Settings()
    monkeypatch.delenv("VIP_REMINDER_DAYS")
    monkeypatch.setenv("VIP_CHAT_ID", "")
    defaults = Settings()
    assert defaults.vip_reminder_days == [3, 1] and defaults.vip_chat_id is None
    assert (defaults.vip_expiry_interval, defaults.vip_expiry_batch,
            defaults.vip_invite_ttl) == (60.0, 100, 3600)


# --- joining, status, the bot's parsing ------------------------------------------------------


def test_join_requests_are_decided_once_per_key(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin = member(new_user_id, role="admin")
    active, other = member(new_user_id), member(new_user_id)
    stranger = new_user_id()  # never wrote to the bot
    grant(admin, active, 30)
    decisions = {}
    for uid in (active, other, stranger, admin):
        request_key = key("join")
        with unit_of_work() as session:
            approved, recorded = vip.join_decision(session, uid, -100123, request_key)
        decisions[uid] = (approved, recorded.type)
        with unit_of_work() as session:  # redelivered: the same answer
            assert vip.join_decision(session, uid, -100123, request_key)[0] == approved
    assert decisions == {active: (True, "vip.join_approved"), other: (False, "vip.join_declined"),
                         stranger: (False, "vip.join_declined"),
                         admin: (True, "vip.join_approved")}


def test_status_view_and_every_vip_text_in_both_languages(new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, uid, never = member(new_user_id, role="admin"), member(new_user_id), member(new_user_id)
    grant(admin, uid, 30)
    with read_session() as session:
        active, inactive = vip.status(session, uid), vip.status(session, never)
    shown = vip_messages.status_view("es", active)
    assert "Eres VIP hasta el" in shown.text
    data = [b["callback_data"] for row in shown.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert data[0] == "v:link" and shown.reply_markup["inline_keyboard"][0][0]["text"] == \
        "🔗 Enlace de acceso"  # type: ignore[index]
    idle = vip_messages.status_view("en", inactive)
    assert "not VIP yet" in idle.text and "v:link" not in str(idle.reply_markup)
    for language in ("es", "en"):
        for name in messages.TEXTS["es"]:
            if name.startswith("vip.") or name.startswith("btn.vip"):
                assert name in messages.TEXTS[language], name


def test_vip_callback_data_and_command_words() -> None:
    for action in callbacks.VIP_ACTIONS:
        data = callbacks.vip_data(action)
        assert callbacks.parse_vip(data) == action and len(data.encode()) <= 64
    for tampered in ("v:", "v:link2", "v:link\n", "v:LINK", "v:status:1", None, 5, "x" * 80):
        assert callbacks.parse_vip(tampered) is None
    assert vip_handlers.parse_grant(["123", "30"]) == (123, 30, None)
    assert vip_handlers.parse_grant(["123", "30", "mensual"]) == (123, 30, "mensual")
    assert vip_handlers.parse_grant(["@ana", "30"]) == (0, 0, None)
    assert vip_handlers.parse_revoke(["123"]) == 123 and vip_handlers.parse_revoke([]) == 0
    assert vip_handlers.parse_codes(["5", "30"]) == (5, 30, None)
    assert vip_handlers.parse_codes(["five", "30"]) == (0, 0, None)


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_other_vip_data_parses_to_none(raw: object) -> None:
    result = callbacks.parse_vip(raw)
    if result is not None:
        assert isinstance(raw, str) and callbacks.vip_data(result) == raw
