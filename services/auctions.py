"""🔨 Auctions: admins put a content item up; members bid besitos; beat closes them.

Money moves through holds. A bid debits the bidder's wallet at once (a *hold*, ledger key
`auction:<id>:hold:<bid request key>`) and refunds the previous top bidder in the same
transaction (credit with `earned=False`, key `auction:<id>:refund:<hold id>`). A member
raising their own top bid pays only the difference (their hold grows). When the auction
closes, the winner's hold is marked `captured`: it already is the payment, nothing is debited
twice. So at any moment each besito is in exactly one place: a wallet, an active hold (the
top bidder's only), or a captured hold (a sale).

Every bid, buy-now and close is ONE SQL transaction that starts by locking the auction row
(`FOR UPDATE` on PostgreSQL; SQLite's writer lock does the same), then the wallets involved
in ascending user id (bidder and previous top bidder): concurrent bids on one auction run
one after another, and two auctions' bids never wait on each other's wallets in opposite
orders (no deadlock on PostgreSQL). "Now" is read after the lock, so a bid that arrives
after the end, even by a millisecond and even before the closer has run, is refused.

Anti-sniping: a bid within the last `AUCTION_SNIPE_WINDOW` seconds moves the end to
now + `AUCTION_SNIPE_EXTENSION`. A bid at or above the buy-now price buys at that price.

Every refusal is a `Refused` subclass with a reason code; the task records it as an
`auction.bid_refused` event once per request key, and a redelivered request gets its first
answer again, exactly as in the store (services/store.py). Creation is for admins
(services/admins.py); every attempt, allowed or refused, writes one audit-log row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import Auction, AuctionBid, AuctionHold, OutboxEvent, User
from services import admins, content, events, inventory, wallet

MAX_REQUEST_KEY = 150  # event ids are `auction.bid_refused:<key>`, at most 200 characters
MAX_PRICE = 10**12  # keeps amounts short in callback data and far from integer limits
MAX_MINUTES = 60 * 24 * 30  # an auction runs at most 30 days

OPEN, SOLD, UNSOLD = "open", "sold", "unsold"
ACTIVE, REFUNDED, CAPTURED = "active", "refunded", "captured"


class Refused(Exception):  # noqa: N818  (a refusal, reported politely, not a crash)
    """A permanent refusal the member (or admin) is told about (never retried)."""

    code = "refused"


class UnknownAuction(Refused):
    code = "unknown_auction"


class AuctionClosed(Refused):
    code = "auction_closed"


class BidTooLow(Refused):
    code = "too_low"


class InsufficientFunds(Refused):
    code = "insufficient_funds"


class NotRegistered(Refused):
    code = "not_registered"


class NoBuyNow(Refused):
    code = "no_buy_now"


class NotAdmin(Refused):
    code = "not_admin"


class UnknownItem(Refused):
    code = "unknown_item"


class InvalidAuction(Refused):
    """Prices, increment or duration out of range (the admin gets the usage text)."""

    code = "invalid"


REFUSALS: dict[str, type[Refused]] = {
    cls.code: cls for cls in (UnknownAuction, AuctionClosed, BidTooLow, InsufficientFunds,
                              NotRegistered, NoBuyNow, NotAdmin, UnknownItem, InvalidAuction)
}


# --- outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    auction_id: int
    ends_at: datetime
    event_id: str
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    def as_dict(self) -> dict[str, object]:
        return {"status": "created", "auction_id": self.auction_id,
                "ends_at": self.ends_at.isoformat(), "event_id": self.event_id}


@dataclass(frozen=True)
class Placed:
    """An accepted bid (`kind` "bid") or a purchase at the buy-now price ("buy_now")."""

    auction_id: int
    user_id: int
    amount: int
    kind: str
    bid_id: int
    event_id: str
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": "won" if self.kind == "buy_now" else "placed",
                "auction_id": self.auction_id, "user_id": self.user_id, "amount": self.amount,
                "bid_id": self.bid_id, "event_id": self.event_id}


@dataclass(frozen=True)
class Closed:
    auction_id: int
    status: str  # sold | unsold
    winner_id: int | None
    price: int | None
    closed_now: bool  # False when it had been closed already (a second closer)
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"auction_id": self.auction_id, "status": self.status,
                "winner_id": self.winner_id, "price": self.price,
                "closed_now": self.closed_now}


@dataclass(frozen=True)
class View:
    """An auction as one member sees it."""

    id: int
    item: content.Item | None
    item_id: str
    status: str
    start_price: int
    min_increment: int
    buy_now_price: int | None
    current_price: int | None
    bid_count: int
    ends_at: datetime
    min_next: int
    held: int  # besitos this member has held on it (they lead), else 0
    leading: bool
    has_bid: bool  # this member bid on it at some point
    won: bool

    @property
    def price(self) -> int:
        return self.current_price if self.current_price is not None else self.start_price

    def is_open(self, now: datetime) -> bool:
        return self.status == OPEN and now < self.ends_at

    def buy_now_offered(self, now: datetime) -> bool:
        return self.buy_now_price is not None and self.is_open(now)


# --- helpers -----------------------------------------------------------------------------


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def min_next(auction: Auction) -> int:
    """The least a new bid may be: the starting price, or the top bid plus the increment."""
    if auction.current_price is None:
        return auction.start_price
    return auction.current_price + auction.min_increment


def _lock(session: Session, auction_id: int) -> Auction:
    """The auction row, locked until the transaction ends (serializes its bids and closes)."""
    row = session.scalars(select(Auction).where(Auction.id == auction_id).with_for_update()
                          .execution_options(populate_existing=True)).one_or_none()
    if row is None:
        raise UnknownAuction(str(auction_id))
    return row


def _lock_wallets(session: Session, *user_ids: int | None) -> None:
    """Lock the wallets in ascending user id: the one order every auction path uses."""
    for user_id in sorted({uid for uid in user_ids if uid is not None}):
        wallet.lock(session, user_id)


def _active_hold(session: Session, auction_id: int, user_id: int | None) -> AuctionHold | None:
    if user_id is None:
        return None
    return session.scalars(select(AuctionHold).where(
        AuctionHold.auction_id == auction_id, AuctionHold.user_id == user_id,
        AuctionHold.status == ACTIVE)).one_or_none()


def _language(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def _earlier_refusal(session: Session, request_key: str) -> None:
    row = session.get(OutboxEvent, f"auction.bid_refused:{request_key}")
    if row is not None:
        raise REFUSALS.get(str(row.payload.get("reason")), Refused)("refused before")


def _check_open(auction: Auction, now: datetime) -> None:
    if auction.status != OPEN or now >= auction.ends_at:
        raise AuctionClosed(str(auction.id))


# --- creation ----------------------------------------------------------------------------


def _validate(item_id: str, start_price: int, min_increment: int, ends_at: datetime,
              buy_now_price: int | None, now: datetime) -> None:
    if not (0 < start_price <= MAX_PRICE and 0 < min_increment <= MAX_PRICE):
        raise InvalidAuction("the starting price and the increment must be positive")
    if buy_now_price is not None and not start_price < buy_now_price <= MAX_PRICE:
        raise InvalidAuction("the buy-now price must be above the starting price")
    if not now < ends_at <= now + timedelta(minutes=MAX_MINUTES):
        raise InvalidAuction("the end must be in the future, at most 30 days away")
    if content.item(item_id) is None:
        raise UnknownItem(item_id[:40])


def create(session: Session, *, actor_id: int | None, item_id: str, start_price: int,
           min_increment: int, request_key: str, ends_at: datetime | None = None,
           minutes: int | None = None, buy_now_price: int | None = None,
           console: bool = False, now: datetime | None = None) -> Created:
    """Open an auction, once per `request_key`, for an admin (or the server console).

    `console=True` is the operator's command line (`python -m tasks.auctions create`): whoever
    runs it already controls the system, so no admin check; `actor_id` is then only recorded.
    Raises NotAdmin, InvalidAuction or UnknownItem; the caller records the refusal with
    `refuse_create` (audit row and event) in a transaction of its own.
    """
    _check_key(request_key)
    now = _now(now)
    existing = session.scalars(select(Auction).where(Auction.request_key == request_key)
                               ).one_or_none()
    event_id = f"auction.created:{existing.id if existing else ''}"
    if existing is not None:  # this very request, delivered again
        return Created(existing.id, existing.ends_at, event_id,
                       events.unpublished(session, [event_id]))
    earlier = session.get(OutboxEvent, f"auction.create_refused:{request_key}")
    if earlier is not None:
        raise REFUSALS.get(str(earlier.payload.get("reason")), Refused)("refused before")
    if not console and not admins.is_admin(session, actor_id):
        raise NotAdmin(str(actor_id))
    if ends_at is None:
        if minutes is None or not 0 < minutes <= MAX_MINUTES:
            raise InvalidAuction("a duration of 1 minute to 30 days is required")
        ends_at = now + timedelta(minutes=minutes)
    _validate(item_id, start_price, min_increment, ends_at, buy_now_price, now)
    auction = Auction(item_id=item_id, start_price=start_price, min_increment=min_increment,
                      buy_now_price=buy_now_price, current_price=None, top_bidder_id=None,
                      bid_count=0, status=OPEN, ends_at=ends_at, created_by=actor_id,
                      request_key=request_key)
    session.add(auction)
    session.flush()
    details = {"item_id": item_id, "start_price": start_price, "min_increment": min_increment,
               "buy_now_price": buy_now_price, "ends_at": ends_at.isoformat(),
               "via": "console" if console else "bot", "request_key": request_key}
    admins.audit(session, actor_id, "auction.create", f"auction:{auction.id}", "ok", details)
    payload: dict[str, Any] = {"auction_id": auction.id, "item_id": item_id,
                               "start_price": start_price, "min_increment": min_increment,
                               "buy_now_price": buy_now_price, "ends_at": ends_at.isoformat(),
                               "lang": _language(session, actor_id)}
    if actor_id is not None:
        payload["user_id"] = actor_id  # the admin is told; the console is not a chat
    event_id = f"auction.created:{auction.id}"
    event = events.record(session, event_id, "auction.created", payload)
    return Created(auction.id, ends_at, event_id, [event])


def refuse_create(session: Session, actor_id: int | None, request_key: str, reason: str,
                  details: dict[str, Any]) -> list[events.Event]:
    """Record a refused creation (audit row + `auction.create_refused`), once per key."""
    event_id = f"auction.create_refused:{request_key}"
    payload: dict[str, Any] = {"reason": reason, "item_id": str(details.get("item_id", ""))[:40],
                               "lang": _language(session, actor_id)}
    if actor_id is not None:
        payload["user_id"] = actor_id
    event = events.record_once(session, event_id, "auction.create_refused", payload)
    if event is None:  # refused before: told and audited then
        return events.unpublished(session, [event_id])
    admins.audit(session, actor_id, "auction.create", None, reason,
                 {**details, "request_key": request_key})
    return [event]


# --- bids --------------------------------------------------------------------------------


def _replay(session: Session, row: AuctionBid, auction_id: int, user_id: int,
            request_key: str) -> Placed:
    if row.auction_id != auction_id or row.user_id != user_id:
        raise ValueError(f"request key {request_key!r} was used for another bid")
    ids = [f"auction.bid_placed:{request_key}", f"auction.outbid:{request_key}",
           f"auction.won:{auction_id}", f"auction.closed:{auction_id}"]
    main = ids[2] if row.kind == "buy_now" else ids[0]
    mine = ids if row.kind == "buy_now" else ids[:2]
    return Placed(auction_id, user_id, row.amount, row.kind, row.id, main,
                  events.unpublished(session, mine))


def _refund_top(session: Session, auction: Auction, cause_key: str, new_price: int,
                ended: bool) -> events.Event:
    """Give the top bidder their hold back and tell them (outbid, or sold to a buy-now)."""
    hold = _active_hold(session, auction.id, auction.top_bidder_id)
    if hold is None:  # an invariant: the top bidder always has the active hold
        raise RuntimeError(f"auction {auction.id}: the top bidder has no active hold")
    hold.status = REFUNDED
    change = wallet.credit(session, hold.user_id, hold.amount,
                           reason=f"auction_refund:{auction.id}",
                           key=f"auction:{auction.id}:refund:{hold.id}", earned=False)
    return events.record(session, f"auction.outbid:{cause_key}", "auction.outbid", {
        "user_id": hold.user_id, "auction_id": auction.id, "item_id": auction.item_id,
        "refunded": hold.amount, "price": new_price,
        "min_next": new_price + auction.min_increment, "balance": change.balance,
        "ended": ended, "lang": _language(session, hold.user_id)})


def _take(session: Session, auction: Auction, user_id: int, amount: int, request_key: str,
          kind: str, now: datetime) -> tuple[AuctionHold, AuctionBid, int, list[events.Event]]:
    """Move the top bid to `user_id` at `amount`: refund the previous top bidder, hold the
    difference from this one, record the bid. Wallets are locked here, after the auction."""
    own = _active_hold(session, auction.id, user_id)
    previous = auction.top_bidder_id if auction.top_bidder_id != user_id else None
    _lock_wallets(session, user_id, previous)
    need = amount - (own.amount if own is not None else 0)
    if need <= 0:  # cannot happen: a bid always beats the top one, which is theirs
        raise BidTooLow(str(amount))
    available = wallet.balance(session, user_id)
    if available < need:
        raise InsufficientFunds(f"balance {available} < {need}")
    recorded: list[events.Event] = []
    if previous is not None:
        recorded.append(_refund_top(session, auction, request_key, amount,
                                    ended=kind == "buy_now"))
    if own is None:
        own = AuctionHold(auction_id=auction.id, user_id=user_id, amount=amount, status=ACTIVE)
        session.add(own)
    else:
        own.amount = amount
    session.flush()
    change = wallet.debit(session, user_id, need, reason=f"auction:{auction.id}",
                          key=f"auction:{auction.id}:hold:{request_key}")
    auction.current_price = amount
    auction.top_bidder_id = user_id
    auction.bid_count += 1
    row = AuctionBid(auction_id=auction.id, user_id=user_id, amount=amount, kind=kind,
                     hold_id=own.id, request_key=request_key, created_at=now)
    session.add(row)
    session.flush()
    return own, row, change.balance, recorded


def _award(session: Session, auction: Auction, now: datetime) -> list[events.Event]:
    """Sell to the top bidder: the hold becomes the payment, the item is granted once."""
    winner = auction.top_bidder_id
    hold = _active_hold(session, auction.id, winner)
    if winner is None or hold is None or auction.current_price is None:
        raise RuntimeError(f"auction {auction.id}: no top bid to award")
    hold.status = CAPTURED
    inventory.grant(session, winner, auction.item_id, reason=f"auction:{auction.id}",
                    key=f"auction:{auction.id}:win")
    auction.status = SOLD
    auction.closed_at = now
    won = events.record(session, f"auction.won:{auction.id}", "auction.won", {
        "user_id": winner, "auction_id": auction.id, "item_id": auction.item_id,
        "price": auction.current_price, "balance": wallet.balance(session, winner),
        "lang": _language(session, winner)})
    closed = events.record(session, f"auction.closed:{auction.id}", "auction.closed", {
        "auction_id": auction.id, "item_id": auction.item_id, "result": SOLD,
        "winner_id": winner, "price": auction.current_price, "bids": auction.bid_count})
    return [won, closed]


def _start(session: Session, auction_id: int, user_id: int, request_key: str,
           now: datetime | None) -> tuple[Auction, datetime, AuctionBid | None]:
    """Lock the auction, then say whether this request was answered before."""
    _check_key(request_key)
    auction = _lock(session, auction_id)
    now = _now(now)  # read after the lock: the time the bid is actually judged
    placed = session.scalars(select(AuctionBid).where(AuctionBid.request_key == request_key)
                             ).one_or_none()
    if placed is None:
        _earlier_refusal(session, request_key)
        if session.get(User, user_id) is None:
            raise NotRegistered(str(user_id))
    return auction, now, placed


def bid(session: Session, user_id: int, auction_id: int, amount: int, request_key: str,
        now: datetime | None = None) -> Placed:
    """Bid `amount` besitos (the new price, not an increment), once per `request_key`.

    Raises a `Refused` subclass: UnknownAuction, AuctionClosed, BidTooLow,
    InsufficientFunds, NotRegistered (the same one again for a redelivered request).
    """
    auction, now, placed = _start(session, auction_id, user_id, request_key, now)
    if placed is not None:
        return _replay(session, placed, auction_id, user_id, request_key)
    _check_open(auction, now)
    if auction.buy_now_price is not None and amount >= auction.buy_now_price:
        return _buy(session, auction, user_id, request_key, now)
    if amount < min_next(auction):
        raise BidTooLow(f"{amount} < {min_next(auction)}")
    hold, row, balance, recorded = _take(session, auction, user_id, amount, request_key,
                                         "bid", now)
    settings = get_settings()
    extended = False
    if auction.ends_at - now <= timedelta(seconds=settings.auction_snipe_window):
        later = now + timedelta(seconds=settings.auction_snipe_extension)
        if later > auction.ends_at:
            auction.ends_at, extended = later, True
    event_id = f"auction.bid_placed:{request_key}"
    recorded.append(events.record(session, event_id, "auction.bid_placed", {
        "user_id": user_id, "auction_id": auction.id, "item_id": auction.item_id,
        "amount": amount, "held": hold.amount, "balance": balance,
        "min_next": min_next(auction), "ends_at": auction.ends_at.isoformat(),
        "extended": extended, "lang": _language(session, user_id)}))
    return Placed(auction.id, user_id, amount, "bid", row.id, event_id, recorded)


def _buy(session: Session, auction: Auction, user_id: int, request_key: str,
         now: datetime) -> Placed:
    if auction.buy_now_price is None:
        raise NoBuyNow(str(auction.id))
    _, row, _, recorded = _take(session, auction, user_id, auction.buy_now_price, request_key,
                                "buy_now", now)
    recorded += _award(session, auction, now)
    return Placed(auction.id, user_id, row.amount, "buy_now", row.id,
                  f"auction.won:{auction.id}", recorded)


def buy_now(session: Session, user_id: int, auction_id: int, request_key: str,
            now: datetime | None = None) -> Placed:
    """Buy at the buy-now price, ending the auction at once (the top bidder is refunded)."""
    auction, now, placed = _start(session, auction_id, user_id, request_key, now)
    if placed is not None:
        return _replay(session, placed, auction_id, user_id, request_key)
    _check_open(auction, now)
    return _buy(session, auction, user_id, request_key, now)


def refuse(session: Session, user_id: int, auction_id: int, amount: int | None,
           request_key: str, reason: str) -> list[events.Event]:
    """Record that a bid or buy-now was refused (once per request key); returns what to
    publish. The payload carries what the member needs to try again (the minimum now)."""
    event_id = f"auction.bid_refused:{request_key}"
    if session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id])
    auction = session.get(Auction, auction_id)
    payload: dict[str, Any] = {"user_id": user_id, "auction_id": auction_id,
                               "amount": amount, "reason": reason,
                               "balance": wallet.balance(session, user_id),
                               "lang": _language(session, user_id)}
    if auction is not None:
        payload["item_id"] = auction.item_id
        if auction.status == OPEN:
            payload["min_next"] = min_next(auction)
    return [events.record(session, event_id, "auction.bid_refused", payload)]


# --- closing -----------------------------------------------------------------------------


def due(session: Session, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Ids of open auctions whose end has passed, oldest end first (a bounded batch)."""
    return list(session.scalars(select(Auction.id).where(Auction.status == OPEN,
                                                         Auction.ends_at <= _now(now))
                                .order_by(Auction.ends_at, Auction.id).limit(limit)))


