"""🗓️ Scheduled posts: admins write them for the free or the VIP channel; beat publishes them.

The database is the schedule (no long ETAs on the broker). A post's `publish_at` is its next
occurrence, in UTC; the admin gives it as a local date and time in their time zone
(`TIMEZONE` unless they name another), converted here. Every `POSTS_DISPATCH_INTERVAL`
seconds the beat job calls `claim_due`, which inserts one `post_publications` row per due
occurrence — unique per (post, due time) — and returns the occurrences it inserted: a second
dispatcher running at the same moment (beat restarted, two workers) hits the unique key and
gets nothing, and the publish task sends with the delivery key `post:<id>:<due>`, so each
occurrence is published once. `start_attempt` (each try), `mark_sent` (message id kept, the
post registered for reaction rewards, the next occurrence of a repeating post) and
`mark_failed` (the final failure) close the occurrence; an occurrence whose task was lost
(`sending` and untouched for a while) is claimed again, which is safe for the same reasons.

Repeats: `daily` and `weekly` keep the local wall time of the first occurrence, `cron` is a
5-field expression (minute hour day-of-month month day-of-week, parsed by Celery's
`crontab`; as in Celery, day of month AND day of week must both match). All three are
stored as a cron expression read in the post's time zone, so a change of daylight saving
time keeps the wall time: 10:00 stays 10:00. A wall time that does not exist (the hour
skipped in spring) runs right after the jump; one that happens twice (autumn) runs once.

Every admin action (create, edit, cancel, list, preview) checks `admins.is_admin` and writes
one audit row, allowed or refused, with an event (ids and codes only): `post.scheduled`,
`post.rescheduled`, `post.cancelled`, `post.listed`, `post.previewed`, `post.refused`;
publishing records `post.published` / `post.failed`, told to the admin who created the post.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from sqlalchemy import exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import OutboxEvent, PostPublication, ScheduledPost, User
from services import admins, events, reactions

FREE, VIP = "free", "vip"
TARGETS = (FREE, VIP)
NONE, DAILY, WEEKLY, CRON = "none", "daily", "weekly", "cron"
REPEATS = (NONE, DAILY, WEEKLY, CRON)
SCHEDULED, PUBLISHED, FAILED, CANCELLED = "scheduled", "published", "failed", "cancelled"
SENDING, SENT = "sending", "sent"  # a publication: sending → sent | failed

TEXT_LIMIT, CAPTION_LIMIT = 4096, 1024  # Telegram's, counted after the markup is parsed
MAX_URL_BUTTONS = 10
BUTTON_TEXT_LIMIT = 64
URL_LIMIT = 1024
PHOTO_LIMIT = 256
MAX_AHEAD = timedelta(days=366)  # a post is scheduled at most a year ahead
CRON_HORIZON_DAYS = 366 * 5  # a cron expression must fire within five years
MAX_REQUEST_KEY = 150
LIST_LIMIT = 20
SNIPPET = 48
TIME_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S")
_TAG = re.compile(r"<[^>]*>")


# --- refusals ------------------------------------------------------------------------------


class Refused(Exception):  # noqa: N818  (a refusal, reported politely, not a crash)
    """A permanent refusal the admin is told about (never retried)."""

    code = "refused"


class NotAdmin(Refused):
    code = "not_admin"


class Usage(Refused):
    """The bot could not read the command (the admin gets the usage text)."""

    code = "usage"


class NoContent(Refused):
    """`/programar` was not a reply to the admin's own message with text or a photo."""

    code = "no_content"


class NoChat(Refused):
    """FREE_CHAT_ID / VIP_CHAT_ID is not set."""

    code = "no_chat"


class Empty(Refused):
    code = "empty"


class TextTooLong(Refused):
    code = "text_too_long"


class CaptionTooLong(Refused):
    code = "caption_too_long"


class BadButton(Refused):
    code = "bad_button"


class BadPhoto(Refused):
    code = "bad_photo"


class BadTime(Refused):
    code = "bad_time"


class BadZone(Refused):
    code = "bad_zone"


class InPast(Refused):
    code = "in_past"


class TooFar(Refused):
    code = "too_far"


class BadCron(Refused):
    code = "bad_cron"


class UnknownPost(Refused):
    code = "unknown_post"


class NotEditable(Refused):
    """Published, failed or cancelled already, or being published right now."""

    code = "not_editable"


