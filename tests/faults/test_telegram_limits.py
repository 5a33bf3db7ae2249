"""Telegram answering 429 and 403: retried after retry_after, or dropped and marked."""

from __future__ import annotations

from models.db import read_session
from models.tables import Delivery, User
from tasks import telegram
from tests.faults.helpers import register_directly
from tests.support import wait_until


def test_a_burst_to_one_chat_arrives_complete_in_order_despite_429s(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    register_directly([user_id])
    before = standin.stats()["too_many_requests"]
    standin.fail_next(3, "429", retry_after=1, chat_id=user_id)
    for n in range(8):
        telegram.send.delay(f"burst:{user_id}:{n}", user_id, "sendMessage",
                            {"chat_id": user_id, "text": f"burst {n}"})
    wait_until(lambda: len(standin.sent(chat_id=user_id, method="sendMessage")) >= 8, timeout=30)
    texts = [r["params"]["text"] for r in standin.sent(chat_id=user_id, method="sendMessage")]
    assert sorted(texts) == [f"burst {n}" for n in range(8)]  # each once, none lost
    # The 3 forced 429s, and at most a stray one where our limiter's clock and the
    # stand-in's meet at a slot boundary: the shared limiter keeps the burst itself in bounds.
    assert 3 <= standin.stats()["too_many_requests"] - before <= 4


def test_blocked_member_is_marked_unreachable_and_not_retried(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    register_directly([user_id])
    standin.block(user_id)
    try:
        telegram.send.delay(f"blocked:{user_id}", user_id, "sendMessage",
                            {"chat_id": user_id, "text": "hola"})

        def delivery_status() -> str | None:
            with read_session() as session:
                row = session.get(Delivery, f"blocked:{user_id}")
                return row.status if row else None

        wait_until(lambda: delivery_status() not in (None, "sending"), timeout=15)
        assert delivery_status() == "blocked"
        with read_session() as session:
            assert session.get(User, user_id).reachable is False  # type: ignore[union-attr]
            assert session.get(Delivery, f"blocked:{user_id}").attempts == 1  # type: ignore[union-attr]
    finally:
        standin.unblock(user_id)


def test_a_send_redis_remembers_is_not_repeated_when_sql_missed_it(worker, standin,
                                                                   user_id) -> None:
    register_directly([user_id])
    key = f"remembered:{user_id}"
    telegram.redis_client().set(f"tg:lease:{key}", telegram.SENT, px=60_000)
    telegram.send.delay(key, user_id, "sendMessage", {"chat_id": user_id, "text": "once"})

    def status() -> str | None:
        with read_session() as session:
            row = session.get(Delivery, key)
            return row.status if row else None

    assert wait_until(status, timeout=15) == "sent"
    assert standin.sent(chat_id=user_id) == []


def test_a_send_sql_remembers_is_not_repeated_when_redis_missed_it(
        standin, user_id, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Redis fails right after the send (its note not taken): the SQL record is enough for
    the redelivered task not to send a second copy."""
    import redis

    register_directly([user_id])
    key = f"sql-remembers:{user_id}"
    real = telegram.redis_client()

    class NoteRefused:  # the real client, except that the "sent" note fails
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(real, name)

        def set(self, name, value, *args, **kwargs):  # type: ignore[no-untyped-def]
            if value == telegram.SENT:
                raise redis.exceptions.ConnectionError("Redis restarting")
            return real.set(name, value, *args, **kwargs)

    monkeypatch.setattr(telegram, "redis_client", lambda: NoteRefused())
    params = {"chat_id": user_id, "text": "only once"}
    telegram.send.apply(args=(key, user_id, "sendMessage", params)).get()
    monkeypatch.undo()
    real.delete(f"tg:lease:{key}")  # the lease expired meanwhile
    telegram.send.apply(args=(key, user_id, "sendMessage", params)).get()  # redelivered
    assert [r["params"]["text"] for r in standin.sent(chat_id=user_id)] == ["only once"]
