"""📖 What members read of the story: the page (fragment + choice buttons), the checkpoints,
the 🎒 backpack, refusals, milestones, hints found, and the fallback while MongoDB is away.

Choice buttons carry `p:<fragment>:<index>:<step>:<token>`; the story menu's buttons
`q:…` (bot/callbacks.py parses both). Tokens are HMACs from services/story.py, so a button
only works for the member it was sent to, on the page it was sent with.
"""

from __future__ import annotations

from typing import Any

from services import content, messages
from services import story as engine
from services.messages import Rendered, renders, t
from services.story_content import Choice, Fragment, Story

messages.add_texts(
    es={
        "btn.story": "📖 Historia",
        "btn.backpack": "🎒 Mochila",
        "btn.checkpoints": "🔖 Volver a un punto",
        "btn.combine": "✨ Unir piezas: {title}",
        "story.progress": "📖 {title} · {percent}% leído",
        "story.ending": "🌙 Fin: {title}. Puedes volver a un punto guardado y elegir otro "
                        "camino.",
        "story.stale": "📖 Esa página ya pasó. Sigues aquí:",
        "story.fallback": "📖 Lucien cierra el libro un instante: «La biblioteca se está "
                          "ordenando. Su lugar está guardado; vuelva en un momento».",
        "btn.retry": "🔄 Reintentar",
        "story.checkpoints": "🔖 Puntos a los que puedes volver:",
        "story.checkpoints.empty": "🔖 Aún no has llegado a ningún punto guardado.",
        "story.backpack": "🎒 Tu mochila:",
        "story.backpack.empty": "🎒 Tu mochila está vacía. Las pistas aparecen al leer… y al "
                                "reaccionar a las publicaciones del canal.",
        "story.milestone": "🏁 {title}: +{besitos} besitos.\n💰 Saldo: {balance} besitos.",
        "story.lore_found": "🎒 Encontraste una pista: {title}.\n{text}",
        "story.lock.vip": "👑",
        "story.lock.cost": "💋{cost}",
        "story.lock.item": "🗝️",
        "story.refused.vip_only": "👑 Ese camino es solo para miembros VIP.",
        "story.refused.level": "⭐ Necesitas más nivel para ese camino.",
        "story.refused.insufficient_funds": "💸 No te alcanzan los besitos para ese camino.\n"
                                            "💰 Saldo: {balance} besitos.",
        "story.refused.missing_item": "🗝️ Te falta algo en el inventario para ese camino.",
        "story.refused.missing_lore": "🎒 Te falta una pieza en la mochila para eso.",
        "story.refused.not_read": "📖 Antes tienes que leer otra parte de la historia.",
        "story.refused.not_chosen": "📖 Ese camino depende de una decisión que no tomaste.",
        "story.refused.flags": "📖 Ese camino no está abierto para ti ahora.",
        "story.refused.achievement": "🏆 Ese camino pide un logro que aún no tienes.",
        "story.refused.mission": "🎯 Ese camino pide completar antes una misión.",
        "story.refused.refused": "📖 Ahora no puedes tomar ese camino.",
    },
    en={
        "btn.story": "📖 Story",
        "btn.backpack": "🎒 Backpack",
        "btn.checkpoints": "🔖 Go back to a point",
        "btn.combine": "✨ Combine pieces: {title}",
        "story.progress": "📖 {title} · {percent}% read",
        "story.ending": "🌙 The end: {title}. You can go back to a saved point and choose "
                        "another path.",
        "story.stale": "📖 That page has turned. You are here:",
        "story.fallback": "📖 Lucien closes the book for a moment: “The library is being put "
                          "in order. Your place is kept; come back in a moment.”",
        "btn.retry": "🔄 Try again",
        "story.checkpoints": "🔖 Points you can go back to:",
        "story.checkpoints.empty": "🔖 You have not reached a saved point yet.",
        "story.backpack": "🎒 Your backpack:",
        "story.backpack.empty": "🎒 Your backpack is empty. Clues turn up as you read… and "
                                "when you react to the channel's posts.",
        "story.milestone": "🏁 {title}: +{besitos} besitos.\n💰 Balance: {balance} besitos.",
        "story.lore_found": "🎒 You found a clue: {title}.\n{text}",
        "story.lock.vip": "👑",
        "story.lock.cost": "💋{cost}",
        "story.lock.item": "🗝️",
        "story.refused.vip_only": "👑 That path is for VIP members only.",
        "story.refused.level": "⭐ You need a higher level for that path.",
        "story.refused.insufficient_funds": "💸 Not enough besitos for that path.\n"
                                            "💰 Balance: {balance} besitos.",
        "story.refused.missing_item": "🗝️ Something is missing from your inventory for that "
                                      "path.",
        "story.refused.missing_lore": "🎒 A piece is missing from your backpack for that.",
        "story.refused.not_read": "📖 You must read another part of the story first.",
        "story.refused.not_chosen": "📖 That path depends on a choice you did not make.",
        "story.refused.flags": "📖 That path is not open to you now.",
        "story.refused.achievement": "🏆 That path asks for an achievement you lack.",
        "story.refused.mission": "🎯 That path asks you to complete a mission first.",
        "story.refused.refused": "📖 You cannot take that path now.",
    },
)

