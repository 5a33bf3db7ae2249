"""🎁 The daily gift claim: one SQL transaction, then its event fans out."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import gifts
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit
from worker.app import app


# NotRegistered is retried too: the member's registration may still be in flight.
@app.task(base=YabotTask, name="tasks.gifts.claim",
          autoretry_for=RETRY_UNTIL_REGISTERED)
def claim(user_id: int, request_key: str) -> dict[str, Any]:
    """Claim today's gift (idempotent per request key and per day) and publish its event."""
    with unit_of_work() as session:
        outcome = gifts.claim(session, user_id, request_key)
    publish_after_commit(outcome.events)
    return outcome.as_dict()
