"""🛠️ Admin actions from the /admin panel: each one authorized, audited and answered once
per request key (services/admin_members.py); refusals are events, never dead letters."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import admin_members
from tasks.base import YabotTask
from tasks.events import publish_after_commit
from worker.app import app


def _done(outcome: admin_members.Outcome) -> dict[str, Any]:
    publish_after_commit(outcome.events)
    return {"result": outcome.result, "replayed": outcome.replayed}


@app.task(base=YabotTask, name="tasks.admin.adjust_besitos")
def adjust_besitos(actor_id: int, user_id: int, amount: int, reason: str,
                   request_key: str) -> dict[str, Any]:
    with unit_of_work() as session:
        outcome = admin_members.adjust_besitos(session, actor_id, user_id, amount, reason,
                                               request_key)
    return _done(outcome)


@app.task(base=YabotTask, name="tasks.admin.set_role")
def set_role(actor_id: int, user_id: int, role: str, request_key: str) -> dict[str, Any]:
    with unit_of_work() as session:
        outcome = admin_members.set_role(session, actor_id, user_id, role, request_key)
    return _done(outcome)


@app.task(base=YabotTask, name="tasks.admin.refuse")
def refuse(actor_id: int, action: str, request_key: str) -> dict[str, Any]:
    """A non-admin opened an admin view: audit the attempt and answer politely."""
    with unit_of_work() as session:
        outcome = admin_members.refuse(session, actor_id, action, None, request_key)
    return _done(outcome)
