"""The community's catalogs, read from `content/*.yaml` and checked on load.

Services read the catalogs from here (cached per process); `sync_to_store()` copies them
into MongoDB's `catalog` collection for the API and admin tools.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, Field, TypeAdapter, model_validator

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


class Text(BaseModel):
    es: str
    en: str | None = None

    def get(self, language: str) -> str:
        return (self.en if language == "en" else None) or self.es


class ItemReward(BaseModel):
    item: str = Field(pattern=r"^[a-z0-9-]{1,32}$")
    quantity: int = Field(default=1, gt=0)


class Reward(BaseModel):
    besitos: int = Field(ge=0, default=0)
    items: list[ItemReward] = Field(default_factory=list)


# --- missions, achievements, levels -------------------------------------------------------
# The events missions and achievements may count, each with the payload field holding the
# besitos it credited as *earned* (None: it credits none). This is the one list: the
# catalogs are checked against it, and services/missions.py and services/achievements.py
# derive their tasks' subscriptions from it and from what the catalogs use.
COUNTABLE_EVENTS: dict[str, str | None] = {
    "gift.claimed": "amount",
    "mission.completed": "besitos",
    "achievement.unlocked": "besitos",
    "reaction.rewarded": "besitos",
    "trivia.answered": "besitos",
    "story.fragment_read": None,
    "story.choice_made": None,
    "item.purchased": None,
    "item.crafted": None,
}
# A mission objective on this pseudo-event sums the besitos earned by every event above
# that has an earned field (`metric: amount`).
BESITOS_EARNED = "besitos.earned"
# After these events a member may hold more distinct items: collections are checked then.
HOLDING_EVENTS = ("item.purchased", "item.crafted", "auction.won", "mission.completed",
                  "achievement.unlocked")

Scalar = bool | int | str


def _countable(event: str) -> str:
    if event not in COUNTABLE_EVENTS:
        raise ValueError(f"{event!r} is not a countable event "
                         f"({', '.join(sorted(COUNTABLE_EVENTS))})")
    return event


class Objective(BaseModel):
    """What a mission counts: events of one type whose payload has the `where` values; each
    adds 1 (`metric: count`), or the payload number `metric` is added (`aggregate: sum`) or
    taken when higher (`aggregate: max`, e.g. the gift streak)."""

    event: str
    metric: str = Field(default="count", pattern=r"^[a-z_]{1,32}$")
    aggregate: Literal["sum", "max"] = "sum"
    where: dict[str, Scalar] = Field(default_factory=dict)
    target: int = Field(gt=0)

    @model_validator(mode="after")
    def _known_event(self) -> Objective:
        if self.event == BESITOS_EARNED:
            if self.metric != "amount" or self.where or self.aggregate != "sum":
                raise ValueError(f"{BESITOS_EARNED} objectives take `metric: amount` only")
        else:
            _countable(self.event)
            if self.metric == "count" and self.aggregate != "sum":
                raise ValueError("a count objective cannot take `aggregate: max`")
        return self


class Mission(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    type: Literal["daily", "weekly", "story", "special"]
    title: Text
    description: Text
    objectives: list[Objective] = Field(min_length=1, max_length=5)
    reward: Reward
    vip_only: bool = False  # non-VIP members neither see nor progress it


class EventRule(BaseModel):
    event: str
    where: dict[str, Scalar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_event(self) -> EventRule:
        _countable(self.event)
        return self


class CounterRule(EventRule):
    """`threshold` events of a type (1 = the first time)."""

    kind: Literal["counter"]
    threshold: int = Field(gt=0)


class StreakRule(EventRule):
    """At least one such event on each of `days` local days in a row."""

    kind: Literal["streak"]
    days: int = Field(ge=2, le=366)


class WindowRule(EventRule):
    """`count` such events within any `days` days."""

    kind: Literal["window"]
    count: int = Field(ge=2, le=500)
    days: int = Field(ge=1, le=366)


class CollectionRule(BaseModel):
    """`distinct_items` different items held at once (SQL inventory)."""

    kind: Literal["collection"]
    distinct_items: int = Field(gt=0)


class LifetimeRule(BaseModel):
    """`besitos` earned over the member's lifetime (wallets.lifetime_earned)."""

    kind: Literal["lifetime"]
    besitos: int = Field(gt=0)


Rule = Annotated[CounterRule | StreakRule | WindowRule | CollectionRule | LifetimeRule,
                 Field(discriminator="kind")]
TIERS = ("bronze", "silver", "gold", "platinum", "diamond")


