"""📚 The admins' catalog reload (`/recargar`): what the admin who asked is told.

(Not `messages/content.py`: a submodule named `content` would replace the package's own
`content` import, services/content.py, in `services.messages`.)
"""

from __future__ import annotations

from typing import Any

from services.messages import TEXTS, Rendered, add_texts, back_keyboard, renders, t

# The catalogs in the order they are listed (services/content.py LOADERS names).
CATALOG_ORDER = ("missions", "achievements", "levels", "items", "recipes", "trivia", "story")

add_texts(
    es={
        "content.reloaded": "✅ Catálogos recargados: {counts}.\nTodo el sistema los usa "
                            "en unos segundos.",
        "content.reloaded.stock": "📦 Stock nuevo para {count} artículo(s) limitado(s).",
        "content.reload_failed": "⚠️ No he recargado los catálogos: hay un error y sigo con "
                                 "los anteriores.\n\n{error}",
        "content.reload_refused": "🔒 Solo un administrador puede recargar los catálogos.",
        "content.catalog.missions": "{count} misiones",
        "content.catalog.achievements": "{count} logros",
        "content.catalog.levels": "{count} niveles",
        "content.catalog.items": "{count} artículos",
        "content.catalog.recipes": "{count} recetas",
        "content.catalog.trivia": "{count} preguntas de trivia",
        "content.catalog.story": "{count} fragmentos de la historia",
    },
    en={
        "content.reloaded": "✅ Catalogs reloaded: {counts}.\nThe whole system uses them "
                            "within seconds.",
        "content.reloaded.stock": "📦 New stock for {count} limited item(s).",
        "content.reload_failed": "⚠️ I did not reload the catalogs: there is an error, and "
                                 "the previous ones stay in use.\n\n{error}",
        "content.reload_refused": "🔒 Only an admin can reload the catalogs.",
        "content.catalog.missions": "{count} missions",
        "content.catalog.achievements": "{count} achievements",
        "content.catalog.levels": "{count} levels",
        "content.catalog.items": "{count} items",
        "content.catalog.recipes": "{count} recipes",
        "content.catalog.trivia": "{count} trivia questions",
        "content.catalog.story": "{count} story fragments",
    },
)


def counts_text(language: str, counts: dict[str, int]) -> str:
    """"7 misiones, 15 logros, …"; a catalog without a text yet is shown by its name."""
    names = [name for name in CATALOG_ORDER if name in counts]
    names += sorted(set(counts) - set(CATALOG_ORDER))
    return ", ".join(t(language, f"content.catalog.{name}", count=counts[name])
                     if f"content.catalog.{name}" in TEXTS["es"] else f"{name} {counts[name]}"
                     for name in names)


@renders("content.reloaded")
def _reloaded(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:  # the console's reload: nobody to tell
        return None
    parts = [t(language, "content.reloaded",
               counts=counts_text(language, dict(payload.get("counts") or {})))]
    if payload.get("stock_added"):
        parts.append(t(language, "content.reloaded.stock", count=payload["stock_added"]))
    return Rendered("\n".join(parts), back_keyboard(language))


@renders("content.reload_failed")
def _failed(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:
        return None
    return Rendered(t(language, "content.reload_failed", error=payload.get("error", "?")),
                    back_keyboard(language))


@renders("content.reload_refused")
def _refused(event: dict[str, Any], language: str) -> Rendered | None:
    if "user_id" not in event["payload"]:
        return None
    return Rendered(t(language, "content.reload_refused"), back_keyboard(language))
