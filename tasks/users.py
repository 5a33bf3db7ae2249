"""Member registration: the SQL row now, the MongoDB state when the event arrives."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import users
from tasks.base import YabotTask
from tasks.events import publish_after_commit, subscribe
from worker.app import app

# Flower and the logs show this instead of the profile (names are personal data).
HIDDEN_PROFILE = "{'profile': '<hidden>'}"


@app.task(base=YabotTask, name="tasks.users.register")
def register(user_id: int, profile: dict[str, Any]) -> dict[str, Any]:
    """Create or refresh the member (idempotent); returns ids and language only."""
    with unit_of_work() as session:
        user, recorded = users.register(session, users.Profile(user_id=user_id, **profile))
        language = user.language
    publish_after_commit(recorded)
    return {"user_id": user_id, "lang": language, "created": bool(recorded)}


@subscribe("member.registered")
@app.task(base=YabotTask, name="tasks.users.ensure_state")
def ensure_state(event: dict[str, Any]) -> None:
    """Create the member's MongoDB state (retried with backoff while MongoDB is down)."""
    payload = event["payload"]
    users.ensure_state(int(payload["user_id"]), payload["lang"])