REFUSALS: dict[str, type[Refused]] = {
    cls.code: cls for cls in (NotAdmin, Usage, NoContent, NoChat, Empty, TextTooLong,
                              CaptionTooLong, BadButton, BadPhoto, BadTime, BadZone, InPast,
                              TooFar, BadCron, UnknownPost, NotEditable)
}


# --- what an admin asks for ----------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A post as the bot (or, later, the API) read it. `when` is a local date and time
    (`YYYY-MM-DD HH:MM[:SS]`, read in `zone`, default TIMEZONE) or an aware datetime.
    `problem` is what the bot could not read (`usage`, `no_content`): refused after the
    admin check, so a non-admin is told they are not an admin whatever they typed."""

    target: str = ""
    when: str | datetime = ""
    zone: str | None = None
    repeat: str = NONE
    cron: str | None = None
    text: str = ""
    parse_mode: str | None = None
    photo: str | None = None
    url_buttons: list[dict[str, str]] = field(default_factory=list)
    reaction_buttons: bool = False
    protect_content: bool | None = None  # None: on for the VIP channel, off for the free one
    problem: str | None = None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Draft:
        """A draft from a task's JSON argument (unknown keys ignored, types checked)."""
        def text(key: str, default: str | None = None) -> str | None:
            value = raw.get(key, default)
            return value if isinstance(value, str) else default

        buttons = raw.get("url_buttons") or []
        if not isinstance(buttons, list):
            buttons = [{"text": "", "url": ""}]  # refused as a bad button
        protect = raw.get("protect_content")
        return cls(target=text("target", "") or "", when=text("when", "") or "",
                   zone=text("zone"), repeat=text("repeat", NONE) or NONE, cron=text("cron"),
                   text=text("text", "") or "", parse_mode=text("parse_mode"),
                   photo=text("photo"),
                   url_buttons=[b if isinstance(b, dict) else {} for b in buttons],
                   reaction_buttons=bool(raw.get("reaction_buttons")),
                   protect_content=protect if isinstance(protect, bool) else None,
                   problem=text("problem"))

    def as_dict(self) -> dict[str, Any]:
        when = self.when.isoformat() if isinstance(self.when, datetime) else self.when
        return {"target": self.target, "when": when, "zone": self.zone, "repeat": self.repeat,
                "cron": self.cron, "text": self.text, "parse_mode": self.parse_mode,
                "photo": self.photo, "url_buttons": list(self.url_buttons),
                "reaction_buttons": self.reaction_buttons,
                "protect_content": self.protect_content, "problem": self.problem}


# --- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """An admin action that happened (or had happened: a redelivered request)."""

    post_id: int | None
    status: str
    event_id: str
    events: list[events.Event] = field(default_factory=list)  # to publish after commit

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "post_id": self.post_id, "event_id": self.event_id}


@dataclass(frozen=True)
class PostView:
    """A post as the admins' list shows it."""

    id: int
    target: str
    status: str
    publish_at: datetime
    timezone: str
    repeat: str
    cron: str | None
    snippet: str
    photo: bool
    url_buttons: int
    reaction_buttons: bool
    protect_content: bool

    @property
    def local_time(self) -> datetime:
        return self.publish_at.astimezone(ZoneInfo(self.timezone))


@dataclass(frozen=True)
class Listing:
    language: str
    posts: list[PostView]
    events: list[events.Event] = field(default_factory=list)


@dataclass(frozen=True)
class Preview:
    """What to send to the admin's private chat: exactly the post (`method`, `params`)."""

    language: str
    view: PostView
    method: str
    params: dict[str, Any]
    events: list[events.Event] = field(default_factory=list)


@dataclass(frozen=True)
class Claim:
    """One occurrence to publish. `again`: claimed before, its task lost or late."""

    post_id: int
    due_at: datetime
    again: bool = False


@dataclass(frozen=True)
class Job:
    """One attempt at publishing an occurrence: the Bot API call and its delivery key."""

    post_id: int
    due_at: datetime
    key: str
    chat_id: int
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """What publishing an occurrence ended in (`sent`, `failed`, `skipped`)."""

    status: str
    post_id: int
    events: list[events.Event] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"status": self.status, "post_id": self.post_id}


# --- helpers -------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _language(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def due_key(due_at: datetime) -> str:
    """The occurrence's time as it appears in keys and event ids (UTC, ISO 8601)."""
    return _utc(due_at).isoformat()


def delivery_key(post_id: int, due_at: datetime) -> str:
    return f"post:{post_id}:{due_key(due_at)}"


def reaction_ref(post_id: int) -> str:
    """The name a post's reaction buttons carry (`r:<ref>:<n>`)."""
    return f"post{post_id}"


