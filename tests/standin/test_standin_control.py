"""Recorder, stats, reset, config, the web chat page and the command line entry point."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dev.standin.client import StandinError

pytestmark = pytest.mark.timeout(15)
ROOT = Path(__file__).resolve().parents[2]


def test_recorder_filters_and_cursor(api, client):
    mark = client.mark()
    first = api.ok("sendMessage", chat_id=6001, text="a")
    api.ok("sendMessage", chat_id=-1006001, text="b")
    api.ok("editMessageText", chat_id=6001, message_id=first["message_id"], text="a2")
    api("sendMessage", chat_id=6001)  # rejected: not recorded
    records = client.sent(since=mark)
    assert [r["method"] for r in records] == ["sendMessage", "sendMessage", "editMessageText"]
    assert records[0]["params"] == {"chat_id": 6001, "text": "a"}
    assert records[0]["result"] == first
    assert records[0]["time"] > 0
    assert [r["params"]["text"] for r in client.sent(chat_id=6001)] == ["a", "a2"]
    assert len(client.sent(method="editmessagetext")) == 1
    assert client.sent(since=records[-1]["id"]) == []
    assert client.messages(6001)[0]["text"] == "a2"


def test_wait_for_and_wait_for_message(api, client):
    api.ok("sendMessage", chat_id=6002, text="Welcome, friend")
    record = client.wait_for_message(6002, "friend", timeout=1)
    assert record["result"]["text"] == "Welcome, friend"
    with pytest.raises(TimeoutError):
        client.wait_for(lambda r: r["method"] == "banChatMember", timeout=0.2)


def test_stats_and_reset(api, client):
    api.ok("getMe")
    api.ok("sendMessage", chat_id=6003, text="x")
    api("nope")
    stats = client.stats()
    assert stats["methods"] == {"getMe": 1, "sendMessage": 1}
    assert stats["rejected"] == 1
    assert stats["errors"] == {"404": 1}
    last = stats["last_record_id"]
    client.configure(private_burst=9)
    client.reset()
    stats = client.stats()
    assert stats["methods"] == {}
    assert stats["rejected"] == 0
    assert client.configure()["private_burst"] == 3  # config back to start values
    again = api.ok("sendMessage", chat_id=6003, text="y")
    assert again["message_id"] == 2  # identifiers never restart
    assert client.sent()[0]["id"] > last


def test_config_validation(client):
    with pytest.raises(StandinError, match="unknown config option"):
        client.configure(speed="fast")
    with pytest.raises(StandinError, match="fault kind"):
        client.fail_next(kind="explode")
    config = client.configure(block=[1, 2])
    assert config["blocked_chats"] == [1, 2]
    assert client.configure(clear_faults=True)["faults"] == []


def test_inject_errors(client):
    with pytest.raises(StandinError, match="kind"):
        client.inject_update({"kind": "sticker", "user_id": 1})
    with pytest.raises(StandinError, match="button"):
        client.press(6004, "nothing")
    with pytest.raises(StandinError, match="negative"):
        client.inject_join_request(6004, 6004)


def test_web_chat_page(server, client):
    page = httpx.get(server.base_url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/_standin/updates" in page.text
    assert "/_standin/chat" in page.text
    assert not re.search(r"""(src|href)=["']https?://""", page.text)  # nothing external


def test_command_line_entry_point(tmp_path):
    env = {**os.environ, "STANDIN_PORT": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "dev.standin", "--host", "127.0.0.1"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        match = re.fullmatch(r"standin listening on (http://127\.0\.0\.1:(\d+))\n", line)
        assert match, line
        assert int(match.group(2)) > 0
        me = httpx.get(f"{match.group(1)}/bot42:abc/getMe").json()
        assert me["result"]["id"] == 42
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