def close(session: Session, auction_id: int, now: datetime | None = None) -> Closed | None:
    """Close one auction if it is due: sold to the top bidder, or unsold. Safe to run twice
    or concurrently (the second closer finds it closed; None when it is not due yet)."""
    auction = _lock(session, auction_id)
    now = _now(now)
    ids = [f"auction.won:{auction_id}", f"auction.closed:{auction_id}",
           f"auction.unsold:{auction_id}"]
    if auction.status != OPEN:
        return Closed(auction.id, auction.status, auction.top_bidder_id, auction.current_price,
                      False, events.unpublished(session, ids))
    if auction.ends_at > now:
        return None  # a late bid extended it
    if auction.top_bidder_id is not None:
        return Closed(auction.id, SOLD, auction.top_bidder_id, auction.current_price, True,
                      _award(session, auction, now))
    auction.status = UNSOLD
    auction.closed_at = now
    payload: dict[str, Any] = {"auction_id": auction.id, "item_id": auction.item_id,
                               "result": UNSOLD, "lang": _language(session, auction.created_by)}
    if auction.created_by is not None:
        payload["user_id"] = auction.created_by  # the admin who opened it is told
    unsold = events.record(session, ids[2], "auction.unsold", payload)
    return Closed(auction.id, UNSOLD, None, None, True, [unsold])