def zone_of(name: str | None) -> ZoneInfo:
    """The named IANA time zone, or TIMEZONE; BadZone when there is no such zone."""
    name = name or get_settings().timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as exc:
        # OSError: a zone *directory* ("America", "Etc") is not a zone either
        raise BadZone(str(name)[:64]) from exc


def to_utc(when: str | datetime, zone: ZoneInfo) -> datetime:
    """A local `YYYY-MM-DD HH:MM[:SS]` in `zone` (or an aware datetime) as UTC.

    A wall time that does not exist that day (the hour skipped in spring) is read with the
    offset before the change, i.e. it lands that much after the jump; one that happens twice
    (autumn) is the first of the two.
    """
    if isinstance(when, datetime):
        local = when if when.tzinfo is not None else when.replace(tzinfo=zone)
        return _utc(local)
    text = " ".join(str(when).split())
    for fmt in TIME_FORMATS:
        try:
            local = datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
        return _utc(local)
    raise BadTime(text[:40])


def plain_length(text: str, parse_mode: str | None) -> int:
    """Characters Telegram counts: those left once the HTML markup is parsed."""
    if parse_mode == "HTML":
        return len(html.unescape(_TAG.sub("", text)))
    return len(text)


def plain_text(text: str, parse_mode: str | None) -> str:
    return html.unescape(_TAG.sub("", text)) if parse_mode == "HTML" else text


def _https(url: str) -> bool:
    if not url or len(url) > URL_LIMIT or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" and bool(parts.netloc)


def _check_content(text: str, parse_mode: str | None, photo: str | None,
                   url_buttons: list[dict[str, str]]) -> list[dict[str, str]]:
    """Raise the refusal the content deserves; returns the buttons, cleaned."""
    if parse_mode not in (None, "HTML"):
        raise Usage("parse_mode")
    if photo is not None:
        if not photo or len(photo) > PHOTO_LIMIT or any(c.isspace() for c in photo) or \
                ("://" in photo and not _https(photo)):
            raise BadPhoto("photo")
    length = plain_length(text, parse_mode)
    if photo is None and not plain_text(text, parse_mode).strip():
        raise Empty("text")
    if photo is None and length > TEXT_LIMIT:
        raise TextTooLong(str(length))
    if photo is not None and length > CAPTION_LIMIT:
        raise CaptionTooLong(str(length))
    if len(url_buttons) > MAX_URL_BUTTONS:
        raise BadButton("too many")
    cleaned = []
    for button in url_buttons:
        label = str(button.get("text", "")).strip()
        url = str(button.get("url", "")).strip()
        if not 0 < len(label) <= BUTTON_TEXT_LIMIT or not _https(url):
            raise BadButton("button")
        cleaned.append({"text": label, "url": url})
    return cleaned


def _check_time(publish_at: datetime, now: datetime) -> None:
    if publish_at <= now:
        raise InPast(publish_at.isoformat())
    if publish_at > now + MAX_AHEAD:
        raise TooFar(publish_at.isoformat())


def parse_cron(expression: str) -> crontab:
    """Celery's crontab of a 5-field expression (`m h dom mon dow`); BadCron otherwise."""
    fields = str(expression or "").split()
    if len(fields) != 5 or len(" ".join(fields)) > 100:
        raise BadCron(str(expression)[:100])
    try:
        return crontab.from_string(" ".join(fields))
    except Exception as exc:  # crontab raises ValueError, and worse for some garbage
        raise BadCron(" ".join(fields)[:100]) from exc


def _matches_day(schedule: crontab, day: date) -> bool:
    return (day.month in schedule.month_of_year and day.day in schedule.day_of_month
            and day.isoweekday() % 7 in schedule.day_of_week)


def next_occurrence(expression: str, zone_name: str, after: datetime) -> datetime:
    """The first time after `after` (UTC) whose wall clock in the zone matches the cron
    expression, in UTC. BadCron when it never fires within five years."""
    schedule = parse_cron(expression)
    zone = zone_of(zone_name)
    after = _utc(after)
    start = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) + \
        timedelta(minutes=1)
    hours, minutes = sorted(schedule.hour), sorted(schedule.minute)
    day = start.date()
    for _ in range(CRON_HORIZON_DAYS):
        if _matches_day(schedule, day):
            for hour in hours:
                for minute in minutes:
                    wall = datetime.combine(day, wall_time(hour, minute))
                    if wall < start:
                        continue
                    candidate = _utc(wall.replace(tzinfo=zone))
                    if candidate > after:
                        return candidate
        day += timedelta(days=1)
    raise BadCron(expression[:100])


