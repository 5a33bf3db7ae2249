"""Callback data of the /admin panel (`z:`): what we send parses back, the rest to None."""

from __future__ import annotations

from bot import callbacks


def test_admin_panel_data_parses_and_tampered_data_does_not() -> None:
    for view in callbacks.ADMIN_VIEWS:
        assert callbacks.parse_admin(f"z:{view}") == (view, None)
    assert callbacks.parse_admin("z:member:42") == ("member", 42)
    for raw in ("z:", "z:member:", "z:member:0", "z:member:-1", "z:panel\n", "z:root",
                "Z:panel", "z:member:1:2", None, 7, "z:" + "9" * 70):
        assert callbacks.parse_admin(raw) is None, raw
