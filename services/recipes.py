"""Recipes: combine items a member holds into another item (content/recipes.yaml).

Crafting is ONE SQL transaction: the member's wallet row is locked first (it serializes
everything one member does, as purchases and uses do), then every input is taken
(`inventory.take`, key `craft:<request key>:in:<item>`), the output granted
(`inventory.grant`, key `craft:<request key>:out`) and `item.crafted` recorded in the
outbox. Two crafts racing for the same last input: the second sees it gone and is refused.

A refusal (unknown recipe, VIP only, missing inputs) is a `store.Refused` the task records
as `item.craft_refused`, once per request key; a redelivered request gets its first answer
again, as purchases do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from models.tables import OutboxEvent, User
from services import content, events, inventory, users, wallet
from services.store import MAX_REQUEST_KEY, Refused, VipOnly

CRAFTED = "item.crafted"
REFUSED = "item.craft_refused"


class UnknownRecipe(Refused):
    code = "unknown_recipe"


class MissingInputs(Refused):
    code = "missing_inputs"

    def __init__(self, missing: dict[str, int]) -> None:
        super().__init__(", ".join(f"{n} × {item}" for item, n in missing.items()))
        self.missing = missing


REFUSALS: dict[str, type[Refused]] = {
    cls.code: cls for cls in (UnknownRecipe, VipOnly)
}


@dataclass(frozen=True)
class CraftOutcome:
    user_id: int
    recipe_id: str
    item_id: str
    quantity: int
    owned: int
    event_id: str
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    def as_dict(self) -> dict[str, object]:
        return {"status": "crafted", "user_id": self.user_id, "recipe_id": self.recipe_id,
                "item_id": self.item_id, "quantity": self.quantity, "owned": self.owned,
                "event_id": self.event_id}


@dataclass(frozen=True)
class RecipeView:
    """A recipe as one member sees it: what they hold of each input."""

    recipe: content.Recipe
    have: dict[str, int]
    vip: bool

    @property
    def missing(self) -> dict[str, int]:
        return missing_inputs(self.recipe, self.have)

    @property
    def allowed(self) -> bool:
        return self.vip or not self.recipe.vip_only

    @property
    def craftable(self) -> bool:
        return self.allowed and not self.missing


def missing_inputs(recipe: content.Recipe, have: dict[str, int]) -> dict[str, int]:
    """Units still needed of each input the member lacks (empty: they can craft)."""
    return {item: need - have.get(item, 0) for item, need in recipe.inputs.items()
            if have.get(item, 0) < need}


def views(session: Session, user_id: int, now: datetime | None = None) -> list[RecipeView]:
    user = session.get(User, user_id)
    vip = users.is_vip(user, now) if user is not None else False
    have = dict(inventory.lines(session, user_id))
    return [RecipeView(recipe, {item: have.get(item, 0) for item in recipe.inputs}, vip)
            for recipe in content.recipes()]


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _earlier(session: Session, user_id: int, recipe_id: str, request_key: str
             ) -> CraftOutcome | None:
    """The first answer to this request key, if it had one: its outcome, or its refusal
    raised again."""
    event_id = f"{CRAFTED}:{request_key}"
    row = session.get(OutboxEvent, event_id)
    if row is not None:
        payload = row.payload
        if payload.get("user_id") != user_id or payload.get("recipe_id") != recipe_id:
            raise ValueError(f"request key {request_key!r} was used for another craft")
        return CraftOutcome(user_id, recipe_id, str(payload["item_id"]),
                            int(payload["quantity"]), int(payload["owned"]), event_id,
                            events.unpublished(session, [event_id]))
    refused = session.get(OutboxEvent, f"{REFUSED}:{request_key}")
    if refused is not None:
        reason = str(refused.payload.get("reason"))
        if reason == MissingInputs.code:
            raise MissingInputs(dict(refused.payload.get("missing") or {}))
        raise REFUSALS.get(reason, Refused)("refused before")
    return None


def craft(session: Session, user_id: int, recipe_id: str, request_key: str,
          now: datetime | None = None) -> CraftOutcome:
    """Craft `recipe_id` once per `request_key` (see the module). Raises a `Refused`
    subclass (the same one again for a redelivered request) or `NotRegistered`."""
    _check_key(request_key)
    user = session.get(User, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")
    wallet.lock(session, user_id)  # one change at a time per member
    earlier = _earlier(session, user_id, recipe_id, request_key)
    if earlier is not None:
        return earlier
    recipe = content.recipe(recipe_id)
    if recipe is None:
        raise UnknownRecipe(recipe_id)
    if recipe.vip_only and not users.is_vip(user, now):
        raise VipOnly(recipe_id)
    have = {item: inventory.holding(session, user_id, item) for item in recipe.inputs}
    missing = missing_inputs(recipe, have)
    if missing:
        raise MissingInputs(missing)
    reason = f"craft:{recipe.id}"
    for item, quantity in sorted(recipe.inputs.items()):
        inventory.take(session, user_id, item, quantity, reason=reason,
                       key=f"craft:{request_key}:in:{item}")
    output = recipe.output
    inventory.grant(session, user_id, output.item, output.quantity, reason=reason,
                    key=f"craft:{request_key}:out")
    owned = inventory.holding(session, user_id, output.item)
    event_id = f"{CRAFTED}:{request_key}"
    event = events.record(session, event_id, CRAFTED,
                          {"user_id": user_id, "recipe_id": recipe.id, "item_id": output.item,
                           "quantity": output.quantity, "owned": owned,
                           "lang": user.language})
    return CraftOutcome(user_id, recipe.id, output.item, output.quantity, owned, event_id,
                        [event])


def refuse(session: Session, user_id: int, recipe_id: str, request_key: str,
           refusal: Refused) -> list[events.Event]:
    """Record that a craft was refused (once per request key); returns what to publish."""
    event_id = f"{REFUSED}:{request_key}"
    if session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id])
    user = session.get(User, user_id)
    payload: dict[str, Any] = {"user_id": user_id, "recipe_id": recipe_id[:40],
                               "reason": refusal.code,
                               "lang": user.language if user is not None else "es"}
    if isinstance(refusal, MissingInputs):
        payload["missing"] = refusal.missing
    return [events.record(session, event_id, REFUSED, payload)]
