"""The story engine: where a member is, what they may choose, and what a choice does.

The story itself is content (content/story/*.yaml, read by services/story_content.py and
checked by services/story_checker.py; `content.story()` is the checked story in use).

Progress lives in the member's MongoDB document, under `story`:
  position     the fragment the member is on ("start" until the first move)
  step         how many moves the member has made; every button carries it, so a button of
               an earlier page (or a second tap) never moves the member twice
  last         the last move: {step, from, to, kind, key} (a redelivered move finds itself)
  path         the fragments visited, in order (the last PATH_KEEP)
  read         {fragment id: first read at}
  choices      {fragment id: {choice id: first taken at}}
  lore         lore pieces and hints held (the 🎒 backpack)
  checkpoints  checkpoints reached (restart points); endings: endings reached
  unlocked     hidden fragments opened by combining lore
Flags are the document's top-level `flags` ({name: true}).

Taking a choice is a workflow of three idempotent tasks (tasks/story.py):
  take    validate the choice against the member's state, then pay in ONE SQL transaction:
          the cost (ledger key `story-cost:<user>:<fragment>.<choice>`, paid once ever) and
          the items consumed (`story-use:<user>:<fragment>.<choice>:<item>`, once ever);
          a refusal is a `story.choice_refused` event (once per request key)
  move    one conditional MongoDB update on `story.step` (only one move per step wins)
  settle  the effects of the choice and of the fragment reached (once per member each,
          keys `story-effect:<user>:<node>`), the milestone of a checkpoint or an ending
          (once, `story-milestone:<user>:<fragment>`), then the events `story.choice_made`,
          `story.fragment_read` (which renders the new page), `story.milestone`.
A choice taken once stays paid: going through it again (after a restart from a checkpoint)
costs nothing and consumes nothing, but VIP, level, flags and the other conditions are
checked every time. If two different choices of one page race, one moves and the other is
told the page has turned; a cost it paid stays paid for that choice.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from core.settings import get_settings
from models import mongo
from models.tables import OutboxEvent, User
from services import achievements, content, events, inventory, levels, missions, users, wallet
from services.story_content import TOKEN_LENGTH, Choice, Conditions, Effects, Fragment, Story

PATH_KEEP = 200
START = "start"
MAX_REQUEST_KEY = 150
MISSION_PROGRESS = missions.MISSION_PROGRESS

Kind = Literal["choice", "restart", "combine"]


# --- reading the member's progress ----------------------------------------------------------

@dataclass(frozen=True)
class Progress:
    """The `story` part of a member's state, read."""

    position: str
    step: int
    last: dict[str, Any]
    read: frozenset[str]
    chose: frozenset[str]  # "fragment.choice"
    lore: tuple[str, ...]
    checkpoints: tuple[str, ...]
    endings: tuple[str, ...]
    unlocked: frozenset[str]
    flags: frozenset[str]
    achievements: frozenset[str]
    missions_done: frozenset[str]

    @classmethod
    def of(cls, state: dict[str, Any] | None, story: Story) -> Progress:
        state = state or {}
        data = state.get("story") or {}
        position = str(data.get("position") or START)
        if position not in story.fragments:  # "start", or a fragment an edit removed
            position = _fallback_position(data, story)
        chose = {f"{fragment}.{choice}" for fragment, taken in (data.get("choices") or {}).items()
                 if isinstance(taken, dict) for choice in taken}
        done = {mission_id for mission_id, periods in (state.get("missions") or {}).items()
                if isinstance(periods, dict)
                and any(isinstance(slot, dict) and slot.get("completed_at")
                        for slot in periods.values())}
        return cls(
            position=position, step=int(data.get("step") or 0), last=data.get("last") or {},
            read=frozenset(data.get("read") or {}), chose=frozenset(chose),
            lore=tuple(data.get("lore") or ()), checkpoints=tuple(data.get("checkpoints") or ()),
            endings=tuple(data.get("endings") or ()),
            unlocked=frozenset(data.get("unlocked") or ()),
            flags=frozenset(name for name, value in (state.get("flags") or {}).items() if value),
            achievements=frozenset(state.get("achievements") or {}),
            missions_done=frozenset(done),
        )

    def percent(self, story: Story) -> int:
        """Completion: the share of the story's fragments read, 0-100."""
        total = len(story.fragments)
        return round(100 * len(self.read & set(story.fragments)) / total) if total else 0


