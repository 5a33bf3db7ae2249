"""What an admin does to members from the /admin panel (and, later, the REST API): look a
member up, adjust their besitos with a reason, set their role; and read the audit log.

Every action is authorized (`admins.is_admin`) and audited (`admins.audit`: who, what,
target, result, when), allowed or refused, once per request key. Its outcome is an event
(`admin.confirmed` or `admin.refused` to the admin; `admin.besitos_adjusted` to the member)
recorded before the audit row,
so a twin delivery racing on the same key fails on the event's key instead of writing a
second audit row. A besitos adjustment is a ledger entry with the key
`admin-adjust:<request key>`, not counted as earned (no level, no leaderboard).
Payloads carry ids, amounts and codes; the admin's free-text reason stays in the audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import AuditEntry, LedgerEntry, OutboxEvent, User
from services import admins, events, levels, users, wallet

MAX_REQUEST_KEY = 150
MAX_REASON = 200
MAX_ADJUSTMENT = 1_000_000
ROLES = ("member", "admin")
REFUSED = "admin.refused"  # to the actor: not an admin, or the request cannot be done
CONFIRMED = "admin.confirmed"  # to the actor: done
TOLD = "admin.besitos_adjusted"  # to the member whose besitos an admin adjusted


@dataclass(frozen=True)
class Outcome:
    result: str  # ok · not_admin · unknown_member · insufficient_funds · invalid
    events: list[events.Event] = field(default_factory=list)
    replayed: bool = False


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _language(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def _earlier(session: Session, request_key: str) -> Outcome | None:
    """The outcome of this request key if it was handled before (a redelivered task), with
    its events still unpublished."""
    for event_type in (CONFIRMED, REFUSED):
        row = session.get(OutboxEvent, f"{event_type}:{request_key}")
        if row is not None:
            ids = [f"{kind}:{request_key}" for kind in (CONFIRMED, REFUSED, TOLD)]
            return Outcome(str(row.payload.get("result", "ok")),
                           events.unpublished(session, ids), replayed=True)
    return None


def refuse(session: Session, actor_id: int, action: str, target: str | None, request_key: str,
           reason: str = "not_admin") -> Outcome:
    """Record a refused admin action (the actor is told, the attempt audited), once."""
    _check_key(request_key)
    earlier = _earlier(session, request_key)
    if earlier is not None:
        return earlier
    refused = events.record_once(session, f"{REFUSED}:{request_key}", REFUSED,
                                 {"user_id": actor_id, "action": action, "result": reason,
                                  "lang": _language(session, actor_id)})
    if refused is None:
        return _earlier(session, request_key)  # type: ignore[return-value]
    admins.audit(session, actor_id, action, target, reason, {"request_key": request_key})
    return Outcome(reason, [refused])


def adjust_besitos(session: Session, actor_id: int, user_id: int, amount: int, reason: str,
                   request_key: str) -> Outcome:
    """Credit (amount > 0) or debit (amount < 0) a member's besitos, with a reason."""
    _check_key(request_key)
    action = "member.adjust_besitos"
    earlier = _earlier(session, request_key)
    if earlier is not None:
        return earlier
    if not admins.is_admin(session, actor_id):
        return refuse(session, actor_id, action, str(user_id), request_key)
    reason = " ".join(reason.split())[:MAX_REASON]
    if amount == 0 or abs(amount) > MAX_ADJUSTMENT or not reason:
        return refuse(session, actor_id, action, str(user_id), request_key, "invalid")
    if session.get(User, user_id) is None:
        return refuse(session, actor_id, action, str(user_id), request_key, "unknown_member")
    if wallet.lock(session, user_id).balance + amount < 0:
        return refuse(session, actor_id, action, str(user_id), request_key,
                      "insufficient_funds")
    change = wallet.apply(session, user_id, amount, reason="admin-adjust",
                          key=f"admin-adjust:{request_key}", earned=False)
    confirmed = _confirm(session, actor_id, action, user_id, request_key,
                         amount=amount, balance=change.balance)
    if confirmed is None:
        return _earlier(session, request_key)  # type: ignore[return-value]
    told = events.record(session, f"{TOLD}:{request_key}", TOLD,
                         {"user_id": user_id, "amount": amount, "balance": change.balance,
                          "lang": _language(session, user_id)})
    admins.audit(session, actor_id, action, str(user_id), "ok",
                 {"amount": amount, "reason": reason, "balance": change.balance,
                  "request_key": request_key})
    return Outcome("ok", [confirmed, told])


def _confirm(session: Session, actor_id: int, action: str, user_id: int, request_key: str,
             **details: Any) -> events.Event | None:
    """The admin's confirmation, written at once (None: a twin delivery wrote it first)."""
    return events.record_once(session, f"{CONFIRMED}:{request_key}", CONFIRMED,
                              {"user_id": actor_id, "action": action, "member_id": user_id,
                               "result": "ok", "lang": _language(session, actor_id),
                               **details})


def set_role(session: Session, actor_id: int, user_id: int, role: str,
             request_key: str) -> Outcome:
    """Make a member an admin, or a member again."""
    _check_key(request_key)
    action = "member.set_role"
    earlier = _earlier(session, request_key)
    if earlier is not None:
        return earlier
    if not admins.is_admin(session, actor_id):
        return refuse(session, actor_id, action, str(user_id), request_key)
    user = session.get(User, user_id)
    if role not in ROLES:
        return refuse(session, actor_id, action, str(user_id), request_key, "invalid")
    if user is None:
        return refuse(session, actor_id, action, str(user_id), request_key, "unknown_member")
    before = user.role
    set_event = _confirm(session, actor_id, action, user_id, request_key, role=role)
    if set_event is None:
        return _earlier(session, request_key)  # type: ignore[return-value]
    user.role = role
    admins.audit(session, actor_id, action, str(user_id), "ok",
                 {"from": before, "to": role, "request_key": request_key})
    return Outcome("ok", [set_event])


# --- reads for the panel ------------------------------------------------------------------

@dataclass(frozen=True)
class MemberCard:
    user_id: int
    username: str | None
    language: str
    role: str
    vip_until: datetime | None
    reachable: bool
    balance: int
    lifetime: int
    level: int
    ledger: list[LedgerEntry]


def find(session: Session, query: str) -> User | None:
    """A member by Telegram id or @username (case-insensitive)."""
    query = query.strip()
    if query.lstrip("-").isdigit():
        return session.get(User, int(query))
    name = query.removeprefix("@").lower()
    if not name:
        return None
    return session.scalars(select(User).where(func.lower(User.username) == name)).first()


def card(session: Session, user: User, ledger_lines: int = 10) -> MemberCard:
    lifetime = levels.lifetime_earned(session, user.id)
    return MemberCard(user.id, user.username, user.language, user.role,
                      user.vip_until if users.is_vip(user) else None, user.reachable,
                      wallet.balance(session, user.id), lifetime,
                      levels.level_for(lifetime).level,
                      wallet.history(session, user.id, limit=ledger_lines))


def audit_log(session: Session, *, actor_id: int | None = None, target: str | None = None,
              limit: int = 20) -> list[AuditEntry]:
    """The latest audit rows, newest first; by the admin who acted and/or what they acted
    on (a member id matches their rows as actor or target)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if target is not None:
        condition: Any = AuditEntry.target == target
        if target.lstrip("-").isdigit():
            condition = or_(condition, AuditEntry.actor_id == int(target))
        query = query.where(condition)
    return list(session.scalars(query))

