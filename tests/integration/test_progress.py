"""Missions, achievements and levels through a real broker, real workers, real databases and
the stand-in: an event delivered twice pays once; a completed mission unlocks "first
mission", whose reward levels the member up — each message once; beat's expiry job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models import mongo
from models.db import read_session, unit_of_work
from models.tables import Delivery, LedgerEntry, OutboxEvent
from services import content, missions, wallet
from services import events as domain_events
from tasks import events
from tests.faults.helpers import assert_books_balance, message_counts, register_directly
from tests.support import wait_until
from worker.app import app

app.loader.import_default_modules()  # every task module: the subscriber registry


def member_events(user_id: int) -> list[OutboxEvent]:
    with read_session() as session:
        return list(session.scalars(select(OutboxEvent).where(
            OutboxEvent.payload["user_id"].as_float() == float(user_id))))


def settled(user_id: int, types: set[str], messages: int) -> None:
    """Every event of these types recorded and published, `messages` messages sent."""
    def done() -> bool:
        rows = [row for row in member_events(user_id) if row.type in types]
        if {row.type for row in rows} != types or any(r.published_at is None for r in rows):
            return False
        with read_session() as session:
            sent = session.scalars(select(Delivery).where(Delivery.chat_id == user_id)).all()
        return len(sent) >= messages and all(d.status == "sent" for d in sent)

    wait_until(done, timeout=30, message=f"member {user_id} settled")


def test_a_fragment_read_twice_pays_once_and_chains_to_a_level_up(worker, standin,
                                                                  user_id) -> None:  # type: ignore[no-untyped-def]
    register_directly([user_id])
    with unit_of_work() as session:  # what the story records (for a fragment it lacks)
        read = domain_events.record(session, f"story.fragment_read:{user_id}:f1",
                                    "story.fragment_read",
                                    {"user_id": user_id, "fragment_id": "f1", "lang": "es"})
    message = read.as_message()
    # missions count it; notify renders no page for a fragment the story does not have
    assert events.subscribers("story.fragment_read") == ["tasks.missions.progress",
                                                         "tasks.notify.member"]
    events.publish_after_commit([read])  # the normal publication...
    for _ in range(2):  # ...and the same task message delivered twice on top
        app.send_task("tasks.missions.progress", args=[message], task_id=f"read-{user_id}")

    standin.wait_for_message(user_id, "Misión completada: Lectura del día. +10 besitos",
                             timeout=20)
    standin.wait_for_message(user_id, "Logro desbloqueado: Primera misión (🥉 bronce). "
                                      "+50 besitos", timeout=20)
    standin.wait_for_message(user_id, "Ahora eres nivel 2: Invitado", timeout=20)
    settled(user_id, {"story.fragment_read", "mission.completed", "achievement.unlocked",
                      "level.up"}, messages=3)
    # every step delivered again (as a broker redelivery would) changes nothing
    again = []
    for row in member_events(user_id):
        for name in events.subscribers(row.type):
            again.append(f"again-{len(again)}-{user_id}")
            app.send_task(name, args=[domain_events.Event.from_row(row).as_message()],
                          task_id=again[-1])

    def finished(task_id: str, times: int = 1) -> bool:
        return sum(f"[{task_id}] succeeded" in line
                   for line in worker.log().splitlines()) >= times

    wait_until(lambda: finished(f"read-{user_id}", 2) and all(map(finished, again)),
               timeout=30, message="every redelivered step ran")

    for needle in ("Lectura del día", "Primera misión", "nivel 2"):
        assert message_counts(standin, [user_id], needle)[user_id] == 1, needle
    assert_books_balance([user_id], expected_balance=60)
    with read_session() as session:
        keys = sorted(session.scalars(select(LedgerEntry.idempotency_key)
                                      .where(LedgerEntry.user_id == user_id)))
        assert wallet.balance(session, user_id) == 60
    today = missions.period_of(next(m for m in content.missions()
                                    if m.id == "lectura-diaria"), datetime.now(UTC))
    assert keys == [f"achievement:primera-mision:{user_id}",
                    f"mission:lectura-diaria:{user_id}:{today}"]
    state = mongo.member_state(user_id) or {}
    assert state["missions"]["lectura-diaria"][today]["completed_at"]
    assert "primera-mision" in state["achievements"]
    assert [e.type for e in member_events(user_id)].count("level.up") == 1


def test_beat_expiry_closes_an_ended_period_through_the_worker(worker, user_id) -> None:  # type: ignore[no-untyped-def]
    daily = next(m for m in content.missions() if m.id == "decision-diaria")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    past, today = missions.period_of(daily, two_days_ago), missions.period_of(daily,
                                                                              datetime.now(UTC))
    for period, n in ((past, 1), (today, 2)):  # a choice two days ago, and one now
        missions.record_progress(
            {"id": f"story.choice_made:{user_id}:{n}", "type": "story.choice_made",
             "at": (two_days_ago if period == past else datetime.now(UTC)).isoformat(),
             "payload": {"user_id": user_id, "lang": "es"}}, vip=False,
            catalog=[daily.model_copy(update={"objectives": [
                daily.objectives[0].model_copy(update={"target": 2})]})])
    app.send_task("tasks.missions.expire")
    wait_until(lambda: missions.slot(mongo.member_state(user_id), "decision-diaria", past)
               .get("expired_at"), timeout=20, message="slot expired")
    assert "expired_at" not in missions.slot(mongo.member_state(user_id), "decision-diaria",
                                             today)
    assert [entry["p"] for entry in (mongo.member_state(user_id) or {})[missions.OPEN]] == [
        today]