messages.add_reasons(es={"story": "Historia", "story-milestone": "Historia"},
                     en={"story": "Story", "story-milestone": "Story"})


def choice_data(user_id: int, fragment_id: str, index: int, step: int) -> str:
    return (f"p:{fragment_id}:{index}:{step}:"
            f"{engine.token(user_id, 'c', fragment_id, index, step)}")


def restart_data(user_id: int, fragment_id: str, step: int) -> str:
    return f"q:restart:{fragment_id}:{step}:{engine.token(user_id, 'r', fragment_id, step)}"


def combine_data(user_id: int, fragment_id: str, step: int) -> str:
    return f"q:combine:{fragment_id}:{step}:{engine.token(user_id, 'x', fragment_id, step)}"


def _locks(language: str, story: Story, choice: Choice) -> str:
    """Marks on a choice's label for what it asks (the same for every member)."""
    marks: list[str] = []
    for conditions in [choice.conditions] + ([story.fragments[choice.target].conditions]
                                             if choice.target in story.fragments else []):
        if conditions.vip:
            marks.append(t(language, "story.lock.vip"))
        if conditions.cost:
            marks.append(t(language, "story.lock.cost", cost=conditions.cost))
        if conditions.items or conditions.lore:
            marks.append(t(language, "story.lock.item"))
    return " ".join(dict.fromkeys(marks))


