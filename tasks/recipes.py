"""⚗️ Crafting: one SQL transaction (inputs taken, output granted, `item.crafted`), then its
event. A refusal (unknown recipe, VIP only, missing inputs) is recorded as
`item.craft_refused`, once per request key, and the member is told what is missing."""

from __future__ import annotations

from typing import Any

from models.db import unit_of_work
from services import recipes, store
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit
from worker.app import app


# NotRegistered is retried: the member's registration may still be in flight.
@app.task(base=YabotTask, name="tasks.recipes.craft", autoretry_for=RETRY_UNTIL_REGISTERED)
def craft(user_id: int, recipe_id: str, request_key: str) -> dict[str, Any]:
    """Craft a recipe once per request key and publish what happened."""
    try:
        with unit_of_work() as session:
            outcome = recipes.craft(session, user_id, recipe_id, request_key)
    except store.Refused as exc:
        with unit_of_work() as session:
            recorded = recipes.refuse(session, user_id, recipe_id, request_key, exc)
        publish_after_commit(recorded)
        return {"status": "refused", "user_id": user_id, "recipe_id": recipe_id,
                "reason": exc.code}
    publish_after_commit(outcome.events)
    return outcome.as_dict()