# --- reading -----------------------------------------------------------------------------


def _views(session: Session, rows: Sequence[Auction], user_id: int) -> list[View]:
    ids = [row.id for row in rows]
    if not ids:
        return []
    bid_on = set(session.scalars(select(AuctionBid.auction_id).distinct().where(
        AuctionBid.auction_id.in_(ids), AuctionBid.user_id == user_id)))
    held = {int(a): int(amount) for a, amount in session.execute(
        select(AuctionHold.auction_id, AuctionHold.amount).where(
            AuctionHold.auction_id.in_(ids), AuctionHold.user_id == user_id,
            AuctionHold.status == ACTIVE))}
    return [View(row.id, content.item(row.item_id), row.item_id, row.status, row.start_price,
                 row.min_increment, row.buy_now_price, row.current_price, row.bid_count,
                 row.ends_at, min_next(row), held.get(row.id, 0),
                 row.top_bidder_id == user_id and row.status == OPEN, row.id in bid_on,
                 row.top_bidder_id == user_id and row.status == SOLD)
            for row in rows]


def open_auctions(session: Session, user_id: int, now: datetime | None = None,
                  limit: int = 20) -> list[View]:
    """Auctions still taking bids, ending soonest first, as the member sees them."""
    rows = session.scalars(select(Auction).where(Auction.status == OPEN,
                                                 Auction.ends_at > _now(now))
                           .order_by(Auction.ends_at, Auction.id).limit(limit)).all()
    return _views(session, rows, user_id)


def view(session: Session, auction_id: int, user_id: int) -> View | None:
    row = session.get(Auction, auction_id)
    return _views(session, [row], user_id)[0] if row is not None else None
