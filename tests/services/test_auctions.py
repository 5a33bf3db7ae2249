"""Auction rules with the real database: holds, refunds, raises, anti-sniping, buy-now,
closing, creation by admins (audited), and races (20 bidders; crossed bids on two auctions;
two closers). Runs on SQLite and, with YABOT_TEST_DB=postgresql, on PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import callbacks
from core.settings import reset_settings
from models.db import read_session, unit_of_work
from models.tables import Auction, AuctionHold, AuditEntry, LedgerEntry, OutboxEvent, User, Wallet
from services import admins, auctions, events, inventory, messages, users, wallet
from services.messages import auctions as auction_messages
from tests.faults.helpers import assert_books_balance

_keys = itertools.count(1)


def key(label: str = "k") -> str:
    return f"t:{label}:{next(_keys)}:{datetime.now(UTC).timestamp()}"


def members(new_user_id: Callable[[], int], count: int, besitos: int) -> list[int]:
    uids = [new_user_id() for _ in range(count)]
    with unit_of_work() as session:
        for uid in uids:
            users.register(session, users.Profile(user_id=uid, language_code="es"))
            session.flush()
            if besitos:
                wallet.credit(session, uid, besitos, reason="test", key=f"fund:{uid}")
    return uids


def open_auction(start: int = 50, increment: int = 10, minutes: int = 60,
                 buy_now: int | None = None, item: str = "rosa-roja",
                 now: datetime | None = None, actor: int | None = None) -> int:
    with unit_of_work() as session:
        return auctions.create(session, actor_id=actor, item_id=item, start_price=start,
                               min_increment=increment, minutes=minutes,
                               buy_now_price=buy_now, request_key=key("create"),
                               console=True, now=now).auction_id


def bid(uid: int, auction_id: int, amount: int, request_key: str | None = None,
        now: datetime | None = None) -> auctions.Placed:
    with unit_of_work() as session:
        return auctions.bid(session, uid, auction_id, amount, request_key or key("bid"), now=now)


def close(auction_id: int, now: datetime | None = None) -> auctions.Closed | None:
    with unit_of_work() as session:
        return auctions.close(session, auction_id, now=now)


def balance(uid: int) -> int:
    with read_session() as session:
        return wallet.balance(session, uid)


def auction(auction_id: int) -> Auction:
    with read_session() as session:
        row = session.get(Auction, auction_id)
        assert row is not None
        return row


def holds(auction_id: int) -> list[tuple[int, int, str]]:
    with read_session() as session:
        return [(h.user_id, h.amount, h.status) for h in session.scalars(
            select(AuctionHold).where(AuctionHold.auction_id == auction_id)
            .order_by(AuctionHold.id))]


def ends(auction_id: int) -> datetime:
    return auction(auction_id).ends_at


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        reset_settings()

    yield apply
    monkeypatch.undo()
    reset_settings()


# --- bids, holds and refunds -----------------------------------------------------------


def test_first_bid_must_reach_the_starting_price_and_is_held(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 200)
    aid = open_auction(start=50, increment=10)
    with pytest.raises(auctions.BidTooLow):
        bid(a, aid, 49)
    placed = bid(a, aid, 50)
    assert (placed.amount, placed.kind) == (50, "bid")
    assert [e.type for e in placed.events] == ["auction.bid_placed"]
    payload = placed.events[0].payload
    assert (payload["held"], payload["balance"], payload["min_next"]) == (50, 150, 60)
    assert holds(aid) == [(a, 50, "active")]
    row = auction(aid)
    assert (row.current_price, row.top_bidder_id, row.bid_count) == (50, a, 1)
    with read_session() as session:
        entry = session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == a,
                                                          LedgerEntry.amount < 0)).one()
        assert entry.amount == -50 and entry.idempotency_key.startswith(f"auction:{aid}:hold:")
    assert_books_balance([a])


def test_outbid_refunds_the_previous_top_bidder_exactly_and_tells_them(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 500)
    aid = open_auction(start=50, increment=10)
    bid(a, aid, 70)
    with pytest.raises(auctions.BidTooLow):
        bid(b, aid, 79)  # must beat 70 by the increment
    placed = bid(b, aid, 80)
    assert [e.type for e in placed.events] == ["auction.outbid", "auction.bid_placed"]
    outbid = placed.events[0].payload
    assert (outbid["user_id"], outbid["refunded"], outbid["price"], outbid["min_next"],
            outbid["balance"], outbid["ended"]) == (a, 70, 80, 90, 500, False)
    assert (balance(a), balance(b)) == (500, 420)
    assert holds(aid) == [(a, 70, "refunded"), (b, 80, "active")]
    with read_session() as session:
        refund = session.scalars(select(LedgerEntry).where(LedgerEntry.user_id == a,
                                                           LedgerEntry.amount > 0,
                                                           LedgerEntry.reason != "test")).one()
        first_hold = session.scalars(select(AuctionHold).where(
            AuctionHold.auction_id == aid, AuctionHold.user_id == a)).one()
        assert refund.idempotency_key == f"auction:{aid}:refund:{first_hold.id}"
        assert refund.amount == 70
        # money given back was not earned: levels and the leaderboard do not move
        assert session.get(Wallet, a).lifetime_earned == 500  # type: ignore[union-attr]
    # outbid, A bids again: a new hold (so a second refund would have its own key)
    bid(a, aid, 90)
    assert holds(aid) == [(a, 70, "refunded"), (b, 80, "refunded"), (a, 90, "active")]
    assert (balance(a), balance(b)) == (410, 500)
    assert_books_balance([a, b])


def test_raising_your_own_top_bid_pays_only_the_difference(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 100)
    aid = open_auction(start=50, increment=10)
    bid(a, aid, 50)
    with pytest.raises(auctions.BidTooLow):
        bid(a, aid, 55)  # a raise beats the price by the increment too
    placed = bid(a, aid, 95)  # needs 45 more, has 50
    assert [e.type for e in placed.events] == ["auction.bid_placed"]  # nobody outbid
    assert placed.events[0].payload["held"] == 95
    assert holds(aid) == [(a, 95, "active")]
    assert balance(a) == 5
    with pytest.raises(auctions.InsufficientFunds):
        bid(a, aid, 110)  # 15 more needed, 5 left
    assert holds(aid) == [(a, 95, "active")]
    assert_books_balance([a], expected_balance=5)


def test_insufficient_funds_is_refused_and_changes_nothing(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 60)
    aid = open_auction(start=50, increment=10)
    bid(a, aid, 50)
    with pytest.raises(auctions.InsufficientFunds):
        bid(b, aid, 70)
    assert holds(aid) == [(a, 50, "active")] and balance(b) == 60
    assert auction(aid).current_price == 50


def test_a_redelivered_bid_holds_once_and_returns_the_first_outcome(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 500)
    aid = open_auction()
    bid(a, aid, 50)
    request = key("same")
    first = bid(b, aid, 60, request)
    again = bid(b, aid, 60, request)
    assert (again.bid_id, again.amount, again.event_id) == (first.bid_id, 60, first.event_id)
    # not published yet: the redelivery hands both events out again, under the same ids
    assert sorted(e.id for e in again.events) == sorted(e.id for e in first.events)
    assert holds(aid) == [(a, 50, "refunded"), (b, 60, "active")]
    assert (balance(a), balance(b)) == (500, 440)
    with pytest.raises(ValueError):
        bid(a, aid, 60, request)  # the key of another member's bid
    assert_books_balance([a, b])


def test_a_refused_bid_stays_refused_when_redelivered(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 10)
    aid = open_auction(start=50)
    request = key("poor")
    with pytest.raises(auctions.InsufficientFunds) as refused:
        bid(a, aid, 50, request)
    with unit_of_work() as session:
        recorded = auctions.refuse(session, a, aid, 50, request, refused.value.code)
    with unit_of_work() as session:
        again = auctions.refuse(session, a, aid, 50, request, refused.value.code)
    assert [e.id for e in again] == [e.id for e in recorded]  # once per request key
    assert recorded[0].payload == {"user_id": a, "auction_id": aid, "amount": 50,
                                   "reason": "insufficient_funds", "balance": 10, "lang": "es",
                                   "item_id": "rosa-roja", "min_next": 50}
    with unit_of_work() as session:
        wallet.credit(session, a, 100, reason="test", key=f"late:{a}")
    with pytest.raises(auctions.InsufficientFunds):
        bid(a, aid, 50, request)  # the same request keeps its first answer
    assert holds(aid) == []


def test_unknown_auction_and_unregistered_member_are_refusals(new_user_id) -> None:  # type: ignore[no-untyped-def]
    aid = open_auction()
    with pytest.raises(auctions.UnknownAuction):
        bid(members(new_user_id, 1, 10)[0], 987654321, 50)
    stranger = new_user_id()
    with pytest.raises(auctions.NotRegistered):
        bid(stranger, aid, 50)
    with unit_of_work() as session:
        recorded = auctions.refuse(session, stranger, aid, 50, "t:stranger", "not_registered")
    text = messages.for_event(recorded[0].as_message())
    assert text is not None and "/start" in text.text


# --- time: the end, anti-sniping ---------------------------------------------------------


def test_a_bid_after_the_end_is_refused_even_before_the_closer_runs(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(minutes=10)
    end = ends(aid)
    with pytest.raises(auctions.AuctionClosed):
        bid(a, aid, 50, now=end + timedelta(milliseconds=1))
    with pytest.raises(auctions.AuctionClosed):
        bid(a, aid, 50, now=end)  # the end itself is already too late
    assert auction(aid).status == "open" and holds(aid) == []
    assert balance(a) == 500


def test_a_bid_in_the_last_seconds_extends_the_end(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 500)
    aid = open_auction(minutes=10)
    end = ends(aid)
    early = bid(a, aid, 50, now=end - timedelta(seconds=121))  # outside the 120 s window
    assert ends(aid) == end and early.events[-1].payload["extended"] is False
    last_second = end - timedelta(seconds=1)
    late = bid(b, aid, 60, now=last_second)
    assert ends(aid) == last_second + timedelta(seconds=120)
    assert late.events[-1].payload["extended"] is True
    assert late.events[-1].payload["ends_at"] == ends(aid).isoformat()
    # the old end has passed, the auction has not: bids go on, the closer waits
    assert close(aid, now=end + timedelta(seconds=1)) is None
    bid(a, aid, 70, now=end + timedelta(seconds=30))
    assert auction(aid).status == "open" and auction(aid).top_bidder_id == a
    rendered = messages.for_event(late.events[-1].as_message())
    assert rendered is not None and "se alarga" in rendered.text


def test_the_snipe_window_and_extension_are_settings(new_user_id, settings_env) -> None:  # type: ignore[no-untyped-def]
    settings_env(AUCTION_SNIPE_WINDOW=600, AUCTION_SNIPE_EXTENSION=900)
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(minutes=60)
    end = ends(aid)
    at = end - timedelta(seconds=500)
    bid(a, aid, 50, now=at)
    assert ends(aid) == at + timedelta(seconds=900)
    settings_env(AUCTION_SNIPE_WINDOW=0)
    later = ends(aid) - timedelta(seconds=1)
    bid(a, aid, 60, now=later)
    assert ends(aid) == at + timedelta(seconds=900)  # no window: no extension


# --- buy-now -----------------------------------------------------------------------------


def test_buy_now_ends_the_auction_and_refunds_the_top_bidder(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 500)
    aid = open_auction(start=50, increment=10, buy_now=200)
    bid(a, aid, 80)
    with unit_of_work() as session:
        bought = auctions.buy_now(session, b, aid, key("buy"))
    assert bought.kind == "buy_now" and bought.amount == 200
    assert [e.type for e in bought.events] == ["auction.outbid", "auction.won",
                                               "auction.closed"]
    assert bought.events[0].payload["ended"] is True
    row = auction(aid)
    assert (row.status, row.top_bidder_id, row.current_price) == ("sold", b, 200)
    assert holds(aid) == [(a, 80, "refunded"), (b, 200, "captured")]
    assert (balance(a), balance(b)) == (500, 300)
    with read_session() as session:
        assert inventory.lines(session, b) == [("rosa-roja", 1)]
        assert inventory.lines(session, a) == []
    with pytest.raises(auctions.AuctionClosed):
        bid(a, aid, 210)
    again = close(aid)  # the closer finds it sold: no second payment, no second item
    assert again is not None and not again.closed_now
    assert (balance(b), holds(aid)[-1]) == (300, (b, 200, "captured"))
    assert_books_balance([a, b])


def test_the_top_bidder_buying_now_pays_the_rest_of_the_price(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(start=50, increment=10, buy_now=150)
    bid(a, aid, 100)
    with unit_of_work() as session:
        bought = auctions.buy_now(session, a, aid, key("buy-own"))
    assert [e.type for e in bought.events] == ["auction.won", "auction.closed"]
    assert holds(aid) == [(a, 150, "captured")] and balance(a) == 350


def test_a_bid_at_or_above_the_buy_now_price_buys_at_that_price(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(start=50, increment=10, buy_now=120)
    placed = bid(a, aid, 130)
    assert (placed.kind, placed.amount) == ("buy_now", 120)
    assert auction(aid).status == "sold" and balance(a) == 380


def test_buy_now_without_a_price_is_refused(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction()
    with pytest.raises(auctions.NoBuyNow), unit_of_work() as session:
        auctions.buy_now(session, a, aid, key("no-buy"))
    assert balance(a) == 500


# --- closing -----------------------------------------------------------------------------


def test_close_sells_to_the_top_bidder_the_hold_is_the_payment(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b = members(new_user_id, 2, 500)
    aid = open_auction(minutes=5)
    bid(a, aid, 50)
    bid(b, aid, 60)
    bid(a, aid, 90)
    end = ends(aid)
    assert close(aid, now=end - timedelta(seconds=1)) is None  # not due yet
    closed = close(aid, now=end)
    assert closed is not None and closed.closed_now
    assert (closed.status, closed.winner_id, closed.price) == ("sold", a, 90)
    assert [e.type for e in closed.events] == ["auction.won", "auction.closed"]
    won = closed.events[0].payload
    assert (won["user_id"], won["price"], won["balance"], won["item_id"]) == \
        (a, 90, 410, "rosa-roja")
    assert "winner_id" in closed.events[1].payload and "user_id" not in closed.events[1].payload
    with read_session() as session:
        assert inventory.lines(session, a) == [("rosa-roja", 1)]
        debits = session.scalar(select(func.sum(LedgerEntry.amount)).where(
            LedgerEntry.user_id == a, LedgerEntry.amount < 0))
        assert debits == -90 - 50  # the first hold (refunded) and the winning one: no more
    assert (balance(a), balance(b)) == (410, 500)
    assert holds(aid)[-1] == (a, 90, "captured")
    assert_books_balance([a, b])


def test_closing_twice_pays_and_grants_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(minutes=5)
    bid(a, aid, 50)
    end = ends(aid)
    first = close(aid, now=end)
    second = close(aid, now=end + timedelta(seconds=5))
    assert first is not None and second is not None
    assert (first.closed_now, second.closed_now) == (True, False)
    # nothing was published yet: the second closer hands the same events out again
    assert sorted(e.id for e in second.events) == sorted(e.id for e in first.events)
    with read_session() as session:
        assert inventory.lines(session, a) == [("rosa-roja", 1)]
    assert balance(a) == 450


def test_concurrent_closers_close_once(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (a,) = members(new_user_id, 1, 500)
    aid = open_auction(minutes=5)
    bid(a, aid, 50)
    end = ends(aid)
    results, errors = _race([lambda: close(aid, now=end + timedelta(seconds=1))] * 6)
    assert errors == []
    assert sum(1 for r in results if r is not None and r.closed_now) == 1
    with read_session() as session:
        assert inventory.lines(session, a) == [("rosa-roja", 1)]
    assert balance(a) == 450


def test_an_auction_without_bids_ends_unsold_and_its_admin_is_told(new_user_id) -> None:  # type: ignore[no-untyped-def]
    (admin,) = members(new_user_id, 1, 0)
    aid = open_auction(minutes=5, actor=admin)
    closed = close(aid, now=ends(aid))
    assert closed is not None and (closed.status, closed.closed_now) == ("unsold", True)
    assert [e.type for e in closed.events] == ["auction.unsold"]
    assert closed.events[0].payload["user_id"] == admin
    rendered = messages.for_event(closed.events[0].as_message())
    assert rendered is not None and "sin pujas" in rendered.text
    assert auction(aid).status == "unsold"
    console = open_auction(minutes=5)  # opened from the console: nobody to tell
    unsold = close(console, now=ends(console))
    assert unsold is not None and messages.for_event(unsold.events[0].as_message()) is None


def test_due_lists_only_open_auctions_past_their_end_in_bounded_batches(new_user_id) -> None:  # type: ignore[no-untyped-def]
    base = datetime.now(UTC)
    ids = [open_auction(minutes=1, now=base) for _ in range(3)]
    later = base + timedelta(minutes=2)
    with read_session() as session:
        due = auctions.due(session, later, limit=1000)
        assert set(ids) <= set(due)
        assert len(auctions.due(session, later, limit=2)) == 2
        assert not set(ids) & set(auctions.due(session, base, limit=1000))
    close(ids[0], now=later)
    with read_session() as session:
        assert ids[0] not in auctions.due(session, later, limit=1000)


# --- races -------------------------------------------------------------------------------


def _race(calls: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            result = call()
            with lock:
                results.append(result)
        except BaseException as exc:  # noqa: BLE001  (collected and checked by the caller)
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def _assert_settled(aid: int, bidders: list[int], funded: int) -> None:
    """One active hold (the top bidder's, at the price); everyone else whole again."""
    row = auction(aid)
    active = [h for h in holds(aid) if h[2] == "active"]
    assert active == [(row.top_bidder_id, row.current_price, "active")]
    for uid in bidders:
        expected = funded - row.current_price if uid == row.top_bidder_id else funded
        assert balance(uid) == expected, uid
    with read_session() as session:
        assert session.scalar(select(func.min(Wallet.balance))) >= 0
        total = session.scalar(select(func.sum(Wallet.balance))
                               .where(Wallet.user_id.in_(bidders)))
        assert total + row.current_price == funded * len(bidders)
    assert_books_balance(bidders)


def test_twenty_concurrent_bidders_one_top_bid_everyone_else_refunded(new_user_id) -> None:  # type: ignore[no-untyped-def]
    bidders = members(new_user_id, 20, 1000)
    aid = open_auction(start=100, increment=10)
    calls = [lambda uid=uid, n=n: bid(uid, aid, 100 + 10 * n)
             for n, uid in enumerate(bidders)]
    placed, refused = _race(calls)
    assert placed, refused
    assert all(isinstance(e, auctions.BidTooLow) for e in refused), refused
    assert len(placed) + len(refused) == 20
    # accepted bids form a strictly rising sequence of prices, the last one on top
    with read_session() as session:
        prices = [h.amount for h in session.scalars(
            select(AuctionHold).where(AuctionHold.auction_id == aid).order_by(AuctionHold.id))]
    assert prices == sorted(prices) and len(set(prices)) == len(prices) == len(placed)
    _assert_settled(aid, bidders, 1000)
    winner = auction(aid).top_bidder_id
    closed = close(aid, now=ends(aid))
    assert closed is not None and closed.winner_id == winner
    with read_session() as session:
        assert [uid for uid in bidders if inventory.lines(session, uid)] == [winner]
        refunds = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.idempotency_key.like(f"auction:{aid}:refund:%")))
        assert refunds == len(placed) - 1  # every outbid hold given back once


