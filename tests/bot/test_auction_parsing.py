"""Auction callback data (`a:`) and `/subasta` arguments: only what we send parses."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.handlers.auctions import parse_create

BIGGEST = 10**18 - 1  # 18 digits: the most an id or amount may have


@pytest.mark.parametrize(("verb", "auction_id", "amount"), [
    ("list", None, None), ("show", 7, None), ("buy", 12, None), ("bid", 3, 150),
    ("bid", BIGGEST, BIGGEST), ("show", 1, None),
])
def test_auction_data_round_trips_and_fits(verb: str, auction_id: int | None,
                                           amount: int | None) -> None:
    data = callbacks.auction_data(verb, auction_id, amount)
    assert callbacks.parse_auction(data) == (verb, auction_id, amount)
    assert len(data.encode()) <= callbacks.MAX_BYTES


@pytest.mark.parametrize("raw", [
    "a:", "a:list ", "a:list\n", "a:show:", "a:show:0", "a:show:07", "a:show:-1", "a:show:1.5",
    "a:bid:1", "a:bid:1:", "a:bid:1:0", "a:bid:1:01", "a:bid:1:2:3", "a:buy:x", "a:BUY:1",
    "a:bid:1:1000000000000000000", "a:show:١٢", "a:show:1;drop", "s:list", "m:gift", "", None,
    7, b"a:list",
])
def test_tampered_auction_data_parses_to_none(raw: object) -> None:
    assert callbacks.parse_auction(raw) is None


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers(),
                 st.from_regex(r"a:(list|show|bid|buy)(:[0-9]{0,20}){0,3}", fullmatch=True)))
def test_other_auction_data_parses_to_none(raw: object) -> None:
    result = callbacks.parse_auction(raw)
    if result is not None:  # only the exact shapes we send
        assert isinstance(raw, str) and callbacks.auction_data(*result) == raw


def test_the_auction_prefix_routes_only_auction_data() -> None:
    import re

    assert re.match(callbacks.AUCTION_PREFIX, "a:list")
    assert not re.match(callbacks.AUCTION_PREFIX, "s:list")
    assert callbacks.parse("a:list") is None and callbacks.parse_store("a:list") is None


@pytest.mark.parametrize(("args", "parsed"), [
    (["rosa-roja", "50", "10", "60"], ("rosa-roja", 50, 10, 60, None)),
    (["rosa-roja", "50", "10", "60", "200"], ("rosa-roja", 50, 10, 60, 200)),
    ([], None), (None, None), (["rosa-roja", "50", "10"], None),
    (["rosa-roja", "50", "10", "60", "200", "9"], None),
    (["Rosa", "50", "10", "60"], None), (["rosa-roja", "-5", "10", "60"], None),
    (["rosa-roja", "5.0", "10", "60"], None), (["rosa-roja", "50", "10", "1" * 14], None),
    (["rosa-roja", "٥٠", "10", "60"], None), (["a" * 33, "50", "10", "60"], None),
])
def test_subasta_arguments(args: list[str] | None,
                           parsed: tuple[str, int, int, int, int | None] | None) -> None:
    assert parse_create(args) == parsed


@given(st.lists(st.text(max_size=20), max_size=7))
def test_subasta_arguments_never_crash(args: list[str]) -> None:
    parsed = parse_create(args)
    if parsed is not None:
        assert all(isinstance(n, int) and n >= 0 for n in parsed[1:4])
