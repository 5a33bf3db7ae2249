"""/api/v1/members/{id}/…: what a member does and sees in the game, over the API.

Reads use the services the bot renders with (missions and achievements boards, inventory,
store offers, auctions, the story page); actions start the very workflows the bot's buttons
start (`tasks.store.purchase`, `tasks.auctions.bid`, the story chain), once per
`Idempotency-Key`, so an action here has the ledger entries, events and Telegram messages of
the same action in the bot. Reads that need MongoDB answer 503 (with the services' status)
while it is unreachable; the SQL ones keep working.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth import MemberKey, ReadKey
from api.idempotency import ACCEPTED_RESPONSE, Accepted, IdempotencyKey, accept, not_found
from api.members import MAX_ID, UserId
from api.problems import TYPE_BASE, ProblemError, responses
from models import mongo
from models.db import read_session
from models.tables import User
from services import achievements, auctions, content, inventory, missions, store, story, users
from services.story_content import MAX_CHOICES
from tasks import auctions as auction_tasks
from tasks import store as store_tasks
from tasks import story as story_tasks

router = APIRouter(prefix="/members", tags=["play"],
                   responses=responses(401, 403, 404, 422, 500, 503))

T = TypeVar("T")
ItemId = Annotated[str, Path(pattern=r"^[a-z0-9-]{1,32}$", description="A catalog item id.")]
AuctionId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _store_down() -> ProblemError:
    return ProblemError(503, "MongoDB is unavailable; this part of the member's state cannot "
                             "be read right now. Try again shortly.",
                        title="Dependency unavailable",
                        type_=TYPE_BASE + "dependency-unavailable",
                        headers={"Retry-After": "5"},
                        services={"mongodb": "down", "sql": "ok"})


def _with_member(user_id: int, read: Callable[[Any, User], T]) -> T:
    """`read(session, user)` for a registered member (404 otherwise; 503 without MongoDB)."""
    with read_session() as session:
        user = session.get(User, user_id)
        if user is None:
            raise not_found(user_id)
        try:
            return read(session, user)
        except mongo.UNAVAILABLE:
            raise _store_down() from None


# --- missions and achievements ------------------------------------------------------------

class MissionOut(BaseModel):
    id: str
    type: str
    title: str
    state: str = Field(description="available · in_progress · completed · expired")
    period: str
    progress: list[int]
    targets: list[int]
    besitos: int


class AchievementOut(BaseModel):
    id: str
    tier: str
    title: str
    unlocked: bool
    value: int
    target: int


class Achievements(BaseModel):
    shown: list[AchievementOut]
    secret_hidden: int = Field(description="Locked secret achievements (not listed).")


@router.get("/{user_id}/missions", summary="The member's missions of the current periods")
def get_missions(user_id: UserId, key: ReadKey) -> list[MissionOut]:
    def read(session: Any, user: User) -> list[MissionOut]:
        board = missions.board(mongo.member_state(user.id), vip=users.is_vip(user))
        language = user.language
        return [MissionOut(id=s.mission.id, type=s.mission.type,
                           title=s.mission.title.get(language), state=s.state,
                           period=s.period, progress=list(s.progress),
                           targets=[o.target for o in s.mission.objectives],
                           besitos=s.mission.reward.besitos) for s in board]
    return _with_member(user_id, read)


@router.get("/{user_id}/achievements", summary="Unlocked achievements and progress")
def get_achievements(user_id: UserId, key: ReadKey) -> Achievements:
    def read(session: Any, user: User) -> Achievements:
        facts = achievements.read_facts(session, user.id, lifetime=True, holding=True)
        shown, hidden = achievements.board(mongo.member_state(user.id), facts)
        return Achievements(shown=[AchievementOut(
            id=s.achievement.id, tier=s.achievement.tier,
            title=s.achievement.title.get(user.language), unlocked=s.unlocked, value=s.value,
            target=s.target) for s in shown], secret_hidden=hidden)
    return _with_member(user_id, read)


# --- inventory and store --------------------------------------------------------------------

class Holding(BaseModel):
    item_id: str
    quantity: int


class OfferOut(BaseModel):
    item_id: str
    title: str
    category: str
    rarity: str
    price: int = Field(description="The price for this member (VIP price for VIP members).")
    remaining: int | None = Field(description="Units left; null when unlimited.")
    owned: int
    available: bool
    reason: str | None = Field(description="Why it cannot be bought now (a refusal code).")


@router.get("/{user_id}/inventory", summary="Items the member holds (stacked)")
def get_inventory(user_id: UserId, key: ReadKey) -> list[Holding]:
    return _with_member(user_id, lambda session, user: [
        Holding(item_id=item, quantity=quantity)
        for item, quantity in inventory.lines(session, user.id)])


@router.get("/{user_id}/store", summary="The store as the member sees it")
def get_store(user_id: UserId, key: ReadKey) -> list[OfferOut]:
    def read(session: Any, user: User) -> list[OfferOut]:
        return [OfferOut(item_id=o.item.id, title=o.item.title.get(user.language),
                         category=o.item.category, rarity=o.item.rarity, price=o.price,
                         remaining=o.remaining, owned=o.owned, available=o.reason is None,
                         reason=o.reason) for o in store.offers(session, user.id)]
    return _with_member(user_id, read)


@router.post("/{user_id}/store/{item_id}/purchase", status_code=202, response_model=Accepted,
             summary="Buy one unit (the bot's 🛒 workflow)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def purchase(request: Request, user_id: UserId, item_id: ItemId, key: MemberKey,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.store.purchase`; a refusal (sold out, VIP only, funds…) is told to the
    member in Telegram, as for the button, and recorded as `item.purchase_refused`."""
    if content.item(item_id) is None:
        raise ProblemError(404, f"No item {item_id!r} in the catalog.", title="Unknown item",
                           type_=TYPE_BASE + "unknown-item")
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: store_tasks.purchase.si(user_id, item_id, rk))


