"""The community's catalogs, read from `content/*.yaml` and checked on load.

Services read the catalogs from here (cached per process); `sync_to_store()` copies them
into MongoDB's `catalog` collection for the API and admin tools.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, TypeAdapter

CONTENT_DIR = Path(__file__).resolve().parent.parent / "content"


class Text(BaseModel):
    es: str
    en: str | None = None

    def get(self, language: str) -> str:
        return (self.en if language == "en" else None) or self.es


class Reward(BaseModel):
    besitos: int = Field(ge=0, default=0)


class Objective(BaseModel):
    event: str
    metric: str = "count"
    target: int = Field(gt=0)


class Mission(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    type: Literal["daily", "weekly", "story", "special"]
    title: Text
    description: Text
    objective: Objective
    reward: Reward


class Rule(BaseModel):
    counter: str
    threshold: int = Field(gt=0)


class Achievement(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9-]{1,40}$")
    tier: Literal["bronze", "silver", "gold", "platinum", "diamond"]
    title: Text
    description: Text
    rule: Rule
    reward: Reward
    secret: bool = False


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


@lru_cache(maxsize=1)
def missions() -> tuple[Mission, ...]:
    return tuple(_load("missions.yaml", Mission))


@lru_cache(maxsize=1)
def achievements() -> tuple[Achievement, ...]:
    return tuple(_load("achievements.yaml", Achievement))


@lru_cache(maxsize=1)
def items() -> tuple[Item, ...]:
    return tuple(_load("items.yaml", Item))


def item(item_id: str) -> Item | None:
    return next((entry for entry in items() if entry.id == item_id), None)


def reload() -> None:
    missions.cache_clear()
    achievements.cache_clear()
    items.cache_clear()


def sync_to_store() -> int:
    """Upsert every catalog entry into MongoDB's `catalog` collection; returns the count."""
    from models import mongo

    count = 0
    for kind, entries in (("mission", missions()), ("achievement", achievements()),
                          ("item", items())):
        for entry in entries:
            mongo.catalog().update_one({"kind": kind, "key": entry.id},
                                       {"$set": {"data": entry.model_dump()}}, upsert=True)
            count += 1
    return count