def series_cron(repeat: str, cron: str | None, publish_at: datetime, zone: ZoneInfo
                ) -> str | None:
    """The cron expression a repeating post follows: daily and weekly keep the first
    occurrence's local wall time (and weekday); None for a one-off post."""
    if repeat == NONE:
        return None
    local = publish_at.astimezone(zone)
    if repeat == DAILY:
        return f"{local.minute} {local.hour} * * *"
    if repeat == WEEKLY:
        return f"{local.minute} {local.hour} * * {local.isoweekday() % 7}"
    if repeat == CRON:
        fields = str(cron or "").split()
        parse_cron(" ".join(fields))
        return " ".join(fields)
    raise Usage(f"repeat {repeat[:10]}")


def _chat_for(target: str) -> int:
    settings = get_settings()
    if target not in TARGETS:
        raise Usage(f"target {target[:10]}")
    chat_id = settings.free_chat_id if target == FREE else settings.vip_chat_id
    if not chat_id:
        raise NoChat(target)
    return int(chat_id)


def _require_admin(session: Session, actor_id: int | None) -> None:
    if not admins.is_admin(session, actor_id):
        raise NotAdmin(str(actor_id))


def _post(session: Session, post_id: int, *, lock: bool = False) -> ScheduledPost:
    query = select(ScheduledPost).where(ScheduledPost.id == post_id)
    if lock:
        query = query.with_for_update()
    row = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if row is None:
        raise UnknownPost(str(post_id))
    return row


def _publication(session: Session, post_id: int, due_at: datetime) -> PostPublication | None:
    return session.scalars(select(PostPublication).where(
        PostPublication.post_id == post_id, PostPublication.due_at == _utc(due_at))
        .with_for_update().execution_options(populate_existing=True)).one_or_none()


def _check_editable(session: Session, post: ScheduledPost) -> None:
    """Only a scheduled post whose current occurrence is not being published."""
    if post.status != SCHEDULED:
        raise NotEditable(post.status)
    current = _publication(session, post.id, post.publish_at)
    if current is not None and current.status != FAILED:
        raise NotEditable("publishing")


def view_of(post: ScheduledPost) -> PostView:
    snippet = " ".join(plain_text(post.text, post.parse_mode).split())
    if len(snippet) > SNIPPET:
        snippet = snippet[:SNIPPET - 1] + "…"
    return PostView(post.id, post.target, post.status, _utc(post.publish_at), post.timezone,
                    post.repeat, post.cron, snippet, post.photo is not None,
                    len(post.url_buttons or []), post.reaction_buttons, post.protect_content)


def message_params(post: ScheduledPost, chat_id: int) -> tuple[str, dict[str, Any]]:
    """The Bot API call that publishes the post in `chat_id` (the channel, or an admin's
    private chat for a preview): text or photo and caption, URL buttons one per row, the
    reaction buttons in a row below, and `protect_content`."""
    params: dict[str, Any] = {"chat_id": chat_id}
    if post.photo:
        method = "sendPhoto"
        params["photo"] = post.photo
        if post.text:
            params["caption"] = post.text
    else:
        method = "sendMessage"
        params["text"] = post.text
    if post.parse_mode and post.text:
        params["parse_mode"] = post.parse_mode
    rows: list[list[dict[str, str]]] = [[{"text": b["text"], "url": b["url"]}]
                                        for b in post.url_buttons or []]
    if post.reaction_buttons:
        rows += reactions.reaction_keyboard(reaction_ref(post.id))["inline_keyboard"]
    if rows:
        params["reply_markup"] = {"inline_keyboard": rows}
    if post.protect_content:
        params["protect_content"] = True
    return method, params


# --- admin actions -------------------------------------------------------------------------


