"""Callback data: short, versionless verbs (`m:gift`), parsed defensively.

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
    match = _PATTERN.match(raw)
    return match.group(1) if match else None