def _story_keyboard(language: str) -> list[list[dict[str, str]]]:
    return [[{"text": t(language, "btn.backpack"), "callback_data": "q:backpack"},
             {"text": t(language, "btn.checkpoints"), "callback_data": "q:checkpoints"}],
            [{"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]


def page(language: str, story: Story, user_id: int, progress: engine.Progress,
         note: str | None = None) -> Rendered:
    """The fragment the member is on, with its choice buttons (for their current step)."""
    fragment = story.fragments[progress.position]
    return fragment_page(language, story, user_id, fragment, progress.step,
                         percent=progress.percent(story), note=note)


def fragment_page(language: str, story: Story, user_id: int, fragment: Fragment, step: int,
                  *, percent: int | None = None, note: str | None = None) -> Rendered:
    parts: list[str] = []
    if note:
        parts.append(t(language, note))
    if fragment.title is not None:
        parts.append(f"<b>{_escape(fragment.title.get(language))}</b>")
    parts.append(_escape(fragment.text.get(language)))
    if fragment.ending:
        title = fragment.title.get(language) if fragment.title else fragment.ending
        parts.append(t(language, "story.ending", title=_escape(title)))
    if percent is not None:
        title = story.title.get(language) if story.title else "📖"
        line = t(language, "story.progress", title=_escape(title), percent=percent)
        parts.append(f"<i>{line}</i>")
    rows: list[list[dict[str, str]]] = []
    for index, choice in enumerate(fragment.choices):
        label = choice.label.get(language)
        locks = _locks(language, story, choice)
        rows.append([{"text": f"{label} {locks}".strip()[:64],
                      "callback_data": choice_data(user_id, fragment.id, index, step)}])
    photo = fragment.media.photo if fragment.media is not None else None
    return Rendered("\n\n".join(parts), {"inline_keyboard": rows + _story_keyboard(language)},
                    photo=photo, parse_mode="HTML")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fallback(language: str) -> Rendered:
    """What the member sees while their progress cannot be read (MongoDB away)."""
    return Rendered(t(language, "story.fallback"), {"inline_keyboard": [
        [{"text": t(language, "btn.retry"), "callback_data": "q:view"}],
        [{"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]})


def checkpoints_view(language: str, story: Story, user_id: int,
                     progress: engine.Progress) -> Rendered:
    reached = engine.reached(progress.checkpoints, story)
    back = [[{"text": t(language, "btn.story"), "callback_data": "q:view"},
              {"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]
    if not reached:
        return Rendered(t(language, "story.checkpoints.empty"), {"inline_keyboard": back})
    rows = [[{"text": (f.title.get(language) if f.title else f.id)[:64],
              "callback_data": restart_data(user_id, f.id, progress.step)}] for f in reached]
    return Rendered(t(language, "story.checkpoints"), {"inline_keyboard": rows + back})


def backpack_view(language: str, story: Story, user_id: int,
                  progress: engine.Progress) -> Rendered:
    back = [[{"text": t(language, "btn.story"), "callback_data": "q:view"},
              {"text": t(language, "btn.menu"), "callback_data": "m:menu"}]]
    held = [story.lore[i] for i in progress.lore if i in story.lore]
    if not held:
        return Rendered(t(language, "story.backpack.empty"), {"inline_keyboard": back})
    parts = [t(language, "story.backpack")]
    for entry in held:
        icon = "🧩" if entry.kind == "piece" else "💡"
        parts.append(f"{icon} <b>{_escape(entry.title.get(language))}</b>\n"
                     f"{_escape(entry.text.get(language))}")
    rows = []
    for target in engine.combinable(story, progress):
        fragment = story.fragments[target]
        title = fragment.title.get(language) if fragment.title else target
        rows.append([{"text": t(language, "btn.combine", title=title)[:64],
                      "callback_data": combine_data(user_id, target, progress.step)}])
    return Rendered("\n\n".join(parts), {"inline_keyboard": rows + back}, parse_mode="HTML")


@renders("story.fragment_read")
def _fragment_read(event: dict[str, Any], language: str) -> Rendered | None:
    """The new page. None (no message) for a fragment a content edit has removed since:
    📖 shows the member where they resume."""
    payload = event["payload"]
    story = content.story()
    fragment = story.fragments.get(str(payload["fragment_id"]))
    if fragment is None or "step" not in payload:
        return None
    return fragment_page(language, story, int(payload["user_id"]), fragment,
                         int(payload["step"]))


@renders("story.choice_refused")
def _choice_refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    reason = str(payload.get("reason"))
    key = f"story.refused.{reason}"
    if key not in messages.TEXTS["es"]:
        key = "story.refused.refused"
    return Rendered(t(language, key, balance=payload.get("balance", "?")),
                    {"inline_keyboard": [[{"text": t(language, "btn.story"),
                                           "callback_data": "q:view"}]]})


@renders("story.milestone")
def _milestone(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    fragment = content.story().fragments.get(str(payload["fragment_id"]))
    title = fragment.title.get(language) if fragment is not None and fragment.title else "📖"
    return Rendered(t(language, "story.milestone", title=title, besitos=payload["besitos"],
                      balance=payload["balance"]))


@renders("story.lore_found")
def _lore_found(event: dict[str, Any], language: str) -> Rendered:
    entry = content.story().lore.get(str(event["payload"]["lore_id"]))
    if entry is None:
        return Rendered(t(language, "story.backpack"),
                        {"inline_keyboard": [[{"text": t(language, "btn.backpack"),
                                               "callback_data": "q:backpack"}]]})
    return Rendered(t(language, "story.lore_found", title=entry.title.get(language),
                      text=entry.text.get(language)),
                    {"inline_keyboard": [[{"text": t(language, "btn.backpack"),
                                           "callback_data": "q:backpack"}]]})
