"""Callback data of reaction buttons (`r:`) and recipes (`x:`): what we send parses back,
anything else parses to None; which reaction updates count as "a reaction added"."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from telegram import Chat, MessageReactionUpdated, ReactionTypeEmoji, User

from bot import callbacks
from bot.handlers.reactions import added
from services import content, reactions

refs = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=32)


@given(refs, st.integers(0, reactions.MAX_EMOJIS - 1))
def test_reaction_button_data_round_trips_and_fits(ref: str, index: int) -> None:
    data = reactions.button_data(ref, index)
    assert callbacks.parse_reaction(data) == (ref, index)
    assert len(data.encode()) <= callbacks.MAX_BYTES


def test_recipe_data_round_trips_and_fits() -> None:
    assert callbacks.parse_recipe(callbacks.recipe_data("list")) == ("list", None)
    for recipe in content.recipes():
        data = callbacks.recipe_data("craft", recipe.id)
        assert callbacks.parse_recipe(data) == ("craft", recipe.id)
        assert len(data.encode()) <= callbacks.MAX_BYTES


def test_tampered_data_parses_to_none() -> None:
    for raw in ("r:", "r:ref", "r:ref:", "r:ref:10", "r:ref:-1", "r:ref:0\n", "r:re f:0",
                "r:" + "a" * 33 + ":0", "r:ref:١", "R:ref:0", "r:ref:0:1"):
        assert callbacks.parse_reaction(raw) is None, raw
    for raw in ("x:", "x:list\n", "x:craft:", "x:craft:Ramo", "x:craft:" + "a" * 33,
                "x:crafts:ramo", "x:list:1", "X:list"):
        assert callbacks.parse_recipe(raw) is None, raw


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_any_other_data_parses_to_none(raw: object) -> None:
    parsed = callbacks.parse_reaction(raw)
    if parsed is not None:  # only the exact shape we send
        assert isinstance(raw, str) and reactions.button_data(*parsed) == raw
    recipe = callbacks.parse_recipe(raw)
    if recipe is not None:
        assert isinstance(raw, str) and callbacks.recipe_data(*recipe) == raw


def _change(old: list[str], new: list[str]) -> MessageReactionUpdated:
    return MessageReactionUpdated(
        chat=Chat(-1001, "supergroup"), message_id=5, date=datetime.now(UTC),
        old_reaction=tuple(ReactionTypeEmoji(e) for e in old),
        new_reaction=tuple(ReactionTypeEmoji(e) for e in new),
        user=User(7, "M", False))


def test_only_a_reaction_put_on_counts() -> None:
    assert added(_change([], ["❤"]))
    assert added(_change(["👍"], ["❤"]))  # changed: the reward decides (once per post)
    assert added(_change(["👍"], ["👍", "🔥"]))
    assert not added(_change(["❤"], []))  # taken off
    assert not added(_change(["👍", "🔥"], ["👍"]))
    assert not added(_change(["❤"], ["❤"]))
