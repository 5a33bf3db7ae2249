"""Telegram flood limits, blocked chats and forced faults."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

pytestmark = pytest.mark.timeout(15)


def _too_many(response: httpx.Response) -> int:
    body = response.json()
    assert response.status_code == 429, body
    assert body["error_code"] == 429
    retry = body["parameters"]["retry_after"]
    assert body["description"] == f"Too Many Requests: retry after {retry}"
    return retry


def test_private_chat_burst_then_429(api, client):
    for i in range(3):
        api.ok("sendMessage", chat_id=4001, text=f"m{i}")
    assert _too_many(api("sendMessage", chat_id=4001, text="over")) == 1
    assert api.ok("sendMessage", chat_id=4002, text="other chat is fine")
    # edits, callback answers and chat actions are not messages
    api.ok("editMessageText", chat_id=4001, message_id=1, text="edited")
    assert api.ok("sendChatAction", chat_id=4001, action="typing") is True
    time.sleep(1.05)
    assert api.ok("sendMessage", chat_id=4001, text="slot freed")
    assert client.stats()["too_many_requests"] == 1


def test_group_limit_twenty_per_minute(api, client):
    for i in range(20):
        api.ok("sendMessage", chat_id=-1004001, text=f"g{i}")
    assert _too_many(api("sendPhoto", chat_id=-1004001, photo="AgACAg")) == 3


def test_global_thirty_per_second(api, client, server, token):
    url = f"{server.api_base_url}{token}/sendMessage"

    async def burst() -> list[int]:
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
            responses = await asyncio.gather(*(
                http.post(url, json={"chat_id": 5000 + i, "text": "hi"}) for i in range(80)))
        return [r.status_code for r in responses]

    started = time.monotonic()
    codes = asyncio.run(burst())
    elapsed = time.monotonic() - started
    assert codes.count(429) >= 1
    assert set(codes) == {200, 429}
    assert codes.count(200) <= 30 + 30 * elapsed + 1
    assert client.stats()["too_many_requests"] == codes.count(429)


def test_limits_are_configurable(api, client):
    client.configure(limits_enabled=False)
    for i in range(10):
        api.ok("sendMessage", chat_id=4003, text=f"m{i}")
    client.configure(limits_enabled=True, private_burst=1, private_per_second=0.25)
    api.ok("sendMessage", chat_id=4003, text="one")
    assert _too_many(api("sendMessage", chat_id=4003, text="two")) == 4


def test_blocked_chat_is_403(api, client):
    client.block(4004)
    response = api("sendMessage", chat_id=4004, text="x")
    assert response.status_code == 403
    assert response.json() == {"ok": False, "error_code": 403,
                               "description": "Forbidden: bot was blocked by the user"}
    client.unblock(4004)
    assert api.ok("sendMessage", chat_id=4004, text="x")
    client.configure(require_start=True)
    assert api("sendMessage", chat_id=4005, text="x").status_code == 403
    client.inject_message(4005, "/start")
    assert api.ok("sendMessage", chat_id=4005, text="x")


def test_forced_429_and_5xx(api, client):
    client.fail_next(2, "429", retry_after=7)
    assert _too_many(api("sendMessage", chat_id=4006, text="x")) == 7
    assert api.ok("getMe")  # not a message method: unaffected by default
    assert _too_many(api("sendMessage", chat_id=4006, text="x")) == 7
    assert api.ok("sendMessage", chat_id=4006, text="x")
    client.fail_next(1, "5xx", status=502, methods=["answerCallbackQuery"])
    assert api.ok("sendMessage", chat_id=4006, text="y")
    response = api("answerCallbackQuery", callback_query_id="1")
    assert response.status_code == 502
    assert response.json()["description"] == "Bad Gateway"
    stats = client.stats()
    assert stats["forced_faults"] == 3
    assert stats["errors"]["502"] == 1


def test_a_fault_aimed_at_one_chat_spares_the_others(api, client):
    client.fail_next(1, "429", retry_after=3, chat_id=4007)
    assert api.ok("sendMessage", chat_id=4008, text="another chat")
    assert _too_many(api("sendMessage", chat_id=4007, text="x")) == 3
    assert api.ok("sendMessage", chat_id=4007, text="x")


def test_forced_timeout(api, client, server, token):
    client.fail_next(1, "timeout", delay=2, methods=["*"])
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.api_base_url}{token}/getMe", timeout=0.3)
    assert api.ok("getMe")["is_bot"] is True


def test_control_api_never_limited(client):
    client.configure(global_per_second=1, private_burst=1)
    for i in range(50):
        client.inject_message(4007, f"m{i}")
    assert client.stats()["too_many_requests"] == 0
