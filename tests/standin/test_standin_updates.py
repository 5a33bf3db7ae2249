"""Update delivery: getUpdates long polling, offsets, allowed_updates and webhook pushes."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest

pytestmark = pytest.mark.timeout(15)


def test_long_poll_returns_update_injected_while_waiting(api, client):
    threading.Timer(0.3, client.inject_message, (3001, "hello")).start()
    started = time.monotonic()
    updates = api.ok("getUpdates", timeout=5)
    assert 0.2 < time.monotonic() - started < 3
    assert updates[0]["message"]["text"] == "hello"
    assert updates[0]["message"]["chat"] == {"id": 3001, "type": "private",
                                             "first_name": "User 3001"}


def test_short_poll_timeout_and_offset_confirmation(api, client):
    started = time.monotonic()
    assert api.ok("getUpdates", timeout=1) == []
    assert time.monotonic() - started >= 0.9
    first = client.inject_message(3001, "/start", first_name="Zoé", language_code="fr")
    client.inject_message(3001, "two")
    updates = api.ok("getUpdates")
    assert [u["update_id"] for u in updates] == [first["update_id"], first["update_id"] + 1]
    command = updates[0]["message"]
    assert command["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert command["from"]["language_code"] == "fr"
    assert command["from"]["first_name"] == "Zoé"
    assert len(api.ok("getUpdates", limit=1)) == 1
    assert len(api.ok("getUpdates", offset=first["update_id"] + 1)) == 1
    assert api.ok("getUpdates", offset=first["update_id"] + 2) == []


def test_callback_update_refers_to_bot_message(api, client):
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "pick:a"}]]}
    sent = api.ok("sendMessage", chat_id=3002, text="Pick", reply_markup=markup)
    update = client.press(3002, "pick:a")
    query = api.ok("getUpdates")[0]["callback_query"]
    assert query["id"] == update["callback_query"]["id"]
    assert query["data"] == "pick:a"
    assert query["message"]["message_id"] == sent["message_id"]
    assert query["message"]["reply_markup"] == markup
    assert query["from"]["id"] == 3002
    with pytest.raises(Exception, match="no inline button"):
        client.press(3002, "pick:zzz", sent["message_id"])
    assert client.press(3002, "pick:zzz", sent["message_id"], force=True)


def test_allowed_updates_filter(api, client):
    client.inject_message(3003, "text")
    client.configure(private_burst=10)
    api.ok("sendMessage", chat_id=3003, text="k",
           reply_markup={"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    client.press(3003, "a")
    updates = api.ok("getUpdates", allowed_updates=["callback_query"])
    assert [list(u)[1] for u in updates] == ["callback_query"]


def test_raw_update_injection_is_validated(api, client):
    raw = {"message": {"message_id": 5, "date": 1, "chat": {"id": -1009, "type": "supergroup",
                                                               "title": "Club"},
                       "from": {"id": 9, "is_bot": False, "first_name": "Bo"}, "text": "hi"}}
    update = client.inject_update(raw)
    assert update["update_id"] >= 1
    assert api.ok("getChat", chat_id=-1009)["title"] == "Club"
    with pytest.raises(Exception, match="date"):
        client.inject_update({"message": {"message_id": 1, "chat": {"id": 1, "type": "private"}}})


def test_second_poller_terminates_first(api, client, server):
    import httpx
    results = {}

    def first():
        results["first"] = httpx.post(f"{server.api_base_url}123456:t/getUpdates",
                                      json={"timeout": 5}, timeout=10)
    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.3)
    api.ok("getUpdates", timeout=0)
    thread.join(5)
    assert results["first"].status_code == 409
    assert "terminated by other getUpdates" in results["first"].json()["description"]


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):  # noqa: N802 (http.server naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    _Receiver.received, _Receiver.status = [], 200
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", _Receiver
    httpd.shutdown()


def test_webhook_push_with_secret_and_conflict(api, client, receiver):
    url, handler = receiver
    client.inject_message(3004, "before")  # pending updates are delivered too
    assert api.ok("setWebhook", url=url, secret_token="s3cr3t-_") is True
    client.inject_message(3004, "after")
    client_deadline = time.monotonic() + 5
    while len(handler.received) < 2 and time.monotonic() < client_deadline:
        time.sleep(0.02)
    assert [(s, u["message"]["text"]) for s, u in handler.received] == [
        ("s3cr3t-_", "before"), ("s3cr3t-_", "after")]
    conflict = api("getUpdates")
    assert conflict.status_code == 409
    assert "webhook is active" in conflict.json()["description"]
    info = api.ok("getWebhookInfo")
    assert info["url"] == url
    assert info["pending_update_count"] == 0
    assert "secret_token" not in info
    assert api.ok("deleteWebhook") is True
    assert api.ok("getWebhookInfo")["url"] == ""
    client.inject_message(3004, "polled")
    assert api.ok("getUpdates")[0]["message"]["text"] == "polled"


def test_webhook_failure_is_reported_and_retried(api, client, receiver):
    url, handler = receiver
    handler.status = 500
    client.configure(webhook_retry_seconds=0.1)
    api.ok("setWebhook", url=url)
    client.inject_message(3005, "x")
    deadline = time.monotonic() + 5
    while "last_error_message" not in (info := api.ok("getWebhookInfo")) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert "500" in info["last_error_message"]
    assert info["pending_update_count"] == 1
    handler.status = 200
    while api.ok("getWebhookInfo")["pending_update_count"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert api.ok("getWebhookInfo")["pending_update_count"] == 0
    assert len(handler.received) >= 2  # the same update, retried until accepted
    assert api("setWebhook", url=url, secret_token="bad token!").status_code == 400