def _fallback_position(data: dict[str, Any], story: Story) -> str:
    """Where a member whose position is not a fragment resumes: the last checkpoint they
    reached that still exists, else the start."""
    for checkpoint in reversed(list(data.get("checkpoints") or ())):
        if checkpoint in story.fragments:
            return str(checkpoint)
    return story.start


def progress(user_id: int, story: Story | None = None) -> Progress:
    """The member's progress (raises one of `mongo.UNAVAILABLE` when MongoDB is down)."""
    story = story or content.story()
    return Progress.of(mongo.member_state(user_id), story)


# --- the facts conditions are checked against ----------------------------------------------

@dataclass(frozen=True)
class Facts:
    vip: bool
    level: int
    balance: int
    items: dict[str, int]
    progress: Progress


def read_facts(session: Session, user_id: int, progress_: Progress) -> Facts:
    user = session.get(User, user_id)
    if user is None:
        raise users.NotRegistered(f"member {user_id} is not registered")
    level = levels.level_for(levels.lifetime_earned(session, user_id)).level
    return Facts(vip=users.is_vip(user), level=level, balance=wallet.balance(session, user_id),
                 items=dict(inventory.lines(session, user_id)), progress=progress_)


def unmet(conditions: Conditions, facts: Facts, *, paid: bool = False) -> list[str]:
    """The reason codes of the conditions `facts` do not meet (empty: all hold).

    `paid`: the member took this choice before, so its cost and what it consumes are
    settled and not asked again."""
    p = facts.progress
    reasons: list[str] = []
    if conditions.vip and not facts.vip:
        reasons.append("vip_only")
    if conditions.min_level and facts.level < conditions.min_level:
        reasons.append("level")
    if conditions.cost and not paid and facts.balance < conditions.cost:
        reasons.append("insufficient_funds")
    for need in conditions.items:
        if paid and need.consume:
            continue
        if facts.items.get(need.item, 0) < need.quantity:
            reasons.append("missing_item")
            break
    for lore_need in conditions.lore:
        if paid and lore_need.consume:
            continue
        if lore_need.id not in p.lore:
            reasons.append("missing_lore")
            break
    if any(fragment not in p.read for fragment in conditions.read):
        reasons.append("not_read")
    if any(ref not in p.chose for ref in conditions.chose):
        reasons.append("not_chosen")
    if any(flag not in p.flags for flag in conditions.flags.is_set) or \
            any(flag in p.flags for flag in conditions.flags.not_set):
        reasons.append("flags")
    if any(a not in p.achievements for a in conditions.achievements):
        reasons.append("achievement")
    if any(m not in p.missions_done for m in conditions.missions):
        reasons.append("mission")
    return reasons


def choice_conditions(story: Story, choice: Choice) -> list[Conditions]:
    """What taking `choice` requires: its own conditions and the target fragment's."""
    target = story.fragments.get(choice.target)
    return [choice.conditions] + ([target.conditions] if target is not None else [])


# --- tamper-proof buttons ---------------------------------------------------------------------

def _key() -> bytes:
    secret = get_settings().bot_token
    return hashlib.sha256(f"yabot-story-buttons:{secret}".encode()).digest()


