"""What members read about recipes: the ⚗️ list (have / need, a craft button each), the
result of a craft and the polite refusals (naming what is missing)."""

from __future__ import annotations

from typing import Any

from services import content, messages
from services.messages import Rendered, renders, t

messages.add_texts(
    es={
        "btn.recipes": "⚗️ Recetas",
        "btn.craft": "⚗️ Crear {title}",
        "recipes": "⚗️ Recetas: combina lo que tienes en algo nuevo.",
        "recipes.empty": "⚗️ Aún no hay recetas.",
        "recipes.makes": "→ {title} × {quantity}",
        "recipes.vip_only": "👑 Solo VIP",
        "recipes.ready": "✅ Lo tienes todo",
        "item.crafted": "⚗️ ¡Creaste {title} × {quantity}! Ahora tienes {owned}.",
        "craft.refused.missing_inputs": "⚗️ Para {title} te falta: {missing}.",
        "craft.refused.vip_only": "👑 La receta {title} es solo para miembros VIP.",
        "craft.refused.unknown_recipe": "Esa receta ya no existe.",
        "craft.refused.refused": "No he podido crear {title}.",
    },
    en={
        "btn.recipes": "⚗️ Recipes",
        "btn.craft": "⚗️ Make {title}",
        "recipes": "⚗️ Recipes: combine what you have into something new.",
        "recipes.empty": "⚗️ No recipes yet.",
        "recipes.makes": "→ {title} × {quantity}",
        "recipes.vip_only": "👑 VIP only",
        "recipes.ready": "✅ You have everything",
        "item.crafted": "⚗️ You made {title} × {quantity}! You now have {owned}.",
        "craft.refused.missing_inputs": "⚗️ For {title} you still need: {missing}.",
        "craft.refused.vip_only": "👑 The {title} recipe is for VIP members only.",
        "craft.refused.unknown_recipe": "That recipe no longer exists.",
        "craft.refused.refused": "I could not make {title}.",
    },
)

messages.add_reasons(es={"craft": "Receta"}, en={"craft": "Recipe"})


def _item_title(item_id: str, language: str) -> str:
    item = content.item(item_id)
    return item.title.get(language) if item is not None else item_id


def _recipe_title(recipe_id: str, language: str) -> str:
    recipe = content.recipe(recipe_id)
    return recipe.title.get(language) if recipe is not None else recipe_id


def recipes_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [
        [{"text": t(language, "btn.recipes"), "callback_data": "x:list"},
         {"text": t(language, "btn.inventory"), "callback_data": "i:list"}],
        [{"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]}


def recipes_view(language: str, views: list[Any]) -> Rendered:
    """Every recipe with what the member has / needs of each input, and a craft button.

    `views` are `services.recipes.RecipeView`s (typed loosely, as the store's offers)."""
    back = [[{"text": t(language, "btn.inventory"), "callback_data": "i:list"},
             {"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]
    if not views:
        return Rendered(t(language, "recipes.empty"), {"inline_keyboard": back})
    parts = [t(language, "recipes")]
    rows: list[list[dict[str, str]]] = []
    for view in views:
        recipe = view.recipe
        title = recipe.title.get(language)
        parts.append("")
        parts.append(f"{'👑 ' if recipe.vip_only else ''}{title}")
        for item_id, need in recipe.inputs.items():
            have = view.have.get(item_id, 0)
            mark = "✅" if have >= need else "▫️"
            parts.append(f"{mark} {_item_title(item_id, language)} {min(have, need)}/{need}")
        parts.append(t(language, "recipes.makes",
                       title=_item_title(recipe.output.item, language),
                       quantity=recipe.output.quantity))
        if not view.allowed:
            parts.append(t(language, "recipes.vip_only"))
        elif view.craftable:
            parts.append(t(language, "recipes.ready"))
        rows.append([{"text": t(language, "btn.craft", title=title),
                      "callback_data": f"x:craft:{recipe.id}"}])
    return Rendered("\n".join(parts), {"inline_keyboard": rows + back})


@renders("item.crafted")
def _crafted(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "item.crafted", title=_item_title(payload["item_id"], language),
                      quantity=payload["quantity"], owned=payload["owned"]),
                    recipes_keyboard(language))


@renders("item.craft_refused")
def _refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    reason = str(payload.get("reason"))
    key = f"craft.refused.{reason}"
    if key not in messages.TEXTS["es"]:
        key = "craft.refused.refused"
    missing = ", ".join(f"{n} × {_item_title(item, language)}"
                        for item, n in (payload.get("missing") or {}).items())
    return Rendered(t(language, key, title=_recipe_title(str(payload["recipe_id"]), language),
                      missing=missing),
                    recipes_keyboard(language))
