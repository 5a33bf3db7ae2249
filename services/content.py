"""The community's catalogs, read from `content/*.yaml` and checked on load.

Services read the catalogs from here (cached per process); `sync_to_store()` copies them
into MongoDB's `catalog` collection for the API and admin tools.

Each catalog is one file, `<name>.yaml` in `content_dir()` (the CONTENT_DIR setting, else
the repo's `content/`), with a loader in `LOADERS`. A process reads a catalog when it first
needs it; `load_all()` reads every one fresh with every cross-check and touches nothing in
use, `install()` swaps the result in at once, `reload()` forgets them all
(services/catalogs.py is the admins' reload; tasks/content.py tells every process).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator

from core.settings import get_settings

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


def content_dir() -> Path:
    """Where the catalogs are read from: the CONTENT_DIR setting, else the repo's content/."""
    return get_settings().content_dir or CONTENT_DIR


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


def _load(path: Path, model: type[BaseModel]) -> list:  # type: ignore[type-arg]
    items = TypeAdapter(list[model]).validate_python(yaml.safe_load(path.read_text()) or [])
    ids = [item.id for item in items]
    duplicated = {i for i in ids if ids.count(i) > 1}
    if duplicated:
        raise ValueError(f"{path}: duplicated ids {sorted(duplicated)}")
    return items


def _check_reward_items(name: str, entries: list[Mission] | list[Achievement],
                        catalog: tuple[Item, ...] | None = None) -> None:
    known = {entry.id for entry in (items() if catalog is None else catalog)}
    for entry in entries:
        unknown = sorted({reward.item for reward in entry.reward.items} - known)
        if unknown:
            raise ValueError(f"{name}: {entry.id!r} rewards items that are not in "
                             f"items.yaml: {', '.join(unknown)}")


# A loader reads one catalog file; `get(name)` gives the catalogs it is checked against
# (loaded before it: see the order of LOADERS).
Loader = Callable[[Path, Callable[[str], tuple[Any, ...]]], tuple[Any, ...]]


def _load_missions(path: Path, get: Callable[[str], tuple[Any, ...]]) -> tuple[Mission, ...]:
    entries = _load(path, Mission)
    _check_reward_items("missions.yaml", entries, get("items"))
    return tuple(entries)


def _load_achievements(path: Path, get: Callable[[str], tuple[Any, ...]]
                       ) -> tuple[Achievement, ...]:
    entries = _load(path, Achievement)
    _check_reward_items("achievements.yaml", entries, get("items"))
    return tuple(entries)


def missions() -> tuple[Mission, ...]:
    return _catalog("missions")


def achievements() -> tuple[Achievement, ...]:
    return _catalog("achievements")


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


def levels() -> tuple[Level, ...]:
    return _catalog("levels")


def items() -> tuple[Item, ...]:
    return _catalog("items")


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


def trivia() -> tuple[TriviaQuestion, ...]:
    return _catalog("trivia")


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


def recipes() -> tuple[Recipe, ...]:
    return _catalog("recipes")


def recipe(recipe_id: str) -> Recipe | None:
    return next((entry for entry in recipes() if entry.id == recipe_id), None)


# --- loading and reloading ----------------------------------------------------------------
# Every catalog: `<name>.yaml` and its loader, in dependency order (items first: the others
# are checked against it). A new catalog adds its loader here and its kind to STORE_KINDS.
LOADERS: dict[str, Loader] = {
    "items": lambda path, get: tuple(_load(path, Item)),
    "levels": lambda path, get: check_levels(_load(path, Level)),
    "missions": _load_missions,
    "achievements": _load_achievements,
    "trivia": lambda path, get: load_trivia(path),
    "recipes": lambda path, get: load_recipes(path, get("items")),
    "story": lambda path, get: (load_story(path, get),),
}
# Where a catalog is read from, when not `<name>.yaml`: the story is a directory of files.
SOURCES = {"story": "story"}


def source(name: str) -> str:
    """The file (or directory) in the content directory that catalog `name` comes from."""
    return SOURCES.get(name, f"{name}.yaml")


def size(name: str, entries: tuple[Any, ...]) -> int:
    """How many entries a catalog has, as admins count them (the story: its fragments)."""
    return len(entries[0].fragments) if name == "story" and entries else len(entries)