def token(user_id: int, *parts: object) -> str:
    """An 8-character HMAC over the member and what the button does (URL-safe base64)."""
    message = ":".join(str(part) for part in (user_id, *parts)).encode()
    digest = hmac.new(_key(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:TOKEN_LENGTH]


def token_ok(candidate: str, user_id: int, *parts: object) -> bool:
    return hmac.compare_digest(candidate.encode(), token(user_id, *parts).encode())


# --- the workflow's plan ---------------------------------------------------------------------

class Refused(Exception):  # noqa: N818  (a refusal the member is told about)
    def __init__(self, code: str, fragment_id: str = "", choice_id: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.fragment_id = fragment_id
        self.choice_id = choice_id


@dataclass
class Plan:
    """One move, as the tasks pass it along (JSON)."""

    user_id: int
    kind: Kind
    step: int
    origin: str
    target: str
    key: str
    lang: str
    choice: str | None = None  # choice id (kind "choice")
    status: str = "ok"  # ok · moved (done before) · stale · refused
    reason: str | None = None
    consumed_lore: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "kind": self.kind, "step": self.step,
                "origin": self.origin, "target": self.target, "key": self.key,
                "lang": self.lang, "choice": self.choice, "status": self.status,
                "reason": self.reason, "consumed_lore": list(self.consumed_lore)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(user_id=int(data["user_id"]), kind=data["kind"], step=int(data["step"]),
                   origin=str(data["origin"]), target=str(data["target"]),
                   key=str(data["key"]), lang=str(data["lang"]), choice=data.get("choice"),
                   status=str(data.get("status") or "ok"), reason=data.get("reason"),
                   consumed_lore=list(data.get("consumed_lore") or ()))

    @property
    def node(self) -> str:
        """The id the choice's once-only effects are keyed by."""
        return f"{self.origin}.{self.choice}"


def _check_key(request_key: str) -> None:
    if not request_key or len(request_key) > MAX_REQUEST_KEY:
        raise ValueError("a request key of 1 to 150 characters is required")


def _already_moved(p: Progress, step: int, request_key: str) -> bool:
    return p.step > step and p.last.get("step") == step and p.last.get("key") == request_key


def _language(session: Session, user_id: int) -> str:
    user = session.get(User, user_id)
    return user.language if user is not None else get_settings().default_language


def take(session: Session, user_id: int, fragment_id: str, index: int, step: int,
         request_key: str, story: Story | None = None) -> Plan:
    """Validate choice `index` of `fragment_id` at `step` and pay for it (once ever).

    Returns the plan for `move` and `settle`: status "ok", "moved" (this request moved
    already: finish its job), or "stale" (the page turned: another move won). Raises
    Refused (record it with `refuse`) or NotRegistered.
    """
    _check_key(request_key)
    story = story or content.story()
    p = progress(user_id, story)
    language = _language(session, user_id)
    fragment = story.fragments.get(fragment_id)
    choice = story.choice(fragment_id, index)
    if fragment is None or choice is None:
        raise Refused("unknown_choice", fragment_id)
    plan = Plan(user_id, "choice", step, fragment_id, choice.target, request_key, language,
                choice=choice.id)
    if _already_moved(p, step, request_key):
        plan.status = "moved"
        return plan
    if p.position != fragment_id or p.step != step:
        plan.status = "stale"
        return plan
    wallet.lock(session, user_id)  # one change at a time per member
    facts = read_facts(session, user_id, p)
    paid = plan.node in p.chose
    reasons = [reason for conditions in choice_conditions(story, choice)
               for reason in unmet(conditions, facts, paid=paid)]
    if reasons:
        raise Refused(reasons[0], fragment_id, choice.id)
    if not paid:
        for conditions in choice_conditions(story, choice):
            _pay(session, user_id, plan, conditions)
    return plan


def _pay(session: Session, user_id: int, plan: Plan, conditions: Conditions) -> None:
    if conditions.cost:
        wallet.debit(session, user_id, conditions.cost, reason=f"story:{plan.node}",
                     key=f"story-cost:{user_id}:{plan.node}")
    for need in conditions.items:
        if need.consume:
            inventory.take(session, user_id, need.item, need.quantity,
                           reason=f"story:{plan.node}",
                           key=f"story-use:{user_id}:{plan.node}:{need.item}")
    plan.consumed_lore.extend(need.id for need in conditions.lore if need.consume)


def refuse(session: Session, user_id: int, request_key: str, exc: Refused) -> list[events.Event]:
    """Record a refusal once per request key; returns what to publish."""
    event_id = f"story.choice_refused:{request_key}"
    if session.get(OutboxEvent, event_id) is not None:
        return events.unpublished(session, [event_id])
    return [events.record(session, event_id, "story.choice_refused",
                          {"user_id": user_id, "fragment_id": exc.fragment_id[:40],
                           "choice_id": exc.choice_id, "reason": exc.code,
                           "balance": wallet.balance(session, user_id),
                           "lang": _language(session, user_id)})]


def combinable(story: Story, p: Progress) -> list[str]:
    """Hidden fragments the member can open now: every piece held, not opened yet."""
    return [target for target, pieces in story.recipes().items()
            if pieces <= set(p.lore) and target not in p.unlocked and target in story.fragments]


def jump(session: Session, user_id: int, kind: Kind, target: str, step: int,
         request_key: str, story: Story | None = None) -> Plan:
    """Plan a move that is not a choice: `restart` (back to a checkpoint the member
    reached) or `combine` (into the hidden fragment whose lore pieces they all hold)."""
    _check_key(request_key)
    story = story or content.story()
    p = progress(user_id, story)
    plan = Plan(user_id, kind, step, p.position, target, request_key,
                _language(session, user_id))
    if _already_moved(p, step, request_key):
        plan.status = "moved"
        return plan
    refusal = _jump_refusal(kind, target, p, story)
    if refusal is not None:
        raise Refused(refusal, target)
    if p.step != step:
        plan.status = "stale"
    return plan


def _jump_refusal(kind: Kind, target: str, p: Progress, story: Story) -> str | None:
    if kind == "restart":
        reached = target in p.checkpoints and target in story.fragments
        return None if reached else "unknown_checkpoint"
    pieces = story.recipes().get(target)
    if kind != "combine" or pieces is None or target not in story.fragments:
        return "unknown_combination"
    return None if pieces <= set(p.lore) else "missing_lore"


# --- move (MongoDB) --------------------------------------------------------------------------

def move(plan: Plan, story: Story | None = None) -> Plan:
    """Move the member (one conditional update: only one move per step wins)."""
    if plan.status != "ok":
        return plan
    story = story or content.story()
    now = datetime.now(UTC)
    target = story.fragments[plan.target]
    data = {"step": plan.step, "from": plan.origin, "to": plan.target, "kind": plan.kind,
            "key": plan.key}
    update: dict[str, Any] = {
        "$set": {"story.position": plan.target, "story.step": plan.step + 1,
                 "story.last": data},
        "$push": {"story.path": {"$each": [plan.target], "$slice": -PATH_KEEP}},
    }
    first = {f"story.read.{plan.target}": now}
    if plan.kind == "choice":
        first[f"story.choices.{plan.origin}.{plan.choice}"] = now
    added: dict[str, Any] = {}
    if target.checkpoint:
        added["story.checkpoints"] = plan.target
    if target.ending:
        added["story.endings"] = plan.target
    if plan.kind == "combine":
        added["story.unlocked"] = plan.target
    if added:
        update["$addToSet"] = added
    if plan.consumed_lore:
        update["$pullAll"] = {"story.lore": list(plan.consumed_lore)}
    update["$min"] = first  # the first time only: a missing field is set, a later one kept
    step_now = {"$in": [plan.step, None]} if plan.step == 0 else plan.step
    result = mongo.members().update_one({"_id": plan.user_id, "story.step": step_now}, update)
    if result.matched_count == 1:
        return plan
    p = progress(plan.user_id, story)
    plan.status = "moved" if p.last.get("step") == plan.step and \
        p.last.get("key") == plan.key else "stale"
    return plan


# --- settle: effects, milestones, events ------------------------------------------------------

def _effects_update(effects: Effects) -> dict[str, Any]:
    update: dict[str, Any] = {}
    sets = {f"flags.{flag}": True for flag in effects.flags.is_set}
    unsets = {f"flags.{flag}": "" for flag in effects.flags.clear}
    if sets:
        update["$set"] = sets
    if unsets:
        update["$unset"] = unsets
    if effects.lore:
        update["$addToSet"] = {"story.lore": {"$each": list(effects.lore)}}
    return update


def apply_state_effects(plan: Plan, story: Story | None = None) -> None:
    """Flags and lore of the choice and of the fragment reached, once per member each."""
    story = story or content.story()
    for node, effects in _nodes(plan, story):
        update = _effects_update(effects)
        if update:
            mongo.apply_once(plan.user_id, f"story.effects:{node}", update, plan.lang)


def _nodes(plan: Plan, story: Story) -> list[tuple[str, Effects]]:
    """(once-key, effects) of what this move does: the choice, then the fragment reached."""
    nodes: list[tuple[str, Effects]] = []
    if plan.kind == "choice" and plan.choice is not None:
        choice = next((c for c in story.fragments[plan.origin].choices
                       if c.id == plan.choice), None) if plan.origin in story.fragments else None
        if choice is not None:
            nodes.append((plan.node, choice.effects))
    nodes.append((plan.target, story.fragments[plan.target].effects))
    return nodes


@dataclass
class Settled:
    events: list[events.Event]
    achievements: list[content.Achievement]


def settle(session: Session, plan: Plan, story: Story | None = None) -> Settled:
    """Pay the effects and milestone of the move (each once per member) and record its
    events (once per step). Call after `move` and `apply_state_effects`."""
    story = story or content.story()
    user_id = plan.user_id
    recorded: list[events.Event] = []
    unlocked: list[content.Achievement] = []
    for node, effects in _nodes(plan, story):
        recorded += _pay_effects(session, plan, node, effects, unlocked)
    target = story.fragments[plan.target]
    balance = wallet.balance(session, user_id)
    if target.milestone is not None:
        milestone = target.milestone
        if milestone.besitos:
            change = wallet.credit(session, user_id, milestone.besitos,
                                   reason=f"story-milestone:{plan.target}",
                                   key=f"story-milestone:{user_id}:{plan.target}")
            balance = change.balance
            recorded += change.events
        for grant in milestone.items:
            inventory.grant(session, user_id, grant.item, grant.quantity,
                            reason=f"story-milestone:{plan.target}",
                            key=f"story-milestone-item:{user_id}:{plan.target}:{grant.item}")
        recorded.append(events.record(
            session, f"story.milestone:{user_id}:{plan.target}", "story.milestone",
            {"user_id": user_id, "fragment_id": plan.target, "ending": target.ending,
             "besitos": milestone.besitos,
             "items": [[grant.item, grant.quantity] for grant in milestone.items],
             "balance": balance, "lang": plan.lang}))
    if plan.kind == "choice":
        recorded.append(events.record(
            session, f"story.choice_made:{user_id}:{plan.step}", "story.choice_made",
            {"user_id": user_id, "fragment_id": plan.origin, "choice_id": plan.choice,
             "target": plan.target, "lang": plan.lang}))
    recorded.append(events.record(
        session, f"story.fragment_read:{user_id}:{plan.step + 1}", "story.fragment_read",
        {"user_id": user_id, "fragment_id": plan.target, "step": plan.step + 1,
         "kind": plan.kind, "ending": target.ending, "lang": plan.lang}))
    return Settled(recorded, unlocked)


def _pay_effects(session: Session, plan: Plan, node: str, effects: Effects,
                 unlocked: list[content.Achievement]) -> list[events.Event]:
    user_id = plan.user_id
    recorded: list[events.Event] = []
    if effects.besitos:
        change = wallet.credit(session, user_id, effects.besitos, reason=f"story:{node}",
                               key=f"story-effect:{user_id}:{node}")
        recorded += change.events
    for grant in effects.items:
        inventory.grant(session, user_id, grant.item, grant.quantity, reason=f"story:{node}",
                        key=f"story-effect-item:{user_id}:{node}:{grant.item}")
    for i, progress_ in enumerate(effects.mission_progress):
        recorded.append(events.record(
            session, f"{MISSION_PROGRESS}:{user_id}:{node}:{i}", MISSION_PROGRESS,
            {"user_id": user_id, "mission_id": progress_.mission,
             "objective": progress_.objective, "count": progress_.count, "lang": plan.lang}))
    for achievement_id in effects.unlock_achievement:
        achievement = next((a for a in content.achievements() if a.id == achievement_id), None)
        if achievement is not None:
            recorded += achievements.pay_unlock(session, user_id, achievement, plan.lang)
            unlocked.append(achievement)
    return recorded


# --- lore from reactions ----------------------------------------------------------------------

def reaction_hint(user_id: int, event_id: str, language: str,
                  story: Story | None = None) -> str | None:
    """Give the member the first `source: reaction` lore entry they lack, once per event.

    Returns the id given, or None (all held, or this event gave one already)."""
    story = story or content.story()
    p = progress(user_id, story)
    missing = [entry.id for entry in story.lore.values()
               if entry.source == "reaction" and entry.id not in p.lore]
    if not missing:
        return None
    applied, _ = mongo.apply_once(user_id, f"story.hint:{event_id}",
                                  {"$addToSet": {"story.lore": missing[0]}}, language)
    return missing[0] if applied else None


def announce_hints(session: Session, user_id: int, language: str,
                   story: Story | None = None) -> list[events.Event]:
    """A `story.lore_found` event (once per member and entry) for every `source: reaction`
    entry the member holds; returns those not yet published."""
    story = story or content.story()
    p = progress(user_id, story)
    ids = [f"story.lore_found:{user_id}:{entry.id}" for entry in story.lore.values()
           if entry.source == "reaction" and entry.id in p.lore]
    for event_id in ids:
        if session.get(OutboxEvent, event_id) is None:
            events.record(session, event_id, "story.lore_found",
                          {"user_id": user_id, "lore_id": event_id.rsplit(":", 1)[1],
                           "lang": language})
    session.flush()
    return events.unpublished(session, ids)


def reached(ids: Iterable[str], story: Story) -> list[Fragment]:
    return [story.fragments[i] for i in ids if i in story.fragments]
