"""Callback data: short, versionless verbs (`m:gift`), parsed defensively.

One prefix per feature, each routed to its handler module in bot/app.py:
`m:` menu · `s:`/`i:` store and inventory · `g:` missions, achievements, levels and the
leaderboard · `a:` auctions · `t:` trivia · `r:` reaction buttons under channel posts ·
`x:` recipes. Every datum is at most 64 bytes (Telegram's limit).

Anything that is not exactly one of the known actions (tampered, stale, oversized, not
text) parses to None and the member gets a polite answer and the menu.
"""

from __future__ import annotations

import re

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
