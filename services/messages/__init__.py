"""What members read: every text in Spanish and English, rendered from ids and numbers.

Returns Bot API JSON (text and `reply_markup` dicts), so the bot, the workers and the API
render the same way without importing Telegram libraries here.

This module holds the shared parts (texts of the menu, gift, wallet and store; `t`,
`Rendered`, the main menu) and the registry: a feature module in this package adds its
texts with `add_texts(es={...}, en={...})` and its event messages with
`@renders("event.type")`; `for_event` finds them there, and `tasks.notify` subscribes to
every type that has a renderer. Feature modules are imported at the bottom of this file.
"""

from __future__ import annotations

from collections.abc import Callable
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
        "wallet": "💰 Tu saldo: {balance} besitos.",
        "wallet.empty": "Aún no tienes movimientos.",
        "wallet.lines": "Últimos movimientos:",
        "help": "Comandos:\n/start — menú principal\n/historia — la historia\n"
                "/help — esta ayuda\n\n🎁 Un regalo al día; si vuelves días seguidos, tu "
                "racha sube el premio.",
        "not_registered": "Primero escribe /start para registrarte.",
        "unknown_button": "Ese botón ya no está disponible. Aquí tienes el menú.",
        "unavailable": "Ahora mismo no puedo hacer eso. Inténtalo en un momento, por favor.",
        "not_taken": "No he podido recibir eso. Inténtalo de nuevo en un minuto, por favor.",
        "working": "Un momento…",
        "btn.store": "🛍️ Tienda",
        "btn.missions": "🎯 Misiones",
        "btn.achievements": "🏆 Logros",
        "btn.auctions": "🔨 Subastas",
        "btn.trivia": "🧠 Trivia",
        "btn.top": "🏅 Ranking",
        "btn.inventory": "🎒 Inventario",
        "btn.buy": "🛒 Comprar por {price} besitos",
        "btn.use": "✨ Usar {title}",
        "store": "🛍️ Tienda. Tu saldo: {balance} besitos.\nElige un artículo:",
        "store.empty": "🛍️ La tienda está vacía por ahora.",
        "store.sold_out": "agotado",
        "store.item": "{title}\n{description}\n\n✨ {rarity} · {category}\n💋 Precio: {price} "
                      "besitos",
        "store.vip_price": "👑 Precio VIP: {price} besitos (normal: {normal})",
        "store.vip_only": "👑 Solo para VIP",
        "store.stock": "📦 Quedan {remaining}",
        "store.limit": "🔒 Máximo {limit} por persona",
        "store.owned": "🎒 Tienes {owned}",
        "inventory": "🎒 Tu inventario:",
        "inventory.empty": "🎒 Tu inventario está vacío. Pásate por la tienda.",
        "item.purchased": "🛍️ ¡Compraste {title}! -{price} besitos.\n💰 Saldo: {balance} "
                          "besitos.",
        "item.used": "✨ Usaste {title}. Te quedan {remaining}.",
        "refused.unknown_item": "Ese artículo ya no está en la tienda.",
        "refused.vip_only": "👑 {title} es solo para miembros VIP.",
        "refused.sold_out": "😔 {title} se ha agotado.",
        "refused.limit_reached": "🔒 Ya tienes el máximo de {title} por persona.",
        "refused.insufficient_funds": "💸 No te alcanzan los besitos para {title}.\n"
                                      "💰 Saldo: {balance} besitos.",
        "refused.not_owned": "🎒 No tienes {title} en tu inventario.",
        "refused.not_consumable": "{title} no se puede usar.",
        "refused.refused": "No he podido hacer eso con {title}.",
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
        "wallet": "💰 Your balance: {balance} besitos.",
        "wallet.empty": "No movements yet.",
        "wallet.lines": "Latest movements:",
        "help": "Commands:\n/start — main menu\n/story — the story\n/help — this help\n\n"
                "🎁 One gift a day; come back on consecutive days and your streak raises "
                "the prize.",
        "not_registered": "Please send /start first to register.",
        "unknown_button": "That button is no longer available. Here is the menu.",
        "unavailable": "I cannot do that right now. Please try again in a moment.",
        "not_taken": "I could not take that. Please try again in a minute.",
        "working": "One moment…",
        "btn.store": "🛍️ Store",
        "btn.missions": "🎯 Missions",
        "btn.achievements": "🏆 Achievements",
        "btn.auctions": "🔨 Auctions",
        "btn.trivia": "🧠 Trivia",
        "btn.top": "🏅 Leaderboard",
        "btn.inventory": "🎒 Inventory",
        "btn.buy": "🛒 Buy for {price} besitos",
        "btn.use": "✨ Use {title}",
        "store": "🛍️ Store. Your balance: {balance} besitos.\nPick an item:",
        "store.empty": "🛍️ The store is empty for now.",
        "store.sold_out": "sold out",
        "store.item": "{title}\n{description}\n\n✨ {rarity} · {category}\n💋 Price: {price} "
                      "besitos",
        "store.vip_price": "👑 VIP price: {price} besitos (regular: {normal})",
        "store.vip_only": "👑 VIP only",
        "store.stock": "📦 {remaining} left",
        "store.limit": "🔒 At most {limit} per member",
        "store.owned": "🎒 You have {owned}",
        "inventory": "🎒 Your inventory:",
        "inventory.empty": "🎒 Your inventory is empty. Have a look at the store.",
        "item.purchased": "🛍️ You bought {title}! -{price} besitos.\n💰 Balance: {balance} "
                          "besitos.",
        "item.used": "✨ You used {title}. {remaining} left.",
        "refused.unknown_item": "That item is no longer in the store.",
        "refused.vip_only": "👑 {title} is for VIP members only.",
        "refused.sold_out": "😔 {title} is sold out.",
        "refused.limit_reached": "🔒 You already have the most {title} one member may buy.",
        "refused.insufficient_funds": "💸 Not enough besitos for {title}.\n"
                                      "💰 Balance: {balance} besitos.",
        "refused.not_owned": "🎒 You have no {title} in your inventory.",
        "refused.not_consumable": "{title} cannot be used.",
        "refused.refused": "I could not do that with {title}.",
    },
}

