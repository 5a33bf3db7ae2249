"""👑 VIP access: subscriptions granted by admins or redeemed from single-use codes,
reminders before the end, and expiry (the member leaves the VIP channel).

`users.vip_until` is THE access field: every check (store VIP items, story VIP branches,
VIP missions, the gift multiplier, menus) reads it through `users.is_vip`. Grant, extend,
revoke and redeem move it in the same SQL transaction that writes their
`vip_subscriptions` row, so a change of access counts everywhere at once.

- A grant or a redeemed code while the member is VIP extends from the current end (source
  `extend`); otherwise it starts now (source `admin` or `code`). Each one plans its
  reminders (`vip_reminders`: `VIP_REMINDER_DAYS` before the new end).
- Every action is ONE transaction and answers once per request key: a subscription row is
  unique by `grant:<key>` / `redeem:<key>`, a revocation by its event id, a batch of codes
  by `batch_key`; a refusal is the event `vip.refused:<key>`. A redelivered request gets
  its first answer again.
- Admin actions (grant, revoke, codes) check `admins.is_admin` and write one audit row per
  attempt, allowed or refused. Refusals are results, never exceptions: the caller (a task,
  the /admin panel) publishes the outcome's events and is done.
- Codes: only a SHA-256 hash of the normalized code is stored. The plain codes are an HMAC
  (keyed from the bot token) of the request key and their index, so a redelivered request
  recomputes exactly the codes it made, and nobody can derive them from the database.
- Expiry and reminders are beat jobs over due rows, claimed one by one with a conditional
  UPDATE (`ended_at IS NULL`, `claimed_at IS NULL`): safe to run twice or concurrently.
  A subscription whose member has access beyond it (renewed, extended) ends silently as
  `renewed`; otherwise `vip.expired` says whether the member is to be removed from the
  channel (never an admin). The removal itself (ban, then unban so they can come back)
  is `tasks.vip.remove`, which checks again before it kicks.

Payloads carry ids, numbers, dates and codes of reasons only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.settings import get_settings
from models.tables import OutboxEvent, User, VipCode, VipReminder, VipSubscription
from services import admins, events, users

MAX_REQUEST_KEY = 150  # event ids are `vip.join_declined:<key>`, at most 200 characters
MAX_DAYS = 3650
MAX_CODES = 100
MAX_USER_ID = 2**53  # Telegram ids fit in 52 bits
DEFAULT_PLAN = "vip"
_PLAN = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

ADMIN, CODE, EXTEND = "admin", "code", "extend"  # subscription sources
EXPIRED, RENEWED, REVOKED = "expired", "renewed", "revoked"  # end reasons
SENT, SUPERSEDED = "sent", "superseded"  # reminder outcomes

GRANTED = "vip.granted"
REVOKED_EVENT = "vip.revoked"
REDEEMED = "vip.redeemed"
REFUSED = "vip.refused"
REMINDER = "vip.reminder"
EXPIRED_EVENT = "vip.expired"
JOIN_APPROVED = "vip.join_approved"
JOIN_DECLINED = "vip.join_declined"

# Results: ok · not_admin · invalid · unknown_member · not_vip (admin actions);
# unknown_code · code_used · code_expired (redeem).
OK = "ok"


@dataclass(frozen=True)
class Outcome:
    """What one action did. `events` are to be published after the commit."""

    result: str
    action: str
    events: list[events.Event] = field(default_factory=list)
    replayed: bool = False
    user_id: int | None = None
    ends_at: datetime | None = None
    codes: list[str] = field(default_factory=list)  # create_codes only: shown once

    @property
    def ok(self) -> bool:
        return self.result == OK

    def as_dict(self) -> dict[str, Any]:
        """For a task's result (no codes: they are secrets shown to the admin only)."""
        return {"result": self.result, "action": self.action, "replayed": self.replayed,
                "user_id": self.user_id,
                "ends_at": self.ends_at.isoformat() if self.ends_at else None,
                "codes": len(self.codes)}


@dataclass(frozen=True)
class Status:
    """A member's VIP access as the bot shows it."""

    user_id: int
    registered: bool
    active: bool
    ends_at: datetime | None  # the end of the access (or when it ended), None: never VIP
    since: datetime | None  # the start of the current uninterrupted access
    plan: str | None
    source: str | None


