"""🧠 Trivia over the API: what a member can play, and asking for their next question.

`GET` reads what `services/trivia.py` `reserve_for_member` decides with, in its order: a
question left to answer (the member's next one, whatever its set), no poll of theirs still
open, fewer than TRIVIA_DAILY_LIMIT questions sent today (their local day, the bot's
TIMEZONE). `POST …/trivia/play` starts `tasks.trivia.play` exactly as the bot's 🧠 button
does: the question arrives in Telegram as a quiz poll, and a refusal (none left, one still
open, the daily limit) is told there and recorded as `trivia.play_refused`. The bot picks
the next unanswered question in catalog order and has no choice of set, so neither has
the API: `sets` says how far the member is in each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import case, func, select

from api.actions import start
from api.auth import MemberKey, ReadKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey, not_found
from api.members import UserId
from api.problems import responses
from core.settings import get_settings
from models.db import read_session
from models.tables import TriviaAnswer, User
from services import content, trivia
from services.gifts import local_day, next_claim_at
from tasks import trivia as trivia_tasks

router = APIRouter(prefix="/members", tags=["play"],
                   responses=responses(401, 403, 404, 422, 500))


class SetProgress(BaseModel):
    id: str
    questions: int
    answered: int
    correct: int


class OpenPoll(BaseModel):
    question_id: str
    closes_at: datetime


class TriviaOut(BaseModel):
    user_id: int
    can_play: bool = Field(description="Whether 🧠 would send a question now.")
    reason: str | None = Field(description="Why not: exhausted · pending (a poll still "
                                           "open) · limit_reached.")
    daily_limit: int
    sent_today: int
    left_today: int
    next_at: datetime | None = Field(description="When the daily limit resets (with "
                                                 "limit_reached).")
    open_poll: OpenPoll | None
    next_question: str | None = Field(description="The question 🧠 would send next.")
    answered: int
    correct: int
    besitos: int = Field(description="Besitos won with trivia.")
    reward: int = Field(description="Besitos for a correct answer in time.")
    sets: list[SetProgress]


def _read(session: Any, user_id: int) -> TriviaOut:
    settings = get_settings()
    now = datetime.now(UTC)
    stats = {row.question_set: row for row in session.execute(
        select(TriviaAnswer.question_set, func.count().label("answered"),
               func.sum(case((TriviaAnswer.correct, 1), else_=0)).label("correct"),
               func.sum(TriviaAnswer.besitos).label("besitos"))
        .where(TriviaAnswer.user_id == user_id).group_by(TriviaAnswer.question_set))}
    answered = trivia.answered_ids(session, user_id)
    questions = content.trivia()
    following = next((q for q in questions if q.id not in answered), None)
    open_poll = trivia._open_poll(session, user_id, now)
    today = local_day(now, settings)
    sent = trivia.sent_today(session, user_id, today)
    limit = settings.trivia_daily_limit
    reason = "exhausted" if following is None else "pending" if open_poll is not None \
        else "limit_reached" if sent >= limit else None
    per_set: dict[str, int] = {}
    for question in questions:
        per_set[question.set] = per_set.get(question.set, 0) + 1
    return TriviaOut(
        user_id=user_id, can_play=reason is None, reason=reason, daily_limit=limit,
        sent_today=sent, left_today=max(limit - sent, 0),
        next_at=next_claim_at(today, settings) if reason == "limit_reached" else None,
        open_poll=OpenPoll(question_id=open_poll.question_id, closes_at=open_poll.closes_at)
        if open_poll is not None else None,
        next_question=following.id if following is not None else None,
        answered=len(answered),
        correct=sum(int(row.correct or 0) for row in stats.values()),
        besitos=sum(int(row.besitos or 0) for row in stats.values()),
        reward=settings.trivia_reward,
        sets=[SetProgress(id=name, questions=count,
                          answered=int(stats[name].answered) if name in stats else 0,
                          correct=int(stats[name].correct or 0) if name in stats else 0)
              for name, count in per_set.items()])


@router.get("/{user_id}/trivia", summary="What the member can play in trivia now")
def get_trivia(user_id: UserId, key: ReadKey) -> TriviaOut:
    with read_session() as session:
        if session.get(User, user_id) is None:
            raise not_found(user_id)
        return _read(session, user_id)


@router.post("/{user_id}/trivia/play", status_code=202, response_model=Accepted,
             summary="Send the member their next question (the bot's 🧠)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def play(request: Request, user_id: UserId, key: MemberKey,
               idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.trivia.play`; the quiz poll goes to the member in Telegram (a refusal
    is told there, as for the button)."""
    return await start(request, key, idempotency_key,
                       lambda rk: trivia_tasks.play.si(user_id, rk), user_id=user_id)
