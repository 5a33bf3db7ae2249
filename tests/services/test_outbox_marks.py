"""Completions (events published, subscribers that finished, commands that finished) are
written to SQL in bulk, a moment later, by a thread of each process."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from models.db import read_session, unit_of_work
from models.tables import Command, OutboxEvent
from services import commands, events
from tasks import events as publishing
from tests.support import wait_until


def recorded(n: int, event_type: str = "test.marks") -> list[str]:
    ids = [f"test.marks:{uuid.uuid4().hex}" for _ in range(n)]
    with unit_of_work() as session:
        for event_id in ids:
            events.record(session, event_id, event_type, {"user_id": 1})
    return ids


def published(ids: list[str]) -> int:
    with read_session() as session:
        return sum(session.get(OutboxEvent, i).published_at is not None  # type: ignore[union-attr]
                   for i in ids)


def handled(ids: list[str]) -> int:
    with read_session() as session:
        return sum(session.get(OutboxEvent, i).handled_at is not None  # type: ignore[union-attr]
                   for i in ids)


def test_marks_are_written_in_bulk_by_the_thread() -> None:
    marks = publishing.Marks(every=0.05)
    ids = recorded(30)
    marks.published(ids[:10], [])
    marks.published(ids[10:], [])
    wait_until(lambda: published(ids) == 30, timeout=10, message="marks written")
    assert marks.pending() == 0


def test_an_event_is_handled_only_when_every_subscriber_finished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # given an event type with two subscribers
    monkeypatch.setitem(publishing._subscribers, "test.two", ["test.a", "test.b"])
    marks = publishing.Marks(every=3600)
    [event_id] = recorded(1, "test.two")
    marks.published([event_id], [])
    # when one finishes, it is published but not handled
    marks.handled(event_id, "test.a")
    assert marks.flush() == 2
    assert published([event_id]) == 1 and handled([event_id]) == 0
    # and the relay would send it again only to the other one
    with read_session() as session:
        assert events.finished_subscribers(session, [event_id]) == {event_id: {"test.a"}}
    # when the second finishes (twice: a redelivered task), it is handled once
    marks.handled(event_id, "test.b")
    marks.handled(event_id, "test.b")
    assert marks.flush() == 2
    assert handled([event_id]) == 1


def test_an_event_nobody_listens_to_is_handled_once_published() -> None:
    marks = publishing.Marks(every=3600)
    ids = recorded(2, "test.nobody-listens")
    marks.published([], ids)
    marks.flush()
    assert published(ids) == 2 and handled(ids) == 2


def test_a_finished_command_keeps_its_first_outcome() -> None:
    key = f"test-cmd-{uuid.uuid4().hex}"
    with unit_of_work() as session:
        assert commands.accept(session, key, task_name="t", signature={"task": "t"},
                               member_id=None, correlation_id=None)
    with unit_of_work() as session:  # a duplicate request finds it and changes nothing
        assert not commands.accept(session, key, task_name="t", signature={"task": "t"},
                                   member_id=None, correlation_id=None)
    marks = publishing.Marks(every=3600)
    marks.finished(commands.outcome_of(key, {"status": "refused", "reason": "funds"}))
    marks.flush()
    marks.finished(commands.outcome_of(key, {"status": "claimed"}))
    marks.flush()
    with read_session() as session:
        row = session.get(Command, key)
        assert row is not None
        assert (row.state, row.result) == ("refused", {"status": "refused", "reason": "funds"})


def test_marks_are_kept_while_sql_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    marks = publishing.Marks(every=3600)  # flushed by hand here
    ids = recorded(3)
    real = events.mark_published

    def down(*_: Any) -> None:
        raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))

    monkeypatch.setattr(events, "mark_published", down)
    marks.published(ids, [])
    assert marks.flush() == 0
    assert marks.pending() == 3 and published(ids) == 0
    monkeypatch.setattr(events, "mark_published", real)
    assert marks.flush() == 3
    assert published(ids) == 3 and marks.pending() == 0


def test_a_forked_child_starts_with_no_marks_of_its_parent() -> None:
    marks = publishing.Marks(every=3600)
    marks.published(recorded(2), [])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: reports what it would flush, then leaves at once
        os.write(write, str(marks.pending()).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_pending: Any = os.read(read, 16).decode()
    os.close(read)
    assert child_pending == "0"
    assert marks.pending() == 2
    assert marks.flush() == 2