# --- auctions ---------------------------------------------------------------------------------

class AuctionOut(BaseModel):
    id: int
    item_id: str
    price: int
    min_next: int = Field(description="The least a new bid must offer.")
    buy_now_price: int | None
    bid_count: int
    ends_at: datetime
    leading: bool
    held: int


class Bid(BaseModel):
    amount: int = Field(ge=1, le=10**12, description="The new price offered, in besitos.")


@router.get("/{user_id}/auctions", summary="Open auctions as the member sees them")
def get_auctions(user_id: UserId, key: ReadKey) -> list[AuctionOut]:
    return _with_member(user_id, lambda session, user: [
        AuctionOut(id=v.id, item_id=v.item_id, price=v.price, min_next=v.min_next,
                   buy_now_price=v.buy_now_price, bid_count=v.bid_count, ends_at=v.ends_at,
                   leading=v.leading, held=v.held)
        for v in auctions.open_auctions(session, user.id)])


@router.post("/{user_id}/auctions/{auction_id}/bids", status_code=202,
             response_model=Accepted, summary="Bid on an auction (the bot's 🔨 workflow)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def bid(request: Request, user_id: UserId, auction_id: AuctionId, body: Bid,
              key: MemberKey, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts `tasks.auctions.bid`; a bid too low or on a closed auction is refused and told
    to the member, as in the bot."""
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: auction_tasks.bid.si(user_id, auction_id, body.amount, rk))


# --- the story ------------------------------------------------------------------------------

class ChoiceOut(BaseModel):
    index: int
    id: str
    label: str
    needs: list[str] = Field(description="What it asks: vip, cost:<N>, item, lore, … "
                                         "(checked when taken).")


class Page(BaseModel):
    fragment_id: str
    title: str | None
    text: str
    photo: str | None
    step: int = Field(description="Pass it back with a choice: a choice of an earlier step "
                                  "is not taken.")
    percent: int = Field(description="Share of the story's fragments read.")
    ending: str | None
    choices: list[ChoiceOut]
    lore: list[str]
    checkpoints: list[str]


class ChoiceIn(BaseModel):
    fragment_id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    index: int = Field(ge=0, lt=MAX_CHOICES)
    step: int = Field(ge=0, le=999_999)


def _needs(choice: Any, the_story: Any) -> list[str]:
    needs: list[str] = []
    for conditions in story.choice_conditions(the_story, choice):
        needs += (["vip"] if conditions.vip else []) + \
            ([f"cost:{conditions.cost}"] if conditions.cost else []) + \
            ([f"level:{conditions.min_level}"] if conditions.min_level else []) + \
            [f"item:{n.item}" for n in conditions.items] + \
            [f"lore:{n.id}" for n in conditions.lore]
    return list(dict.fromkeys(needs))


@router.get("/{user_id}/story", summary="The member's current story page")
def get_story(user_id: UserId, key: ReadKey) -> Page:
    def read(session: Any, user: User) -> Page:
        the_story = content.story()
        progress = story.progress(user.id, the_story)
        fragment = the_story.fragments[progress.position]
        language = user.language
        return Page(fragment_id=fragment.id,
                    title=fragment.title.get(language) if fragment.title else None,
                    text=fragment.text.get(language),
                    photo=fragment.media.photo if fragment.media else None,
                    step=progress.step, percent=progress.percent(the_story),
                    ending=fragment.ending,
                    choices=[ChoiceOut(index=i, id=c.id, label=c.label.get(language),
                                       needs=_needs(c, the_story))
                             for i, c in enumerate(fragment.choices)],
                    lore=list(progress.lore), checkpoints=list(progress.checkpoints))
    return _with_member(user_id, read)


@router.post("/{user_id}/story/choices", status_code=202, response_model=Accepted,
             summary="Take a choice (the bot's 📖 workflow: take → move → settle)",
             responses={**responses(400, 409), **ACCEPTED_RESPONSE})
async def choose(request: Request, user_id: UserId, body: ChoiceIn, key: MemberKey,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Starts the story chain for choice `index` of `fragment_id` at `step`; the new page is
    sent to the member in Telegram and readable here. A refusal (VIP, cost, items…) is told
    to the member; a choice of a page that has turned changes nothing."""
    return await accept(request, user_id, key.id, idempotency_key,
                        lambda rk: story_tasks.choose(user_id, body.fragment_id, body.index,
                                                      body.step, rk))

