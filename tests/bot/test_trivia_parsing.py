"""Trivia's callback data (`t:`) and `/trivia` arguments: what we send parses, nothing else."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.handlers.trivia import parse_command
from services import content
from services.messages import trivia as trivia_messages

VALID = re.compile(r"t:(play|top|top:[a-z0-9-]{1,24})")


def test_every_datum_we_send_round_trips_and_fits() -> None:
    cases = [("play", None), ("top", None)] + [("top", s) for s in content.trivia_sets()]
    for verb, question_set in cases:
        data = callbacks.trivia_data(verb, question_set)
        assert callbacks.parse_trivia(data) == (verb, question_set)
        assert len(data.encode()) <= callbacks.MAX_BYTES


def test_the_leaderboard_buttons_parse() -> None:
    from services.trivia import Board

    view = trivia_messages.leaderboard_view("es", Board(None, [], None), content.trivia_sets())
    data = [b["callback_data"] for row in view.reply_markup["inline_keyboard"] for b in row]
    trivia_data = [d for d in data if d.startswith("t:")]
    assert trivia_data and all(callbacks.parse_trivia(d) is not None for d in trivia_data)


@pytest.mark.parametrize("raw", ["t:play\n", "t:top:", "t:top:Mansion", "t:top:a:b", "t:plays",
                                 "t:top:" + "a" * 25, " t:play", "t:", "m:play", b"t:play"])
def test_near_misses_parse_to_none(raw: object) -> None:
    assert callbacks.parse_trivia(raw) is None


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_any_other_data_parses_to_none(raw: object) -> None:
    result = callbacks.parse_trivia(raw)
    if isinstance(raw, str) and VALID.fullmatch(raw):
        assert result is not None
    else:
        assert result is None


@given(st.from_regex(VALID, fullmatch=True))
def test_well_formed_data_parses(raw: str) -> None:
    verb, question_set = callbacks.parse_trivia(raw)  # type: ignore[misc]
    assert raw == callbacks.trivia_data(verb, question_set)


def test_trivia_command_arguments() -> None:
    assert parse_command(["lucien-nombre"], -100) == ("lucien-nombre", -100)
    assert parse_command(["lucien-nombre"], None) == ("lucien-nombre", None)
    assert parse_command(["lucien-nombre", "-1001234"], None) == ("lucien-nombre", -1001234)
    for bad in (None, [], ["Lucien"], ["q", "abc"], ["q", "-1", "x"], ["q;drop"],
                ["q", "1" * 17]):
        assert parse_command(bad, -100) is None
