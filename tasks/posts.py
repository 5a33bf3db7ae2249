"""🗓️ Scheduled posts: the admins' actions, the beat dispatcher and the publisher.

Workflows (bot/handlers/posts.py starts the admin ones)::

    /programar (a reply)   posts.create(admin, draft, key)       → post.scheduled | refused
    /editar_post           posts.edit(admin, post, when, zone, problem, key)
    🗑️ o:drop:<id>         posts.cancel(admin, post, key)
    /posts, o:list         posts.show_list(admin, key[, message to edit])
    👁️ o:view:<id>         posts.preview(admin, post, key)       → the post, in private
    beat `posts-dispatch`  posts.dispatch() → posts.publish(post, due) per due occurrence

`dispatch` claims due occurrences in the database (services/posts.py `claim_due`: one row
per post and due time, so two dispatchers never both get one) and starts `publish` for
each; `publish` sends through `tasks.telegram.deliver` with the key `post:<id>:<due>`, so a
redelivered or doubled task sends once. Telegram 5xx and network errors are retried with
backoff (YabotTask); a refusal (4xx, 403) or the last retry ends the occurrence `failed` and
the admin who created the post is told (`post.failed`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
from celery import Task
from celery.exceptions import MaxRetriesExceededError

from core.settings import get_settings
from models.db import read_session, unit_of_work
from models.tables import Delivery
from services import posts
from services.messages import posts as texts
from tasks.base import TelegramUnavailable, YabotTask
from tasks.events import publish_after_commit
from tasks.telegram import TelegramError, deliver
from worker.app import app

logger = logging.getLogger(__name__)


def _refused(actor_id: int, request_key: str, action: str, exc: posts.Refused,
             post_id: int | None = None, details: dict[str, Any] | None = None
             ) -> dict[str, Any]:
    with unit_of_work() as session:
        recorded = posts.refuse(session, actor_id=actor_id, request_key=request_key,
                                action=action, reason=exc.code, post_id=post_id or None,
                                details=details)
    publish_after_commit(recorded)
    return {"status": "refused", "reason": exc.code, "post_id": post_id}


# --- the admins' actions -------------------------------------------------------------------


@app.task(base=YabotTask, name="tasks.posts.create")
def create(actor_id: int, draft: dict[str, Any], request_key: str) -> dict[str, Any]:
    """Schedule a post (admins only; refusals are told and audited)."""
    parsed = posts.Draft.from_dict(draft if isinstance(draft, dict) else {})
    try:
        with unit_of_work() as session:
            done = posts.create(session, actor_id=actor_id, request_key=request_key,
                                draft=parsed)
    except posts.Refused as exc:
        return _refused(actor_id, request_key, "create", exc, details={
            "target": parsed.target[:8], "repeat": parsed.repeat[:8],
            "problem": parsed.problem})
    publish_after_commit(done.events)
    return done.as_dict()


@app.task(base=YabotTask, name="tasks.posts.edit")
def edit(actor_id: int, post_id: int, when: str, zone: str | None, problem: str | None,
         request_key: str) -> dict[str, Any]:
    """Move a scheduled post to another time (`when`, local, in `zone` or the post's)."""
    try:
        with unit_of_work() as session:
            done = posts.edit(session, actor_id=actor_id, post_id=post_id,
                              request_key=request_key, when=when or None, zone=zone,
                              problem=problem)
    except posts.Refused as exc:
        return _refused(actor_id, request_key, "edit", exc, post_id)
    publish_after_commit(done.events)
    return done.as_dict()


@app.task(base=YabotTask, name="tasks.posts.cancel")
def cancel(actor_id: int, post_id: int, request_key: str) -> dict[str, Any]:
    """Cancel a scheduled post."""
    try:
        with unit_of_work() as session:
            done = posts.cancel(session, actor_id=actor_id, post_id=post_id,
                                request_key=request_key)
    except posts.Refused as exc:
        return _refused(actor_id, request_key, "cancel", exc, post_id)
    publish_after_commit(done.events)
    return done.as_dict()


@app.task(base=YabotTask, name="tasks.posts.show_list", bind=True)
def show_list(self: Task, actor_id: int, request_key: str,
              message_id: int | None = None) -> dict[str, Any]:
    """Send the admin the scheduled posts (or edit `message_id`, the list they pressed)."""
    try:
        with unit_of_work() as session:
            listing = posts.listing(session, actor_id=actor_id, request_key=request_key)
    except posts.Refused as exc:
        return _refused(actor_id, request_key, "list", exc)
    publish_after_commit(listing.events)
    rendered = texts.list_view(listing.language, listing.posts)
    params = rendered.params(actor_id)
    method = "sendMessage"
    if message_id:
        params["message_id"] = message_id
        method = "editMessageText"
    deliver(self, f"posts:list:{request_key}", actor_id, method, params)
    return {"status": "listed", "count": len(listing.posts)}


@app.task(base=YabotTask, name="tasks.posts.preview", bind=True)
def preview(self: Task, actor_id: int, post_id: int, request_key: str) -> dict[str, Any]:
    """Send the admin, in private, exactly what will be published, under a line saying
    which post it is. A post Telegram refuses is reported (it would fail when due too)."""
    try:
        with unit_of_work() as session:
            shown = posts.preview(session, actor_id=actor_id, post_id=post_id,
                                  request_key=request_key)
    except posts.Refused as exc:
        return _refused(actor_id, request_key, "preview", exc, post_id)
    publish_after_commit(shown.events)
    head = texts.preview_head(shown.language, shown.view)
    deliver(self, f"posts:preview:{request_key}:head", actor_id, head.method,
            head.params(actor_id))
    try:
        deliver(self, f"posts:preview:{request_key}:post", actor_id, shown.method,
                shown.params)
    except TelegramError as exc:
        failed = texts.preview_failed(shown.language, post_id, exc.code)
        deliver(self, f"posts:preview:{request_key}:error", actor_id, failed.method,
                failed.params(actor_id))
        return {"status": "preview_refused", "post_id": post_id, "code": exc.code}
    return {"status": "previewed", "post_id": post_id}


# --- beat: dispatch and publish ------------------------------------------------------------


@app.task(base=YabotTask, name="tasks.posts.dispatch")
def dispatch() -> dict[str, int]:
    """Beat: claim the due occurrences (a bounded batch) and start one `publish` each.
    Safe to run twice or concurrently: an occurrence is claimed once (unique row)."""
    settings = get_settings()
    with read_session() as session:
        if not posts.has_due(session):
            return {"claimed": 0}
    with unit_of_work() as session:
        claims = posts.claim_due(session, batch=settings.posts_dispatch_batch)
    if claims:
        with app.producer_or_acquire() as producer:
            for claim in claims:
                publish.apply_async((claim.post_id, claim.due_at.isoformat()),
                                    producer=producer)
        logger.info("dispatched %d post occurrence(s)", len(claims))
    return {"claimed": len(claims)}


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, TelegramError):
        return f"telegram_{exc.code}"
    if isinstance(exc, TelegramUnavailable | httpx.TransportError):
        return "unavailable"
    if isinstance(exc, MaxRetriesExceededError):
        return "rate_limited"
    return type(exc).__name__[:40]


