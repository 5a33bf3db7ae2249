"""🗓️ Scheduled posts over the API (admins): list, read, create, reschedule, cancel.

Reads use the service's tables and views (scope only, like the other admin reads). Actions
start the tasks the bot starts — `tasks.posts.create` (`/programar`), `tasks.posts.edit`
(`/editar_post`), `tasks.posts.cancel` (🗑️) — once per `Idempotency-Key`, as the admin who
created the key: the service checks that admin again and audits every attempt, and the
admin is told in Telegram (`post.scheduled`, `post.rescheduled`, `post.cancelled`, or the
refusal). The request is validated first with the service's own rules, so a draft the
service would refuse (empty text, a button that is not https, a time zone, date or cron
expression it cannot read, a time past or too far) is a 422 naming the field; what depends
on the post's state or on settings (not scheduled any more, no channel configured) is
decided by the worker, audited and told, as in the bot.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from celery.canvas import Signature
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.actions import actor, invalid, start
from api.auth import AdminKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey
from api.members import MAX_ID
from api.problems import TYPE_BASE, ProblemError, responses
from models.db import read_session
from models.tables import ScheduledPost
from services import posts
from tasks import posts as post_tasks

router = APIRouter(prefix="/admin/posts", tags=["admin", "posts"],
                   responses=responses(401, 403, 404, 422, 500))

PostId = Annotated[int, Path(ge=1, le=MAX_ID, description="A scheduled post's id.")]
LOCAL_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2})?$"
PublishAt = Annotated[str, Field(pattern=LOCAL_TIME, description="Local date and time "
                                 "(`YYYY-MM-DDTHH:MM[:SS]`, no offset), read in `timezone`.")]
TimeZone = Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_+/-]{1,64}$", description="An "
                                       "IANA time zone (default: the bot's TIMEZONE; for a "
                                       "reschedule, the post's own).")]
Status = Literal["scheduled", "published", "failed", "cancelled"]


class UrlButton(BaseModel):
    text: str = Field(min_length=1, max_length=posts.BUTTON_TEXT_LIMIT)
    url: str = Field(min_length=1, max_length=posts.URL_LIMIT, description="https only.")


class PostIn(BaseModel):
    target: Literal["free", "vip"] = Field(description="The free or the VIP channel.")
    text: str = Field("", max_length=32_000, description="The text, or the photo's caption.")
    parse_mode: Literal["HTML"] | None = None
    photo: str | None = Field(None, min_length=1, max_length=posts.PHOTO_LIMIT,
                              description="A Telegram file id or an https URL.")
    url_buttons: list[UrlButton] = Field(default_factory=list,
                                         max_length=posts.MAX_URL_BUTTONS)
    reaction_buttons: bool = Field(False, description="💋 buttons that reward members.")
    protect_content: bool | None = Field(None, description="Default: on for the VIP "
                                                           "channel, off for the free one.")
    publish_at: PublishAt
    timezone: TimeZone = None
    repeat: Literal["none", "daily", "weekly", "cron"] = "none"
    cron: str | None = Field(None, min_length=1, max_length=100,
                             description="`m h dom mon dow`, with `repeat: cron` only.")


class ButtonOut(BaseModel):
    text: str
    url: str


class Reschedule(BaseModel):
    publish_at: PublishAt
    timezone: TimeZone = None


class Publication(BaseModel):
    due_at: datetime
    status: str = Field(description="sending · sent · failed")
    message_id: int | None
    sent_at: datetime | None
    attempts: int
    error: str | None


class PostOut(BaseModel):
    id: int
    target: str
    status: str = Field(description="scheduled · published · failed · cancelled")
    publish_at: datetime = Field(description="The next (or last) occurrence, UTC.")
    local_time: str = Field(description="`publish_at` in the post's time zone.")
    timezone: str
    repeat: str
    cron: str | None
    text: str
    parse_mode: str | None
    photo: str | None
    url_buttons: list[ButtonOut]
    reaction_buttons: bool
    protect_content: bool
    attempts: int
    last_error: str | None
    created_by: int | None
    created_at: datetime | None


class PostDetail(PostOut):
    publications: list[Publication] = Field(description="Its occurrences so far.")


def _out(row: ScheduledPost, cls: type[PostOut] = PostOut, **extra: Any) -> Any:
    view = posts.view_of(row)
    return cls(id=row.id, target=row.target, status=row.status, publish_at=view.publish_at,
               local_time=view.local_time.isoformat(), timezone=row.timezone,
               repeat=row.repeat, cron=row.cron, text=row.text, parse_mode=row.parse_mode,
               photo=row.photo, url_buttons=[ButtonOut(text=str(b.get("text", "")),
                                                       url=str(b.get("url", "")))
                                             for b in row.url_buttons or []],
               reaction_buttons=row.reaction_buttons, protect_content=row.protect_content,
               attempts=row.attempts or 0, last_error=row.last_error,
               created_by=row.created_by, created_at=row.created_at, **extra)


def _unknown(post_id: int) -> ProblemError:
    return ProblemError(404, f"No scheduled post {post_id}.", title="Unknown post",
                        type_=TYPE_BASE + "unknown-post")


def _exists(post_id: int) -> None:
    with read_session() as session:
        if posts.get(session, post_id) is None:
            raise _unknown(post_id)


# --- validation with the service's rules ------------------------------------------------------

def _zone(name: str | None) -> Any:
    try:
        return posts.zone_of(name)
    except (posts.BadZone, OSError):  # OSError: a directory of zones, e.g. "America"
        raise invalid("timezone", "not an IANA time zone (e.g. Europe/Madrid)") from None


def _publish_at(when: str, zone: Any) -> datetime:
    """The local time in `zone` as UTC, in the future and within a year (the service's
    checks); 422 naming `publish_at` otherwise."""
    try:
        publish_at = posts.to_utc(when, zone)
        posts._check_time(publish_at, posts._now(None))
    except (posts.BadTime, OverflowError):
        raise invalid("publish_at", "not a valid local date and time") from None
    except posts.InPast:
        raise invalid("publish_at", "is in the past") from None
    except posts.TooFar:
        raise invalid("publish_at", "is more than a year ahead") from None
    return publish_at


def _check_buttons(buttons: list[UrlButton]) -> None:
    for index, button in enumerate(buttons):
        if not button.text.strip():
            raise invalid(f"url_buttons[{index}].text", "must not be blank")
        if not posts._https(button.url.strip()):
            raise invalid(f"url_buttons[{index}].url", "must be an https URL")


def _check_draft(body: PostIn) -> None:
    _check_buttons(body.url_buttons)
    try:
        posts._check_content(body.text, body.parse_mode, body.photo,
                             [b.model_dump() for b in body.url_buttons])
    except posts.BadPhoto:
        raise invalid("photo", "must be a Telegram file id or an https URL") from None
    except posts.Empty:
        raise invalid("text", "a post needs a text or a photo") from None
    except posts.TextTooLong:
        raise invalid("text", f"longer than {posts.TEXT_LIMIT} characters") from None
    except posts.CaptionTooLong:
        raise invalid("text", f"a caption is at most {posts.CAPTION_LIMIT} characters") \
            from None
    except posts.Refused as exc:  # a button (checked above) or parse_mode (typed)
        raise invalid("url_buttons", exc.code) from None
    zone = _zone(body.timezone)
    publish_at = _publish_at(body.publish_at, zone)
    if body.cron is not None and body.repeat != posts.CRON:
        raise invalid("cron", "only with repeat: cron")
    try:
        cron = posts.series_cron(body.repeat, body.cron, publish_at, zone)
        if cron is not None:
            posts.next_occurrence(cron, zone.key, publish_at)
    except posts.BadCron:
        raise invalid("cron", "not a 5-field cron expression that fires again") from None


def _draft(body: PostIn) -> dict[str, Any]:
    """The `tasks.posts.create` draft (services/posts.py `Draft.from_dict`)."""
    return posts.Draft(target=body.target, when=body.publish_at, zone=body.timezone,
                       repeat=body.repeat, cron=body.cron, text=body.text,
                       parse_mode=body.parse_mode, photo=body.photo,
                       url_buttons=[b.model_dump() for b in body.url_buttons],
                       reaction_buttons=body.reaction_buttons,
                       protect_content=body.protect_content).as_dict()


# --- endpoints ----------------------------------------------------------------------------------


@router.get("", summary="Scheduled posts, soonest first")
def list_posts(key: AdminKey, status: Annotated[Status | None, Query(
                   description="Only posts in this state (default: all).")] = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0, le=100_000)] = 0) -> list[PostOut]:
    query = select(ScheduledPost)
    if status is not None:
        query = query.where(ScheduledPost.status == status)
    with read_session() as session:
        rows = session.scalars(query.order_by(ScheduledPost.publish_at, ScheduledPost.id)
                               .offset(offset).limit(limit)).all()
        return [_out(row) for row in rows]


@router.get("/{post_id}", summary="One post and its occurrences")
def get_post(post_id: PostId, key: AdminKey) -> PostDetail:
    with read_session() as session:
        row = posts.get(session, post_id)
        if row is None:
            raise _unknown(post_id)
        return _out(row, PostDetail, publications=[
            Publication(due_at=p.due_at, status=p.status, message_id=p.message_id,
                        sent_at=p.sent_at, attempts=p.attempts or 0, error=p.error)
            for p in posts.publications(session, post_id)])


@router.post("", status_code=202, response_model=Accepted,
             summary="Schedule a post (the bot's /programar)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def create_post(request: Request, body: PostIn, key: AdminKey,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.posts.create` as the key's admin; the admin is told the post's id in
    Telegram (`post.scheduled`), and it is listed here."""
    admin = actor(key)

    def build(rk: str) -> Signature:
        return post_tasks.create.si(admin, _draft(body), rk).set(
            argsrepr=f"({admin}, <draft>, {rk!r})")  # Flower shows no post text

    return await start(request, key, idempotency_key, build, check=lambda: _check_draft(body))


@router.post("/{post_id}/reschedule", status_code=202, response_model=Accepted,
             summary="Move a scheduled post (the bot's /editar_post)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def reschedule(request: Request, post_id: PostId, body: Reschedule, key: AdminKey,
                     idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.posts.edit` as the key's admin (the time is read in `timezone`, else
    the post's own zone). A post that is no longer scheduled is refused by the worker,
    told to the admin and audited, as in the bot."""
    def check() -> None:
        with read_session() as session:
            row = posts.get(session, post_id)
            if row is None:
                raise _unknown(post_id)
            zone_name = body.timezone or row.timezone
        _publish_at(body.publish_at, _zone(zone_name))

    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: post_tasks.edit.si(admin, post_id, body.publish_at,
                                                     body.timezone, None, rk), check=check)


@router.post("/{post_id}/cancel", status_code=202, response_model=Accepted,
             summary="Cancel a scheduled post (the bot's 🗑️)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def cancel(request: Request, post_id: PostId, key: AdminKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.posts.cancel` as the key's admin (a repeating post: every later
    occurrence too)."""
    admin = actor(key)
    return await start(request, key, idempotency_key,
                       lambda rk: post_tasks.cancel.si(admin, post_id, rk),
                       check=lambda: _exists(post_id))