def create(session: Session, *, actor_id: int | None, request_key: str, draft: Draft,
           now: datetime | None = None) -> Done:
    """Schedule a post, once per `request_key`, for an admin.

    Raises a `Refused` subclass (NotAdmin first, then what the draft gets wrong); the caller
    records it with `refuse` in a transaction of its own.
    """
    _check_key(request_key)
    now = _now(now)
    existing = session.scalars(select(ScheduledPost)
                               .where(ScheduledPost.request_key == request_key)).one_or_none()
    if existing is not None:  # this very request, delivered again
        event_id = f"post.scheduled:{existing.id}"
        return Done(existing.id, "scheduled", event_id, events.unpublished(session, [event_id]))
    earlier = session.get(OutboxEvent, f"post.refused:{request_key}")
    if earlier is not None:
        raise REFUSALS.get(str(earlier.payload.get("reason")), Refused)("refused before")
    _require_admin(session, actor_id)
    if draft.problem:
        raise REFUSALS.get(draft.problem, Usage)(draft.problem)
    if draft.repeat not in REPEATS:
        raise Usage(f"repeat {draft.repeat[:10]}")
    chat_id = _chat_for(draft.target)
    buttons = _check_content(draft.text, draft.parse_mode, draft.photo, draft.url_buttons)
    zone = zone_of(draft.zone)
    publish_at = to_utc(draft.when, zone)
    _check_time(publish_at, now)
    cron = series_cron(draft.repeat, draft.cron, publish_at, zone)
    if cron is not None:
        next_occurrence(cron, zone.key, publish_at)  # it must fire again
    protect = draft.protect_content if draft.protect_content is not None else draft.target == VIP
    post = ScheduledPost(request_key=request_key, target=draft.target, chat_id=chat_id,
                         text=draft.text, parse_mode=draft.parse_mode, photo=draft.photo,
                         url_buttons=buttons, reaction_buttons=draft.reaction_buttons,
                         protect_content=protect, publish_at=publish_at, timezone=zone.key,
                         repeat=draft.repeat, cron=cron, status=SCHEDULED, attempts=0,
                         created_by=actor_id)
    session.add(post)
    session.flush()
    admins.audit(session, actor_id, "post.create", f"post:{post.id}", "ok", {
        "target": draft.target, "publish_at": publish_at.isoformat(), "timezone": zone.key,
        "repeat": draft.repeat, "cron": cron, "photo": draft.photo is not None,
        "url_buttons": len(buttons), "reaction_buttons": draft.reaction_buttons,
        "protect_content": protect, "request_key": request_key})
    event_id = f"post.scheduled:{post.id}"
    event = events.record(session, event_id, "post.scheduled", _payload(session, post, actor_id))
    return Done(post.id, "scheduled", event_id, [event])


def _payload(session: Session, post: ScheduledPost, user_id: int | None,
             **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"post_id": post.id, "target": post.target,
                               "publish_at": _utc(post.publish_at).isoformat(),
                               "timezone": post.timezone, "repeat": post.repeat,
                               "cron": post.cron, "lang": _language(session, user_id), **extra}
    if user_id is not None:
        payload["user_id"] = user_id  # the admin is told
    return payload


def refuse(session: Session, *, actor_id: int | None, request_key: str, action: str,
           reason: str, post_id: int | None = None,
           details: dict[str, Any] | None = None) -> list[events.Event]:
    """Record a refused admin action (audit row + `post.refused`), once per request key."""
    event_id = f"post.refused:{request_key}"[:200]
    payload: dict[str, Any] = {"action": action, "reason": reason, "post_id": post_id,
                               "lang": _language(session, actor_id)}
    if actor_id is not None:
        payload["user_id"] = actor_id
    event = events.record_once(session, event_id, "post.refused", payload)
    if event is None:  # refused before: told and audited then
        return events.unpublished(session, [event_id])
    admins.audit(session, actor_id, f"post.{action}",
                 f"post:{post_id}" if post_id else None, reason,
                 {**(details or {}), "request_key": request_key})
    return [event]