def _fail(post_id: int, due_at: datetime, code: str, detail: str = "",
          counted: bool = False) -> dict[str, Any]:
    with unit_of_work() as session:
        outcome = posts.mark_failed(session, post_id, due_at, code, detail, counted=counted)
    publish_after_commit(outcome.events)
    return {**outcome.as_dict(), "error": code}


class PublishTask(YabotTask):
    """A publish that failed for good (its last retry) ends its occurrence `failed` and tells
    the admin, besides the dead letter every task gets (an operator may replay it)."""

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        super().on_failure(exc, task_id, args, kwargs, einfo)
        values = list(args or []) + [None, None]
        post_id = (kwargs or {}).get("post_id", values[0])
        due = (kwargs or {}).get("due_at_iso", values[1])
        try:
            _fail(int(post_id), datetime.fromisoformat(str(due)), _error_code(exc),
                  str(exc)[:200], counted=True)  # the try was counted when it failed
        except Exception:
            logger.exception("could not mark post %s failed", post_id)


def _sent_message(result: Any, key: str) -> tuple[str, int | None]:
    """What a delivery ended in: ("sent", message id) or ("blocked" | "rejected", None)."""
    if isinstance(result, dict) and result.get("message_id") is not None:
        return "sent", int(result["message_id"])
    with read_session() as session:  # done before (redelivered), or blocked just now
        row = session.get(Delivery, key)
        if row is None:
            return "rejected", None
        return row.status, row.message_id


@app.task(base=PublishTask, name="tasks.posts.publish", bind=True)
def publish(self: Task, post_id: int, due_at_iso: str) -> dict[str, Any]:
    """Publish one occurrence of a post, once (delivery key `post:<id>:<due>`), keep its
    message id and register it for reaction rewards; retried with backoff on 5xx."""
    due_at = datetime.fromisoformat(due_at_iso).astimezone(UTC)
    with unit_of_work() as session:
        job = posts.start_attempt(session, post_id, due_at)
    if job is None:
        return {"status": "skipped", "post_id": post_id}
    try:
        result = deliver(self, job.key, job.chat_id, job.method, job.params)
    except TelegramError as exc:  # refused for good (4xx other than 429)
        return _fail(post_id, due_at, f"telegram_{exc.code}", exc.description[:200])
    except (TelegramUnavailable, httpx.TransportError) as exc:  # retried with backoff
        with unit_of_work() as session:
            posts.note_try_failed(session, post_id, due_at, _error_code(exc), str(exc)[:200])
        raise
    status, message_id = _sent_message(result, job.key)
    if status == "blocked":
        return _fail(post_id, due_at, "forbidden")
    if status != "sent":
        return _fail(post_id, due_at, "rejected")
    with unit_of_work() as session:
        outcome = posts.mark_sent(session, post_id, due_at, message_id)
    publish_after_commit(outcome.events)
    return {**outcome.as_dict(), "message_id": message_id}
