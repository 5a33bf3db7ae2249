"""`g:` callback data parsed defensively, and the 🎯 / 🏆 / 🏅 views degrading politely while
MongoDB is down."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import callbacks
from bot.handlers import progress
from models import mongo
from services import missions


def test_known_progress_data_round_trips_and_fits() -> None:
    for view in callbacks.PROGRESS_VIEWS:
        data = callbacks.progress_data(view)
        assert callbacks.parse_progress(data) == view and len(data.encode()) <= 64
        assert view in progress.VIEWS


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers(),
                 st.sampled_from(["g:top\n", "g:topx", "g:missions:1", "G:top", "g:"])))
@example("g:" + "top" * 30)
def test_any_other_progress_data_parses_to_none(raw: object) -> None:
    view = callbacks.parse_progress(raw)
    if view is not None:  # only the exact data we send
        assert raw == callbacks.progress_data(view)


@pytest.mark.slow
def test_views_answer_without_mongodb(mongo_server, registered: int) -> None:  # type: ignore[no-untyped-def]
    mongo.ensure_member(registered, "es")
    mongo_server.stop()
    try:
        mongo.reset_client()
        missions_view = progress.missions_view(registered, "es")
        achievements_view = progress.achievements_view(registered, "es")
        top_view = progress.top_view(registered, "es")  # SQL only
    finally:
        mongo_server.start(timeout=60)
        mongo.reset_client()
    assert "Ahora mismo no puedo leer tu progreso" in missions_view.text
    assert "Regalo del día" in missions_view.text  # the list, without progress
    assert "Ahora mismo no puedo leer tu progreso" in achievements_view.text
    assert "Ranking" in top_view.text and "Aún no tienes puesto" in top_view.text
    assert "no puedo" not in top_view.text
    # back to normal once MongoDB is back
    assert "no puedo" not in progress.missions_view(registered, "es").text
    assert missions.board(mongo.member_state(registered), vip=False)