def edit(session: Session, *, actor_id: int | None, post_id: int, request_key: str,
         when: str | datetime | None = None, zone: str | None = None,
         changes: dict[str, Any] | None = None, problem: str | None = None,
         now: datetime | None = None) -> Done:
    """Change a post while it is scheduled: its time (`when`, read in `zone`, else the
    post's own zone) and/or its content (`changes`: text, parse_mode, photo, url_buttons,
    reaction_buttons, protect_content, repeat, cron). Once per request key."""
    _check_key(request_key)
    now = _now(now)
    event_id = f"post.rescheduled:{request_key}"[:200]
    if session.get(OutboxEvent, event_id) is not None:
        return Done(post_id, "rescheduled", event_id, events.unpublished(session, [event_id]))
    _require_admin(session, actor_id)
    if problem:
        raise REFUSALS.get(problem, Usage)(problem)
    post = _post(session, post_id, lock=True)
    _check_editable(session, post)
    changes = dict(changes or {})
    unknown = set(changes) - {"text", "parse_mode", "photo", "url_buttons", "reaction_buttons",
                              "protect_content", "repeat", "cron"}
    if unknown or (when is None and not changes):
        raise Usage("nothing to change")
    text = changes.get("text", post.text)
    parse_mode = changes.get("parse_mode", post.parse_mode)
    photo = changes.get("photo", post.photo)
    buttons = _check_content(text, parse_mode, photo,
                             changes.get("url_buttons", post.url_buttons or []))
    zone = zone_of(zone or post.timezone)
    publish_at = to_utc(when, zone) if when is not None else _utc(post.publish_at)
    if when is not None or publish_at <= now:
        _check_time(publish_at, now)
    repeat = changes.get("repeat", post.repeat)
    if repeat not in REPEATS:
        raise Usage(f"repeat {str(repeat)[:10]}")
    cron = series_cron(repeat, changes.get("cron", post.cron), publish_at, zone)
    if cron is not None:
        next_occurrence(cron, zone.key, publish_at)
    before = {"publish_at": _utc(post.publish_at).isoformat(), "timezone": post.timezone,
              "repeat": post.repeat}
    post.text, post.parse_mode, post.photo, post.url_buttons = text, parse_mode, photo, buttons
    post.reaction_buttons = bool(changes.get("reaction_buttons", post.reaction_buttons))
    post.protect_content = bool(changes.get("protect_content", post.protect_content))
    post.publish_at, post.timezone, post.repeat, post.cron = publish_at, zone.key, repeat, cron
    post.last_error = None
    session.flush()
    admins.audit(session, actor_id, "post.edit", f"post:{post.id}", "ok", {
        "before": before, "publish_at": publish_at.isoformat(), "timezone": zone.key,
        "repeat": repeat, "changed": sorted(changes), "request_key": request_key})
    event = events.record(session, event_id, "post.rescheduled",
                          _payload(session, post, actor_id))
    return Done(post.id, "rescheduled", event_id, [event])


def cancel(session: Session, *, actor_id: int | None, post_id: int, request_key: str,
           now: datetime | None = None) -> Done:
    """Cancel a scheduled post (a repeating one: every later occurrence too)."""
    _check_key(request_key)
    event_id = f"post.cancelled:{post_id}"
    _require_admin(session, actor_id)
    post = _post(session, post_id, lock=True)
    if post.status == CANCELLED:
        row = session.get(OutboxEvent, event_id)
        if row is not None and row.payload.get("request_key") == request_key:  # redelivered
            return Done(post.id, "cancelled", event_id, events.unpublished(session, [event_id]))
    _check_editable(session, post)
    post.status = CANCELLED
    session.flush()
    admins.audit(session, actor_id, "post.cancel", f"post:{post.id}", "ok",
                 {"publish_at": _utc(post.publish_at).isoformat(), "request_key": request_key})
    payload = _payload(session, post, actor_id, request_key=request_key)
    if post.created_by is not None and post.created_by != actor_id:
        payload["created_by"] = post.created_by
    event = events.record(session, event_id, "post.cancelled", payload)
    return Done(post.id, "cancelled", event_id, [event])


def _audited_read(session: Session, actor_id: int | None, request_key: str, action: str,
                  post_id: int | None) -> list[events.Event]:
    """The audit row and event of a read an admin made, once per request key."""
    event_id = f"post.{action}:{request_key}"[:200]
    payload: dict[str, Any] = {"post_id": post_id}
    if actor_id is not None:
        payload["user_id"] = actor_id
    event = events.record_once(session, event_id, f"post.{action}", payload)
    if event is None:
        return events.unpublished(session, [event_id])
    verb = {"listed": "list", "previewed": "preview"}[action]
    admins.audit(session, actor_id, f"post.{verb}", f"post:{post_id}" if post_id else None,
                 "ok", {"request_key": request_key})
    return [event]


def listing(session: Session, *, actor_id: int | None, request_key: str,
            limit: int = LIST_LIMIT) -> Listing:
    """The scheduled posts, soonest first, for an admin (audited)."""
    _check_key(request_key)
    _require_admin(session, actor_id)
    rows = session.scalars(select(ScheduledPost).where(ScheduledPost.status == SCHEDULED)
                           .order_by(ScheduledPost.publish_at, ScheduledPost.id)
                           .limit(limit)).all()
    recorded = _audited_read(session, actor_id, request_key, "listed", None)
    return Listing(_language(session, actor_id), [view_of(row) for row in rows], recorded)


