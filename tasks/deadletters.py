"""Dead letters: tasks that failed for good. List, replay (same name, same arguments), discard.

CLI: python -m tasks.deadletters list | replay ID | discard ID
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core import context
from models.db import read_session, unit_of_work
from models.tables import DeadLetter
from worker.app import app


def store(*, task_id: str, task_name: str, args: list[Any], kwargs: dict[str, Any],
          error: str, correlation_id: str | None, command_id: str | None = None,
          handled: tuple[str, str] | None = None) -> None:
    """Store a dead letter and, in the same transaction, settle what SQL knows of the work:
    its command is failed, its event counts as handled by this subscriber ("dead"), so the
    reconciler stops starting it again (replaying the dead letter runs it again)."""
    try:
        with unit_of_work() as session:
            session.add(DeadLetter(task_id=task_id, task_name=task_name,
                                   args={"args": args, "kwargs": kwargs}, error=error,
                                   correlation_id=correlation_id, status="dead"))
            session.flush()
            _settle(session, command_id, handled)
    except IntegrityError:
        # The same task id was stored already (a redelivered failure); settle anyway.
        with unit_of_work() as session:
            _settle(session, command_id, handled)


def _settle(session: Any, command_id: str | None, handled: tuple[str, str] | None) -> None:
    from services import commands
    from services import events as events_service
    from tasks.events import subscribers

    if command_id is not None:
        commands.finish(session, [commands.Finished(command_id, commands.FAILED, None)])
    if handled is not None:
        events_service.mark_handled(session, [(handled[0], handled[1], "dead")], subscribers)


def pending(limit: int = 100) -> list[DeadLetter]:
    with read_session() as session:
        return list(session.scalars(select(DeadLetter).where(DeadLetter.status == "dead")
                                    .order_by(DeadLetter.id).limit(limit)))


def replay(dead_letter_id: int) -> str:
    """Send the task again with its original arguments; returns the new task id."""
    with unit_of_work() as session:
        letter = session.get(DeadLetter, dead_letter_id)
        if letter is None or letter.status != "dead":
            raise LookupError(f"no dead letter {dead_letter_id} to replay")
        result = app.send_task(letter.task_name, args=letter.args["args"],
                               kwargs=letter.args["kwargs"],
                               headers={context.HEADER: letter.correlation_id})
        letter.status = "replayed"
        letter.replayed_at = datetime.now(UTC)
        return str(result.id)


def discard(dead_letter_id: int) -> None:
    with unit_of_work() as session:
        letter = session.get(DeadLetter, dead_letter_id)
        if letter is None or letter.status != "dead":
            raise LookupError(f"no dead letter {dead_letter_id} to discard")
        letter.status = "discarded"


def main(argv: list[str]) -> int:
    if argv[:1] == ["list"]:
        for letter in pending():
            print(f"{letter.id}\t{letter.failed_at:%Y-%m-%d %H:%M:%S}\t{letter.task_name}\t"
                  f"{letter.error.splitlines()[-1][:120]}")
        return 0
    if len(argv) == 2 and argv[0] in ("replay", "discard") and argv[1].isdigit():
        try:
            if argv[0] == "replay":
                print(replay(int(argv[1])))
            else:
                discard(int(argv[1]))
        except LookupError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
