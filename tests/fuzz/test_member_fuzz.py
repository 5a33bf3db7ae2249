"""Fuzz the running bot end to end: the real bot and a real worker, the stand-in as Telegram.

Hypothesis generates what members may send — random unicode texts up to Telegram's 4096
characters, every command with junk arguments (`/ajustar x y`, `/canjear` with garbage,
`/start` with deep-link payloads; admin commands from a member and from an admin), random
callback data (≤ 64 bytes) and near-valid data built from the real prefixes of
bot/callbacks.py with corrupted fields (story choices with wrong tokens, …) pressed on a real
bot message, and odd updates (photos, stickers, messages without text, edited messages,
group messages, callback queries without a message or without data, reactions, votes on
unknown polls, a member blocking the bot). Then:

- every callback query gets its answerCallbackQuery (checked for each press as it happens);
- nothing the members receive carries a traceback, an exception name, `Error:` or a Python
  repr (unless the member typed it and the bot quotes it);
- the bot's and the worker's logs have no traceback and no handler error;
- the bot still answers: a member's /start gets the menu.

Shrinking is off (every example drives real processes; a failure prints its example).
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bot import callbacks
from bot.handlers import admin, posts, vip
from models.db import unit_of_work
from models.tables import User
from services import content
from tests.support import start_in_bot

MAX_EXAMPLES = int(os.environ.get("YABOT_FUZZ_EXAMPLES", "150"))  # more to hunt longer
POOL = 16  # members pressing and writing (the worker sends ≤ 1 message/s to each chat)
ADMINS = 3  # the first ADMINS members of the pool are admins
GROUP = -1_009_770_000_001  # a group the members write in
_BASE = 7_000_000_000 + (time.time_ns() // 1000 % 10_000_000) * 100

FORBIDDEN = [re.compile(p) for p in (
    r"Traceback", r"Exception", r"Error:", r"object at 0x[0-9a-fA-F]+", r"<class '",
    r"\bNoneType\b", r"\{'[A-Za-z_]+': ", r"\b(?:None|True|False)\b", r"File \"/")]

COMMANDS = sorted({
    "start", "help", "subasta", "trivia", "historia", "story", "difundir", "broadcast",
    *admin.RELOAD_COMMANDS, *admin.PANEL_COMMANDS, *admin.MEMBER_COMMANDS,
    *admin.ADJUST_COMMANDS, *admin.ROLE_COMMANDS, *admin.AUDIT_COMMANDS,
    *vip.STATUS_COMMANDS, *vip.REDEEM_COMMANDS, *vip.GRANT_COMMANDS, *vip.REVOKE_COMMANDS,
    *vip.CODES_COMMANDS, *posts.SCHEDULE_COMMANDS, *posts.LIST_COMMANDS,
    *posts.EDIT_COMMANDS, "nocommand", "START", "a"})
# What the admin of the pool may run with junk: no reload, broadcast, post or trivia (those
# act on everyone, and other test modules share this database and stand-in).
ADMIN_COMMANDS = sorted({*admin.PANEL_COMMANDS, *admin.MEMBER_COMMANDS,
                         *admin.ADJUST_COMMANDS, *admin.ROLE_COMMANDS, *admin.AUDIT_COMMANDS,
                         *vip.GRANT_COMMANDS, *vip.REVOKE_COMMANDS, *posts.LIST_COMMANDS,
                         *posts.EDIT_COMMANDS, "subasta", "canjear", "vip"})

UNICODE = st.characters(codec="utf-8")
JUNK_WORDS = st.sampled_from([
    "x", "y", "+", "-", "+-5", "0", "-0", "007", "1e9", "NaN", "inf", "∞", "@", "@nadie",
    "días", "10d", "2026-13-45", "25:99", "🙂", "\u200b", "\u202e", "''", '"', "\\", "%s",
    "{0}", "<b>", "</i>", "&amp;", "`", "*", "_", "[a](b)", "ABCD-EFGH", "rosa-roja",
    "admin", "member", "read", "9" * 30, "-" * 5, ":", "::", "\t"])
JUNK_ARG = st.one_of(
    JUNK_WORDS, st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.text(UNICODE, min_size=1, max_size=24))
SPACES = st.sampled_from([" ", "  ", "\n", " \t "])


@st.composite
def command_text(draw: st.DrawFn, names: list[str]) -> str:
    name = draw(st.sampled_from(names))
    suffix = draw(st.sampled_from(["", "", "", "@yabot_bot", "@otro_bot"]))
    args = draw(st.lists(JUNK_ARG, max_size=6))
    text = f"/{name}{suffix}" + "".join(draw(SPACES) + arg for arg in args)
    return text[:4096]


DEEP_LINK = st.text(st.sampled_from(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-=+/%"),
    min_size=1, max_size=64).map(lambda p: f"/start {p}")
LONG_TEXT = st.builds(lambda piece, n: (piece * n)[:4096],
                      st.text(UNICODE, min_size=1, max_size=8), st.integers(400, 4096))
TEXTS = st.one_of(st.text(UNICODE, min_size=1, max_size=200), LONG_TEXT, DEEP_LINK,
                  command_text(COMMANDS))

# --- callback data ---------------------------------------------------------------------
FRAGMENTS = sorted(content.story().fragments)
TOKEN = st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789_-"), min_size=8, max_size=8)
ID_FIELD = st.one_of(st.integers(0, 10**19).map(str), st.sampled_from(["", "-1", "01", "x"]))
ITEM_FIELD = st.one_of(st.sampled_from(sorted(e.id for e in content.items())),
                       st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"),
                               min_size=0, max_size=40))
FRAGMENT_FIELD = st.one_of(st.sampled_from(FRAGMENTS),
                           st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-"),
                                   min_size=0, max_size=44))
EXACT = [callbacks.data(a) for a in callbacks.MENU_ACTIONS] + [
    "s:list", "i:list", "a:list", "x:list", "t:play", "t:top", "g:missions",
    "g:achievements", "g:top", "q:view", "q:backpack", "q:checkpoints", "v:status", "v:link",
    "o:list", "z:panel", "z:members", "z:status", "z:audit", "z:vip", "z:posts",
    "z:broadcasts"]
NEAR_VALID = st.one_of(
    st.builds(lambda f, i, s, t: f"p:{f}:{i}:{s}:{t}", FRAGMENT_FIELD, st.integers(0, 9),
              st.integers(0, 1_000_001), TOKEN),
    st.builds(lambda v, f, s, t: f"q:{v}:{f}:{s}:{t}", st.sampled_from(["restart", "combine"]),
              FRAGMENT_FIELD, st.integers(0, 1_000_001), TOKEN),
    st.builds(lambda v, i: f"s:{v}:{i}", st.sampled_from(["item", "buy"]), ITEM_FIELD),
    st.builds(lambda i: f"i:use:{i}", ITEM_FIELD),
    st.builds(lambda i: f"x:craft:{i}", ITEM_FIELD),
    st.builds(lambda i: f"t:top:{i}", ITEM_FIELD),
    st.builds(lambda v, i: f"a:{v}:{i}", st.sampled_from(["show", "buy"]), ID_FIELD),
    st.builds(lambda i, n: f"a:bid:{i}:{n}", ID_FIELD, ID_FIELD),
    st.builds(lambda r, i: f"r:{r}:{i}", st.text(st.sampled_from("AZaz09_-"), max_size=34),
              st.integers(0, 12)),
    st.builds(lambda i: f"z:member:{i}", ID_FIELD),
    st.builds(lambda v, i: f"b:{v}:{i}", st.sampled_from(["pause", "resume", "cancel"]),
              ID_FIELD),
    st.builds(lambda v, i: f"o:{v}:{i}", st.sampled_from(["view", "cancel", "drop"]),
              ID_FIELD),
    st.sampled_from(EXACT),
)


@st.composite
def corrupted(draw: st.DrawFn) -> str:
    value = draw(NEAR_VALID)
    how = draw(st.sampled_from(["keep", "keep", "flip", "cut", "insert", "suffix", "upper"]))
    if value and how != "keep":
        at = draw(st.integers(0, len(value) - 1))
        if how == "flip":
            value = value[:at] + draw(UNICODE) + value[at + 1:]
        elif how == "cut":
            value = value[:at] + value[at + 1:]
        elif how == "insert":
            value = value[:at] + draw(st.sampled_from([":", "\n", " ", "0", "é"])) + value[at:]
        elif how == "suffix":
            value += draw(st.sampled_from(["\n", ":", ":0", " ", "\x00"]))
        else:
            value = value.upper()
    return value


def fit_64(value: str) -> str:
    """Cut to Telegram's 64 bytes (on a character boundary); never empty."""
    raw = value.encode("utf-8")[:callbacks.MAX_BYTES]
    return raw.decode("utf-8", "ignore") or "?"