class Achievement(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    tier: Literal["bronze", "silver", "gold", "platinum", "diamond"]
    title: Text
    description: Text
    rule: Rule
    reward: Reward
    secret: bool = False  # hidden in the list until unlocked


class Level(BaseModel):
    """Reached when the member's lifetime earned besitos reach `threshold`."""

    level: int = Field(ge=1)
    threshold: int = Field(ge=0)
    title: Text

    @property
    def id(self) -> str:
        return str(self.level)


Rarity = Literal["common", "uncommon", "rare", "epic", "legendary"]


class Item(BaseModel):
    """A store item. `stock` None = unlimited; `per_member_limit` None = no limit."""

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")  # short: it travels in callback data
    title: Text
    description: Text
    category: str = Field(min_length=1, max_length=32)
    rarity: Rarity
    price: int = Field(gt=0)
    vip_only: bool = False
    vip_price: int | None = Field(default=None, gt=0)
    stock: int | None = Field(default=None, ge=0)
    per_member_limit: int | None = Field(default=None, gt=0)
    consumable: bool = False
    for_sale: bool = True  # False: never in the store (made by recipes, won, granted)

    def price_for(self, vip: bool) -> int:
        return self.vip_price if vip and self.vip_price is not None else self.price


def _load(name: str, model: type[BaseModel]) -> list:  # type: ignore[type-arg]
    path = CONTENT_DIR / name
    items = TypeAdapter(list[model]).validate_python(yaml.safe_load(path.read_text()) or [])
    ids = [item.id for item in items]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"{path}: duplicated ids {sorted(duplicated)}")
    return items


def _check_reward_items(name: str, entries: list[Mission] | list[Achievement]) -> None:
    known = {entry.id for entry in items()}
    for entry in entries:
        unknown = sorted({reward.item for reward in entry.reward.items} - known)
        if unknown:
            raise ValueError(f"{name}: {entry.id!r} rewards items that are not in "
                             f"items.yaml: {', '.join(unknown)}")


@lru_cache(maxsize=1)
def missions() -> tuple[Mission, ...]:
    entries = _load("missions.yaml", Mission)
    _check_reward_items("missions.yaml", entries)
    return tuple(entries)


@lru_cache(maxsize=1)
def achievements() -> tuple[Achievement, ...]:
    entries = _load("achievements.yaml", Achievement)
    _check_reward_items("achievements.yaml", entries)
    return tuple(entries)


def check_levels(entries: list[Level]) -> tuple[Level, ...]:
    """Levels 1, 2, 3… in order, from threshold 0, each threshold higher than the last."""
    if not entries or entries[0].threshold != 0:
        raise ValueError("levels.yaml: the first level starts at threshold 0")
    for number, entry in enumerate(entries, start=1):
        if entry.level != number:
            raise ValueError(f"levels.yaml: level {entry.level} is out of order")
        if number > 1 and entry.threshold <= entries[number - 2].threshold:
            raise ValueError(f"levels.yaml: level {number}'s threshold must be higher")
    return tuple(entries)


@lru_cache(maxsize=1)
def levels() -> tuple[Level, ...]:
    return check_levels(_load("levels.yaml", Level))


@lru_cache(maxsize=1)
def items() -> tuple[Item, ...]:
    return tuple(_load("items.yaml", Item))


def item(item_id: str) -> Item | None:
    return next((entry for entry in items() if entry.id == item_id), None)


# Telegram's limits for a quiz poll (sendPoll): what content/trivia.yaml is checked against.
POLL_QUESTION_MAX = 300
POLL_OPTION_MAX = 100
POLL_EXPLANATION_MAX = 200
POLL_EXPLANATION_MAX_LINE_FEEDS = 2