@dataclass(frozen=True)
class Expiry:
    subscription_id: int
    user_id: int
    reason: str  # expired · renewed
    remove: bool
    events: list[events.Event] = field(default_factory=list)


# --- helpers -------------------------------------------------------------------------------


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _language(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id is not None else None
    return user.language if user is not None else get_settings().default_language


def _valid_user_id(user_id: object) -> bool:
    return isinstance(user_id, int) and 0 < user_id < MAX_USER_ID


def normalize_plan(plan: str | None) -> str | None:
    plan = (plan or DEFAULT_PLAN).strip().lower()
    return plan if _PLAN.fullmatch(plan) else None


def _lock_user(session: Session, user_id: int) -> User | None:
    """The member's row, locked until the transaction ends (serializes their access
    changes against the expiry job on PostgreSQL; SQLite's writer lock does the same)."""
    return session.scalars(select(User).where(User.id == user_id).with_for_update()
                           .execution_options(populate_existing=True)).one_or_none()


def _active(user: User | None, now: datetime) -> bool:
    return user is not None and users.is_vip(user, now)


def _subscription(session: Session, key: str) -> VipSubscription | None:
    return session.scalars(select(VipSubscription).where(VipSubscription.request_key == key)
                           ).one_or_none()


def _refused_before(session: Session, action: str, request_key: str) -> Outcome | None:
    event_id = f"{REFUSED}:{request_key}"
    row = session.get(OutboxEvent, event_id)
    if row is None:
        return None
    return Outcome(str(row.payload.get("reason", "invalid")), action,
                   events.unpublished(session, [event_id]), replayed=True)


def _refuse(session: Session, action: str, request_key: str, reason: str, *,
            recipient: int | None, actor_id: int | None = None, target: int | None = None,
            audited: bool = True, details: dict[str, Any] | None = None) -> Outcome:
    """Record a refusal (the event to `recipient`, and for admin actions the audit row),
    once per request key. The event is written first: a twin delivery racing on the same
    key fails on its id instead of writing a second audit row."""
    payload: dict[str, Any] = {"action": action, "reason": reason,
                               "lang": _language(session, recipient)}
    if recipient is not None:
        payload["user_id"] = recipient
    if target is not None:
        payload["target_id"] = target
    event = events.record_once(session, f"{REFUSED}:{request_key}", REFUSED, payload)
    if event is None:
        earlier = _refused_before(session, action, request_key)
        assert earlier is not None
        return earlier
    if audited:
        admins.audit(session, actor_id, f"vip.{action}",
                     None if target is None else str(target), reason,
                     {**(details or {}), "request_key": request_key})
    return Outcome(reason, action, [event], user_id=target)


def _plan_reminders(session: Session, user_id: int, ends_at: datetime, now: datetime) -> None:
    for days in get_settings().vip_reminder_days:
        due = ends_at - timedelta(days=days)
        if due <= now:
            continue
        exists = session.scalars(select(VipReminder.id).where(
            VipReminder.user_id == user_id, VipReminder.ends_at == ends_at,
            VipReminder.days_before == days)).first()
        if exists is None:
            session.add(VipReminder(user_id=user_id, ends_at=ends_at, days_before=days,
                                    due_at=due))


def _add_period(session: Session, user: User, *, days: int, plan: str, source: str,
                key: str, now: datetime, granted_by: int | None = None,
                code_id: int | None = None) -> VipSubscription:
    """A new period: from the current end while the member is VIP (an extension), else
    from now; `users.vip_until` moves with it."""
    active = _active(user, now)
    starts = user.vip_until if active and user.vip_until is not None else now
    ends = starts + timedelta(days=days)
    row = VipSubscription(user_id=user.id, plan=plan, source=EXTEND if active else source,
                          starts_at=starts, ends_at=ends, granted_by=granted_by,
                          code_id=code_id, request_key=key, created_at=now)
    session.add(row)
    user.vip_until = ends
    _plan_reminders(session, user.id, ends, now)
    session.flush()
    return row


def _period_payload(session: Session, row: VipSubscription, days: int) -> dict[str, Any]:
    return {"user_id": row.user_id, "subscription_id": row.id, "plan": row.plan,
            "days": days, "source": row.source, "ends_at": row.ends_at.isoformat(),
            "lang": _language(session, row.user_id)}


# --- admin actions ---------------------------------------------------------------------------


def grant(session: Session, actor_id: int | None, user_id: int, days: int, plan: str | None,
          request_key: str, *, now: datetime | None = None) -> Outcome:
    """Give a member `days` of VIP (extending an active subscription), once per key."""
    _check_key(request_key)
    now = _now(now)
    action = "grant"
    key = f"grant:{request_key}"
    existing = _subscription(session, key)
    event_id = f"{GRANTED}:{request_key}"
    if existing is not None:  # this very request, delivered again
        return Outcome(OK, action, events.unpublished(session, [event_id]), replayed=True,
                       user_id=existing.user_id, ends_at=existing.ends_at)
    earlier = _refused_before(session, action, request_key)
    if earlier is not None:
        return earlier
    details: dict[str, Any] = {"days": days, "plan": str(plan or "")[:32]}
    target = user_id if _valid_user_id(user_id) else None

    def refuse(reason: str) -> Outcome:
        return _refuse(session, action, request_key, reason, recipient=actor_id,
                       actor_id=actor_id, target=target, details=details)

    if not admins.is_admin(session, actor_id):
        return refuse("not_admin")
    valid_plan = normalize_plan(plan)
    if target is None or valid_plan is None or not isinstance(days, int) \
            or not 0 < days <= MAX_DAYS:
        return refuse("invalid")
    user = _lock_user(session, user_id)
    if user is None:
        return refuse("unknown_member")
    row = _add_period(session, user, days=days, plan=valid_plan, source=ADMIN, key=key,
                      now=now, granted_by=actor_id)
    payload = {**_period_payload(session, row, days), "actor_id": actor_id,
               "admin_lang": _language(session, actor_id)}
    event = events.record(session, event_id, GRANTED, payload)
    admins.audit(session, actor_id, "vip.grant", str(user_id), OK,
                 {**details, "plan": valid_plan, "source": row.source,
                  "subscription_id": row.id, "ends_at": row.ends_at.isoformat(),
                  "request_key": request_key})
    return Outcome(OK, action, [event], user_id=user_id, ends_at=row.ends_at)


def revoke(session: Session, actor_id: int | None, user_id: int, request_key: str, *,
           now: datetime | None = None) -> Outcome:
    """End a member's VIP access now (they are removed from the VIP channel unless they
    are an admin), once per key."""
    _check_key(request_key)
    now = _now(now)
    action = "revoke"
    event_id = f"{REVOKED_EVENT}:{request_key}"
    done = session.get(OutboxEvent, event_id)
    if done is not None:
        return Outcome(OK, action, events.unpublished(session, [event_id]), replayed=True,
                       user_id=int(done.payload["user_id"]))
    earlier = _refused_before(session, action, request_key)
    if earlier is not None:
        return earlier
    target = user_id if _valid_user_id(user_id) else None

    def refuse(reason: str) -> Outcome:
        return _refuse(session, action, request_key, reason, recipient=actor_id,
                       actor_id=actor_id, target=target)

    if not admins.is_admin(session, actor_id):
        return refuse("not_admin")
    if target is None:
        return refuse("invalid")
    user = _lock_user(session, user_id)
    if user is None:
        return refuse("unknown_member")
    if not _active(user, now):
        return refuse("not_vip")
    previous_end = user.vip_until
    assert previous_end is not None
    event = events.record_once(session, event_id, REVOKED_EVENT, {
        "user_id": user_id, "actor_id": actor_id, "ends_at": previous_end.isoformat(),
        "remove": not admins.is_admin(session, user_id), "lang": user.language,
        "admin_lang": _language(session, actor_id)})
    if event is None:  # cannot happen after the check above, but never audit twice
        return Outcome(OK, action, events.unpublished(session, [event_id]), replayed=True,
                       user_id=user_id)
    session.execute(update(VipSubscription)
                    .where(VipSubscription.user_id == user_id,
                           VipSubscription.ended_at.is_(None))
                    .values(ended_at=now, end_reason=REVOKED)
                    .execution_options(synchronize_session=False))
    user.vip_until = now
    admins.audit(session, actor_id, "vip.revoke", str(user_id), OK,
                 {"ended": previous_end.isoformat(), "request_key": request_key})
    return Outcome(OK, action, [event], user_id=user_id, ends_at=now)


# --- codes -----------------------------------------------------------------------------------

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32: no I, L, O, U
_BODY = 16  # symbols: 80 bits
_READ_AS = str.maketrans("ILO", "110")


def _code_secret() -> bytes:
    return hashlib.sha256(b"yabot:vip-codes:" + get_settings().bot_token.encode()).digest()


def _code(request_key: str, index: int) -> str:
    digest = hmac.new(_code_secret(), f"{request_key}:{index}".encode(), hashlib.sha256).digest()
    number = int.from_bytes(digest[:10], "big")
    body = "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in range(_BODY))
    return "VIP-" + "-".join(body[i:i + 4] for i in range(0, _BODY, 4))


def normalize_code(code: str) -> str | None:
    """The 16 symbols of a code as typed (any case, dashes, spaces, the `VIP-` prefix;
    I/L read as 1 and O as 0), or None when it cannot be one."""
    if not isinstance(code, str) or len(code) > 64:
        return None
    body = re.sub(r"[^0-9A-Z]", "", code.upper()).translate(_READ_AS)
    if len(body) == _BODY + 3 and body.startswith("V1P"):
        body = body[3:]
    if len(body) != _BODY or any(symbol not in _ALPHABET for symbol in body):
        return None
    return body


def code_hash(code: str) -> str | None:
    body = normalize_code(code)
    return hashlib.sha256(body.encode()).hexdigest() if body is not None else None


def create_codes(session: Session, actor_id: int | None, count: int, days: int,
                 plan: str | None, request_key: str, *, valid_days: int | None = None,
                 now: datetime | None = None) -> Outcome:
    """Make `count` single-use codes worth `days` of VIP each (valid for `valid_days`, or
    until used). The plain codes are in the outcome, and the same request key returns the
    same codes again; the database keeps only their hashes."""
    _check_key(request_key)
    now = _now(now)
    action = "codes"
    made = list(session.scalars(select(VipCode).where(VipCode.batch_key == request_key)
                                .order_by(VipCode.id)))
    if made:  # this very request, delivered again: recompute what it made
        codes = [_code(request_key, index) for index in range(len(made))]
        if {code_hash(code) for code in codes} != {row.code_hash for row in made}:
            raise RuntimeError("the bot token changed since these codes were made")
        return Outcome(OK, action, [], replayed=True, codes=codes)
    earlier = _refused_before(session, action, request_key)
    if earlier is not None:
        return earlier
    details: dict[str, Any] = {"count": count, "days": days, "plan": str(plan or "")[:32],
                               "valid_days": valid_days}

    def refuse(reason: str) -> Outcome:
        return _refuse(session, action, request_key, reason, recipient=actor_id,
                       actor_id=actor_id, details=details)

    if not admins.is_admin(session, actor_id):
        return refuse("not_admin")
    valid_plan = normalize_plan(plan)
    if valid_plan is None or not isinstance(count, int) or not 0 < count <= MAX_CODES \
            or not isinstance(days, int) or not 0 < days <= MAX_DAYS \
            or (valid_days is not None and not 0 < valid_days <= MAX_DAYS):
        return refuse("invalid")
    expires = now + timedelta(days=valid_days) if valid_days else None
    codes = [_code(request_key, index) for index in range(count)]
    rows = [VipCode(code_hash=code_hash(code), batch_key=request_key, plan=valid_plan,
                    days=days, created_by=actor_id, created_at=now, expires_at=expires)
            for code in codes]
    session.add_all(rows)
    session.flush()
    admins.audit(session, actor_id, "vip.codes", None, OK,
                 {**details, "plan": valid_plan, "code_ids": [row.id for row in rows],
                  "request_key": request_key})
    return Outcome(OK, action, [], codes=codes)


def redeem(session: Session, user_id: int, code: str, request_key: str, *,
           now: datetime | None = None) -> Outcome:
    """Redeem a single-use code for the member, once per key. Refusals: unknown_code,
    code_used, code_expired. Raises NotRegistered (the task retries: registration may
    still be in flight)."""
    _check_key(request_key)
    now = _now(now)
    action = "redeem"
    key = f"redeem:{request_key}"
    event_id = f"{REDEEMED}:{request_key}"
    existing = _subscription(session, key)
    if existing is not None:
        return Outcome(OK, action, events.unpublished(session, [event_id]), replayed=True,
                       user_id=existing.user_id, ends_at=existing.ends_at)
    earlier = _refused_before(session, action, request_key)
    if earlier is not None:
        return earlier
    user = _lock_user(session, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")

    def refuse(reason: str) -> Outcome:  # a member's refusal: told, not audited
        return _refuse(session, action, request_key, reason, recipient=user_id,
                       audited=False)

    digest = code_hash(code)
    row = None if digest is None else session.scalars(
        select(VipCode).where(VipCode.code_hash == digest)).one_or_none()
    if row is None:
        return refuse("unknown_code")
    if row.redeemed_by is not None:
        return refuse("code_used")
    if row.expires_at is not None and row.expires_at <= now:
        return refuse("code_expired")
    taken = session.execute(update(VipCode)
                            .where(VipCode.id == row.id, VipCode.redeemed_by.is_(None))
                            .values(redeemed_by=user_id, redeemed_at=now)
                            .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        return refuse("code_used")
    period = _add_period(session, user, days=row.days, plan=row.plan, source=CODE, key=key,
                         now=now, code_id=row.id)
    payload = {**_period_payload(session, period, row.days), "code_id": row.id}
    event = events.record(session, event_id, REDEEMED, payload)
    return Outcome(OK, action, [event], user_id=user_id, ends_at=period.ends_at)


# --- reads -----------------------------------------------------------------------------------


def status(session: Session, user_id: int, *, now: datetime | None = None) -> Status:
    """The member's access: active or not, until when, since when, which plan."""
    now = _now(now)
    user = session.get(User, user_id)
    if user is None:
        return Status(user_id, False, False, None, None, None, None)
    active = _active(user, now)
    latest = session.scalars(select(VipSubscription).where(VipSubscription.user_id == user_id)
                             .order_by(VipSubscription.ends_at.desc(),
                                       VipSubscription.id.desc()).limit(1)).first()
    since = None
    if active:
        since = session.scalars(select(VipSubscription.starts_at).where(
            VipSubscription.user_id == user_id, VipSubscription.ended_at.is_(None))
            .order_by(VipSubscription.starts_at).limit(1)).first()
    return Status(user_id, True, active, user.vip_until, since,
                  latest.plan if latest is not None else None,
                  latest.source if latest is not None else None)


def may_join(session: Session, user_id: int, *, now: datetime | None = None) -> bool:
    """Whether the VIP channel lets this person in: an active subscription, or an admin."""
    now = _now(now)
    return _active(session.get(User, user_id), now) or admins.is_admin(session, user_id)


def join_decision(session: Session, user_id: int, chat_id: int, request_key: str, *,
                  now: datetime | None = None) -> tuple[bool, events.Event]:
    """Approve or decline a join request, decided once per request key (a redelivered
    request gets the same answer, even if the access changed in between)."""
    _check_key(request_key)
    for kind, approved in ((JOIN_APPROVED, True), (JOIN_DECLINED, False)):
        row = session.get(OutboxEvent, f"{kind}:{request_key}")
        if row is not None:
            return approved, events.Event.from_row(row)
    now = _now(now)
    approved = may_join(session, user_id, now=now)
    user = session.get(User, user_id)
    kind = JOIN_APPROVED if approved else JOIN_DECLINED
    payload: dict[str, Any] = {"user_id": user_id, "chat_id": chat_id,
                               "lang": _language(session, user_id)}
    if approved and user is not None and user.vip_until is not None and _active(user, now):
        payload["ends_at"] = user.vip_until.isoformat()
    event = events.record_once(session, f"{kind}:{request_key}", kind, payload)
    if event is None:
        return join_decision(session, user_id, chat_id, request_key, now=now)
    return approved, event


# --- expiry and reminders (beat) ----------------------------------------------------------------


def due_expiries(session: Session, *, now: datetime | None = None,
                 limit: int = 100) -> list[int]:
    """Ids of subscriptions whose end has passed and that are not ended yet (a batch)."""
    return list(session.scalars(
        select(VipSubscription.id).where(VipSubscription.ended_at.is_(None),
                                         VipSubscription.ends_at <= _now(now))
        .order_by(VipSubscription.ends_at, VipSubscription.id).limit(limit)))


def expire(session: Session, subscription_id: int, *,
           now: datetime | None = None) -> Expiry | None:
    """End one due subscription, once (None: not due, or ended by someone else).

    A member with access beyond this period (extended, renewed) ends it as `renewed`,
    silently. Otherwise `vip.expired` is recorded: the member is told, and removed from
    the VIP channel unless they are an admin (`remove`)."""
    now = _now(now)
    row = session.get(VipSubscription, subscription_id)
    if row is None or row.ended_at is not None or row.ends_at > now:
        return None
    user = _lock_user(session, row.user_id)
    assert user is not None  # the foreign key
    renewed = user.vip_until is not None and user.vip_until > row.ends_at
    reason = RENEWED if renewed else EXPIRED
    claimed = session.execute(update(VipSubscription)
                              .where(VipSubscription.id == subscription_id,
                                     VipSubscription.ended_at.is_(None),
                                     VipSubscription.ends_at <= now)
                              .values(ended_at=now, end_reason=reason)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None
    if renewed:
        return Expiry(subscription_id, user.id, reason, False)
    remove = not admins.is_admin(session, user.id)
    event = events.record(session, f"{EXPIRED_EVENT}:{subscription_id}", EXPIRED_EVENT, {
        "user_id": user.id, "subscription_id": subscription_id, "plan": row.plan,
        "ends_at": row.ends_at.isoformat(), "remove": remove, "lang": user.language})
    return Expiry(subscription_id, user.id, reason, remove, [event])


def due_reminders(session: Session, *, now: datetime | None = None,
                  limit: int = 100) -> list[int]:
    """Ids of reminders whose time has come and that nobody claimed yet (a batch)."""
    return list(session.scalars(
        select(VipReminder.id).where(VipReminder.claimed_at.is_(None),
                                     VipReminder.due_at <= _now(now))
        .order_by(VipReminder.due_at, VipReminder.id).limit(limit)))


def _same_time(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs((a - b).total_seconds()) < 1


def remind(session: Session, reminder_id: int, *,
           now: datetime | None = None) -> list[events.Event] | None:
    """Claim one due reminder (None: not due or claimed by someone else) and return the
    `vip.reminder` event to publish ([] when it no longer applies: the end moved, or a
    nearer reminder of the same end is due too, so the member gets only that one)."""
    now = _now(now)
    row = session.get(VipReminder, reminder_id)
    if row is None or row.claimed_at is not None or row.due_at > now:
        return None
    user = session.get(User, row.user_id)
    current = user is not None and _active(user, now) and _same_time(user.vip_until,
                                                                     row.ends_at)
    nearer = session.scalars(select(VipReminder.id).where(
        VipReminder.user_id == row.user_id, VipReminder.ends_at == row.ends_at,
        VipReminder.days_before < row.days_before, VipReminder.due_at <= now)).first()
    outcome = SENT if current and nearer is None else SUPERSEDED
    claimed = session.execute(update(VipReminder)
                              .where(VipReminder.id == reminder_id,
                                     VipReminder.claimed_at.is_(None))
                              .values(claimed_at=now, outcome=outcome)
                              .execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return None
    if outcome != SENT or user is None:
        return []
    return [events.record(session, f"{REMINDER}:{reminder_id}", REMINDER, {
        "user_id": row.user_id, "days": row.days_before, "ends_at": row.ends_at.isoformat(),
        "lang": user.language})]