REASONS = {
    "es": {"daily_gift": "Regalo diario", "mission": "Misión", "achievement": "Logro",
           "purchase": "Compra"},
    "en": {"daily_gift": "Daily gift", "mission": "Mission", "achievement": "Achievement",
           "purchase": "Purchase"},
}

RARITIES = {
    "es": {"common": "común", "uncommon": "poco común", "rare": "raro", "epic": "épico",
           "legendary": "legendario"},
    "en": {"common": "common", "uncommon": "uncommon", "rare": "rare", "epic": "epic",
           "legendary": "legendary"},
}


def t(language: str, key: str, **values: Any) -> str:
    table = TEXTS.get(language, TEXTS["es"])
    return table.get(key, TEXTS["es"][key]).format(**values)


def add_texts(*, es: dict[str, str], en: dict[str, str]) -> None:
    """Add a feature's texts (Spanish is required for every key; English may be missing)."""
    clash = (set(es) | set(en)) & (set(TEXTS["es"]) | set(TEXTS["en"]))
    if clash:
        raise ValueError(f"text keys defined twice: {sorted(clash)}")
    missing = set(en) - set(es)
    if missing:
        raise ValueError(f"English texts without a Spanish one: {sorted(missing)}")
    TEXTS["es"].update(es)
    TEXTS["en"].update(en)


def add_reasons(*, es: dict[str, str], en: dict[str, str]) -> None:
    """Add a feature's wallet-line labels (ledger reasons `<kind>:<id>` → a label per kind)."""
    clash = (set(es) | set(en)) & (set(REASONS["es"]) | set(REASONS["en"]))
    if clash:
        raise ValueError(f"ledger reasons labelled twice: {sorted(clash)}")
    REASONS["es"].update(es)
    REASONS["en"].update(en)


Renderer = Callable[[dict[str, Any], str], "Rendered | None"]
_renderers: dict[str, Renderer] = {}


def renders(*event_types: str) -> Callable[[Renderer], Renderer]:
    """Register the function that renders these event types for the member
    (`fn(event, language) -> Rendered | None`)."""

    def register(fn: Renderer) -> Renderer:
        for event_type in event_types:
            if event_type in _renderers:
                raise ValueError(f"two renderers for {event_type}")
            _renderers[event_type] = fn
        return fn

    return register


def rendered_types() -> tuple[str, ...]:
    """Every event type a member is told about (what `tasks.notify` subscribes to)."""
    return tuple(sorted(_renderers))


