"""One correlation id follows a request through every task of its workflow and their logs."""

from __future__ import annotations

from core import context
from tasks import events, workflows
from tests.support import wait_until


def test_correlation_id_reaches_every_task_log_line(worker, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    cid = context.new_correlation_id("test-")
    token = context.correlation_id.set(cid)
    try:
        events.start(workflows.start_member(user_id, {"first_name": "Cid"}, "es", f"s:{user_id}"),
                     command_id=f"s:{user_id}")
        events.start(workflows.daily_gift(user_id, f"g:{user_id}"), command_id=f"g:{user_id}")
    finally:
        context.correlation_id.reset(token)
    standin.wait_for_message(user_id, "Primera misión", timeout=15)
    wanted = ["tasks.users.register", "tasks.users.ensure_state", "tasks.telegram.send",
              "tasks.gifts.claim", "tasks.missions.progress", "tasks.achievements.check",
              "tasks.notify.member"]

    def all_seen() -> bool:
        lines = [line for line in worker.log().splitlines() if f"[{cid}]" in line]
        return all(any(f"Task {name}[" in line and "succeeded" in line for line in lines)
                   for name in wanted)

    wait_until(all_seen, timeout=15, message="every task logged with the correlation id")
