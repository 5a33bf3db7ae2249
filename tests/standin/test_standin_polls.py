"""Quiz polls: what sendPoll refuses, and votes injected as `poll_answer` updates."""

from __future__ import annotations

import re

import httpx
import pytest

from dev.standin.client import StandinError

pytestmark = pytest.mark.timeout(15)

QUIZ = {"question": "¿Quién es el mayordomo?", "type": "quiz", "is_anonymous": False,
        "options": [{"text": "Alfred"}, {"text": "Lucien"}, {"text": "Jeeves"}],
        "correct_option_ids": [1], "explanation": "Lucien, claro.", "open_period": 300}


def test_quiz_poll_keeps_what_a_bot_reads_back(api):
    message = api.ok("sendPoll", chat_id=4101, **QUIZ)
    poll = message["poll"]
    assert (poll["type"], poll["is_anonymous"], poll["correct_option_ids"]) == ("quiz", False,
                                                                                [1])
    assert (poll["explanation"], poll["open_period"]) == ("Lucien, claro.", 300)


@pytest.mark.parametrize(("change", "error"), [
    ({"correct_option_ids": None}, "correct_option_ids must be specified"),
    ({"correct_option_ids": [3]}, "wrong correct option ids"),
    ({"correct_option_ids": [2, 1]}, "wrong correct option ids"),
    ({"type": "regular"}, "only for quiz polls"),
    ({"explanation": "x" * 201}, "explanation is too long"),
    ({"explanation": "a\nb\nc\nd"}, "explanation is too long"),
    ({"open_period": 4}, "open_period must be"),
    ({"close_date": 2_000_000_000}, "can't be used together"),
    ({"options": [{"text": "x" * 101}, {"text": "y"}]}, "POLL_OPTION_INVALID"),
])
def test_bad_quiz_polls_are_refused(api, change, error):
    response = api("sendPoll", chat_id=4102, **{**QUIZ, **change})
    assert response.status_code == 400
    assert error in response.json()["description"]


def test_channels_only_take_anonymous_polls(api, client):
    client.inject_update({"channel_post": {"message_id": 1, "date": 0, "text": "hola",
                                           "chat": {"id": -1004103, "type": "channel",
                                                    "title": "Canal"}}})
    response = api("sendPoll", chat_id=-1004103, **QUIZ)
    assert response.status_code == 400
    assert "non-anonymous polls can't be sent to channel chats" in \
        response.json()["description"]
    assert api.ok("sendPoll", chat_id=-1004103, **{**QUIZ, "is_anonymous": True})["poll"]


def test_a_vote_becomes_a_poll_answer_update_and_is_counted(api, client):
    client.inject_message(4104, "/start", first_name="Ana")
    api.ok("getUpdates")
    poll = api.ok("sendPoll", chat_id=4104, **QUIZ)["poll"]
    update = client.answer_poll(4104, poll["id"], [1])
    answer = api.ok("getUpdates", offset=update["update_id"])[0]["poll_answer"]
    assert answer == {"poll_id": poll["id"], "option_ids": [1],
                      "option_persistent_ids": ["1"],
                      "user": {"id": 4104, "is_bot": False, "first_name": "Ana"}}
    stored = client.messages(4104)[-1]["poll"]
    assert stored["total_voter_count"] == 1
    assert [o["voter_count"] for o in stored["options"]] == [0, 1, 0]