@dataclass(frozen=True)
class Rendered:
    """A message: text (the caption when there is a photo), buttons, an optional photo."""

    text: str
    reply_markup: dict[str, Any] | None = field(default=None)
    photo: str | None = None  # a Telegram file id or an https URL
    parse_mode: str | None = None  # "HTML" when the text carries (escaped) markup

    @property
    def method(self) -> str:
        return "sendPhoto" if self.photo else "sendMessage"

    def params(self, chat_id: int) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": chat_id}
        if self.photo:
            params.update(photo=self.photo, caption=self.text)
        else:
            params["text"] = self.text
        if self.parse_mode:
            params["parse_mode"] = self.parse_mode
        if self.reply_markup:
            params["reply_markup"] = self.reply_markup
        return params


def _button(language: str, key: str, data: str) -> dict[str, str]:
    return {"text": t(language, key), "callback_data": data}


def menu_keyboard(language: str) -> dict[str, Any]:
    """The main menu; each feature's button carries its callback prefix (bot/callbacks.py)."""
    return {"inline_keyboard": [
        [_button(language, "btn.gift", "m:gift"), _button(language, "btn.story", "q:view")],
        [_button(language, "btn.missions", "g:missions"),
         _button(language, "btn.achievements", "g:achievements")],
        [_button(language, "btn.store", "s:list"), _button(language, "btn.inventory", "i:list")],
        [_button(language, "btn.auctions", "a:list"), _button(language, "btn.trivia", "t:play")],
        [_button(language, "btn.top", "g:top"), _button(language, "btn.wallet", "m:wallet")],
        [_button(language, "btn.vip_status", "v:status"), _button(language, "btn.help", "m:help")],
    ]}


def back_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [[_button(language, "btn.menu", "m:menu")]]}


def main_menu(language: str, *, welcome: bool = False) -> Rendered:
    return Rendered(t(language, "welcome" if welcome else "menu"), menu_keyboard(language))


def help_text(language: str) -> Rendered:
    return Rendered(t(language, "help"), back_keyboard(language))


def reason_label(language: str, reason: str) -> str:
    kind, _, ident = reason.partition(":")
    label = REASONS.get(language, REASONS["es"]).get(kind, kind)
    return f"{label} ({ident})" if ident else label


def wallet_view(language: str, balance: int, lines: list[tuple[int, str, datetime]]) -> Rendered:
    """Balance and the latest ledger lines (amount, reason, when), newest first."""
    parts = [t(language, "wallet", balance=balance)]
    if lines:
        parts.append(t(language, "wallet.lines"))
        parts += [f"{when:%d/%m %H:%M}  {amount:+d}  {reason_label(language, reason)}"
                  for amount, reason, when in lines]
    else:
        parts.append(t(language, "wallet.empty"))
    return Rendered("\n".join(parts), back_keyboard(language))


def _item_title(item_id: str, language: str) -> str:
    item = content.item(item_id)
    return item.title.get(language) if item is not None else item_id


def store_keyboard(language: str) -> dict[str, Any]:
    return {"inline_keyboard": [[_button(language, "btn.store", "s:list"),
                                 _button(language, "btn.inventory", "i:list")],
                                [_button(language, "btn.menu", "m:menu")]]}


def store_view(language: str, balance: int, offers: list[Any]) -> Rendered:
    """The item list: one button per item with the member's price; sold out marked.

    `offers` are `services.store.Offer`s (typed loosely: messages does not import services
    that touch SQL)."""
    if not offers:
        return Rendered(t(language, "store.empty"), store_keyboard(language))
    rows: list[list[dict[str, str]]] = []
    for offer in offers:
        label = f"{offer.item.title.get(language)} · {offer.price} 💋"
        if offer.item.vip_only:
            label = "👑 " + label
        if offer.sold_out:
            label += f" ({t(language, 'store.sold_out')})"
        rows.append([{"text": label, "callback_data": f"s:item:{offer.item.id}"}])
    rows += store_keyboard(language)["inline_keyboard"][:1]
    rows.append([_button(language, "btn.menu", "m:menu")])
    return Rendered(t(language, "store", balance=balance), {"inline_keyboard": rows})