def preview(session: Session, *, actor_id: int, post_id: int, request_key: str) -> Preview:
    """Exactly what will be published, addressed to the admin's private chat (audited)."""
    _check_key(request_key)
    _require_admin(session, actor_id)
    post = _post(session, post_id)
    method, params = message_params(post, actor_id)
    recorded = _audited_read(session, actor_id, request_key, "previewed", post.id)
    return Preview(_language(session, actor_id), view_of(post), method, params, recorded)


# --- publishing ----------------------------------------------------------------------------


def stale_after() -> timedelta:
    """How long a claimed occurrence may stay untouched before it is dispatched again: past
    the longest retry backoff and a send's lease, so a live task is not doubled (and if it
    were, the delivery key would still send once)."""
    settings = get_settings()
    return timedelta(seconds=2 * settings.task_retry_backoff_max
                     + settings.telegram_send_lease + 60)


def has_due(session: Session, now: datetime | None = None) -> bool:
    """Whether `claim_due` would find anything (a cheap read before the write)."""
    now = _now(now)
    due = session.scalar(select(ScheduledPost.id).where(
        ScheduledPost.status == SCHEDULED, ScheduledPost.publish_at <= now).limit(1))
    if due is not None:
        return True
    stale = session.scalar(select(PostPublication.id).where(
        PostPublication.status == SENDING, PostPublication.claimed_at < now - stale_after())
        .limit(1))
    return stale is not None


def claim_due(session: Session, now: datetime | None = None,
              batch: int | None = None) -> list[Claim]:
    """Claim the due occurrences (a bounded batch): insert their publication row, unique per
    post and due time, and return them. An occurrence another dispatcher claimed (its row
    exists, or its INSERT hits the unique key) is not returned. Also returns occurrences
    claimed before whose task went quiet for `stale_after()` (claimed again, once)."""
    now = _now(now)
    batch = batch or get_settings().posts_dispatch_batch
    taken = exists().where(PostPublication.post_id == ScheduledPost.id,
                           PostPublication.due_at == ScheduledPost.publish_at)
    rows = session.execute(select(ScheduledPost.id, ScheduledPost.publish_at).where(
        ScheduledPost.status == SCHEDULED, ScheduledPost.publish_at <= now, ~taken)
        .order_by(ScheduledPost.publish_at, ScheduledPost.id).limit(batch)).all()
    claims: list[Claim] = []
    for post_id, publish_at in rows:
        try:
            with session.begin_nested():
                session.add(PostPublication(post_id=post_id, due_at=_utc(publish_at),
                                            status=SENDING, claimed_at=now, attempts=0))
        except IntegrityError:
            continue  # another dispatcher has it
        claims.append(Claim(int(post_id), _utc(publish_at)))
    if len(claims) < batch:
        stale = session.execute(select(PostPublication.id, PostPublication.post_id,
                                       PostPublication.due_at, PostPublication.claimed_at)
                                .where(PostPublication.status == SENDING,
                                       PostPublication.claimed_at < now - stale_after())
                                .order_by(PostPublication.claimed_at)
                                .limit(batch - len(claims))).all()
        for pub_id, post_id, due_at, claimed_at in stale:
            moved = session.execute(update(PostPublication).where(
                PostPublication.id == pub_id, PostPublication.status == SENDING,
                PostPublication.claimed_at == claimed_at).values(claimed_at=now))
            if moved.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(Claim(int(post_id), _utc(due_at), again=True))
    return claims


def start_attempt(session: Session, post_id: int, due_at: datetime,
                  now: datetime | None = None) -> Job | None:
    """Begin one run of the publish task: touch the claim (it is alive) and say what to
    send. None when there is nothing to do (sent already, unknown, or the post was
    cancelled). Tries at Telegram are counted by `note_try_failed`, `mark_sent` and
    `mark_failed` (a run that only waited for the rate limiter is not a try)."""
    now = _now(now)
    publication = _publication(session, post_id, due_at)
    post = session.get(ScheduledPost, post_id)
    if publication is None or post is None or publication.status == SENT:
        return None
    if post.status == CANCELLED:
        if publication.status == SENDING:
            publication.status, publication.error = FAILED, "cancelled"
        return None
    publication.status = SENDING
    publication.claimed_at = now
    method, params = message_params(post, post.chat_id)
    return Job(post_id, _utc(due_at), delivery_key(post_id, due_at), post.chat_id, method,
               params)


def _count_try(post: ScheduledPost, publication: PostPublication | None) -> None:
    post.attempts = (post.attempts or 0) + 1
    if publication is not None:
        publication.attempts = (publication.attempts or 0) + 1


