"""🔨 Auction tasks: create, bid, buy now (one SQL transaction each), and the beat closer.

A refusal (bid too low, auction closed, not enough besitos, not an admin, …) is not a
failure: it is recorded once per request key as an event and the member is told why.

The console way to open an auction (an operator's tool; prints the new auction's id):

    python -m tasks.auctions create ITEM START INCREMENT (--minutes M | --ends-at ISO)
                                    [--buy-now PRICE] [--actor TELEGRAM_ID]
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from core.settings import get_settings
from models.db import read_session, unit_of_work
from services import auctions
from tasks.base import YabotTask
from tasks.events import publish_after_commit
from worker.app import app


def _bid_refused(user_id: int, auction_id: int, amount: int | None, request_key: str,
                 exc: auctions.Refused) -> dict[str, Any]:
    with unit_of_work() as session:
        recorded = auctions.refuse(session, user_id, auction_id, amount, request_key, exc.code)
    publish_after_commit(recorded)
    return {"status": "refused", "user_id": user_id, "auction_id": auction_id,
            "reason": exc.code}


@app.task(base=YabotTask, name="tasks.auctions.bid")
def bid(user_id: int, auction_id: int, amount: int, request_key: str) -> dict[str, Any]:
    """Bid `amount` (the new price) once per request key, and publish what happened."""
    try:
        with unit_of_work() as session:
            outcome = auctions.bid(session, user_id, auction_id, amount, request_key)
    except auctions.Refused as exc:
        return _bid_refused(user_id, auction_id, amount, request_key, exc)
    publish_after_commit(outcome.events)
    return outcome.as_dict()


@app.task(base=YabotTask, name="tasks.auctions.buy_now")
def buy_now(user_id: int, auction_id: int, request_key: str) -> dict[str, Any]:
    """Buy at the buy-now price once per request key (ends the auction)."""
    try:
        with unit_of_work() as session:
            outcome = auctions.buy_now(session, user_id, auction_id, request_key)
    except auctions.Refused as exc:
        return _bid_refused(user_id, auction_id, None, request_key, exc)
    publish_after_commit(outcome.events)
    return outcome.as_dict()


def open_auction(actor_id: int | None, item_id: str, start_price: int, min_increment: int,
                 request_key: str, *, minutes: int | None = None,
                 ends_at: datetime | None = None, buy_now_price: int | None = None,
                 console: bool = False) -> dict[str, Any]:
    """Create (or refuse, with its audit row and event) and publish; the task and the CLI
    share it."""
    try:
        with unit_of_work() as session:
            created = auctions.create(session, actor_id=actor_id, item_id=item_id,
                                      start_price=start_price, min_increment=min_increment,
                                      minutes=minutes, ends_at=ends_at,
                                      buy_now_price=buy_now_price, request_key=request_key,
                                      console=console)
    except auctions.Refused as exc:
        details = {"item_id": item_id[:40], "start_price": start_price,
                   "min_increment": min_increment, "minutes": minutes,
                   "buy_now_price": buy_now_price,
                   "via": "console" if console else "bot"}
        with unit_of_work() as session:
            recorded = auctions.refuse_create(session, actor_id, request_key, exc.code,
                                              details)
        publish_after_commit(recorded)
        return {"status": "refused", "reason": exc.code}
    publish_after_commit(created.events)
    return created.as_dict()


@app.task(base=YabotTask, name="tasks.auctions.create")
def create(actor_id: int, item_id: str, start_price: int, min_increment: int, minutes: int,
           buy_now_price: int | None, request_key: str) -> dict[str, Any]:
    """An admin's `/subasta`: open an auction, or refuse politely (audited either way)."""
    return open_auction(actor_id, item_id, start_price, min_increment, request_key,
                        minutes=minutes, buy_now_price=buy_now_price)


@app.task(base=YabotTask, name="tasks.auctions.close_due")
def close_due() -> dict[str, int]:
    """Beat: close the auctions whose end has passed, a bounded batch per run, each in its
    own transaction. Safe to run twice or concurrently: a second closer finds it closed."""
    settings = get_settings()
    with read_session() as session:
        ids = auctions.due(session, limit=settings.auction_close_batch)
    closed = 0
    for auction_id in ids:
        with unit_of_work() as session:
            outcome = auctions.close(session, auction_id)
        if outcome is not None:
            publish_after_commit(outcome.events)
            closed += int(outcome.closed_now)
    return {"due": len(ids), "closed": closed}


# --- the console -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tasks.auctions",
                                     description="YABOT auctions (operator's tool)")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("create", help="open an auction and print its id")
    new.add_argument("item", help="content item id (content/items.yaml)")
    new.add_argument("start", type=int, help="starting price, besitos")
    new.add_argument("increment", type=int, help="minimum increment, besitos")
    end = new.add_mutually_exclusive_group(required=True)
    end.add_argument("--minutes", type=int, help="duration in minutes")
    end.add_argument("--ends-at", type=datetime.fromisoformat,
                     help="end time, ISO 8601 (UTC unless an offset is given)")
    new.add_argument("--buy-now", type=int, default=None, help="buy-now price, besitos")
    new.add_argument("--actor", type=int, default=None,
                     help="Telegram id of the admin it is opened for (audit log; told)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    app.loader.import_default_modules()  # every subscriber, so the event reaches them
    ends_at = args.ends_at
    if ends_at is not None and ends_at.tzinfo is None:
        ends_at = ends_at.replace(tzinfo=UTC)
    result = open_auction(args.actor, args.item, args.start, args.increment,
                          f"cli:{uuid.uuid4().hex}", minutes=args.minutes, ends_at=ends_at,
                          buy_now_price=args.buy_now, console=True)
    if result["status"] != "created":
        sys.stderr.write(f"refused: {result['reason']}\n")
        return 2
    sys.stdout.write(f"{result['auction_id']}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