def test_votes_telegram_would_not_send_are_refused_unless_forced(api, client):
    quiz = api.ok("sendPoll", chat_id=4105, **QUIZ)["poll"]
    anonymous = api.ok("sendPoll", chat_id=4105, question="¿Té?",
                       options=[{"text": "Sí"}, {"text": "No"}])["poll"]
    closed = api.ok("sendPoll", chat_id=4105, **{**QUIZ, "is_closed": True})["poll"]
    client.answer_poll(4105, quiz["id"], [0])
    refusals = [(quiz["id"], [1], "voted already"), (quiz["id"], [7], "out of range"),
                (anonymous["id"], [0], "anonymous"), (closed["id"], [1], "closed"),
                ("nope", [0], "poll not found")]
    for poll_id, options, error in refusals:
        with pytest.raises(StandinError, match=error):
            client.answer_poll(4105, poll_id, options)
    forced = client.answer_poll(4105, quiz["id"], [1], force=True)
    assert forced["poll_answer"]["option_ids"] == [1]
    stored = client.messages(4105)[0]["poll"]
    assert [o["voter_count"] for o in stored["options"]] == [1, 0, 0]  # forced: not counted


def test_a_poll_closes_after_its_open_period(api, client):
    poll = api.ok("sendPoll", chat_id=4106, **{**QUIZ, "open_period": 5})["poll"]
    message = client.messages(4106)[0]
    # Age the stored message instead of waiting 5 s.
    client.inject_update({"message": {**message, "date": message["date"] - 10}})
    # The chat view (what the web chat shows) closes it without waiting for a vote.
    assert client.messages(4106)[0]["poll"]["is_closed"] is True
    with pytest.raises(StandinError, match="closed"):
        client.answer_poll(4106, poll["id"], [1])
    assert client.messages(4106)[0]["poll"]["is_closed"] is True


def _page_vote(page: str) -> tuple[str, str, list[str]]:
    """Endpoint, kind and who() fields of the vote the web chat page posts, read from it."""
    vote = re.search(r'post\("(/[^"]+)",\s*\{ kind: "(\w+)", \.\.\.who\(\), '
                     r"poll_id: p\.id, option_ids: ids \}\)", page)
    who = re.search(r"function who\(\) \{\s*return \{(.*?)\};", page, re.DOTALL)
    assert vote and who, "the page's vote() or who() changed: update this test"
    return vote.group(1), vote.group(2), re.findall(r"(\w+):", who.group(1))


def test_the_web_chat_page_votes_through_the_control_api(server, api, client):
    page = httpx.get(server.base_url + "/").text
    path, kind, fields = _page_vote(page)
    for used in ("chat.poll_votes", "correct_option_ids", "p.explanation", "p.is_closed",
                 '"closed"'):
        assert used in page
    assert "innerHTML" not in page  # all text goes through textContent
    client.inject_message(4107, "/start", first_name="Ana")
    api.ok("getUpdates")
    poll = api.ok("sendPoll", chat_id=4107, **QUIZ)["poll"]
    # What who() sends for user 4107 (named Ana, Spanish) chatting in private.
    values = {"user_id": 4107, "first_name": "Ana", "language_code": "es", "chat_id": 4107}
    assert sorted(fields) == sorted(values), "who() sends other fields: update this test"
    body = {"kind": kind, **values, "poll_id": poll["id"], "option_ids": [0]}
    with httpx.Client(base_url=server.base_url) as http:
        response = http.post(path, json=body)
        assert response.status_code == 200, response.text
        update = api.ok("getUpdates", offset=response.json()["update_id"])[0]
        assert update["poll_answer"] == {
            "poll_id": poll["id"], "option_ids": [0], "option_persistent_ids": ["0"],
            "user": {"id": 4107, "is_bot": False, "first_name": "Ana", "language_code": "es"}}
        chat = http.get("/_standin/chat", params={"chat_id": 4107}).json()
        stored = chat["messages"][-1]["poll"]
        assert [o["voter_count"] for o in stored["options"]] == [1, 0, 0]
        assert stored["total_voter_count"] == 1
        assert chat["poll_votes"] == {poll["id"]: {"4107": [0]}}  # the page's "mine"
        again = http.post(path, json={**body, "option_ids": [1]})  # a quiz takes one vote
        assert again.status_code == 400
        assert "voted already" in again.json()["error"]  # what the page's toast shows
