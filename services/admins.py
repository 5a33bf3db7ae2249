"""Who may act as an admin, decided in one place (auctions, posts, broadcasts, VIP).

An admin is a Telegram id listed in `ADMIN_IDS` (they need not have registered) or a
registered member whose role is `admin`. Every admin action checks `is_admin` and writes
its attempt, allowed or refused, to the audit log with `audit`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import AuditEntry, User


def is_admin(session: Session, user_id: int | None) -> bool:
    """True for a Telegram id in ADMIN_IDS or a member with the admin role."""
    if user_id is None:
        return False
    if user_id in get_settings().admin_ids:
        return True
    user = session.get(User, user_id)
    return user is not None and user.role == "admin"


def audit(session: Session, actor_id: int | None, action: str, target: str | None,
          result: str, details: dict[str, Any] | None = None) -> AuditEntry:
    """Add one audit-log row to the session's transaction (ids and codes, no names)."""
    entry = AuditEntry(actor_id=actor_id, action=action[:64],
                       target=None if target is None else target[:128], result=result[:32],
                       details=details or {})
    session.add(entry)
    session.flush()
    return entry