class TriviaQuestion(BaseModel):
    """A quiz question; `correct` is the 0-based index of the right option. Each language's
    texts must fit Telegram's poll limits, so a bad edit fails on load, not at sendPoll."""

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")  # in commands, ledger keys and event ids
    set: str = Field(default="general", pattern=r"^[a-z0-9-]{1,24}$")  # in `t:top:<set>`
    question: Text
    options: list[Text] = Field(min_length=2, max_length=10)
    correct: int
    explanation: Text | None = None

    @model_validator(mode="after")
    def _fits_a_quiz_poll(self) -> TriviaQuestion:
        where = f"trivia question {self.id!r}"
        if not 0 <= self.correct < len(self.options):
            raise ValueError(f"{where}: correct option {self.correct} is out of range (it has "
                             f"{len(self.options)} options, numbered from 0)")
        checks = [("question", self.question, 1, POLL_QUESTION_MAX)]
        checks += [(f"option {n}", option, 1, POLL_OPTION_MAX)
                   for n, option in enumerate(self.options)]
        if self.explanation is not None:
            checks.append(("explanation", self.explanation, 0, POLL_EXPLANATION_MAX))
        for what, text, low, high in checks:
            for language, value in (("es", text.es), ("en", text.en)):
                if value is None:
                    continue
                if not (low <= len(value.strip()) and len(value) <= high):
                    raise ValueError(f"{where}: {what} ({language}) must be {low}-{high} "
                                     f"characters, it has {len(value)}")
                if what == "explanation" and \
                        value.count("\n") > POLL_EXPLANATION_MAX_LINE_FEEDS:
                    raise ValueError(f"{where}: explanation ({language}) may have at most "
                                     f"{POLL_EXPLANATION_MAX_LINE_FEEDS} line breaks")
        return self

    def option_texts(self, language: str) -> list[str]:
        return [option.get(language) for option in self.options]


def load_trivia(path: Path) -> tuple[TriviaQuestion, ...]:
    """Read and check a trivia file (ValueError / ValidationError saying what is wrong)."""
    entries = TypeAdapter(list[TriviaQuestion]).validate_python(
        yaml.safe_load(path.read_text()) or [])
    ids = [entry.id for entry in entries]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"{path}: duplicated ids {sorted(duplicated)}")
    return tuple(entries)


@lru_cache(maxsize=1)
def trivia() -> tuple[TriviaQuestion, ...]:
    return load_trivia(CONTENT_DIR / "trivia.yaml")


def trivia_question(question_id: str) -> TriviaQuestion | None:
    return next((entry for entry in trivia() if entry.id == question_id), None)


def trivia_sets() -> tuple[str, ...]:
    """The question sets, in order of first appearance."""
    return tuple(dict.fromkeys(entry.set for entry in trivia()))


class RecipeOutput(BaseModel):
    item: str
    quantity: int = Field(default=1, gt=0)


class Recipe(BaseModel):
    """Items combined into another: `inputs` (item id → units) are taken, `output` given."""

    id: str = Field(pattern=r"^[a-z0-9-]{1,32}$")  # travels in callback data (`x:craft:<id>`)
    title: Text
    inputs: dict[str, int] = Field(min_length=1)
    output: RecipeOutput
    vip_only: bool = False


def load_recipes(path: Path, catalog: tuple[Item, ...]) -> tuple[Recipe, ...]:
    """Read a recipes file and check every item it names against the items catalog."""
    entries = TypeAdapter(list[Recipe]).validate_python(yaml.safe_load(path.read_text()) or [])
    ids = [entry.id for entry in entries]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"{path}: duplicated recipe ids {sorted(duplicated)}")
    known = {entry.id for entry in catalog}
    for entry in entries:
        unknown = sorted((set(entry.inputs) | {entry.output.item}) - known)
        if unknown:
            raise ValueError(f"{path}: recipe {entry.id!r} names items that are not in "
                             f"items.yaml: {', '.join(unknown)}")
        if any(quantity <= 0 for quantity in entry.inputs.values()):
            raise ValueError(f"{path}: recipe {entry.id!r}: input quantities must be positive")
        if entry.output.item in entry.inputs:
            raise ValueError(f"{path}: recipe {entry.id!r} makes an item it consumes")
    return tuple(entries)


@lru_cache(maxsize=1)
def recipes() -> tuple[Recipe, ...]:
    return load_recipes(CONTENT_DIR / "recipes.yaml", items())


def recipe(recipe_id: str) -> Recipe | None:
    return next((entry for entry in recipes() if entry.id == recipe_id), None)


def reload() -> None:
    missions.cache_clear()
    achievements.cache_clear()
    levels.cache_clear()
    items.cache_clear()
    trivia.cache_clear()
    recipes.cache_clear()


def sync_to_store() -> int:
    """Upsert every catalog entry into MongoDB's `catalog` collection; returns the count."""
    from models import mongo

    count = 0
    for kind, entries in (("mission", missions()), ("achievement", achievements()),
                          ("level", levels()),
                          ("item", items()), ("trivia", trivia()),
                          ("recipe", recipes())):
        for entry in entries:
            mongo.catalog().update_one({"kind": kind, "key": entry.id},
                                       {"$set": {"data": entry.model_dump()}}, upsert=True)
            count += 1
    return count
