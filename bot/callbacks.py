"""Callback data: short, versionless verbs (`m:gift`), parsed defensively.

One prefix per feature, each routed to its handler module in bot/app.py:
`m:` menu · `s:`/`i:` store and inventory · `g:` missions, achievements, levels and the
leaderboard · `a:` auctions · `t:` trivia · `r:` reaction buttons under channel posts ·
`x:` recipes · `p:`/`q:` the story (choices; story menu, backpack, checkpoints) · `v:` VIP ·
`o:` scheduled posts · `b:` broadcasts · `z:` the /admin panel. Every datum is at most 64
bytes (Telegram's limit).

Anything that is not exactly one of the known actions (tampered, stale, oversized, not
text) parses to None and the member gets a polite answer and the menu.
"""

from __future__ import annotations

import re
from typing import NamedTuple

MAX_BYTES = 64
MENU_ACTIONS = ("gift", "wallet", "help", "menu")
_PATTERN = re.compile(r"^m:(gift|wallet|help|menu)$")


def data(action: str) -> str:
    value = f"m:{action}"
    assert _PATTERN.match(value), action
    return value


def parse(raw: object) -> str | None:
    """The menu action named by `raw`, or None when it is not one we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _PATTERN.fullmatch(raw)
    return match.group(1) if match else None


# The store (`s:`) and the inventory (`i:`): `s:list`, `s:item:<id>`, `s:buy:<id>`,
# `i:list`, `i:use:<id>`. Item ids are content ids (`[a-z0-9-]{1,32}`), so the longest
# datum is 39 bytes. The bot routes data starting with STORE_PREFIX to the store handler.
STORE_PREFIX = r"^[si]:"
STORE_VERBS = ("store", "item", "buy", "inventory", "use")
_STORE_PATTERN = re.compile(
    r"^(?:(?P<list>s:list)|s:(?P<verb>item|buy):(?P<item>[a-z0-9-]{1,32})"
    r"|(?P<inv>i:list)|i:(?P<use>use):(?P<used>[a-z0-9-]{1,32}))$")


def store_data(verb: str, item_id: str | None = None) -> str:
    value = {"store": "s:list", "inventory": "i:list"}.get(verb) or \
        (f"i:use:{item_id}" if verb == "use" else f"s:{verb}:{item_id}")
    assert parse_store(value) == (verb, item_id), value
    return value


def parse_store(raw: object) -> tuple[str, str | None] | None:
    """(verb, item id or None) named by `raw`, or None when it is not one we sent.

    Verbs: store (list), item (show one), buy, inventory (list), use. Whether the item id
    is in the catalog is the handler's check.
    """
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _STORE_PATTERN.fullmatch(raw)  # `$` alone would let a trailing "\n" in
    if match is None:
        return None
    if match.group("list"):
        return ("store", None)
    if match.group("inv"):
        return ("inventory", None)
    if match.group("use"):
        return ("use", match.group("used"))
    return (match.group("verb"), match.group("item"))


# Auctions (`a:`): `a:list`, `a:show:<id>`, `a:bid:<id>:<amount>`, `a:buy:<id>`. Ids and
# amounts are positive integers without leading zeros, at most 18 digits (so the longest
# datum is 43 bytes). A bid carries its amount: a stale button bids what it says.
AUCTION_PREFIX = r"^a:"
AUCTION_VERBS = ("list", "show", "bid", "buy")
_NUMBER = r"[1-9][0-9]{0,17}"
_AUCTION_PATTERN = re.compile(
    rf"a:(?:(?P<list>list)|(?P<verb>show|buy):(?P<id>{_NUMBER})"
    rf"|bid:(?P<bid>{_NUMBER}):(?P<amount>{_NUMBER}))")


def auction_data(verb: str, auction_id: int | None = None, amount: int | None = None) -> str:
    value = {"list": "a:list", "bid": f"a:bid:{auction_id}:{amount}"}.get(verb) or \
        f"a:{verb}:{auction_id}"
    assert parse_auction(value) == (verb, auction_id, amount), value
    return value


def parse_auction(raw: object) -> tuple[str, int | None, int | None] | None:
    """(verb, auction id or None, amount or None) named by `raw`, or None when it is not
    one we sent. Whether the auction exists, and whether the amount is enough, is the
    worker's check (a refusal the member is told about)."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _AUCTION_PATTERN.fullmatch(raw)
    if match is None:
        return None
    if match.group("list"):
        return ("list", None, None)
    if match.group("bid"):
        return ("bid", int(match.group("bid")), int(match.group("amount")))
    return (match.group("verb"), int(match.group("id")), None)


