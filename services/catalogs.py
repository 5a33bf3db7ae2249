"""Reloading the catalogs (`content/*.yaml`) while the system runs: the admins' `/recargar`,
the operator's `python -m tasks.content reload`, and `make run` at start.

`apply` is the one path: every catalog is read fresh from its file with every cross-check,
and only if all of them are valid are they written to MongoDB's `catalog` collection, used
in this process, and the limited items without a stock row get one (`store.sync_stock`:
existing stock is never refilled). A broken file changes nothing: `content.CatalogError`
names the file and the problem, and the catalogs in use stay in use.

`reload` adds who may ask and what is kept of it: an admin (or the console, which needs no
check), one audit row per attempt (`content.reload`: ok, invalid or not_admin), and one
event per request key that tells the admin the result. The other processes learn of a
reload from the generation counter in Redis (tasks/content.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from models.tables import OutboxEvent, User
from services import admins, content, events, store

logger = logging.getLogger(__name__)

ACTION = "content.reload"
RELOADED = "content.reloaded"
FAILED = "content.reload_failed"
REFUSED = "content.reload_refused"
RESULTS = {RELOADED: "ok", FAILED: "invalid", REFUSED: "not_admin"}
ERROR_MAX = 300  # characters of the problem kept in the event and the audit row
MAX_REQUEST_KEY = 150


@dataclass(frozen=True)
class Applied:
    counts: dict[str, int]  # entries per catalog
    stock_added: int  # limited items that got their stock row now
    stored: int | None  # entries written to MongoDB; None: unreachable (when not required)


def apply(session: Session, *, directory: Path | None = None,
          require_store: bool = True) -> Applied:
    """Load every catalog fresh; if all are valid, store and use them (see the module
    docstring). Raises content.CatalogError (nothing changed) or, with `require_store`, a
    MongoDB outage (the caller retries). The stock rows are added to `session`."""
    fresh = content.load_all(directory)
    stored: int | None
    try:
        stored = content.sync_to_store(fresh)
    except mongo.UNAVAILABLE:
        if require_store:
            raise
        logger.warning("MongoDB unreachable: the catalog collection was not updated")
        stored = None
    content.install(fresh)
    stock_added = store.sync_stock(session)
    return Applied({name: content.size(name, entries) for name, entries in fresh.items()},
                   stock_added, stored)


@dataclass(frozen=True)
class Outcome:
    result: str  # ok | invalid | not_admin
    counts: dict[str, int] = field(default_factory=dict)
    stock_added: int = 0
    error: str | None = None
    events: list[events.Event] = field(default_factory=list)
    replayed: bool = False  # this request key was handled before

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.result, "counts": self.counts, "stock_added": self.stock_added,
                "error": self.error, "replayed": self.replayed}


def _language(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def _earlier(session: Session, request_key: str) -> Outcome | None:
    """The outcome of this request key if it was handled before (a redelivered task)."""
    for event_type, result in RESULTS.items():
        row = session.get(OutboxEvent, f"{event_type}:{request_key}")
        if row is not None:
            payload = row.payload
            return Outcome(result, dict(payload.get("counts") or {}),
                           int(payload.get("stock_added") or 0), payload.get("error"),
                           events.unpublished(session, [row.id]), replayed=True)
    return None


def _tell(session: Session, event_type: str, actor_id: int | None, request_key: str,
          payload: dict[str, Any]) -> events.Event | None:
    """The outcome's event, written at once (the admin is told, the console is not); None
    when a twin delivery recorded it first. Written before the audit row, so a twin racing
    on PostgreSQL fails on the event's key (and retries) instead of adding a second row."""
    payload = {**payload, "lang": _language(session, actor_id)}
    if actor_id is not None:
        payload["user_id"] = actor_id
    return events.record_once(session, f"{event_type}:{request_key}", event_type, payload)


def reload(session: Session, actor_id: int | None, request_key: str, *,
           console: bool = False, directory: Path | None = None) -> Outcome:
    """An admin's reload (or the console's, `console=True`: no admin check), once per
    request key: authorize, `apply`, and record the audit row and the outcome's event in
    `session`'s transaction. A refusal or an invalid catalog is an outcome, not an error;
    a MongoDB outage raises (nothing recorded: the caller retries)."""
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")
    earlier = _earlier(session, request_key)
    if earlier is not None:
        return earlier
    via = "console" if console else "bot"
    if not console and not admins.is_admin(session, actor_id):
        refused = _tell(session, REFUSED, actor_id, request_key, {})
        if refused is None:
            return _earlier(session, request_key)  # type: ignore[return-value]
        admins.audit(session, actor_id, ACTION, None, "not_admin",
                     {"via": via, "request_key": request_key})
        return Outcome("not_admin", events=[refused])
    try:
        applied = apply(session, directory=directory)
    except content.CatalogError as exc:
        error = str(exc)[:ERROR_MAX]
        failed = _tell(session, FAILED, actor_id, request_key, {"error": error})
        if failed is None:
            return _earlier(session, request_key)  # type: ignore[return-value]
        admins.audit(session, actor_id, ACTION, exc.file, "invalid",
                     {"error": error, "via": via, "request_key": request_key})
        return Outcome("invalid", error=error, events=[failed])
    reloaded = _tell(session, RELOADED, actor_id, request_key,
                     {"counts": applied.counts, "stock_added": applied.stock_added})
    if reloaded is None:
        return _earlier(session, request_key)  # type: ignore[return-value]
    admins.audit(session, actor_id, ACTION, "catalogs", "ok",
                 {"counts": applied.counts, "stock_added": applied.stock_added,
                  "stored": applied.stored, "via": via, "request_key": request_key})
    return Outcome("ok", applied.counts, applied.stock_added, events=[reloaded])