CALLBACK_DATA = st.one_of(corrupted(), st.text(UNICODE, min_size=1, max_size=64)).map(fit_64)

# --- odd updates (raw Update objects, checked by the stand-in against the Bot API spec) ---
_message_ids = iter(range(500_000, 10**9))


def _user(uid: int) -> dict[str, Any]:
    return {"id": uid, "is_bot": False, "first_name": "Fuzz", "language_code": "es"}


def _private(uid: int) -> dict[str, Any]:
    return {"id": uid, "type": "private", "first_name": "Fuzz"}


def _message(uid: int, chat: dict[str, Any] | None = None, **content_: Any) -> dict[str, Any]:
    return {"message_id": next(_message_ids), "from": _user(uid), "chat": chat or _private(uid),
            "date": int(time.time()), **content_}


def _file(kind: str) -> dict[str, Any]:
    n = next(_message_ids)
    return {"file_id": f"fuzz-{kind}-{n}", "file_unique_id": f"u{n}"}


ODD_KINDS = ("photo", "sticker", "location", "contact", "dice", "caption_command",
             "edited", "group_text", "group_command", "inline_callback", "no_data_callback",
             "inaccessible_callback", "reaction", "poll_vote", "blocked")


def odd_update(kind: str, uid: int, text: str, menu_id: int) -> dict[str, Any]:
    group = {"id": GROUP, "type": "group", "title": "Fuzz group"}
    if kind == "photo":
        return {"message": _message(uid, photo=[{**_file("photo"), "width": 90, "height": 90}],
                                    caption=text[:1024])}
    if kind == "sticker":
        return {"message": _message(uid, sticker={**_file("sticker"), "type": "regular",
                                                  "width": 512, "height": 512,
                                                  "is_animated": False, "is_video": False})}
    if kind == "location":
        return {"message": _message(uid, location={"latitude": 40.4, "longitude": -3.7})}
    if kind == "contact":
        return {"message": _message(uid, contact={"phone_number": "+34600000000",
                                                  "first_name": text[:64] or "x"})}
    if kind == "dice":
        return {"message": _message(uid, dice={"emoji": "🎲", "value": 3})}
    if kind == "caption_command":
        return {"message": _message(uid, photo=[{**_file("photo"), "width": 9, "height": 9}],
                                    caption="/start", caption_entities=[
                                        {"type": "bot_command", "offset": 0, "length": 6}])}
    if kind == "edited":
        return {"edited_message": {**_message(uid, text="/start"),
                                   "edit_date": int(time.time())}}
    if kind == "group_text":
        return {"message": _message(uid, group, text=text)}
    if kind == "group_command":
        command = text if text.startswith("/") else "/start"
        name = re.match(r"/[A-Za-z0-9_@]*", command)
        entities = [{"type": "bot_command", "offset": 0,
                     "length": len(name.group(0).encode("utf-16-le")) // 2}] \
            if name and len(name.group(0)) > 1 else []
        return {"message": _message(uid, group, text=command,
                                    **({"entities": entities} if entities else {}))}
    query_id = str(next(_message_ids) + 8_000_000_000)
    if kind == "inline_callback":
        return {"callback_query": {"id": query_id, "from": _user(uid), "chat_instance": "1",
                                   "inline_message_id": f"fuzz{query_id}", "data": "m:menu"}}
    if kind == "no_data_callback":
        return {"callback_query": {"id": query_id, "from": _user(uid), "chat_instance": "1",
                                   "message": _message(uid, text="x"),
                                   "game_short_name": "fuzz"}}
    if kind == "inaccessible_callback":
        return {"callback_query": {"id": query_id, "from": _user(uid), "chat_instance": "1",
                                   "message": {"chat": _private(uid), "message_id": menu_id,
                                               "date": 0},
                                   "data": "g:missions"}}
    if kind == "reaction":
        return {"message_reaction": {"chat": _private(uid), "message_id": menu_id,
                                     "user": _user(uid), "date": int(time.time()),
                                     "old_reaction": [],
                                     "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}
    if kind == "blocked":
        bot_user = {"id": 1, "is_bot": True, "first_name": "YABOT"}
        return {"my_chat_member": {"chat": _private(uid), "from": _user(uid),
                                   "date": int(time.time()),
                                   "old_chat_member": {"status": "member", "user": bot_user},
                                   "new_chat_member": {"status": "kicked", "user": bot_user,
                                                       "until_date": 0}}}
    raise AssertionError(kind)


_TEXT = st.tuples(st.just("text"), st.integers(0, POOL - 1), TEXTS)
_PRESS = st.tuples(st.just("press"), st.integers(0, POOL - 1), CALLBACK_DATA)
_ODD = st.tuples(st.just("odd"), st.integers(0, POOL - 1),
                 st.tuples(st.sampled_from(ODD_KINDS), st.text(UNICODE, min_size=1, max_size=80)))
_ADMIN = st.tuples(st.just("admin"), st.integers(0, ADMINS - 1), command_text(ADMIN_COMMANDS))
# Weighted by repetition: 3 texts, 3 presses, 3 odd updates and 1 admin command in 10
# (the worker sends at most 1 message/s to the admin's chat).
_BY_NAME = {"text": _TEXT, "press": _PRESS, "odd": _ODD, "admin": _ADMIN}
ACTIONS = st.sampled_from(["text", "press", "odd"] * 3 + ["admin"]).flatmap(
    lambda name: _BY_NAME[name])


# --- the test ----------------------------------------------------------------------------
def _texts(record: dict[str, Any]) -> list[str]:
    """Every text a member can read in a recorded call: text, caption, poll, buttons,
    the callback answer's notice."""
    params = record.get("params") or {}
    found = [str(params.get(k)) for k in ("text", "caption", "question", "explanation")
             if params.get(k)]
    found += [str(o.get("text", o)) if isinstance(o, dict) else str(o)
              for o in params.get("options") or []]
    markup = params.get("reply_markup") or {}
    if isinstance(markup, dict):
        found += [str(b.get("text", "")) for row in markup.get("inline_keyboard", [])
                  for b in row]
        found += [str(b.get("text", b)) if isinstance(b, dict) else str(b)
                  for row in markup.get("keyboard", []) for b in row]
    return found


@pytest.fixture(scope="module")
def pool(bot, worker, standin) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """POOL members registered through the bot, each with its welcome menu; the first
    ADMINS of them admins."""
    members = [_BASE + i for i in range(POOL)]
    menus = {uid: start_in_bot(standin, uid, f"Fuzz{i}")["result"]["message_id"]
             for i, uid in enumerate(members)}
    with unit_of_work() as session:
        for uid in members[:ADMINS]:
            session.get(User, uid).role = "admin"  # type: ignore[union-attr]
    return {"members": members, "menus": menus}


def test_members_sending_anything_never_break_the_bot(bot, worker, standin,  # type: ignore[no-untyped-def]
                                                      pool) -> None:
    started = time.monotonic()
    bot_mark, worker_mark = len(bot.log()), len(worker.log())
    record_mark = standin.mark()
    members: list[int] = pool["members"]
    menus: dict[int, int] = pool["menus"]
    typed: dict[int, list[str]] = {uid: [] for uid in [*members, GROUP]}
    pressed: list[tuple[str, str]] = []
    kinds: dict[str, int] = {}
    deferred: list[tuple[str, str]] = []  # reaction buttons: toasts come from the worker

    def answered(query_id: str, data: str) -> None:
        if callbacks.parse_reaction(data) is not None:
            deferred.append((query_id, data))  # the worker answers it: checked at the end
            return
        try:
            standin.wait_for(lambda r: str(r["params"].get("callback_query_id")) == query_id,
                             timeout=15, method="answerCallbackQuery", since=record_mark)
        except TimeoutError:
            pytest.fail(f"callback {data!r} (query {query_id}) got no answerCallbackQuery")

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(ACTIONS)
    def act(action: tuple[str, int, Any]) -> None:
        what, index, payload = action
        uid = members[index]
        kinds[what] = kinds.get(what, 0) + 1
        if what in ("text", "admin"):
            typed[uid].append(payload)
            standin.inject_message(uid, payload)
        elif what == "press":
            typed[uid].append(payload)
            update = standin.press(uid, payload, menus[uid], force=True)
            query_id = update["callback_query"]["id"]
            pressed.append((query_id, payload))
            answered(query_id, payload)
        else:
            kind, text = payload
            kinds[kind] = kinds.get(kind, 0) + 1
            typed[uid].append(text)
            typed[GROUP].append(text)
            update = standin.answer_poll(uid, f"fuzz-{text[:20]}", [0], force=True) \
                if kind == "poll_vote" else \
                standin.inject_update(odd_update(kind, uid, text, menus[uid]))
            if "callback_query" in update:
                query_id = update["callback_query"]["id"]
                pressed.append((query_id, kind))
                answered(query_id, kind)

    act()
    fuzz_seconds = time.monotonic() - started

    # Quiet: no update pending and no new call for the pool's chats for 3 s.
    chats = {*members, GROUP}
    deadline, last, quiet_since = time.monotonic() + 60, -1, time.monotonic()
    while time.monotonic() < deadline:
        records = [r for r in standin.sent(since=record_mark) if r["chat_id"] in chats]
        count = len(records)
        if count != last or standin.stats()["pending_updates"]:
            last, quiet_since = count, time.monotonic()
        elif time.monotonic() - quiet_since > 3:
            break
        time.sleep(0.3)

    # The reaction toasts (tasks.reactions.toast) answer late when the fuzz has queued a
    # backlog of sends ahead of them, but they answer.
    def unanswered() -> list[tuple[str, str]]:
        done = {str(r["params"].get("callback_query_id"))
                for r in standin.sent(method="answerCallbackQuery", since=record_mark)}
        return [(q, d) for q, d in deferred if q not in done]

    wait_until_answered = time.monotonic() + 60
    while unanswered() and time.monotonic() < wait_until_answered:
        time.sleep(0.5)
    assert not unanswered(), f"reaction presses never answered: {unanswered()}"

    problems, seen = [], 0
    for record in standin.sent(since=record_mark):
        chat = record["chat_id"]
        if chat not in chats and not (record["method"] == "answerCallbackQuery"):
            continue
        inputs = "\n".join(typed.get(chat, [])) if chat in typed else \
            "\n".join(t for ts in typed.values() for t in ts)
        for text in _texts(record):
            seen += 1
            for pattern in FORBIDDEN:
                hit = pattern.search(text)
                if hit and hit.group(0) not in inputs:
                    problems.append((record["method"], chat, hit.group(0), text[:300]))
    assert not problems, problems
    assert seen > MAX_EXAMPLES // 2, f"only {seen} texts reached the members"

    new_bot_log, new_worker_log = bot.log()[bot_mark:], worker.log()[worker_mark:]
    assert "Traceback" not in new_bot_log, new_bot_log[new_bot_log.find("Traceback") - 2000:][:6000]
    assert "handler error" not in new_bot_log
    assert "Traceback" not in new_worker_log, \
        new_worker_log[new_worker_log.find("Traceback") - 2000:][:6000]
    assert pressed and all(k in kinds for k in ("text", "press", "odd")), kinds

    # Still answering: a member's /start gets the menu.
    after = start_in_bot(standin, members[-1], "Fuzz")
    assert after["params"]["reply_markup"]["inline_keyboard"]
    print(f"\nmember fuzz: {MAX_EXAMPLES} examples in {fuzz_seconds:.1f} s, {kinds}, "
          f"{len(pressed)} callback queries answered, {seen} texts checked")