def item_view(language: str, offer: Any) -> Rendered:
    """One item: description, the member's price, stock and limit, and a Buy button."""
    item = offer.item
    parts = [t(language, "store.item", title=item.title.get(language),
               description=item.description.get(language),
               rarity=RARITIES.get(language, RARITIES["es"])[item.rarity],
               category=item.category, price=item.price)]
    if offer.price != item.price:
        parts.append(t(language, "store.vip_price", price=offer.price, normal=item.price))
    if item.vip_only:
        parts.append(t(language, "store.vip_only"))
    if offer.remaining is not None:
        parts.append(t(language, "store.stock", remaining=max(offer.remaining, 0)))
    if item.per_member_limit is not None:
        parts.append(t(language, "store.limit", limit=item.per_member_limit))
    if offer.owned:
        parts.append(t(language, "store.owned", owned=offer.owned))
    rows: list[list[dict[str, str]]] = []
    if offer.sold_out:
        parts.append(f"❌ {t(language, 'store.sold_out')}")
    else:
        rows.append([{"text": t(language, "btn.buy", price=offer.price),
                      "callback_data": f"s:buy:{item.id}"}])
    rows.append([_button(language, "btn.store", "s:list"),
                 _button(language, "btn.menu", "m:menu")])
    return Rendered("\n".join(parts), {"inline_keyboard": rows})


def inventory_view(language: str, lines: list[tuple[str, int]]) -> Rendered:
    """What the member holds, stacked, with a Use button for each consumable."""
    crafting = [_button(language, "btn.recipes", "x:list")]  # services/messages/recipes.py
    if not lines:
        shop = store_keyboard(language)["inline_keyboard"]
        return Rendered(t(language, "inventory.empty"), {"inline_keyboard": [crafting, *shop]})
    parts = [t(language, "inventory")]
    rows: list[list[dict[str, str]]] = []
    for item_id, quantity in lines:
        item = content.item(item_id)
        title = item.title.get(language) if item is not None else item_id
        parts.append(f"• {title} × {quantity}")
        if item is not None and item.consumable:
            rows.append([{"text": t(language, "btn.use", title=title),
                          "callback_data": f"i:use:{item_id}"}])
    rows.append(crafting)
    rows += store_keyboard(language)["inline_keyboard"]
    return Rendered("\n".join(parts), {"inline_keyboard": rows})


def for_event(event: dict[str, Any]) -> Rendered | None:
    """The message a member gets for an event, or None when the event tells them nothing."""
    renderer = _renderers.get(event["type"])
    if renderer is None:
        return None
    return renderer(event, event["payload"].get("lang", "es"))


@renders("gift.claimed")
def _gift_claimed(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "gift.claimed", amount=payload["amount"],
                      streak=payload["streak"], balance=payload["balance"]),
                    back_keyboard(language))


@renders("gift.denied")
def _gift_denied(event: dict[str, Any], language: str) -> Rendered:
    wait = (datetime.fromisoformat(event["payload"]["next_at"])
            - datetime.fromisoformat(event["at"]))
    minutes = max(int(wait.total_seconds()) // 60, 0)
    return Rendered(t(language, "gift.denied", hours=minutes // 60, minutes=minutes % 60),
                    back_keyboard(language))


@renders("item.purchased")
def _item_purchased(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "item.purchased", title=_item_title(payload["item_id"], language),
                      price=payload["price"], balance=payload["balance"]),
                    store_keyboard(language))


@renders("item.used")
def _item_used(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "item.used", title=_item_title(payload["item_id"], language),
                      remaining=payload["remaining"]),
                    store_keyboard(language))


@renders("item.purchase_refused", "item.use_refused")
def _item_refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    reason = str(payload.get("reason"))
    key = f"refused.{reason}" if f"refused.{reason}" in TEXTS["es"] else "refused.refused"
    return Rendered(t(language, key, title=_item_title(payload["item_id"], language),
                      balance=payload.get("balance", "?")),
                    store_keyboard(language))


# Feature modules register their texts and renderers on import (keep this list sorted).
# from services.messages import auctions, ...  # noqa: E402, F401
from services.messages import (  # noqa: E402, F401
    admin,
    auctions,
    broadcasts,  # 📣 broadcasts
    catalogs,
    posts,  # 🗓️ scheduled posts
    progress,
    reactions,
    recipes,
    story,
    trivia,
    vip,  # 👑 VIP access
)