def load_story(directory: Path, get: Callable[[str], tuple[Any, ...]]) -> Any:
    """The story in `directory` (content/story/), checked against the other catalogs; a
    story with problems is refused whole (ValueError naming the first, file:line)."""
    from services import story_checker

    try:
        return story_checker.load_checked([directory],
                                          story_checker.Catalogs.from_catalogs(get))
    except story_checker.StoryInvalid as exc:
        lines = str(exc).splitlines() or ["the story cannot be read"]
        more = f" (and {len(lines) - 1} more: make story-check)" if len(lines) > 1 else ""
        raise ValueError(f"{lines[0]}{more}") from exc


def story() -> Any:
    """The checked story in use (services.story_content.Story)."""
    return _catalog("story")[0]


# The `kind` of each catalog's documents in MongoDB's `catalog` collection.
STORE_KINDS = {"missions": "mission", "achievements": "achievement", "levels": "level",
               "items": "item", "trivia": "trivia", "recipes": "recipe"}

# The catalogs in use in this process (name → entries), each read when first needed.
# `install` replaces the whole dict at once, so a reader never sees a mix of two versions.
_loaded: dict[str, tuple[Any, ...]] = {}


class CatalogError(ValueError):
    """A catalog file that cannot be used: which file, and the (first) problem in it."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


def _catalog(name: str) -> tuple[Any, ...]:
    entries = _loaded.get(name)
    if entries is None:
        entries = LOADERS[name](content_dir() / source(name), _catalog)
        _loaded[name] = entries
    return entries


def _problem(exc: Exception, path: Path) -> str:
    """What is wrong, in one line, without the server's paths or the offending values."""
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        loc = list(errors[0]["loc"])
        where = [f"entry {loc.pop(0) + 1}"] if loc and isinstance(loc[0], int) else []
        if loc:
            where.append(".".join(str(part) for part in loc))
        message = str(errors[0]["msg"]).removeprefix("Value error, ")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{', '.join(where)}: {message}{more}" if where else f"{message}{more}"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return (f"not valid YAML: {exc.problem or exc.context} "
                f"(line {mark.line + 1}, column {mark.column + 1})")
    if isinstance(exc, FileNotFoundError):
        return "the file is missing"
    text = str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        text = text.removeprefix(prefix)
    return text.replace(str(path.parent) + "/", "")


def load_all(directory: Path | None = None) -> dict[str, tuple[Any, ...]]:
    """Every catalog read fresh from `directory` (default `content_dir()`) with every
    cross-check against the fresh others. Touches nothing in use (`install` the result);
    raises CatalogError naming the first file that cannot be used."""
    directory = directory or content_dir()
    fresh: dict[str, tuple[Any, ...]] = {}
    for name, loader in LOADERS.items():
        path = directory / source(name)
        try:
            fresh[name] = loader(path, fresh.__getitem__)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CatalogError(source(name), _problem(exc, path)) from exc
    return fresh


def install(fresh: Mapping[str, tuple[Any, ...]]) -> None:
    """Use these catalogs (from `load_all`) in this process from now on, all at once."""
    global _loaded
    missing = sorted(set(LOADERS) - set(fresh))
    if missing:
        raise ValueError(f"catalogs missing: {', '.join(missing)}")
    _loaded = dict(fresh)


def reload() -> None:
    """Forget the catalogs in use: each is read again from its file when next needed."""
    global _loaded
    _loaded = {}


def sync_to_store(catalogs: Mapping[str, tuple[Any, ...]] | None = None) -> int:
    """Upsert every catalog entry (of `catalogs`, default those in use) into MongoDB's
    `catalog` collection and remove the entries no catalog has any more; returns the count
    upserted."""
    from models import mongo

    count = 0
    for name, kind in STORE_KINDS.items():
        entries = _catalog(name) if catalogs is None else catalogs[name]
        for entry in entries:
            mongo.catalog().update_one({"kind": kind, "key": entry.id},
                                       {"$set": {"data": entry.model_dump()}}, upsert=True)
            count += 1
        mongo.catalog().delete_many({"kind": kind,
                                     "key": {"$nin": [entry.id for entry in entries]}})
    return count
