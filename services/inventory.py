"""What members hold: stacked item quantities, and items given or taken outside the store.

`grant` and `take` are the one way rewards, auction wins, recipes and story effects move
items: once per idempotency key (an `item_grants` row), in the caller's transaction.
Purchases and item uses (services/store.py) keep their own request-keyed rows.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.tables import InventoryLine, ItemGrant


class NotEnoughItems(Exception):  # noqa: N818  (a refusal, not a crash)
    """The member does not hold the units asked for."""


def holding(session: Session, user_id: int, item_id: str) -> int:
    value = session.scalar(select(InventoryLine.quantity)
                           .where(InventoryLine.user_id == user_id,
                                  InventoryLine.item_id == item_id))
    return int(value or 0)


def lines(session: Session, user_id: int) -> list[tuple[str, int]]:
    """(item id, quantity) of everything the member holds, by item id."""
    rows = session.execute(select(InventoryLine.item_id, InventoryLine.quantity)
                           .where(InventoryLine.user_id == user_id, InventoryLine.quantity > 0)
                           .order_by(InventoryLine.item_id))
    return [(str(item_id), int(quantity)) for item_id, quantity in rows]


def distinct_items(session: Session, user_id: int) -> int:
    """How many different items the member holds now (collections)."""
    return len(lines(session, user_id))


def add(session: Session, user_id: int, item_id: str, quantity: int = 1) -> int:
    """Stack `quantity` units onto the member's line (no key: callers hold their own);
    returns the new quantity."""
    line = session.scalars(select(InventoryLine).where(InventoryLine.user_id == user_id,
                                                       InventoryLine.item_id == item_id)
                           .with_for_update()).one_or_none()
    if line is None:
        line = InventoryLine(user_id=user_id, item_id=item_id, quantity=0)
        session.add(line)
    line.quantity += quantity
    session.flush()
    return line.quantity


def remove(session: Session, user_id: int, item_id: str, quantity: int = 1) -> None:
    """Take `quantity` units off the member's line, or raise NotEnoughItems."""
    taken = session.execute(update(InventoryLine)
                            .where(InventoryLine.user_id == user_id,
                                   InventoryLine.item_id == item_id,
                                   InventoryLine.quantity >= quantity)
                            .values(quantity=InventoryLine.quantity - quantity)
                            .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise NotEnoughItems(f"member holds fewer than {quantity} of {item_id}")


def _used(session: Session, key: str, user_id: int, item_id: str, quantity: int) -> bool:
    existing = session.scalars(select(ItemGrant).where(ItemGrant.idempotency_key == key)
                               ).one_or_none()
    if existing is None:
        return False
    if (existing.user_id, existing.item_id, existing.quantity) != (user_id, item_id, quantity):
        raise ValueError(f"idempotency key {key!r} was used for another item change")
    return True


def grant(session: Session, user_id: int, item_id: str, quantity: int = 1, *, reason: str,
          key: str) -> bool:
    """Give the member `quantity` units once per `key`; False when the key was used."""
    if quantity <= 0 or not key:
        raise ValueError("a positive quantity and an idempotency key are required")
    if _used(session, key, user_id, item_id, quantity):
        return False
    add(session, user_id, item_id, quantity)
    session.add(ItemGrant(user_id=user_id, item_id=item_id, quantity=quantity, reason=reason,
                          idempotency_key=key))
    session.flush()
    return True


def take(session: Session, user_id: int, item_id: str, quantity: int = 1, *, reason: str,
         key: str) -> bool:
    """Take `quantity` units once per `key` (NotEnoughItems if not held); False when the
    key was used."""
    if quantity <= 0 or not key:
        raise ValueError("a positive quantity and an idempotency key are required")
    if _used(session, key, user_id, item_id, -quantity):
        return False
    remove(session, user_id, item_id, quantity)
    session.add(ItemGrant(user_id=user_id, item_id=item_id, quantity=-quantity, reason=reason,
                          idempotency_key=key))
    session.flush()
    return True
