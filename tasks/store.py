"""🛍️ Store purchases and 🎒 consumable uses: one SQL transaction each, then their event.

A refusal (unknown item, VIP only, sold out, limit reached, not enough besitos, …) is not a
failure: it is recorded as an `item.purchase_refused` / `item.use_refused` event, once per
request key, and the member is told why. Only transient errors are retried.
"""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import store
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit
from worker.app import app


def _refused(action: str, user_id: int, item_id: str, request_key: str,
             exc: store.Refused) -> dict[str, Any]:
    with unit_of_work() as session:
        recorded = store.refuse(session, action, user_id, item_id, request_key, exc.code)
    publish_after_commit(recorded)
    return {"status": "refused", "user_id": user_id, "item_id": item_id, "reason": exc.code}


# NotRegistered is retried: the member's registration may still be in flight.
@app.task(base=YabotTask, name="tasks.store.purchase",
          autoretry_for=RETRY_UNTIL_REGISTERED)
def purchase(user_id: int, item_id: str, request_key: str) -> dict[str, Any]:
    """Buy one unit (idempotent per request key) and publish what happened."""
    try:
        with unit_of_work() as session:
            outcome = store.purchase(session, user_id, item_id, request_key)
    except store.Refused as exc:
        return _refused("purchase", user_id, item_id, request_key, exc)
    publish_after_commit(outcome.events)
    return outcome.as_dict()


@app.task(base=YabotTask, name="tasks.store.use",
          autoretry_for=RETRY_UNTIL_REGISTERED)
def use(user_id: int, item_id: str, request_key: str) -> dict[str, Any]:
    """Use one unit of a consumable (idempotent per request key) and publish what happened."""
    try:
        with unit_of_work() as session:
            outcome = store.use_item(session, user_id, item_id, request_key)
    except store.Refused as exc:
        return _refused("use", user_id, item_id, request_key, exc)
    publish_after_commit(outcome.events)
    return outcome.as_dict()
