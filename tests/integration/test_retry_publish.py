"""A retry the broker cannot take must not drop the message (Celery rejects it without
requeue, which with acks_late acknowledges it: the soak run lost work that way)."""

from __future__ import annotations

import kombu
import pytest
from celery.exceptions import Reject, Retry

from dev.stack import free_port
from tasks.base import TelegramUnavailable
from tasks.telegram import send


def retry_through(connection: kombu.Connection) -> BaseException:
    args = ["retry-publish-test", 1, "sendMessage", {"chat_id": 1, "text": "x"}]
    send.push_request(id="retry-publish-test", args=args, kwargs={}, retries=0,
                      called_directly=False, is_eager=False, delivery_info={})
    try:
        with pytest.raises((Reject, Retry)) as caught:
            send.retry(exc=TelegramUnavailable("sendMessage: HTTP 502"), countdown=1,
                       connection=connection, retry_policy={"max_retries": 0})
        return caught.value
    finally:
        send.pop_request()


def test_a_retry_the_broker_cannot_take_goes_back_to_the_queue() -> None:
    dead = kombu.Connection(f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.5)
    outcome = retry_through(dead)
    assert isinstance(outcome, Reject) and outcome.requeue is True


def test_a_retry_the_broker_takes_is_a_plain_retry(redis_server) -> None:  # type: ignore[no-untyped-def]
    with kombu.Connection(redis_server.url.rsplit("/", 1)[0] + "/15") as alive:  # a db no worker reads
        outcome = retry_through(alive)
        assert isinstance(outcome, Retry)
