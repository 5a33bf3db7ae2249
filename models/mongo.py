"""MongoDB: per-member dynamic state and the content catalog.

One `MongoClient` per process, created lazily (pymongo is not fork-safe: workers call
`reset_client()` in `worker_process_init`). Every write is idempotent: documents are
created with `$setOnInsert` upserts, and counters move only once per event id
(`applied` keeps the last event ids a member's document has absorbed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo.collection import Collection
from pymongo.database import Database

from core.settings import get_settings

APPLIED_KEEP = 200
ACTIVITY_KEEP = 50

_client: pymongo.MongoClient[dict[str, Any]] | None = None

# Errors that mean "the store is unreachable right now": retry later, degrade reads.
UNAVAILABLE = (pymongo.errors.ConnectionFailure, pymongo.errors.ServerSelectionTimeoutError)


def client() -> pymongo.MongoClient[dict[str, Any]]:
    global _client
    if _client is None:
        settings = get_settings()
        timeout = settings.mongodb_timeout_ms
        _client = pymongo.MongoClient(
            settings.mongodb_uri.get_secret_value(),
            serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout,
            socketTimeoutMS=timeout * 5,
            tz_aware=True,
        )
    return _client


def reset_client() -> None:
    global _client
    if _client is not None:
        _client.close()
    _client = None


def db() -> Database[dict[str, Any]]:
    return client()[get_settings().mongodb_db]


def members() -> Collection[dict[str, Any]]:
    return db()["members"]


def catalog() -> Collection[dict[str, Any]]:
    return db()["catalog"]


def ensure_indexes() -> None:
    members().create_index([("story.position", pymongo.ASCENDING)])
    members().create_index([("last_active", pymongo.DESCENDING)])
    # the missions expiry job (services/missions.py expire_due) finds ended periods by this
    members().create_index([("missions_open.ends", pymongo.ASCENDING)])
    catalog().create_index([("kind", pymongo.ASCENDING), ("key", pymongo.ASCENDING)], unique=True)


def new_member_state(user_id: int, language: str) -> dict[str, Any]:
    """The document a member starts with (the `_id` is the Telegram user id)."""
    return {
        "_id": user_id,
        "language": language,
        "created_at": datetime.now(UTC),
        "story": {"position": "start", "step": 0, "path": [], "choices": {}},
        "flags": {},
        "counters": {},
        "missions": {},
        "achievements": {},
        "activity": [],
        "applied": [],
    }


def ensure_member(user_id: int, language: str) -> bool:
    """Create the member's state if missing. Returns True when it was created now."""
    result = members().update_one(
        {"_id": user_id}, {"$setOnInsert": new_member_state(user_id, language)}, upsert=True
    )
    return result.upserted_id is not None


def apply_once(user_id: int, event_id: str, update: dict[str, Any],
               language: str) -> tuple[bool, dict[str, Any]]:
    """Apply `update` to the member's state unless `event_id` was applied already.

    Creates the document if missing (with the defaults the update does not touch) and
    returns it as it is afterwards. Returns (applied_now, state). Two round trips on purpose:
    `find_one_and_update` is ~100x slower than `update_one` + `find_one` on SecantusDB
    (a collection scan; measured 85 ms vs 1.3 ms at 10,000 members).
    """
    update = {op: dict(fields) for op, fields in update.items()}
    update.setdefault("$push", {})["applied"] = {"$each": [event_id], "$slice": -APPLIED_KEEP}
    touched = {path.split(".", 1)[0] for fields in update.values() for path in fields}
    update["$setOnInsert"] = {key: value for key, value in
                              new_member_state(user_id, language).items()
                              if key != "_id" and key not in touched}
    try:
        members().update_one({"_id": user_id, "applied": {"$ne": event_id}}, update,
                             upsert=True)
        applied = True
    except pymongo.errors.DuplicateKeyError:  # the document exists and has the event
        applied = False
    return applied, members().find_one({"_id": user_id}) or {}


def activity_entry(kind: str, at: datetime | None = None, **data: Any) -> dict[str, Any]:
    return {"$each": [{"kind": kind, "at": at or datetime.now(UTC), **data}],
            "$slice": -ACTIVITY_KEEP}


def member_state(user_id: int) -> dict[str, Any] | None:
    return members().find_one({"_id": user_id})