def note_try_failed(session: Session, post_id: int, due_at: datetime, code: str,
                    detail: str = "") -> None:
    """A try at Telegram failed and will be retried: count it, keep the error."""
    publication = _publication(session, post_id, due_at)
    post = session.get(ScheduledPost, post_id)
    if post is None or (publication is not None and publication.status == SENT):
        return
    _count_try(post, publication)
    post.last_error = f"{code}: {detail}"[:300] if detail else code[:300]
    if publication is not None:
        publication.error = code[:300]


def _advance(post: ScheduledPost, due_at: datetime, now: datetime) -> datetime | None:
    """Move a repeating post to its next occurrence after this one (and after now: missed
    occurrences are skipped, not published in a burst). None for a one-off post."""
    if post.repeat == NONE or post.cron is None:
        return None
    if post.status == SCHEDULED and _utc(post.publish_at) == _utc(due_at):
        post.publish_at = next_occurrence(post.cron, post.timezone, max(_utc(due_at), now))
    return _utc(post.publish_at)


def mark_sent(session: Session, post_id: int, due_at: datetime, message_id: int | None,
              now: datetime | None = None) -> Outcome:
    """The occurrence was published: keep the message id, register the post for reaction
    rewards, finish a one-off post or move a repeating one on, tell the admin. Idempotent."""
    now = _now(now)
    event_id = f"post.published:{post_id}:{due_key(due_at)}"
    publication = _publication(session, post_id, due_at)
    post = _post(session, post_id, lock=True)
    if publication is None:  # claimed elsewhere and lost? keep the truth: it was sent
        publication = PostPublication(post_id=post_id, due_at=_utc(due_at), status=SENDING,
                                      claimed_at=now, attempts=0)
        session.add(publication)
    if publication.status == SENT:
        return Outcome(SENT, post_id, events.unpublished(session, [event_id]))
    _count_try(post, publication)
    publication.status, publication.message_id, publication.sent_at = SENT, message_id, now
    publication.error = None
    if message_id is not None:
        reactions.register_post(session, post.chat_id, message_id, source="scheduled",
                                ref=reaction_ref(post.id))
    next_at = _advance(post, due_at, now)
    if post.repeat == NONE and post.status in (SCHEDULED, FAILED):
        post.status = PUBLISHED
    post.last_error = None
    session.flush()
    event = events.record(session, event_id, "post.published", _payload(
        session, post, post.created_by, due_at=due_key(due_at), message_id=message_id,
        chat_id=post.chat_id, next_at=next_at.isoformat() if next_at else None))
    return Outcome(SENT, post_id, [event])


def mark_failed(session: Session, post_id: int, due_at: datetime, code: str,
                detail: str = "", now: datetime | None = None, counted: bool = False
                ) -> Outcome:
    """The occurrence failed for good: a one-off post ends `failed`, a repeating one moves on
    to its next occurrence; the admin who created it is told (`post.failed`, once).
    `counted`: the failed try was counted already (`note_try_failed`)."""
    now = _now(now)
    event_id = f"post.failed:{post_id}:{due_key(due_at)}"
    publication = _publication(session, post_id, due_at)
    post = _post(session, post_id, lock=True)
    if publication is not None and publication.status == SENT:  # a twin attempt made it
        return Outcome(SENT, post_id)
    if publication is not None and publication.status == FAILED:
        return Outcome(FAILED, post_id, events.unpublished(session, [event_id]))
    if not counted:
        _count_try(post, publication)
    if publication is not None:
        publication.status, publication.error = FAILED, code[:300]
    post.last_error = f"{code}: {detail}"[:300] if detail else code[:300]
    if post.status == CANCELLED:
        return Outcome(FAILED, post_id)
    next_at = _advance(post, due_at, now)
    if post.repeat == NONE and post.status == SCHEDULED:
        post.status = FAILED
    session.flush()
    event = events.record(session, event_id, "post.failed", _payload(
        session, post, post.created_by, due_at=due_key(due_at), error=code[:40],
        next_at=next_at.isoformat() if next_at else None))
    return Outcome(FAILED, post_id, [event])


# --- reading -------------------------------------------------------------------------------


def get(session: Session, post_id: int) -> ScheduledPost | None:
    return session.get(ScheduledPost, post_id)


def publications(session: Session, post_id: int) -> list[PostPublication]:
    return list(session.scalars(select(PostPublication)
                                .where(PostPublication.post_id == post_id)
                                .order_by(PostPublication.due_at)))