# Reaction buttons under posts (`r:`): `r:<post ref>:<emoji index>`, built by
# services/reactions.py `reaction_keyboard`; a ref is 1-32 of [A-Za-z0-9_-], the index one
# digit, so the longest datum is 36 bytes.
REACTION_PREFIX = r"^r:"
_REACTION_PATTERN = re.compile(r"r:(?P<ref>[A-Za-z0-9_-]{1,32}):(?P<index>[0-9])")


def parse_reaction(raw: object) -> tuple[str, int] | None:
    """(post ref, emoji index) named by `raw`, or None when it is not one we sent. Whether
    the post is known is the reward task's check."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _REACTION_PATTERN.fullmatch(raw)
    return (match.group("ref"), int(match.group("index"))) if match else None


# Recipes (`x:`): `x:list`, `x:craft:<recipe id>` (content ids, `[a-z0-9-]{1,32}`: at most
# 40 bytes). Whether the recipe exists is the handler's check.
RECIPE_PREFIX = r"^x:"
_RECIPE_PATTERN = re.compile(r"x:(?:(?P<list>list)|craft:(?P<recipe>[a-z0-9-]{1,32}))")


def recipe_data(verb: str, recipe_id: str | None = None) -> str:
    value = "x:list" if verb == "list" else f"x:craft:{recipe_id}"
    assert parse_recipe(value) == (verb, recipe_id), value
    return value


def parse_recipe(raw: object) -> tuple[str, str | None] | None:
    """("list", None) or ("craft", recipe id) named by `raw`, or None when it is not one
    we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _RECIPE_PATTERN.fullmatch(raw)
    if match is None:
        return None
    return ("list", None) if match.group("list") else ("craft", match.group("recipe"))


# Trivia (`t:`): `t:play` (the next question), `t:top` (the leaderboard of every set) and
# `t:top:<set>` (one set's; set ids are `[a-z0-9-]{1,24}`, so at most 30 bytes). Whether
# the set exists is the handler's check.
TRIVIA_PREFIX = r"^t:"
_TRIVIA_PATTERN = re.compile(r"t:(?:(?P<play>play)|top(?::(?P<set>[a-z0-9-]{1,24}))?)")


def trivia_data(verb: str, question_set: str | None = None) -> str:
    value = "t:play" if verb == "play" else \
        ("t:top" if question_set is None else f"t:top:{question_set}")
    assert parse_trivia(value) == (verb, question_set), value
    return value


def parse_trivia(raw: object) -> tuple[str, str | None] | None:
    """("play", None), ("top", None) or ("top", set) named by `raw`, or None when it is not
    one we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _TRIVIA_PATTERN.fullmatch(raw)
    if match is None:
        return None
    return ("play", None) if match.group("play") else ("top", match.group("set"))


# Missions, achievements and the leaderboard (`g:`): `g:missions`, `g:achievements`,
# `g:top` — read-only views (the longest datum is 14 bytes).
PROGRESS_PREFIX = r"^g:"
PROGRESS_VIEWS = ("missions", "achievements", "top")
_PROGRESS_PATTERN = re.compile(r"g:(missions|achievements|top)")


def progress_data(view: str) -> str:
    value = f"g:{view}"
    assert parse_progress(value) == view, view
    return value


def parse_progress(raw: object) -> str | None:
    """The view named by `raw` (missions, achievements, top), or None when it is not one
    we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _PROGRESS_PATTERN.fullmatch(raw)
    return match.group(1) if match else None


# The story: choice buttons `p:<fragment>:<index>:<step>:<token>` and the story menu
# `q:view` · `q:backpack` · `q:checkpoints` · `q:restart:<fragment>:<step>:<token>` ·
# `q:combine:<fragment>:<step>:<token>`. Fragment ids are `[a-z0-9-]{1,40}`, steps at most
# 6 digits, tokens 8 URL-safe base64 characters (an HMAC: services/story.py), so the
# longest datum is 60 bytes. Whether the token is right is the handler's check.
STORY_PREFIX = r"^[pq]:"
_STORY_PATTERN = re.compile(
    r"p:(?P<fragment>[a-z0-9-]{1,40}):(?P<index>[0-7]):(?P<step>0|[1-9][0-9]{0,5})"
    r":(?P<token>[A-Za-z0-9_-]{8})"
    r"|q:(?P<view>view|backpack|checkpoints)"
    r"|q:(?P<verb>restart|combine):(?P<target>[a-z0-9-]{1,40}):(?P<vstep>0|[1-9][0-9]{0,5})"
    r":(?P<vtoken>[A-Za-z0-9_-]{8})")


