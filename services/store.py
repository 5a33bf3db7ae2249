"""The store and the inventory: buy items with besitos, hold them stacked, use consumables.

A purchase is ONE SQL transaction: the member's wallet row is locked first (it serializes
everything one member does), then the item's stock row (`FOR UPDATE` on PostgreSQL;
SQLite's writer lock does the same), then: the ledger debit (key `purchase:<request_key>`),
the stock decrement (a conditional `UPDATE … WHERE remaining > 0`), the inventory upsert,
the purchase row (unique per request key) and the `item.purchased` outbox event. Two
purchases racing for the last unit, or for a member's last besitos, never both succeed.

Every refusal is a `Refused` subclass with a reason code. The task records it as an
`item.purchase_refused` event (once per request key) and a redelivered request gets the
same answer again: the first outcome of a request key is the only one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models.tables import ItemStock, ItemUse, OutboxEvent, Purchase, User
from services import content, events, inventory, users, wallet
from services.inventory import holding

MAX_REQUEST_KEY = 150  # event ids are `item.purchase_refused:<key>`, at most 200 characters


class Refused(Exception):  # noqa: N818  (a refusal, reported to the member, not a crash)
    """A permanent refusal the member is told about politely (never retried)."""

    code = "refused"


class UnknownItem(Refused):
    code = "unknown_item"


class VipOnly(Refused):
    code = "vip_only"


class SoldOut(Refused):
    code = "sold_out"


class LimitReached(Refused):
    code = "limit_reached"


class InsufficientFunds(Refused):
    code = "insufficient_funds"


class NotOwned(Refused):
    code = "not_owned"


class NotConsumable(Refused):
    code = "not_consumable"


REFUSALS: dict[str, type[Refused]] = {
    cls.code: cls for cls in (UnknownItem, VipOnly, SoldOut, LimitReached, InsufficientFunds,
                              NotOwned, NotConsumable)
}


@dataclass(frozen=True)
class PurchaseOutcome:
    user_id: int
    item_id: str
    price: int
    balance: int
    purchase_id: int
    event_id: str
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    def as_dict(self) -> dict[str, object]:
        return {"status": "purchased", "user_id": self.user_id, "item_id": self.item_id,
                "price": self.price, "balance": self.balance, "purchase_id": self.purchase_id,
                "event_id": self.event_id}


@dataclass(frozen=True)
class UseOutcome:
    user_id: int
    item_id: str
    remaining: int
    event_id: str
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": "used", "user_id": self.user_id, "item_id": self.item_id,
                "remaining": self.remaining, "event_id": self.event_id}


@dataclass(frozen=True)
class Offer:
    """An item as one member sees it in the store."""

    item: content.Item
    price: int
    remaining: int | None  # None = unlimited
    owned: int  # units held now
    vip: bool
    owned_bought: int = 0  # units this member has bought of it, ever (for the limit)

    @property
    def sold_out(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    @property
    def reason(self) -> str | None:
        """Why the member cannot buy it now (a refusal code), or None."""
        if self.item.vip_only and not self.vip:
            return VipOnly.code
        if self.sold_out:
            return SoldOut.code
        if self.item.per_member_limit is not None and self.owned_bought >= \
                self.item.per_member_limit:
            return LimitReached.code
        return None


def sync_stock(session: Session) -> int:
    """Seed `item_stock` for every limited item that has no row yet; returns rows added.

    Idempotent, and never refills: a row that exists keeps its count.
    """
    have = set(session.scalars(select(ItemStock.item_id)))
    added = 0
    for item in content.items():
        if item.stock is not None and item.id not in have:
            session.add(ItemStock(item_id=item.id, remaining=item.stock))
            added += 1
    session.flush()
    return added


def _member(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")
    return user


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _earlier_refusal(session: Session, action: str, request_key: str) -> None:
    row = session.get(OutboxEvent, f"item.{action}_refused:{request_key}")
    if row is not None:
        raise REFUSALS.get(str(row.payload.get("reason")), Refused)("refused before")


def bought(session: Session, user_id: int, item_id: str) -> int:
    """Units of the item the member has bought, ever."""
    value = session.scalar(select(func.sum(Purchase.quantity))
                           .where(Purchase.user_id == user_id, Purchase.item_id == item_id))
    return int(value or 0)


def _lock_stock(session: Session, item_id: str) -> ItemStock:
    query = (select(ItemStock).where(ItemStock.item_id == item_id).with_for_update()
             .execution_options(populate_existing=True))
    row = session.scalars(query).one_or_none()
    if row is None:  # content added since the last sync: seed it now
        sync_stock(session)
        row = session.scalars(query).one()
    return row


def purchase(session: Session, user_id: int, item_id: str, request_key: str,
             now: datetime | None = None) -> PurchaseOutcome:
    """Buy one unit of `item_id` for the member, once per `request_key`.

    Raises a `Refused` subclass (the same one again for a redelivered request) or
    `NotRegistered`.
    """
    _check_key(request_key)
    now = now or datetime.now(UTC)
    user = _member(session, user_id)
    account = wallet.lock(session, user_id)  # one change at a time per member
    event_id = f"item.purchased:{request_key}"
    existing = session.scalars(select(Purchase).where(Purchase.request_key == request_key)
                               ).one_or_none()
    if existing is not None:  # this very request, delivered again
        if existing.user_id != user_id or existing.item_id != item_id:
            raise ValueError(f"request key {request_key!r} was used for another purchase")
        return PurchaseOutcome(user_id, item_id, existing.price,
                               wallet.balance(session, user_id), existing.id, event_id,
                               events.unpublished(session, [event_id]))
    _earlier_refusal(session, "purchase", request_key)

    item = content.item(item_id)
    if item is None or not item.for_sale:  # made by recipes, won, granted: not sold
        raise UnknownItem(item_id)
    vip = users.is_vip(user, now)
    if item.vip_only and not vip:
        raise VipOnly(item_id)
    if item.per_member_limit is not None and \
            bought(session, user_id, item_id) >= item.per_member_limit:
        raise LimitReached(item_id)
    price = item.price_for(vip)
    if account.balance < price:
        raise InsufficientFunds(f"balance {account.balance} < {price}")
    remaining: int | None = None
    if item.stock is not None:
        stock = _lock_stock(session, item_id)
        if stock.remaining <= 0:
            raise SoldOut(item_id)
        taken = session.execute(update(ItemStock)
                                .where(ItemStock.item_id == item_id, ItemStock.remaining > 0)
                                .values(remaining=ItemStock.remaining - 1)
                                .execution_options(synchronize_session=False))
        if taken.rowcount != 1:
            raise SoldOut(item_id)
        session.refresh(stock)
        remaining = stock.remaining

    change = wallet.debit(session, user_id, price, reason=f"purchase:{item_id}",
                          key=f"purchase:{request_key}")
    owned = inventory.add(session, user_id, item_id)
    row = Purchase(user_id=user_id, item_id=item_id, quantity=1, price=price,
                   request_key=request_key)
    session.add(row)
    session.flush()
    payload: dict[str, Any] = {"user_id": user_id, "item_id": item_id, "quantity": 1,
                               "price": price, "balance": change.balance,
                               "purchase_id": row.id, "owned": owned,
                               "lang": user.language}
    if remaining is not None:
        payload["stock_remaining"] = remaining
    event = events.record(session, event_id, "item.purchased", payload)
    return PurchaseOutcome(user_id, item_id, price, change.balance, row.id, event_id, [event])


def refuse(session: Session, action: str, user_id: int, item_id: str, request_key: str,
           reason: str) -> list[events.Event]:
    """Record that a request was refused (once per request key); returns what to publish."""
    event_id = f"item.{action}_refused:{request_key}"
    if session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id])
    user = session.get(User, user_id)
    language = user.language if user is not None else "es"
    return [events.record(session, event_id, f"item.{action}_refused",
                          {"user_id": user_id, "item_id": item_id[:40], "reason": reason,
                           "balance": wallet.balance(session, user_id), "lang": language})]


def use_item(session: Session, user_id: int, item_id: str, request_key: str) -> UseOutcome:
    """Use one unit of a consumable the member holds, once per `request_key`."""
    _check_key(request_key)
    user = _member(session, user_id)
    wallet.lock(session, user_id)  # serializes the member's changes, as for purchases
    event_id = f"item.used:{request_key}"
    existing = session.scalars(select(ItemUse).where(ItemUse.request_key == request_key)
                               ).one_or_none()
    if existing is not None:
        if existing.user_id != user_id or existing.item_id != item_id:
            raise ValueError(f"request key {request_key!r} was used for another use")
        return UseOutcome(user_id, item_id, holding(session, user_id, item_id), event_id,
                          events.unpublished(session, [event_id]))
    _earlier_refusal(session, "use", request_key)
    item = content.item(item_id)
    if item is None:
        raise UnknownItem(item_id)
    if not item.consumable:
        raise NotConsumable(item_id)
    try:
        inventory.remove(session, user_id, item_id)
    except inventory.NotEnoughItems:
        raise NotOwned(item_id) from None
    session.add(ItemUse(user_id=user_id, item_id=item_id, request_key=request_key))
    session.flush()
    remaining = holding(session, user_id, item_id)
    event = events.record(session, event_id, "item.used",
                          {"user_id": user_id, "item_id": item_id, "remaining": remaining,
                           "lang": user.language})
    return UseOutcome(user_id, item_id, remaining, event_id, [event])


def stock_left(session: Session) -> dict[str, int]:
    return {str(i): int(r) for i, r in session.execute(
        select(ItemStock.item_id, ItemStock.remaining))}


def offers(session: Session, user_id: int, now: datetime | None = None) -> list[Offer]:
    """The catalog as the member sees it: their price, what is left, what they hold."""
    user = session.get(User, user_id)
    vip = users.is_vip(user, now) if user is not None else False
    left = stock_left(session)
    held = dict(inventory.lines(session, user_id))
    bought_counts = {str(i): int(q or 0) for i, q in session.execute(
        select(Purchase.item_id, func.sum(Purchase.quantity))
        .where(Purchase.user_id == user_id).group_by(Purchase.item_id))}
    return [Offer(item, item.price_for(vip),
                  None if item.stock is None else left.get(item.id, item.stock),
                  held.get(item.id, 0), vip, bought_counts.get(item.id, 0))
            for item in content.items() if item.for_sale]


def offer(session: Session, user_id: int, item_id: str) -> Offer | None:
    return next((o for o in offers(session, user_id) if o.item.id == item_id), None)
