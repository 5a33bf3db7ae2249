"""📖 The story workflow: take (validate + pay) → move → settle (effects, events → render).

Each task is idempotent (services/story.py says by which keys); the chain is started by the
bot (or the API) with `workflow(...)`. A refusal is a `story.choice_refused` event the
member is told about; "stale" (the page turned before this press) ends quietly with the
current page shown again. MongoDB errors are transient: the task retries with backoff and
the member's progress moves when the store is back.
"""

from __future__ import annotations

from typing import Any

from celery import Task, chain
from celery.canvas import Signature

from core.settings import get_settings
from models.db import read_session, unit_of_work
from services import achievements, content, story
from services.messages import story as story_messages
from tasks.base import RETRY_UNTIL_REGISTERED, YabotTask
from tasks.events import publish_after_commit, subscribe
from tasks.telegram import deliver
from worker.app import app


def _refused(user_id: int, request_key: str, exc: story.Refused) -> dict[str, Any]:
    with unit_of_work() as session:
        recorded = story.refuse(session, user_id, request_key, exc)
    publish_after_commit(recorded)
    return {"status": "refused", "user_id": user_id, "reason": exc.code}


@app.task(base=YabotTask, name="tasks.story.take", autoretry_for=RETRY_UNTIL_REGISTERED)
def take(user_id: int, fragment_id: str, index: int, step: int,
         request_key: str) -> dict[str, Any]:
    """Validate a choice and pay for it (cost, items consumed: once ever)."""
    try:
        with unit_of_work() as session:
            plan = story.take(session, user_id, fragment_id, index, step, request_key)
    except story.Refused as exc:
        return _refused(user_id, request_key, exc)
    return plan.as_dict()


@app.task(base=YabotTask, name="tasks.story.jump", autoretry_for=RETRY_UNTIL_REGISTERED)
def jump(kind: str, user_id: int, target: str, step: int, request_key: str) -> dict[str, Any]:
    """Plan a return to a checkpoint (`restart`) or the opening of a hidden fragment with
    the lore pieces that make it (`combine`)."""
    if kind not in ("restart", "combine"):
        raise ValueError(f"not a jump: {kind!r}")
    try:
        with read_session() as session:
            plan = story.jump(session, user_id, kind, target, step,  # type: ignore[arg-type]
                              request_key)
    except story.Refused as exc:
        return _refused(user_id, request_key, exc)
    return plan.as_dict()


@app.task(base=YabotTask, name="tasks.story.move")
def move(planned: dict[str, Any]) -> dict[str, Any]:
    """Move the member (MongoDB; one move per step wins)."""
    if planned.get("status") not in ("ok", "moved"):
        return planned
    return story.move(story.Plan.from_dict(planned)).as_dict()


@app.task(base=YabotTask, name="tasks.story.settle", bind=True)
def settle(self: Task, planned: dict[str, Any]) -> dict[str, Any]:
    """Apply the effects (flags and lore, then besitos, items, milestones: each once) and
    publish the events; `story.fragment_read` renders the new page."""
    status = planned.get("status")
    if status == "stale":
        _show_current(self, planned)
        return planned
    if status not in ("ok", "moved"):
        return planned
    plan = story.Plan.from_dict(planned)
    story.apply_state_effects(plan)
    with unit_of_work() as session:
        settled = story.settle(session, plan)
    publish_after_commit(settled.events)
    for achievement in settled.achievements:
        achievements.mark_unlocked(plan.user_id, achievement)
    return plan.as_dict()


def _show_current(task: Task, planned: dict[str, Any]) -> None:
    """A press on a page that turned: show the page the member is on (once per request)."""
    user_id = int(planned["user_id"])
    current = story.progress(user_id)
    last = current.last
    if (last.get("from"), last.get("step"), last.get("to")) == \
            (planned.get("origin"), planned.get("step"), planned.get("target")):
        return  # a second tap on the button that just moved the member: nothing to add
    rendered = story_messages.page(planned["lang"], content.story(), user_id, current,
                                   note="story.stale")
    deliver(task, f"story-stale:{planned['key']}", user_id, rendered.method,
            rendered.params(user_id))


@subscribe("reaction.rewarded")
@app.task(base=YabotTask, name="tasks.story.reaction_hint")
def reaction_hint(event: dict[str, Any]) -> str | None:
    """Reacting to channel posts uncovers the `source: reaction` hints, one per reward."""
    payload = event["payload"]
    user_id = int(payload["user_id"])
    language = payload.get("lang", get_settings().default_language)
    given = story.reaction_hint(user_id, event["id"], language)
    with unit_of_work() as session:  # also announces a hint a crash left untold
        recorded = story.announce_hints(session, user_id, language)
    publish_after_commit(recorded)
    return given


def workflow(first: Signature) -> Signature:
    """The chain a story press starts: `first` (take, restart or combine) → move → settle."""
    return chain(first, move.s(), settle.s())


def choose(user_id: int, fragment_id: str, index: int, step: int, key: str) -> Signature:
    return workflow(take.si(user_id, fragment_id, index, step, key))