class StoryPress(NamedTuple):
    """A story button: verb (choose, view, backpack, checkpoints, restart, combine) and, for
    the verbs that move the member, the fragment, choice index, step and token."""

    verb: str
    fragment: str = ""
    index: int = 0
    step: int = 0
    token: str = ""


def parse_story(raw: object) -> StoryPress | None:
    """The story action named by `raw`, or None when it is not one we could have sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _STORY_PATTERN.fullmatch(raw)
    if match is None:
        return None
    if match.group("fragment"):
        return StoryPress("choose", match.group("fragment"), int(match.group("index")),
                          int(match.group("step")), match.group("token"))
    if match.group("view"):
        return StoryPress(match.group("view"))
    return StoryPress(match.group("verb"), match.group("target"), 0, int(match.group("vstep")),
                      match.group("vtoken"))


# The /admin panel (`z:`): `z:<view>` (panel, members, status, audit, reload, vip, posts,
# broadcasts) or `z:member:<id>`; at most 30 bytes. Whether the presser is an admin is
# the handler's check (every refusal audited).
ADMIN_PREFIX = r"^z:"
ADMIN_VIEWS = ("panel", "members", "status", "audit", "reload", "vip", "posts", "broadcasts")
_ADMIN_PATTERN = re.compile(rf"z:(?:(?P<view>{'|'.join(ADMIN_VIEWS)})|member:(?P<id>{_NUMBER}))")


def parse_admin(raw: object) -> tuple[str, int | None] | None:
    """(view, member id or None) named by `raw`, or None when it is not one we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _ADMIN_PATTERN.fullmatch(raw)
    if match is None:
        return None
    if match.group("view"):
        return (match.group("view"), None)
    return ("member", int(match.group("id")))


# 📣 Broadcasts (`b:`): `b:pause:<id>`, `b:resume:<id>`, `b:cancel:<id>` on the admin's
# progress message (built by services/messages/broadcasts.py; at most 26 bytes). Whether the
# presser is an admin, and whether the broadcast is in a state for it, is the worker's check.
BROADCAST_PREFIX = r"^b:"
BROADCAST_ACTIONS = ("pause", "resume", "cancel")
_BROADCAST_PATTERN = re.compile(rf"b:(?P<verb>pause|resume|cancel):(?P<id>{_NUMBER})")


def broadcast_data(verb: str, broadcast_id: int) -> str:
    value = f"b:{verb}:{broadcast_id}"
    assert parse_broadcast(value) == (verb, broadcast_id), value
    return value


def parse_broadcast(raw: object) -> tuple[str, int] | None:
    """(pause | resume | cancel, broadcast id) named by `raw`, or None when it is not one
    we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _BROADCAST_PATTERN.fullmatch(raw)
    return (match.group("verb"), int(match.group("id"))) if match else None


# 👑 VIP access (`v:`): `v:status` (the /vip view) and `v:link` (a single-use invite link
# to the VIP channel, sent privately; at most 8 bytes). Whether the member may have a link
# is the worker's check.
VIP_PREFIX = r"^v:"
VIP_ACTIONS = ("status", "link")
_VIP_PATTERN = re.compile(r"v:(status|link)")


def vip_data(action: str) -> str:
    value = f"v:{action}"
    assert parse_vip(value) == action, action
    return value


def parse_vip(raw: object) -> str | None:
    """The VIP action named by `raw` (status, link), or None when it is not one we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _VIP_PATTERN.fullmatch(raw)
    return match.group(1) if match else None


# 🗓️ Scheduled posts (`o:`): `o:list`, `o:view:<id>` (a preview in private), `o:cancel:<id>`
# (asks to confirm) and `o:drop:<id>` (cancels); at most 25 bytes. Whether the presser is an
# admin, and whether the post can still be cancelled, is the worker's check.
POST_PREFIX = r"^o:"
POST_VERBS = ("list", "view", "cancel", "drop")
_POST_PATTERN = re.compile(rf"o:(?:(?P<list>list)|(?P<verb>view|cancel|drop):(?P<id>{_NUMBER}))")


def post_data(verb: str, post_id: int | None = None) -> str:
    value = "o:list" if verb == "list" else f"o:{verb}:{post_id}"
    assert parse_post(value) == (verb, post_id), value
    return value


def parse_post(raw: object) -> tuple[str, int | None] | None:
    """(verb, post id or None) named by `raw`, or None when it is not one we sent."""
    if not isinstance(raw, str) or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        return None
    match = _POST_PATTERN.fullmatch(raw)
    if match is None:
        return None
    if match.group("list"):
        return ("list", None)
    return (match.group("verb"), int(match.group("id")))