def test_twenty_concurrent_equal_bids_one_is_accepted(new_user_id) -> None:  # type: ignore[no-untyped-def]
    bidders = members(new_user_id, 20, 300)
    aid = open_auction(start=100, increment=10)
    placed, refused = _race([lambda uid=uid: bid(uid, aid, 150) for uid in bidders])
    assert len(placed) == 1, (placed, refused)
    assert len(refused) == 19 and all(isinstance(e, auctions.BidTooLow) for e in refused)
    _assert_settled(aid, bidders, 300)


def test_crossed_bids_on_two_auctions_do_not_deadlock(new_user_id) -> None:  # type: ignore[no-untyped-def]
    """Each round, B outbids A on one auction while A outbids B on the other: both
    transactions lock the same two wallets, in the same (ascending) order."""
    a, b = members(new_user_id, 2, 100_000)
    x, y = open_auction(start=10, increment=1), open_auction(start=10, increment=1)
    bid(a, x, 10)
    bid(b, y, 10)
    for n in range(1, 11):
        lead_x, lead_y = auction(x).top_bidder_id, auction(y).top_bidder_id
        other_x = b if lead_x == a else a
        other_y = b if lead_y == a else a
        _, errors = _race([lambda u=other_x, p=10 + n: bid(u, x, p),
                           lambda u=other_y, p=10 + n: bid(u, y, p)])
        assert errors == [], errors
    assert auction(x).current_price == auction(y).current_price == 20
    assert_books_balance([a, b])


