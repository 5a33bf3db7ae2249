"""Webhook secret check and callback-data parsing, with the real PTB Application."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from starlette.testclient import TestClient

from bot import callbacks
from bot.app import build_application
from bot.webhook import MAX_BODY, PATH, create_webhook_app
from core.settings import get_settings
from models.db import read_session
from models.tables import Command

SECRET = "s3cret-token_value"


@pytest.fixture
def webhook():  # type: ignore[no-untyped-def]
    application = build_application(get_settings(), webhook=True)
    with TestClient(create_webhook_app(application, SECRET)) as client:
        client.portal.call(application.initialize)  # type: ignore[union-attr]
        yield client, application
        client.portal.call(application.shutdown)  # type: ignore[union-attr]


def update(update_id: int = 1, user: int = 7) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "text": "/start",
        "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": False,
                                                         "first_name": "W"}}}


def test_an_update_is_answered_200_once_its_command_is_recorded(webhook, user_id) -> None:  # type: ignore[no-untyped-def]
    client, application = webhook
    for _ in range(2):  # Telegram sends it again: still one command
        response = client.post(PATH, json=update(5, user_id),
                               headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        assert response.status_code == 200
    with read_session() as session:
        rows = session.scalars(select(Command).where(Command.member_id == user_id)).all()
    assert [(row.id, row.state) for row in rows] == [(f"upd:{user_id}:5", "accepted")]
    assert application.update_queue.empty()  # handled in the request, not queued


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                                     {"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"}])
def test_missing_or_wrong_secret_is_refused(webhook, headers) -> None:  # type: ignore[no-untyped-def]
    client, application = webhook
    assert client.post(PATH, json=update(), headers=headers).status_code == 403
    assert application.update_queue.empty()


@pytest.mark.parametrize("body", [b"not json", b"[]", b"{\"update_id\": \"x\"}", b"null"])
def test_malformed_update_is_a_400(webhook, body) -> None:  # type: ignore[no-untyped-def]
    client, _ = webhook
    response = client.post(PATH, content=body,
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code == 400


def test_oversized_update_is_a_413(webhook) -> None:  # type: ignore[no-untyped-def]
    client, _ = webhook
    response = client.post(PATH, content=b"x" * (MAX_BODY + 1),
                           headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code == 413


def test_known_callback_data_parses() -> None:
    assert [callbacks.parse(callbacks.data(a)) for a in callbacks.MENU_ACTIONS] == \
        list(callbacks.MENU_ACTIONS)


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_any_other_callback_data_parses_to_none(raw: object) -> None:
    if isinstance(raw, str) and raw in {f"m:{a}" for a in callbacks.MENU_ACTIONS}:
        return
    assert callbacks.parse(raw) is None
