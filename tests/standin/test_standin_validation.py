"""Spec validation of Bot API requests: errors in Telegram's shape, decoding of form values."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(15)


def test_unknown_method_is_404(api):
    response = api("sendTelepathy", chat_id=1)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


@pytest.mark.parametrize("bad_token", ["nope", "123", "abc:def", "12:ab cd"])
def test_malformed_token_is_401(api, bad_token):
    response = api.http.get(f"/bot{bad_token}/getMe")
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


def test_missing_required_parameter(api):
    response = api("sendMessage", chat_id=5)
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False
    assert body["error_code"] == 400
    assert body["description"].startswith("Bad Request:")
    assert '"text"' in body["description"]


@pytest.mark.parametrize(("method", "params", "field"), [
    ("editMessageText", {"chat_id": 5, "message_id": "abc", "text": "x"}, "message_id"),
    ("sendMessage", {"chat_id": 5, "text": "x", "disable_notification": "maybe"},
     "disable_notification"),
    ("sendMessage", {"chat_id": 5, "text": {"a": 1}}, "text"),
    ("sendMessage", {"chat_id": [5], "text": "x"}, "chat_id"),
    ("sendMessage", {"chat_id": 5, "text": "x", "reply_markup": {"inline_keyboard": "no"}},
     "reply_markup.inline_keyboard"),
    ("setMyCommands", {"commands": [{"command": "start"}]}, "commands[0].description"),
])
def test_wrong_types_are_400(api, method, params, field):
    response = api(method, **params)
    assert response.status_code == 400, response.text
    assert field in response.json()["description"]


def test_callback_data_longer_than_64_bytes(api):
    keyboard = {"inline_keyboard": [[{"text": "A", "callback_data": "é" * 33}]]}  # 66 bytes
    response = api("sendMessage", chat_id=5, text="x", reply_markup=keyboard)
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    keyboard["inline_keyboard"][0][0]["callback_data"] = "é" * 32  # 64 bytes: fine
    assert api.ok("sendMessage", chat_id=5, text="x", reply_markup=keyboard)


def test_text_length_limits(api):
    assert api("sendMessage", chat_id=-100, text="").json()["description"] == \
        "Bad Request: message text is empty"
    assert api("sendMessage", chat_id=-100, text="x" * 4097).json()["description"] == \
        "Bad Request: message is too long"
    assert api.ok("sendMessage", chat_id=-100, text="x" * 4096)["text"] == "x" * 4096


def test_button_without_action_rejected(api):
    response = api("sendMessage", chat_id=-100, text="x",
                   reply_markup={"inline_keyboard": [[{"text": "just text"}]]})
    assert response.status_code == 400
    assert "unallowed" in response.json()["description"]


def test_form_encoded_values_are_decoded_per_spec(api):
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    response = api.form("sendMessage", chat_id="-1001", text="123",
                        disable_notification="true", reply_markup=json.dumps(markup),
                        some_future_parameter="ignored")
    body = response.json()
    assert response.status_code == 200, body
    result = body["result"]
    assert result["chat"]["id"] == -1001
    assert result["text"] == "123"
    assert result["reply_markup"] == markup
    record = api.http.get("/_standin/sent").json()[-1]
    assert record["params"]["disable_notification"] is True
    assert "some_future_parameter" not in record["params"]


def test_get_with_query_and_case_insensitive_method(api, token):
    response = api.http.get(f"/bot{token}/SENDMESSAGE", params={"chat_id": 7, "text": "q"})
    assert response.json()["result"]["text"] == "q"


def test_unparseable_json_body(api, token):
    response = api.http.post(f"/bot{token}/getMe", content=b"{",
                             headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize(("mode", "text", "plain", "entity"), [
    ("HTML", "<b>Hi</b> &lt;you&gt; <a href=\"https://x.org\">link</a>", "Hi <you> link",
     {"type": "bold", "offset": 0, "length": 2}),
    ("MarkdownV2", "*bold* and \\_under\\_ 1\\.5", "bold and _under_ 1.5",
     {"type": "bold", "offset": 0, "length": 4}),
    ("Markdown", "_it_ [t](http://a.b)", "it t", {"type": "italic", "offset": 0, "length": 2}),
])
def test_parse_modes_produce_entities(api, mode, text, plain, entity):
    result = api.ok("sendMessage", chat_id=-100, text=text, parse_mode=mode)
    assert result["text"] == plain
    assert entity in result["entities"]


@pytest.mark.parametrize(("mode", "text"), [
    ("HTML", "a <3 b"), ("HTML", "<b>open"), ("HTML", "<blink>x</blink>"),
    ("MarkdownV2", "price: 1.5"), ("MarkdownV2", "*unclosed"), ("Markdown", "user_name"),
    ("Fancy", "x"),
])
def test_parse_errors_like_telegram(api, mode, text):
    response = api("sendMessage", chat_id=-100, text=text, parse_mode=mode)
    assert response.status_code == 400
    assert response.json()["description"].startswith("Bad Request:")


def test_edit_rules(api):
    sent = api.ok("sendMessage", chat_id=-100, text="one")
    missing = api("editMessageText", chat_id=-100, message_id=999, text="x")
    assert missing.json()["description"] == "Bad Request: message to edit not found"
    same = api("editMessageText", chat_id=-100, message_id=sent["message_id"], text="one")
    assert "message is not modified" in same.json()["description"]
    edited = api.ok("editMessageText", chat_id=-100, message_id=sent["message_id"], text="two")
    assert edited["text"] == "two"
    assert "edit_date" in edited


def test_generic_methods_answer_per_return_type(api):
    assert api.ok("setChatTitle", chat_id=-100, title="T") is True
    document = api.ok("sendDocument", chat_id=-100, document="BQACAgIAAx")
    assert document["document"]["file_id"] == "BQACAgIAAx"
    assert document["message_id"] >= 1
    location = api.ok("sendLocation", chat_id=-100, latitude=1.5, longitude=2)
    assert location["location"] == {"latitude": 1.5, "longitude": 2.0}
    assert api.ok("getChatAdministrators", chat_id=-100) == []
    assert api.ok("getFile", file_id="abc")["file_path"] == "files/abc"


def test_calls_the_spec_refuses_are_counted_apart(api, client):
    """The stand-in counts spec refusals (the suite's session check reads them)."""
    before = client.stats()["spec_rejected"]
    api("sendTelepathy", chat_id=1)
    api("sendMessage", chat_id=5)
    client.block(77)
    api("sendMessage", chat_id=77, text="hi")  # refused as Telegram would: not a spec error
    stats = client.stats()
    assert stats["spec_rejected"] == before + 2
    assert [r["method"] for r in stats["spec_rejections"][-2:]] == ["sendTelepathy",
                                                                   "sendMessage"]