# --- creation, admins, audit -------------------------------------------------------------


def audits(request_key: str) -> list[AuditEntry]:
    with read_session() as session:
        return [row for row in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "auction.create").order_by(AuditEntry.id))
            if row.details.get("request_key") == request_key]


def create_as(actor: int | None, request_key: str, **fields: Any) -> auctions.Created:
    values: dict[str, Any] = {"item_id": "rosa-roja", "start_price": 50, "min_increment": 10,
                              "minutes": 30}
    values.update(fields)
    try:
        with unit_of_work() as session:
            return auctions.create(session, actor_id=actor, request_key=request_key, **values)
    except auctions.Refused as exc:
        with unit_of_work() as session:
            auctions.refuse_create(session, actor, request_key, exc.code,
                                   {"item_id": values["item_id"]})
        raise


def test_only_admins_create_and_every_attempt_is_audited(new_user_id, settings_env) -> None:  # type: ignore[no-untyped-def]
    member, by_role, by_setting = members(new_user_id, 3, 0)
    with unit_of_work() as session:
        session.get(User, by_role).role = "admin"  # type: ignore[union-attr]
    unregistered_admin = new_user_id()  # an ADMIN_IDS admin who never wrote to the bot
    settings_env(ADMIN_IDS=f"{by_setting},{unregistered_admin}")
    with read_session() as session:
        assert not admins.is_admin(session, member)
        assert admins.is_admin(session, by_role) and admins.is_admin(session, by_setting)
        assert not admins.is_admin(session, None)

    refused_key = key("no")
    with pytest.raises(auctions.NotAdmin):
        create_as(member, refused_key)
    with pytest.raises(auctions.NotAdmin):
        create_as(member, refused_key)  # redelivered: still refused, audited once
    assert [(r.actor_id, r.result) for r in audits(refused_key)] == [(member, "not_admin")]
    with read_session() as session:
        event = session.get(OutboxEvent, f"auction.create_refused:{refused_key}")
        assert event is not None and event.payload["user_id"] == member
    told = messages.for_event(events.Event.from_row(event).as_message())
    assert told is not None and "Solo un administrador" in told.text

    for admin in (by_role, by_setting, unregistered_admin):
        ok_key = key("ok")
        created = create_as(admin, ok_key, buy_now_price=300)
        again = create_as(admin, ok_key, buy_now_price=300)
        assert again.auction_id == created.auction_id  # once per request key
        assert [(r.actor_id, r.result, r.target) for r in audits(ok_key)] == \
            [(admin, "ok", f"auction:{created.auction_id}")]
        assert [e.type for e in created.events] == ["auction.created"]
        assert created.events[0].payload["user_id"] == admin
        row = auction(created.auction_id)
        assert (row.created_by, row.buy_now_price, row.status) == (admin, 300, "open")


