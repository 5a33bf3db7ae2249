"""What members read: every text in Spanish and English, rendered from ids and numbers.

Returns Bot API JSON (text and `reply_markup` dicts), so the bot, the workers and the API
render the same way without importing Telegram libraries here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services import content

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "welcome": "¡Hola! Soy el mayordomo de esta casa. Aquí ganas besitos, cumples misiones "
                   "y sigues la historia. ¿Qué te apetece?",
        "menu": "¿Qué te apetece hacer?",
        "btn.gift": "🎁 Regalo diario",
        "btn.wallet": "💰 Cartera",
        "btn.help": "❓ Ayuda",
        "btn.menu": "⬅️ Menú",
        "gift.claimed": "🎁 ¡Regalo reclamado! +{amount} besitos.\n🔥 Racha: {streak} "
                        "día(s).\n💰 Saldo: {balance} besitos.",
        "gift.denied": "⏳ Ya reclamaste tu regalo de hoy. Vuelve en {hours} h {minutes} min.",
        "gift.queued": "⏳ Recibido. Estamos con mucho trabajo: te aviso en cuanto esté listo.",
        "mission.completed": "✅ Misión completada: {title}. +{besitos} besitos.\n"
                             "💰 Saldo: {balance} besitos.",
        "achievement.unlocked": "🏆 Logro desbloqueado: {title} ({tier}). +{besitos} besitos.\n"
                                "💰 Saldo: {balance} besitos.",
        "wallet": "💰 Tu saldo: {balance} besitos.",
        "wallet.empty": "Aún no tienes movimientos.",
        "wallet.lines": "Últimos movimientos:",
        "help": "Comandos:\n/start — menú principal\n/help — esta ayuda\n\n🎁 Un regalo al día; "
                "si vuelves días seguidos, tu racha sube el premio.",
        "not_registered": "Primero escribe /start para registrarte.",
        "unknown_button": "Ese botón ya no está disponible. Aquí tienes el menú.",
        "unavailable": "Ahora mismo no puedo hacer eso. Inténtalo en un momento, por favor.",
        "working": "Un momento…",
    },
    "en": {
        "welcome": "Hello! I am the butler of this house. Here you earn besitos, complete "
                   "missions and follow the story. What would you like?",
        "menu": "What would you like to do?",
        "btn.gift": "🎁 Daily gift",
        "btn.wallet": "💰 Wallet",
        "btn.help": "❓ Help",
        "btn.menu": "⬅️ Menu",
        "gift.claimed": "🎁 Gift claimed! +{amount} besitos.\n🔥 Streak: {streak} day(s).\n"
                        "💰 Balance: {balance} besitos.",
        "gift.denied": "⏳ You already claimed today's gift. "
                       "Come back in {hours} h {minutes} min.",
        "gift.queued": "⏳ Received. We are busy right now: "
                       "I will tell you as soon as it is done.",
        "mission.completed": "✅ Mission completed: {title}. +{besitos} besitos.\n"
                             "💰 Balance: {balance} besitos.",
        "achievement.unlocked": "🏆 Achievement unlocked: {title} ({tier}). +{besitos} besitos.\n"
                                "💰 Balance: {balance} besitos.",
        "wallet": "💰 Your balance: {balance} besitos.",
        "wallet.empty": "No movements yet.",
        "wallet.lines": "Latest movements:",
        "help": "Commands:\n/start — main menu\n/help — this help\n\n🎁 One gift a day; come "
                "back on consecutive days and your streak raises the prize.",
        "not_registered": "Please send /start first to register.",
        "unknown_button": "That button is no longer available. Here is the menu.",
        "unavailable": "I cannot do that right now. Please try again in a moment.",
        "working": "One moment…",
    },
}

REASONS = {
    "es": {"daily_gift": "Regalo diario", "mission": "Misión", "achievement": "Logro"},
    "en": {"daily_gift": "Daily gift", "mission": "Mission", "achievement": "Achievement"},
}


def t(language: str, key: str, **values: Any) -> str:
    table = TEXTS.get(language, TEXTS["es"])
    return table.get(key, TEXTS["es"][key]).format(**values)


@dataclass(frozen=True)
class Rendered:
    text: str
    reply_markup: dict[str, Any] | None = field(default=None)

    def params(self, chat_id: int) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": chat_id, "text": self.text}
        if self.reply_markup:
            params["reply_markup"] = self.reply_markup
        return params


def _button(language: str, key: str, data: str) -> dict[str, str]:
    return {"text": t(language, key), "callback_data": data}


def menu_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [
        [_button(language, "btn.gift", "m:gift")],
        [_button(language, "btn.wallet", "m:wallet"), _button(language, "btn.help", "m:help")],
    ]}


def back_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [[_button(language, "btn.menu", "m:menu")]]}


def main_menu(language: str, *, welcome: bool = False) -> Rendered:
    return Rendered(t(language, "welcome" if welcome else "menu"), menu_keyboard(language))


def help_text(language: str) -> Rendered:
    return Rendered(t(language, "help"), back_keyboard(language))


def _reason(language: str, reason: str) -> str:
    kind, _, ident = reason.partition(":")
    label = REASONS.get(language, REASONS["es"]).get(kind, kind)
    return f"{label} ({ident})" if ident else label


def wallet_view(language: str, balance: int, lines: list[tuple[int, str, datetime]]) -> Rendered:
    """Balance and the latest ledger lines (amount, reason, when), newest first."""
    parts = [t(language, "wallet", balance=balance)]
    if lines:
        parts.append(t(language, "wallet.lines"))
        parts += [f"{when:%d/%m %H:%M}  {amount:+d}  {_reason(language, reason)}"
                  for amount, reason, when in lines]
    else:
        parts.append(t(language, "wallet.empty"))
    return Rendered("\n".join(parts), back_keyboard(language))


def _mission_title(mission_id: str, language: str) -> str:
    for mission in content.missions():
        if mission.id == mission_id:
            return mission.title.get(language)
    return mission_id


def _achievement_title(achievement_id: str, language: str) -> str:
    for achievement in content.achievements():
        if achievement.id == achievement_id:
            return achievement.title.get(language)
    return achievement_id


def for_event(event: dict[str, Any]) -> Rendered | None:
    """The message a member gets for an event, or None when the event tells them nothing."""
    payload = event["payload"]
    language = payload.get("lang", "es")
    kind = event["type"]
    if kind == "gift.claimed":
        text = t(language, kind, amount=payload["amount"], streak=payload["streak"],
                 balance=payload["balance"])
    elif kind == "gift.denied":
        wait = datetime.fromisoformat(payload["next_at"]) - datetime.fromisoformat(event["at"])
        minutes = max(int(wait.total_seconds()) // 60, 0)
        text = t(language, kind, hours=minutes // 60, minutes=minutes % 60)
    elif kind == "mission.completed":
        text = t(language, kind, title=_mission_title(payload["mission_id"], language),
                 besitos=payload["besitos"], balance=payload["balance"])
    elif kind == "achievement.unlocked":
        text = t(language, kind, title=_achievement_title(payload["achievement_id"], language),
                 tier=payload["tier"], besitos=payload["besitos"], balance=payload["balance"])
    else:
        return None
    return Rendered(text, back_keyboard(language))
