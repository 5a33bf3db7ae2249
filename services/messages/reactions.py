"""What members read about reactions: the toast under a reaction button, the "slow down" note.

`reaction.rewarded` has NO renderer on purpose: one private message per reaction would be
noise (a member reacting to ten posts would get ten messages). The feedback is the toast
under the button they pressed, the balance in 💰, and the milestones other features
announce (achievements: first reaction, 25 reactions; the "react 3 times" mission). Having
no renderer also means `tasks.notify` does not subscribe to it: no task per reaction.
"""

from __future__ import annotations

from typing import Any

from services import messages
from services.messages import Rendered, back_keyboard, renders, t

messages.add_texts(
    es={
        "reaction.toast.rewarded": "+{besitos} {unit} 💋",
        "reaction.toast.already": "Ya reaccionaste a esta publicación 💋",
        "reaction.toast.limited": "🙈 Vas muy rápido: espera un momento para ganar más besitos.",
        "reaction.toast.unknown_post": "Esta publicación no reparte besitos.",
        "reaction.toast.not_registered": "💋 Abre el bot y escribe /start para ganar besitos "
                                         "con tus reacciones.",
        "reaction.toast.unknown": "Ese botón ya no está disponible.",
        "reaction.toast.queued": "⏳ Recibido: lo apunto en un momento.",
        "reaction.unit.one": "besito",
        "reaction.unit.many": "besitos",
        "reaction.limited": "🙈 Vas muy rápido con las reacciones. Pagamos hasta {per_minute} "
                            "por minuto: las de ahora no suman, pero en un minuto vuelven a "
                            "contar.",
    },
    en={
        "reaction.toast.rewarded": "+{besitos} {unit} 💋",
        "reaction.toast.already": "You already reacted to this post 💋",
        "reaction.toast.limited": "🙈 Slow down a little: wait a moment to earn more besitos.",
        "reaction.toast.unknown_post": "This post does not give besitos.",
        "reaction.toast.not_registered": "💋 Open the bot and send /start to earn besitos "
                                         "with your reactions.",
        "reaction.toast.unknown": "That button is no longer available.",
        "reaction.toast.queued": "⏳ Received: I will note it in a moment.",
        "reaction.unit.one": "besito",
        "reaction.unit.many": "besitos",
        "reaction.limited": "🙈 You are reacting very fast. We pay up to {per_minute} a "
                            "minute: these do not count, but in a minute they will again.",
    },
)

messages.add_reasons(es={"reaction": "Reacción"}, en={"reaction": "Reaction"})


def toast(language: str, outcome: dict[str, Any]) -> str:
    """The answer to a reaction button press, from `tasks.reactions.reward`'s outcome
    (≤ 200 characters, Telegram's limit for a callback answer)."""
    status = str(outcome.get("status"))
    key = f"reaction.toast.{status}"
    if key not in messages.TEXTS["es"]:
        key = "reaction.toast.unknown"
    besitos = int(outcome.get("besitos") or 0)
    unit = t(language, "reaction.unit.one" if besitos == 1 else "reaction.unit.many")
    return t(language, key, besitos=besitos, unit=unit)[:200]


@renders("reaction.limited")
def _limited(event: dict[str, Any], language: str) -> Rendered:
    return Rendered(t(language, "reaction.limited",
                      per_minute=event["payload"].get("per_minute", "?")),
                    back_keyboard(language))