@pytest.mark.parametrize(("fields", "error"), [
    ({"item_id": "no-such-item"}, auctions.UnknownItem),
    ({"start_price": 0}, auctions.InvalidAuction),
    ({"min_increment": 0}, auctions.InvalidAuction),
    ({"minutes": 0}, auctions.InvalidAuction),
    ({"minutes": 60 * 24 * 31}, auctions.InvalidAuction),
    ({"buy_now_price": 50}, auctions.InvalidAuction),  # not above the starting price
])
def test_invalid_creations_are_refused_politely_and_audited(new_user_id, settings_env,  # type: ignore[no-untyped-def]
                                                            fields, error) -> None:
    admin = new_user_id()
    settings_env(ADMIN_IDS=str(admin))
    request_key = key("bad")
    with pytest.raises(error):
        create_as(admin, request_key, **fields)
    assert [r.result for r in audits(request_key)] == [error.code]
    with read_session() as session:
        row = session.get(OutboxEvent, f"auction.create_refused:{request_key}")
        assert row is not None
    rendered = messages.for_event(events.Event.from_row(row).as_message())
    assert rendered is not None
    assert ("catálogo" if error is auctions.UnknownItem else "/subasta") in rendered.text


# --- what members see ----------------------------------------------------------------------


def test_views_show_price_time_and_the_members_status(new_user_id) -> None:  # type: ignore[no-untyped-def]
    a, b, c = members(new_user_id, 3, 500)
    aid = open_auction(start=50, increment=10, buy_now=500, minutes=30)
    bid(a, aid, 50)
    bid(b, aid, 60)
    now = datetime.now(UTC)
    with read_session() as session:
        seen = {uid: auctions.view(session, aid, uid) for uid in (a, b, c)}
        listed = [v.id for v in auctions.open_auctions(session, c, now, limit=1000)]
    assert aid in listed
    va, vb, vc = seen[a], seen[b], seen[c]
    assert va is not None and vb is not None and vc is not None
    assert (vb.leading, vb.held, va.leading, va.has_bid, vc.has_bid) == \
        (True, 60, False, True, False)
    assert vc.price == 60 and vc.min_next == 70
    detail = auction_messages.detail_view("es", vc, now)
    data = [b["callback_data"] for row in detail.reply_markup["inline_keyboard"]  # type: ignore[index]
            for b in row]
    assert data[:3] == [f"a:bid:{aid}:70", f"a:bid:{aid}:80", f"a:buy:{aid}"]
    assert all(callbacks.parse_auction(d) is not None or d.startswith("m:") for d in data)
    assert "Pujar 70" in str(detail.reply_markup) and "Comprar ya 500" in str(detail.reply_markup)
    listing = auction_messages.list_view("es", [va], now)
    assert "te superaron" in listing.text and f"a:show:{aid}" in str(listing.reply_markup)
    outbid = bid(c, aid, 70).events[0]
    rendered = messages.for_event(outbid.as_message())
    assert rendered is not None and "Te han superado" in rendered.text
    assert f"a:bid:{aid}:80" in str(rendered.reply_markup)  # bid again, at the minimum now


def test_twin_refusals_racing_write_one_audit_row(new_user_id) -> None:  # type: ignore[no-untyped-def]
    """Two deliveries of one refused /subasta at the same moment (PostgreSQL lets them run
    side by side): one event, one audit row; the loser retries, as its task would."""
    import sqlalchemy.exc

    member = new_user_id()
    with unit_of_work() as session:
        users.register(session, users.Profile(user_id=member, language_code="es"))
    request_key = key("twin")
    start = threading.Barrier(4)

    def refuse() -> None:
        start.wait()
        for _ in range(5):
            try:
                with unit_of_work() as session:
                    auctions.refuse_create(session, member, request_key, "not_admin",
                                           {"item_id": "rosa-roja"})
                return
            except sqlalchemy.exc.IntegrityError:
                continue

    threads = [threading.Thread(target=refuse) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with read_session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.actor_id == member)).all()
        assert [(r.action, r.result) for r in rows] == [("auction.create", "not_admin")]
        assert session.get(OutboxEvent, f"auction.create_refused:{request_key}") is not None
