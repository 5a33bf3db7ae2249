"""A mission completed by a three-day streak, and a task that fails for good."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import DeadLetter, GiftClaim
from services import wallet
from tasks import deadletters, events, workflows
from tests.faults.helpers import message_counts, register_directly
from tests.support import wait_until
from worker.app import app


def test_third_day_in_a_row_completes_the_streak_mission(worker, standin, user_id) -> None:
    register_directly([user_id])
    today = datetime.now(UTC).astimezone(get_settings().zone).date()
    with unit_of_work() as session:  # the two previous days, as if claimed then
        for back, streak in ((2, 1), (1, 2)):
            session.add(GiftClaim(user_id=user_id, day=today - timedelta(days=back),
                                  streak=streak, amount=10, request_key=f"old{back}"))
    events.start(workflows.daily_gift(user_id, f"streak:{user_id}"), command_id="streak")
    standin.wait_for_message(user_id, "Racha: 3", timeout=15)
    standin.wait_for_message(user_id, "Misión completada: Constancia", timeout=15)
    standin.wait_for_message(user_id, "Misión completada: Regalo del día", timeout=15)
    standin.wait_for_message(user_id, "Primera misión", timeout=15)  # reacts to a mission
    standin.wait_for_message(user_id, "Ahora eres nivel 2", timeout=15)  # its 50 crossed 50
    # gift (with a 3-day streak) + Constancia + Regalo del día + Primera misión
    expected = (10 + 2 * get_settings().gift_streak_bonus) + 30 + 5 + 50
    with read_session() as session:
        wait_until(lambda: wallet.balance(session, user_id) == expected, timeout=10)
        assert wallet.ledger_sum(session, user_id) == expected
    for needle in ("Constancia", "Regalo del día", "Primera misión", "nivel 2"):
        assert message_counts(standin, [user_id], needle)[user_id] == 1, needle


def test_a_permanent_failure_is_dead_lettered_and_can_be_replayed(worker, standin,
                                                                  user_id) -> None:
    register_directly([user_id])
    # A Bot API call Telegram refuses (400: message too long) is permanent: no retry, dead
    # letter. (Well-formed by the spec, so the session's spec check stays clean.)
    app.send_task("tasks.telegram.send",
                  args=[f"bad:{user_id}", user_id, "sendMessage",
                        {"chat_id": user_id, "text": "x" * 4097}])

    def letter() -> DeadLetter | None:
        with read_session() as session:
            return session.query(DeadLetter).filter(
                DeadLetter.task_name == "tasks.telegram.send",
                DeadLetter.args["args"][0].as_string() == f"bad:{user_id}").one_or_none()

    dead = wait_until(letter, timeout=15, message="dead letter stored")
    assert "400" in dead.error
    assert dead.status == "dead"
    assert dead.id in [d.id for d in deadletters.pending()]
    deadletters.replay(dead.id)
    with read_session() as session:
        assert session.get(DeadLetter, dead.id).status == "replayed"
    assert deadletters.main(["list"]) == 0
    assert deadletters.main(["replay", "999999999"]) == 1
