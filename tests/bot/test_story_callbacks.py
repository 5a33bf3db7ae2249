"""Callback data of the story (`p:` choices, `q:` story menu): what we send parses back and
fits in 64 bytes; anything else parses to None; tokens are checked by the handler."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from bot.handlers.story import _genuine
from services import content, story
from services.messages import story as story_messages
from services.story_content import MAX_CHOICES

fragment_ids = st.from_regex(r"[a-z0-9-]{1,40}", fullmatch=True)
steps = st.integers(0, 999_999)
user_ids = st.integers(1, 2**52)


@given(user_ids, fragment_ids, st.integers(0, MAX_CHOICES - 1), steps)
def test_choice_data_round_trips_fits_and_is_genuine(user_id: int, fragment: str, index: int,
                                                     step: int) -> None:
    data = story_messages.choice_data(user_id, fragment, index, step)
    assert len(data.encode()) <= callbacks.MAX_BYTES
    press = callbacks.parse_story(data)
    assert press is not None and (press.verb, press.fragment, press.index, press.step) == \
        ("choose", fragment, index, step)
    assert _genuine(press, user_id)
    assert not _genuine(press, user_id + 1)  # another member's button


@given(user_ids, fragment_ids, steps)
def test_restart_and_combine_data_round_trip(user_id: int, fragment: str, step: int) -> None:
    for verb, data in (("restart", story_messages.restart_data(user_id, fragment, step)),
                       ("combine", story_messages.combine_data(user_id, fragment, step))):
        assert len(data.encode()) <= callbacks.MAX_BYTES
        press = callbacks.parse_story(data)
        assert press is not None and (press.verb, press.fragment, press.step) == \
            (verb, fragment, step)
        assert _genuine(press, user_id)


def test_a_choice_token_does_not_open_a_restart_or_another_index() -> None:
    data = story_messages.choice_data(5, "el-mirador", 1, 7)
    press = callbacks.parse_story(data)
    assert press is not None
    assert not _genuine(press._replace(index=2), 5)
    assert not _genuine(press._replace(step=8), 5)
    assert not _genuine(press._replace(verb="restart"), 5)


def test_views_parse_and_tampered_data_parses_to_none() -> None:
    for view in ("view", "backpack", "checkpoints"):
        assert callbacks.parse_story(f"q:{view}") == callbacks.StoryPress(view)
    good = story_messages.choice_data(1, "la-invitacion", 0, 0)
    for raw in ("p:", "q:", "q:views", "p:la-invitacion:0:0", good + "x", good[:-1],
                good.replace("p:", "P:"), "p:La-invitacion:0:0:AAAAAAAA",
                "p:la-invitacion:8:0:AAAAAAAA", "p:la-invitacion:0:01:AAAAAAAA",
                "p:la-invitacion:0:1234567:AAAAAAAA", "p:la-invitacion:0:0:AAAA AAA",
                "q:restart:x:0", "q:view\n", "p:" + "a" * 41 + ":0:0:AAAAAAAA", 42, None,
                "p:la-invitacion:0:0:AAAAAAA=", "q:combine:el-medallon:0:" + "A" * 9):
        assert callbacks.parse_story(raw) is None, raw


@given(st.text(max_size=80))
def test_arbitrary_text_never_crashes_the_parser(raw: str) -> None:
    press = callbacks.parse_story(raw)
    assert press is None or press.verb in ("choose", "view", "backpack", "checkpoints",
                                           "restart", "combine")


def test_every_page_of_the_shipped_story_fits_telegram() -> None:
    shipped = content.story()
    for fragment in shipped.fragments.values():
        rendered = story_messages.fragment_page("es", shipped, 2**52, fragment, 999_999,
                                                percent=100)
        assert len(rendered.text) <= (1024 if rendered.photo else 4096)
        for row in rendered.reply_markup["inline_keyboard"]:  # type: ignore[index]
            for button in row:
                assert len(button["callback_data"].encode()) <= callbacks.MAX_BYTES
                assert len(button["text"]) <= 64
    assert story.token(1, "c", "x", 0, 0) != story.token(2, "c", "x", 0, 0)

