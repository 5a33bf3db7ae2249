"""Published events are marked in SQL in bulk, a moment after publication, by a thread."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from models.db import read_session, unit_of_work
from models.tables import OutboxEvent
from services import events
from tasks import events as publishing
from tests.support import wait_until


def recorded(n: int) -> list[str]:
    ids = [f"test.marks:{uuid.uuid4().hex}" for _ in range(n)]
    with unit_of_work() as session:
        for event_id in ids:
            events.record(session, event_id, "test.marks", {"user_id": 1})
    return ids


def published(ids: list[str]) -> int:
    with read_session() as session:
        return sum(session.get(OutboxEvent, i).published_at is not None  # type: ignore[union-attr]
                   for i in ids)


def test_marks_are_written_in_bulk_by_the_thread() -> None:
    marks = publishing.PublishedMarks(every=0.05)
    ids = recorded(30)
    marks.add(ids[:10])
    marks.add(ids[10:])
    wait_until(lambda: published(ids) == 30, timeout=10, message="marks written")
    assert marks.pending() == 0


def test_marks_are_kept_while_sql_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    marks = publishing.PublishedMarks(every=3600)  # flushed by hand here
    ids = recorded(3)
    real = publishing._mark_published

    def down(_: list[str]) -> None:
        raise OperationalError("UPDATE outbox", {}, Exception("database is locked"))

    monkeypatch.setattr(publishing, "_mark_published", down)
    marks.add(ids)
    assert marks.flush() == 0
    assert marks.pending() == 3 and published(ids) == 0
    monkeypatch.setattr(publishing, "_mark_published", real)
    assert marks.flush() == 3
    assert published(ids) == 3 and marks.pending() == 0


def test_a_forked_child_starts_with_no_marks_of_its_parent() -> None:
    marks = publishing.PublishedMarks(every=3600)
    marks.add(recorded(2))
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
