"""Recipes with the real database: the catalog checked on load, crafting as one
transaction, missing inputs named, redelivery, VIP-only recipes, two crafts racing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import callbacks
from models.db import read_session, unit_of_work
from models.tables import ItemGrant, User
from services import content, inventory, messages, recipes, store, wallet
from services.messages import recipes as recipe_messages


def give(user_id: int, item_id: str, quantity: int, tag: str = "") -> None:
    with unit_of_work() as session:
        inventory.grant(session, user_id, item_id, quantity, reason="test",
                        key=f"test:{user_id}:{item_id}:{quantity}:{tag}")


def craft(user_id: int, recipe_id: str, key: str) -> recipes.CraftOutcome:
    with unit_of_work() as session:
        return recipes.craft(session, user_id, recipe_id, f"{user_id}:{key}")


def held(user_id: int) -> list[tuple[str, int]]:
    with read_session() as session:
        return inventory.lines(session, user_id)


def make_vip(user_id: int) -> None:
    with unit_of_work() as session:
        session.get(User, user_id).vip_until = datetime.now(UTC) + timedelta(days=30)  # type: ignore[union-attr]


# --- the catalog -----------------------------------------------------------------------------

def test_the_catalog_ships_recipes_of_known_items_some_vip_only() -> None:
    shipped = content.recipes()
    assert len(shipped) >= 2 and any(r.vip_only for r in shipped)
    ids = {i.id for i in content.items()}
    for recipe in shipped:
        assert set(recipe.inputs) <= ids and recipe.output.item in ids
        assert len(callbacks.recipe_data("craft", recipe.id).encode()) <= 64
    crafted_only = [i for i in content.items() if not i.for_sale]
    assert crafted_only and all(any(r.output.item == i.id for r in shipped)
                                for i in crafted_only)


@pytest.mark.parametrize(("text", "complaint"), [
    ("- id: bad\n  title: {es: Mala}\n  inputs: {rosa-roja: 1, unicornio: 2}\n"
     "  output: {item: ramo-de-rosas}\n", "not in items.yaml: unicornio"),
    ("- id: bad\n  title: {es: Mala}\n  inputs: {rosa-roja: 1}\n  output: {item: dragon}\n",
     "not in items.yaml: dragon"),
    ("- id: bad\n  title: {es: Mala}\n  inputs: {rosa-roja: 0}\n"
     "  output: {item: ramo-de-rosas}\n", "must be positive"),
    ("- id: bad\n  title: {es: Mala}\n  inputs: {rosa-roja: 1}\n  output: {item: rosa-roja}\n",
     "makes an item it consumes"),
    ("- id: dup\n  title: {es: A}\n  inputs: {rosa-roja: 1}\n  output: {item: ramo-de-rosas}\n"
     "- id: dup\n  title: {es: B}\n  inputs: {rosa-roja: 2}\n  output: {item: ramo-de-rosas}\n",
     "duplicated recipe ids"),
])
def test_a_recipe_naming_unknown_items_is_rejected_on_load(tmp_path: Path, text: str,
                                                           complaint: str) -> None:
    path = tmp_path / "recipes.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=complaint):
        content.load_recipes(path, content.items())


def test_craft_only_items_are_not_sold(registered: int) -> None:
    with unit_of_work() as session:
        wallet.credit(session, registered, 1000, reason="test", key=f"fund:{registered}")
    with read_session() as session:
        offered = {offer.item.id for offer in store.offers(session, registered)}
    assert "rosa-roja" in offered and "ramo-de-rosas" not in offered
    with pytest.raises(store.UnknownItem), unit_of_work() as session:
        store.purchase(session, registered, "ramo-de-rosas", f"{registered}:buy-bouquet")
    with read_session() as session:
        assert wallet.balance(session, registered) == 1000


# --- crafting --------------------------------------------------------------------------------

def test_crafting_takes_the_inputs_grants_the_output_and_records_the_event(
        registered: int) -> None:
    give(registered, "rosa-roja", 4)
    outcome = craft(registered, "ramo-de-rosas", "a")
    assert (outcome.item_id, outcome.quantity, outcome.owned) == ("ramo-de-rosas", 1, 1)
    assert [e.type for e in outcome.events] == ["item.crafted"]
    assert outcome.events[0].payload == {"user_id": registered, "recipe_id": "ramo-de-rosas",
                                         "item_id": "ramo-de-rosas", "quantity": 1,
                                         "owned": 1, "lang": "es"}
    assert held(registered) == [("ramo-de-rosas", 1), ("rosa-roja", 1)]
    with read_session() as session:
        keys = set(session.scalars(select(ItemGrant.idempotency_key)
                                   .where(ItemGrant.user_id == registered)))
    assert {f"craft:{registered}:a:in:rosa-roja", f"craft:{registered}:a:out"} <= keys
    rendered = messages.for_event(outcome.events[0].as_message())
    assert rendered is not None and "Creaste Ramo de rosas × 1" in rendered.text

    give(registered, "carta-perfumada", 1)  # a two-input recipe, using the crafted item
    letter = craft(registered, "carta-de-amor", "b")
    assert letter.item_id == "carta-de-amor"
    assert held(registered) == [("carta-de-amor", 1), ("rosa-roja", 1)]


def test_a_redelivered_craft_crafts_once(registered: int) -> None:
    give(registered, "rosa-roja", 6)
    first = craft(registered, "ramo-de-rosas", "same")
    again = craft(registered, "ramo-de-rosas", "same")
    assert (again.event_id, again.owned) == (first.event_id, 1)
    assert [e.id for e in again.events] == [first.event_id]  # still unpublished
    assert held(registered) == [("ramo-de-rosas", 1), ("rosa-roja", 3)]
    with pytest.raises(ValueError):  # the key of one craft cannot do another
        craft(registered, "carta-de-amor", "same")


def test_missing_inputs_are_named_refused_once_and_nothing_is_taken(registered: int) -> None:
    give(registered, "rosa-roja", 1)
    key = f"{registered}:poor"
    with pytest.raises(recipes.MissingInputs) as refused:
        with unit_of_work() as session:
            recipes.craft(session, registered, "carta-de-amor", key)
    assert refused.value.missing == {"carta-perfumada": 1, "ramo-de-rosas": 1}
    with unit_of_work() as session:
        recorded = recipes.refuse(session, registered, "carta-de-amor", key, refused.value)
    with unit_of_work() as session:
        assert [e.id for e in recipes.refuse(session, registered, "carta-de-amor", key,
                                             refused.value)] == [recorded[0].id]
    assert recorded[0].payload["missing"] == {"carta-perfumada": 1, "ramo-de-rosas": 1}
    text = messages.for_event(recorded[0].as_message()).text  # type: ignore[union-attr]
    assert "te falta" in text and "1 × Carta perfumada" in text and "1 × Ramo de rosas" in text
    assert held(registered) == [("rosa-roja", 1)]

    give(registered, "carta-perfumada", 1)  # inputs arrive later: the request keeps its answer
    give(registered, "ramo-de-rosas", 1)
    with pytest.raises(recipes.MissingInputs), unit_of_work() as session:
        recipes.craft(session, registered, "carta-de-amor", key)
    assert craft(registered, "carta-de-amor", "fresh").item_id == "carta-de-amor"


def test_vip_only_recipe(registered: int) -> None:
    give(registered, "rosa-roja", 2)
    with pytest.raises(store.VipOnly):
        craft(registered, "ramo-vip", "not-vip")
    assert held(registered) == [("rosa-roja", 2)]
    make_vip(registered)
    assert craft(registered, "ramo-vip", "vip").item_id == "ramo-de-rosas"
    assert held(registered) == [("ramo-de-rosas", 1)]


def test_unknown_recipe_is_refused(registered: int) -> None:
    with pytest.raises(recipes.UnknownRecipe):
        craft(registered, "no-such-recipe", "x")


def test_two_crafts_racing_for_the_last_inputs_one_wins(registered: int) -> None:
    give(registered, "rosa-roja", 3)  # enough for exactly one bouquet
    outcomes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def go(n: int) -> None:
        barrier.wait()
        try:
            craft(registered, "ramo-de-rosas", f"race-{n}")
            outcomes.append("crafted")
        except recipes.MissingInputs:
            outcomes.append("missing")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(outcomes) == ["crafted", "missing", "missing"]
    assert held(registered) == [("ramo-de-rosas", 1)]


# --- what the member sees ----------------------------------------------------------------------

def test_recipes_view_shows_have_need_and_craft_buttons(registered: int) -> None:
    give(registered, "rosa-roja", 2)
    with read_session() as session:
        views = recipes.views(session, registered)
    by_id = {view.recipe.id: view for view in views}
    assert by_id["ramo-de-rosas"].missing == {"rosa-roja": 1}
    assert not by_id["ramo-vip"].allowed and by_id["ramo-vip"].missing == {}
    rendered = recipe_messages.recipes_view("es", views)
    assert "Rosa roja 2/3" in rendered.text and "Rosa roja 2/2" in rendered.text
    assert "Solo VIP" in rendered.text
    data = [b["callback_data"] for row in rendered.reply_markup["inline_keyboard"]  # type: ignore[index]
            for b in row]
    assert {f"x:craft:{r.id}" for r in content.recipes()} <= set(data)
    assert all(callbacks.parse_recipe(d) for d in data if d.startswith("x:"))
    inventory_buttons = [b["callback_data"] for row in messages.inventory_view(
        "es", [("rosa-roja", 2)]).reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert "x:list" in inventory_buttons
