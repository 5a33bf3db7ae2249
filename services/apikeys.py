"""REST API keys: created by an admin, stored hashed, with scopes.

A key reads `yb_<prefix>_<secret>`. The prefix (12 hex characters) finds the row; only the
SHA-256 of the whole key is stored, compared in constant time. The plaintext exists once:
in the return value of `create`. Scopes: "read" < "member" < "admin" (a scope implies the
ones below it). Creation and revocation are written to the audit log.

Callers pass the session of their unit of work (`verify` only reads; `mark_used` writes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models.tables import ApiKey, AuditEntry

SCOPES = ("read", "member", "admin")  # each implies the ones before it
_LEVEL = {scope: level for level, scope in enumerate(SCOPES)}
KEY_PREFIX = "yb"
PREFIX_BYTES = 6  # 12 hex characters
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)  # last_used_at is written at most this often
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


class ApiKeyError(ValueError):
    """An invalid request about API keys (unknown scope, empty name, unknown key)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """Validated, deduplicated, in canonical order."""
    wanted = {scope.strip().lower() for scope in scopes if scope.strip()}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ApiKeyError(f"unknown scope(s): {', '.join(sorted(unknown))}; "
                          f"use {', '.join(SCOPES)}")
    if not wanted:
        raise ApiKeyError("at least one scope is required")
    return [scope for scope in SCOPES if scope in wanted]


def has_scope(scopes: Iterable[str], required: str) -> bool:
    """True when one of `scopes` is `required` or implies it (admin > member > read)."""
    need = _LEVEL[required]
    return any(_LEVEL.get(scope, -1) >= need for scope in scopes)


def create(session: Session, name: str, scopes: Iterable[str],
           created_by: int | None = None) -> tuple[ApiKey, str]:
    """A new key; returns the row and the plaintext key (shown once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("a key needs a name of 1-100 characters")
    scope_list = normalize_scopes(scopes)
    prefix = secrets.token_hex(PREFIX_BYTES)
    plaintext = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    row = ApiKey(name=name, prefix=prefix, key_hash=hash_key(plaintext), scopes=scope_list,
                 created_by=created_by, created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    session.add(AuditEntry(actor_id=created_by, action="api_key.create",
                           target=f"api_key:{row.id}", result="ok",
                           details={"name": name, "scopes": scope_list, "prefix": prefix}))
    return row, plaintext


def _split(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != 2 * PREFIX_BYTES or any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def verify(session: Session, key: str) -> ApiKey | None:
    """The active key `key` is, or None (unknown, malformed, wrong secret or revoked)."""
    prefix = _split(key) if key and len(key) <= 200 else None
    row = None
    if prefix is not None:
        row = session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).one_or_none()
    expected = row.key_hash if row is not None else _DUMMY_HASH
    matches = hmac.compare_digest(hash_key(key or ""), expected)
    if row is None or not matches or row.revoked_at is not None:
        return None
    return row


def needs_touch(row: ApiKey, now: datetime | None = None) -> bool:
    if row.last_used_at is None:
        return True
    last = row.last_used_at
    return (now or datetime.now(UTC)) - last >= LAST_USED_RESOLUTION


def mark_used(session: Session, key_id: int, now: datetime | None = None) -> None:
    """Record use of a key (at most once per `LAST_USED_RESOLUTION`)."""
    now = now or datetime.now(UTC)
    session.execute(update(ApiKey).where(
        ApiKey.id == key_id,
        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION),
    ).values(last_used_at=now))


def revoke(session: Session, key_id: int, revoked_by: int | None = None) -> ApiKey:
    """Revoke a key (idempotent: revoking a revoked key keeps its first revocation time)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise ApiKeyError(f"no API key {key_id}")
    already = row.revoked_at is not None
    if not already:
        row.revoked_at = datetime.now(UTC)
    session.add(AuditEntry(actor_id=revoked_by, action="api_key.revoke",
                           target=f"api_key:{row.id}",
                           result="already_revoked" if already else "ok",
                           details={"name": row.name, "prefix": row.prefix}))
    return row


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
