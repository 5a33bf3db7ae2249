"""🔨 Auction texts, views and event messages (Spanish and English).

Callback data (bot/callbacks.py): `a:list`, `a:show:<id>`, `a:bid:<id>:<amount>`,
`a:buy:<id>`. A bid button carries its amount, so a stale button bids what it says (and is
refused politely when that is no longer enough).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services import content
from services.messages import TEXTS, Rendered, add_reasons, add_texts, renders, t

add_texts(
    es={
        "auction.list": "🔨 Subastas abiertas:",
        "auction.list_empty": "🔨 No hay subastas abiertas ahora mismo. ¡Vuelve pronto!",
        "auction.line": "{title} · {price} 💋 · ⏱ {ends_in}",
        "auction.leading": "🏆 vas ganando",
        "auction.outbid_mark": "⚠️ te superaron",
        "auction.detail": "🔨 Subasta #{id}: {title}\n{description}",
        "auction.price_start": "💋 Precio de salida: {price} besitos",
        "auction.price_current": "💋 Puja más alta: {price} besitos ({bids} puja(s))",
        "auction.increment": "➕ Incremento mínimo: {increment} besitos",
        "auction.buy_now": "⚡ Compra inmediata: {price} besitos",
        "auction.ends_in": "⏱ Termina en {ends_in}",
        "auction.you_lead": "🏆 Vas ganando: tienes {held} besitos retenidos.",
        "auction.you_were_outbid": "⚠️ Te han superado. Puedes volver a pujar.",
        "auction.ended": "⌛ Esta subasta ha terminado.",
        "auction.you_won": "🏆 ¡La ganaste!",
        "btn.auction_bid": "🔨 Pujar {amount}",
        "btn.auction_bid_more": "⏫ Pujar {amount}",
        "btn.auction_buy": "⚡ Comprar ya {price}",
        "btn.auction_show": "🔎 Ver subasta",
        "btn.auction_list": "🔨 Subastas",
        "auction.bid_placed": "🔨 ¡Tu puja de {amount} besitos por {title} es la más alta!\n"
                              "🔒 Retenidos: {held} besitos.\n💰 Saldo: {balance} besitos.",
        "auction.extended": "⏱ Puja en el último momento: la subasta se alarga y termina en "
                            "{ends_in}.",
        "auction.outbid": "😮 Te han superado en la subasta de {title}: ahora va por {price} "
                          "besitos.\n↩️ Te devolvimos {refunded} besitos.\n💰 Saldo: {balance} "
                          "besitos.",
        "auction.sold_to_other": "⌛ La subasta de {title} terminó: alguien la compró ya por "
                                 "{price} besitos.\n↩️ Te devolvimos {refunded} besitos.\n"
                                 "💰 Saldo: {balance} besitos.",
        "auction.won": "🏆 ¡Ganaste la subasta de {title} por {price} besitos! Ya está en tu "
                       "inventario.\n💰 Saldo: {balance} besitos.",
        "auction.unsold": "🔨 La subasta #{id} de {title} terminó sin pujas.",
        "auction.created": "🔨 Subasta #{id} creada: {title}.\n💋 Salida: {start} besitos, "
                           "incremento {increment}.\n⏱ Termina en {ends_in}.",
        "auction.created_buy_now": "⚡ Compra inmediata: {price} besitos.",
        "auction.usage": "Uso: /subasta <artículo> <precio de salida> <incremento> <minutos> "
                         "[compra inmediata]\nEjemplo: /subasta rosa-roja 50 10 60 200",
        "auction.refused.not_admin": "🔒 Solo un administrador puede crear subastas.",
        "auction.refused.unknown_item": "No encuentro el artículo «{item}» en el catálogo.",
        "auction.refused.too_low": "🙈 Alguien se adelantó: la puja mínima ahora es "
                                   "{min_next} besitos.",
        "auction.refused.auction_closed": "⌛ Esa subasta ya terminó.",
        "auction.refused.insufficient_funds": "💸 No te alcanzan los besitos para pujar "
                                              "{amount}.\n💰 Saldo: {balance} besitos.",
        "auction.refused.not_registered": "Primero escribe /start para registrarte.",
        "auction.refused.unknown_auction": "Esa subasta no existe.",
        "auction.refused.no_buy_now": "Esa subasta no tiene compra inmediata.",
        "auction.refused.refused": "No he podido hacer eso con la subasta.",
    },
    en={
        "auction.list": "🔨 Open auctions:",
        "auction.list_empty": "🔨 No auctions are open right now. Come back soon!",
        "auction.line": "{title} · {price} 💋 · ⏱ {ends_in}",
        "auction.leading": "🏆 you lead",
        "auction.outbid_mark": "⚠️ outbid",
        "auction.detail": "🔨 Auction #{id}: {title}\n{description}",
        "auction.price_start": "💋 Starting price: {price} besitos",
        "auction.price_current": "💋 Top bid: {price} besitos ({bids} bid(s))",
        "auction.increment": "➕ Minimum increment: {increment} besitos",
        "auction.buy_now": "⚡ Buy now: {price} besitos",
        "auction.ends_in": "⏱ Ends in {ends_in}",
        "auction.you_lead": "🏆 You lead: {held} besitos are held.",
        "auction.you_were_outbid": "⚠️ You were outbid. You can bid again.",
        "auction.ended": "⌛ This auction has ended.",
        "auction.you_won": "🏆 You won it!",
        "btn.auction_bid": "🔨 Bid {amount}",
        "btn.auction_bid_more": "⏫ Bid {amount}",
        "btn.auction_buy": "⚡ Buy now {price}",
        "btn.auction_show": "🔎 See auction",
        "btn.auction_list": "🔨 Auctions",
        "auction.bid_placed": "🔨 Your bid of {amount} besitos for {title} is the highest!\n"
                              "🔒 Held: {held} besitos.\n💰 Balance: {balance} besitos.",
        "auction.extended": "⏱ Last-moment bid: the auction is extended and ends in "
                            "{ends_in}.",
        "auction.outbid": "😮 You were outbid on {title}: it is at {price} besitos now.\n"
                          "↩️ {refunded} besitos are back in your wallet.\n"
                          "💰 Balance: {balance} besitos.",
        "auction.sold_to_other": "⌛ The auction of {title} ended: someone bought it now for "
                                 "{price} besitos.\n↩️ {refunded} besitos are back in your "
                                 "wallet.\n💰 Balance: {balance} besitos.",
        "auction.won": "🏆 You won the auction of {title} for {price} besitos! It is in your "
                       "inventory.\n💰 Balance: {balance} besitos.",
        "auction.unsold": "🔨 Auction #{id} of {title} ended without bids.",
        "auction.created": "🔨 Auction #{id} created: {title}.\n💋 Starting at {start} besitos, "
                           "increment {increment}.\n⏱ Ends in {ends_in}.",
        "auction.created_buy_now": "⚡ Buy now: {price} besitos.",
        "auction.usage": "Usage: /subasta <item> <starting price> <increment> <minutes> "
                         "[buy-now price]\nExample: /subasta rosa-roja 50 10 60 200",
        "auction.refused.not_admin": "🔒 Only an admin can create auctions.",
        "auction.refused.unknown_item": "I cannot find the item “{item}” in the catalog.",
        "auction.refused.too_low": "🙈 Someone was faster: the minimum bid is now "
                                   "{min_next} besitos.",
        "auction.refused.auction_closed": "⌛ That auction has ended.",
        "auction.refused.insufficient_funds": "💸 Not enough besitos to bid {amount}.\n"
                                              "💰 Balance: {balance} besitos.",
        "auction.refused.not_registered": "Please send /start first to register.",
        "auction.refused.unknown_auction": "That auction does not exist.",
        "auction.refused.no_buy_now": "That auction has no buy-now price.",
        "auction.refused.refused": "I could not do that with the auction.",
    },
)

# Wallet lines: `auction:<id>` (a hold) and `auction_refund:<id>` (a hold given back).
add_reasons(es={"auction": "Subasta", "auction_refund": "Devolución de subasta"},
            en={"auction": "Auction", "auction_refund": "Auction refund"})


def ends_in(seconds: float) -> str:
    """A short duration: `2 h 5 min`, `4 min 10 s`, `12 s` (the same in both languages)."""
    total = max(int(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if minutes < 10 and secs else f"{minutes} min"
    return f"{secs} s"


def _title(item_id: str, language: str) -> str:
    item = content.item(item_id)
    return item.title.get(language) if item is not None else item_id


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "callback_data": data}


def _nav(language: str) -> list[dict[str, str]]:
    return [_button(t(language, "btn.auction_list"), "a:list"),
            _button(t(language, "btn.menu"), "m:menu")]


def _bid_button(language: str, auction_id: int, amount: int, key: str = "btn.auction_bid"
                ) -> dict[str, str]:
    return _button(t(language, key, amount=amount), f"a:bid:{auction_id}:{amount}")


def list_view(language: str, views: list[Any], now: datetime) -> Rendered:
    """Open auctions: one button per auction with price, time left and the member's status.

    `views` are `services.auctions.View`s (typed loosely: messages does not import SQL)."""
    if not views:
        return Rendered(t(language, "auction.list_empty"),
                        {"inline_keyboard": [[_button(t(language, "btn.menu"), "m:menu")]]})
    rows: list[list[dict[str, str]]] = []
    lines = [t(language, "auction.list")]
    for view in views:
        title = view.item.title.get(language) if view.item is not None else view.item_id
        label = t(language, "auction.line", title=title, price=view.price,
                  ends_in=ends_in((view.ends_at - now).total_seconds()))
        if view.leading:
            label += f" · {t(language, 'auction.leading')}"
        elif view.has_bid:
            label += f" · {t(language, 'auction.outbid_mark')}"
        lines.append(f"• #{view.id} {label}")
        rows.append([_button(f"#{view.id} {title} · {view.price} 💋", f"a:show:{view.id}")])
    rows.append([_button(t(language, "btn.menu"), "m:menu")])
    return Rendered("\n".join(lines), {"inline_keyboard": rows})


def detail_view(language: str, view: Any, now: datetime) -> Rendered:
    """One auction: item, price, increment, time left, the member's status, and the buttons
    "Bid <min next>", "Bid <min next + increment>" and "Buy now <price>" while it is open."""
    item = view.item
    title = item.title.get(language) if item is not None else view.item_id
    description = item.description.get(language) if item is not None else ""
    parts = [t(language, "auction.detail", id=view.id, title=title, description=description)]
    if view.current_price is None:
        parts.append(t(language, "auction.price_start", price=view.start_price))
    else:
        parts.append(t(language, "auction.price_current", price=view.current_price,
                       bids=view.bid_count))
    parts.append(t(language, "auction.increment", increment=view.min_increment))
    rows: list[list[dict[str, str]]] = []
    if view.is_open(now):
        if view.buy_now_price is not None:
            parts.append(t(language, "auction.buy_now", price=view.buy_now_price))
        parts.append(t(language, "auction.ends_in",
                       ends_in=ends_in((view.ends_at - now).total_seconds())))
        if view.leading:
            parts.append(t(language, "auction.you_lead", held=view.held))
        elif view.has_bid:
            parts.append(t(language, "auction.you_were_outbid"))
        # a bid at or above the buy-now price buys: then only "Buy now" is offered
        below = view.buy_now_price is None or view.min_next < view.buy_now_price
        if below:
            bids = [_bid_button(language, view.id, view.min_next)]
            more = view.min_next + view.min_increment
            if view.buy_now_price is None or more < view.buy_now_price:
                bids.append(_bid_button(language, view.id, more, "btn.auction_bid_more"))
            rows.append(bids)
        if view.buy_now_offered(now):
            rows.append([_button(t(language, "btn.auction_buy", price=view.buy_now_price),
                                 f"a:buy:{view.id}")])
    else:
        parts.append(t(language, "auction.you_won") if view.won else t(language, "auction.ended"))
    rows.append(_nav(language))
    return Rendered("\n".join(parts), {"inline_keyboard": rows})


def _seconds_left(event: dict[str, Any]) -> float:
    ends = datetime.fromisoformat(event["payload"]["ends_at"])
    return (ends - datetime.fromisoformat(event["at"])).total_seconds()


@renders("auction.created")
def _created(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:  # opened from the console: nobody to tell
        return None
    parts = [t(language, "auction.created", id=payload["auction_id"],
               title=_title(payload["item_id"], language), start=payload["start_price"],
               increment=payload["min_increment"], ends_in=ends_in(_seconds_left(event)))]
    if payload.get("buy_now_price"):
        parts.append(t(language, "auction.created_buy_now", price=payload["buy_now_price"]))
    return Rendered("\n".join(parts), {"inline_keyboard": [
        [_button(t(language, "btn.auction_show"), f"a:show:{payload['auction_id']}")],
        _nav(language)]})


@renders("auction.create_refused")
def _create_refused(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:
        return None
    reason = str(payload.get("reason"))
    key = f"auction.refused.{reason}"
    text = t(language, key, item=payload.get("item_id", "")) if key in TEXTS["es"] and \
        reason in ("not_admin", "unknown_item") else t(language, "auction.usage")
    return Rendered(text, {"inline_keyboard": [[_button(t(language, "btn.menu"), "m:menu")]]})


@renders("auction.bid_placed")
def _bid_placed(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    parts = [t(language, "auction.bid_placed", amount=payload["amount"],
               title=_title(payload["item_id"], language), held=payload["held"],
               balance=payload["balance"])]
    if payload.get("extended"):
        parts.append(t(language, "auction.extended", ends_in=ends_in(_seconds_left(event))))
    return Rendered("\n".join(parts), {"inline_keyboard": [
        [_button(t(language, "btn.auction_show"), f"a:show:{payload['auction_id']}")],
        _nav(language)]})


@renders("auction.outbid")
def _outbid(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    values = {"title": _title(payload["item_id"], language), "price": payload["price"],
              "refunded": payload["refunded"], "balance": payload["balance"]}
    if payload.get("ended"):
        return Rendered(t(language, "auction.sold_to_other", **values),
                        {"inline_keyboard": [_nav(language)]})
    auction_id = payload["auction_id"]
    return Rendered(t(language, "auction.outbid", **values), {"inline_keyboard": [
        [_bid_button(language, auction_id, payload["min_next"]),
         _button(t(language, "btn.auction_show"), f"a:show:{auction_id}")],
        _nav(language)]})


@renders("auction.won")
def _won(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "auction.won", title=_title(payload["item_id"], language),
                      price=payload["price"], balance=payload["balance"]),
                    {"inline_keyboard": [[_button(t(language, "btn.inventory"), "i:list"),
                                          _button(t(language, "btn.menu"), "m:menu")]]})


@renders("auction.unsold")
def _unsold(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:  # opened from the console: nobody to tell
        return None
    return Rendered(t(language, "auction.unsold", id=payload["auction_id"],
                      title=_title(payload["item_id"], language)),
                    {"inline_keyboard": [_nav(language)]})


@renders("auction.bid_refused")
def _bid_refused(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    reason = str(payload.get("reason"))
    key = f"auction.refused.{reason}"
    if key not in TEXTS["es"]:
        key = "auction.refused.refused"
    text = t(language, key, min_next=payload.get("min_next", "?"),
             amount=payload.get("amount") or "", balance=payload.get("balance", "?"))
    rows: list[list[dict[str, str]]] = []
    auction_id = payload.get("auction_id")
    if reason == "too_low" and payload.get("min_next"):
        rows.append([_bid_button(language, int(auction_id), int(payload["min_next"])),
                     _button(t(language, "btn.auction_show"), f"a:show:{auction_id}")])
    elif reason in ("insufficient_funds", "no_buy_now") and auction_id:
        rows.append([_button(t(language, "btn.auction_show"), f"a:show:{auction_id}")])
    rows.append(_nav(language))
    return Rendered(text, {"inline_keyboard": rows})
