"""📣 Broadcast rules with the real database: segments, claims, control, refusals, audit."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from bot import callbacks
from models.db import read_session, unit_of_work
from models.tables import (
    AuditEntry,
    Broadcast,
    BroadcastRecipient,
    LedgerEntry,
    OutboxEvent,
    User,
    Wallet,
)
from services import broadcasts, messages
from services.messages import broadcasts as broadcast_messages


def members(new_user_id, count: int, **fields) -> list[int]:  # type: ignore[no-untyped-def]
    """`count` members registered in one bulk insert (with their wallets)."""
    ids = [new_user_id() for _ in range(count)]
    with unit_of_work() as session:
        session.execute(insert(User), [{"id": uid, "first_name": "", "language": "es",
                                        "role": "member", "reachable": True, **fields}
                                       for uid in ids])
        session.execute(insert(Wallet), [{"user_id": uid, "balance": 0, "lifetime_earned": 0}
                                         for uid in ids])
    return ids


def admin(new_user_id) -> int:  # type: ignore[no-untyped-def]
    (uid,) = members(new_user_id, 1, role="admin")
    return uid


def start(actor: int, segment: object, key: str, text: str = "<b>Hola</b> a todos"
          ) -> broadcasts.Outcome:
    with unit_of_work() as session:
        return broadcasts.start(session, actor, segment, text, key)


def recipients(broadcast_id: int) -> dict[int, str]:
    with read_session() as session:
        return dict(session.execute(
            select(BroadcastRecipient.user_id, BroadcastRecipient.status)
            .where(BroadcastRecipient.broadcast_id == broadcast_id)).tuples().all())


def audit_rows(actor: int, action: str) -> list[AuditEntry]:
    with read_session() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.actor_id == actor,
                                                             AuditEntry.action == action)
                                    .order_by(AuditEntry.id)))


def control(actor: int, broadcast_id: int, action: str, key: str | None = None
            ) -> broadcasts.Outcome:
    with unit_of_work() as session:
        return broadcasts.control(session, actor, broadcast_id, action, key)


def test_segments_are_resolved_in_sql(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    now = datetime.now(UTC)
    vip = members(new_user_id, 3, vip_until=now + timedelta(days=10))
    lapsed = members(new_user_id, 2, vip_until=now - timedelta(days=1))
    free = members(new_user_id, 4)
    gone = members(new_user_id, 2, reachable=False, vip_until=now + timedelta(days=10))
    key = f"seg:{boss}"

    everyone = start(boss, {"kind": "all"}, f"{key}:all")
    got = recipients(everyone.broadcast_id)  # type: ignore[arg-type]
    assert set(vip + lapsed + free + [boss]) <= set(got) and not set(gone) & set(got)
    assert everyone.total == len(got) and set(got.values()) == {"pending"}

    only_vip = set(recipients(start(boss, {"kind": "vip"}, f"{key}:vip").broadcast_id))  # type: ignore[arg-type]
    assert set(vip) <= only_vip and not (set(lapsed + free + gone) & only_vip)
    only_free = set(recipients(start(boss, {"kind": "free"}, f"{key}:free").broadcast_id))  # type: ignore[arg-type]
    assert set(lapsed + free) <= only_free and not (set(vip + gone) & only_free)

    listed = start(boss, {"kind": "list", "ids": [free[0], gone[0], vip[1], 999, free[0]]},
                   f"{key}:list")
    assert set(recipients(listed.broadcast_id)) == {free[0], vip[1]}  # type: ignore[arg-type]
    assert listed.total == 2
    with read_session() as session:
        row = session.get(Broadcast, listed.broadcast_id)
        assert row.segment == {"kind": "list", "ids": [free[0], gone[0], vip[1], 999]}  # type: ignore[union-attr]
        assert (row.status, row.text, row.parse_mode, row.progress_chat_id) == (  # type: ignore[union-attr]
            "running", "<b>Hola</b> a todos", "HTML", boss)


def test_inactive_means_no_ledger_entry_in_n_days_and_registered_before(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    long_ago = datetime.now(UTC) - timedelta(days=40)
    quiet, busy, old_entry = members(new_user_id, 3, created_at=long_ago)
    newcomer = members(new_user_id, 1)[0]
    with unit_of_work() as session:
        session.execute(insert(LedgerEntry), [
            {"user_id": busy, "amount": 5, "reason": "test", "balance_after": 5,
             "idempotency_key": f"inactive-test:{busy}"},
            {"user_id": old_entry, "amount": 5, "reason": "test", "balance_after": 5,
             "idempotency_key": f"inactive-test:{old_entry}", "created_at": long_ago}])
        session.execute(update(Wallet).where(Wallet.user_id.in_([busy, old_entry]))
                        .values(balance=5))  # the books stay balanced for other tests
    outcome = start(boss, {"kind": "inactive", "days": 30}, f"inactive:{boss}")
    got = set(recipients(outcome.broadcast_id))  # type: ignore[arg-type]
    assert {quiet, old_entry} <= got
    assert busy not in got and newcomer not in got and boss not in got


def test_a_request_is_started_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    members(new_user_id, 2)
    first = start(boss, {"kind": "all"}, f"once:{boss}")
    again = start(boss, {"kind": "all"}, f"once:{boss}")
    assert first.ok and [e.type for e in first.events] == ["broadcast.started"]
    assert again.replayed and again.broadcast_id == first.broadcast_id
    payload = first.events[0].payload
    assert set(payload) == {"broadcast_id", "admin_id", "segment", "total"}
    assert [r.result for r in audit_rows(boss, "broadcast.start")] == ["ok"]


def test_non_admin_is_refused_and_audited_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (member,) = members(new_user_id, 1)
    refused = start(member, {"kind": "all"}, f"nope:{member}")
    again = start(member, {"kind": "all"}, f"nope:{member}")
    assert (refused.result, refused.broadcast_id) == ("not_admin", None)
    assert [e.type for e in refused.events] == ["broadcast.refused"]
    assert again.replayed and again.result == "not_admin"
    rows = audit_rows(member, "broadcast.start")
    assert [(r.result, r.details["request_key"]) for r in rows] == [("not_admin", f"nope:{member}")]
    with read_session() as session:
        assert session.scalars(select(Broadcast).where(Broadcast.created_by == member)).all() == []
    rendered = messages.for_event(refused.events[0].as_message())
    assert rendered is not None and "Solo un administrador" in rendered.text


def test_admin_mistakes_are_refused_politely_and_audited(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    cases = [({"kind": "invalid"}, "hola", "usage"), ({"kind": "all"}, "  ", "usage"),
             ({"kind": "inactive", "days": 0}, "hola", "usage"),
             ({"kind": "list", "ids": []}, "hola", "usage"),
             ({"kind": "all"}, "x" * 4097, "too_long"),
             ({"kind": "list", "ids": [1, 2, 3]}, "hola", "no_recipients")]
    for n, (segment, text, reason) in enumerate(cases):
        outcome = start(boss, segment, f"oops:{boss}:{n}", text)
        assert outcome.result == reason, segment
        rendered = messages.for_event(outcome.events[0].as_message())
        assert rendered is not None and rendered.text
    assert [r.result for r in audit_rows(boss, "broadcast.start")] == [c[2] for c in cases]
    # markup is not counted against Telegram's 4096 characters
    assert start(boss, {"kind": "all"}, f"oops:{boss}:html", "<b>" + "x" * 4000 + "</b>").ok


def test_claims_never_hand_a_recipient_twice_even_concurrently(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    ids = members(new_user_id, 300)
    outcome = start(boss, {"kind": "list", "ids": ids}, f"claims:{boss}")
    bid = outcome.broadcast_id
    assert bid is not None
    handed: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def claimer() -> None:
        try:
            while True:
                with unit_of_work() as session:
                    batch = broadcasts.claim_batch(session, bid, 17)
                if not batch:
                    return
                with lock:
                    handed.extend(batch)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=claimer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert Counter(handed).most_common(1)[0][1] == 1 and sorted(handed) == sorted(ids)


def test_a_redelivered_batch_gets_its_own_rows_back_and_stale_claims_are_retaken(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    ids = members(new_user_id, 10)
    bid = start(boss, {"kind": "list", "ids": ids}, f"redeliver:{boss}").broadcast_id
    assert bid is not None
    with unit_of_work() as session:
        first = broadcasts.claim_batch(session, bid, 4, token="0")
        again = broadcasts.claim_batch(session, bid, 4, token="0")
        other = broadcasts.claim_batch(session, bid, 4, token="1")
    assert first == again == sorted(ids)[:4] and other == sorted(ids)[4:8]
    with unit_of_work() as session:  # two of batch 0 sent, one blocked; recorded twice
        assert broadcasts.record_result(session, bid, {first[0]: "sent", first[1]: "blocked"}) \
            == {"sent": 1, "failed": 0, "blocked": 1}
        assert broadcasts.record_result(session, bid, {first[0]: "sent"}) \
            == {"sent": 0, "failed": 0, "blocked": 0}
        assert broadcasts.claim_batch(session, bid, 4, token="0") == first[2:]
    later = datetime.now(UTC) + broadcasts.CLAIM_STALE + timedelta(seconds=1)
    with unit_of_work() as session:  # batch 0's task died: its two rows are taken again
        retaken = broadcasts.claim_batch(session, bid, 10, token="2", now=later)
    assert set(retaken) == set(first[2:]) | set(other) | set(sorted(ids)[8:])
    with unit_of_work() as session:
        assert broadcasts.release(session, bid, "2") == len(retaken)
    with read_session() as session:
        shown = broadcasts.progress(session, bid)
    assert shown is not None
    assert (shown.total, shown.sent, shown.blocked, shown.failed, shown.left) == (10, 1, 1, 0, 8)


def test_pause_resume_cancel_and_the_batch_turns(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    ids = members(new_user_id, 6)
    bid = start(boss, {"kind": "list", "ids": ids}, f"control:{boss}").broadcast_id
    assert bid is not None
    with unit_of_work() as session:
        assert broadcasts.advance(session, bid, 0) and not broadcasts.advance(session, bid, 0)
    paused = control(boss, bid, "pause", f"p:{bid}")
    assert (paused.result, paused.status) == ("ok", "paused")
    assert control(boss, bid, "pause", f"p:{bid}").replayed  # the same press, again
    with unit_of_work() as session:
        assert not broadcasts.advance(session, bid, 1)  # a paused broadcast does not go on
        assert broadcasts.conclude(session, bid) is None
    twice = control(boss, bid, "pause", f"p2:{bid}")
    assert (twice.result, twice.events[0].payload["state"]) == ("wrong_state", "paused")
    resumed = control(boss, bid, "resume", f"r:{bid}")
    assert (resumed.result, resumed.status, resumed.batch_seq) == ("ok", "running", 2)
    with unit_of_work() as session:
        assert not broadcasts.advance(session, bid, 1)  # the task before the pause stops
        broadcasts.record_result(session, bid, {ids[0]: "sent", ids[1]: "failed"})
    with unit_of_work() as session:  # a batch task is sending two members right now
        assert broadcasts.claim_batch(session, bid, 2, token="2") == sorted(ids[2:])[:2]
    cancelled = control(boss, bid, "cancel", f"c:{bid}")
    assert (cancelled.result, cancelled.status) == ("ok", "cancelled")
    assert [e.type for e in cancelled.events] == ["broadcast.cancelled"]
    assert control(boss, bid, "cancel", f"c:{bid}").replayed
    with unit_of_work() as session:  # the final report waits for the batch in flight
        assert broadcasts.conclude(session, bid) is None
        broadcasts.record_result(session, bid, {sorted(ids[2:])[0]: "sent",
                                                sorted(ids[2:])[1]: "blocked"})
        recorded = broadcasts.conclude(session, bid)
        assert broadcasts.conclude(session, bid) == recorded  # not published yet: again
    assert recorded is not None and [e.type for e in recorded] == ["broadcast.finished"]
    report = recorded[0].payload
    assert (report["status"], report["sent"], report["failed"], report["blocked"],
            report["left"]) == ("cancelled", 2, 1, 1, 2)
    assert control(boss, bid, "resume", f"r2:{bid}").result == "wrong_state"
    assert Counter(recipients(bid).values()) == {"pending": 2, "sent": 2, "failed": 1,
                                                 "blocked": 1}
    assert [(r.result) for r in audit_rows(boss, "broadcast.pause")] == ["ok", "wrong_state"]
    assert [(r.result) for r in audit_rows(boss, "broadcast.resume")] == ["ok", "wrong_state"]
    assert [(r.result) for r in audit_rows(boss, "broadcast.cancel")] == ["ok"]
    text = broadcast_messages.report_text("es", report)
    assert "cancelada" in text and "Sin enviar: 2" in text


def test_non_admin_cannot_control_and_is_audited(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    (member,) = members(new_user_id, 1)
    bid = start(boss, {"kind": "list", "ids": [member]}, f"ctl:{boss}").broadcast_id
    assert bid is not None
    for action in broadcasts.ACTIONS:
        outcome = control(member, bid, action, f"ctl:{member}:{action}")
        assert outcome.result == "not_admin"
        assert [r.result for r in audit_rows(member, f"broadcast.{action}")] == ["not_admin"]
    assert control(boss, 10**15, "pause", f"ctl:{boss}:unknown").result == "unknown_broadcast"
    with read_session() as session:
        assert session.get(Broadcast, bid).status == "running"  # type: ignore[union-attr]


def test_done_once_nothing_is_pending_with_the_report(new_user_id) -> None:  # type: ignore[no-untyped-def]
    boss = admin(new_user_id)
    ids = members(new_user_id, 3)
    bid = start(boss, {"kind": "list", "ids": ids}, f"finish:{boss}").broadcast_id
    assert bid is not None
    with unit_of_work() as session:
        assert broadcasts.conclude(session, bid) is None
        broadcasts.record_result(session, bid, {ids[0]: "sent", ids[1]: "sent",
                                                ids[2]: "blocked"})
        recorded = broadcasts.conclude(session, bid)
    assert recorded is not None and [e.type for e in recorded] == ["broadcast.finished"]
    payload = recorded[0].payload
    assert {k: payload[k] for k in ("status", "total", "sent", "failed", "blocked", "left",
                                    "user_id")} == {
        "status": "done", "total": 3, "sent": 2, "failed": 0, "blocked": 1, "left": 0,
        "user_id": boss}
    with unit_of_work() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.id == recorded[0].id)
                        .values(published_at=datetime.now(UTC)))
    with unit_of_work() as session:
        assert broadcasts.conclude(session, bid) is None  # ended already, reported
    with read_session() as session:
        shown = broadcasts.progress(session, bid)
    assert shown is not None and shown.ended and shown.left == 0
    view = broadcast_messages.progress_view(shown)
    assert view.reply_markup is None and "██████████ 100 %" in view.text


def test_progress_view_has_bar_counts_and_the_buttons_of_its_state() -> None:
    shown = broadcasts.Progress(7, "running", 200, 80, 5, 15, 29.5, 3.4, 4.0, 1, "es", 1, 9)
    view = broadcast_messages.progress_view(shown)
    assert "█████░░░░░ 50 %" in view.text and "Quedan: 100 de 200" in view.text
    assert "29.5 mensajes/s" in view.text
    data = [b["callback_data"] for row in view.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert data == ["b:pause:7", "b:cancel:7"]
    paused = broadcast_messages.progress_view(
        dataclasses.replace(shown, status="paused", eta_seconds=None, language="en"))
    assert "paused" in paused.text and "/s" not in paused.text
    data = [b["callback_data"] for row in paused.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert data == ["b:resume:7", "b:cancel:7"]
    for verb, bid in (("pause", 7), ("resume", 10**17), ("cancel", 1)):
        value = callbacks.broadcast_data(verb, bid)
        assert callbacks.parse_broadcast(value) == (verb, bid) and len(value.encode()) <= 64


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_other_broadcast_data_parses_to_none(raw: object) -> None:
    result = callbacks.parse_broadcast(raw)
    if result is not None:  # only the exact shapes we send
        assert isinstance(raw, str) and callbacks.broadcast_data(*result) == raw


def test_segment_words() -> None:
    parse = broadcasts.parse_segment
    assert parse(["todos"]) == {"kind": "all"} and parse(["VIP"]) == {"kind": "vip"}
    assert parse(["free"]) == parse(["gratis"]) == {"kind": "free"}
    assert parse(["inactivos", "30"]) == {"kind": "inactive", "days": 30}
    assert parse(["lista", "5,6,", "7", "5"]) == {"kind": "list", "ids": [5, 6, 7]}
    for words in ([], ["todos", "ya"], ["inactivos"], ["inactivos", "x"], ["inactivos", "³"],
                  ["lista"], ["lista", "1,-2"], ["lista", "01"], ["nadie"], None):
        assert parse(words) is None, words
