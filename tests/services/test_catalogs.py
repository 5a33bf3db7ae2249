"""Catalog reloads with the real databases and Redis: a valid reload syncs everything, a
broken file changes nothing and says what is wrong, admins only (audited), and every
process follows the generation counter, throttled and untroubled by a Redis outage."""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from core.settings import reset_settings
from dev.stack import free_port
from models import mongo
from models.db import read_session, unit_of_work
from models.tables import AuditEntry, ItemStock, OutboxEvent, User
from services import catalogs, content, messages, store
from tasks import content as content_tasks

_names = itertools.count(1)


def new_item_id() -> str:
    return f"test-cofre-{os.getpid() % 10000}-{next(_names)}-{int(time.time()) % 100000}"


def item_entry(item_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": item_id, "title": {"es": "Cofre de prueba", "en": "Test chest"},
            "description": {"es": "Para las pruebas.", "en": "For the tests."},
            "category": "collectible", "rarity": "rare", "price": 40, **fields}


def add_item(directory: Path, entry: dict[str, Any]) -> None:
    path = directory / "items.yaml"
    entries = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump([*entries, entry], allow_unicode=True))


def set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
    reset_settings()


@pytest.fixture
def content_copy(tmp_path: Path) -> Iterator[Path]:
    """CONTENT_DIR pointing at a copy of content/ that the test may edit; afterwards this
    process reads the repo's catalogs again."""
    directory = tmp_path / "content"
    shutil.copytree(content.CONTENT_DIR, directory)
    set_env("CONTENT_DIR", str(directory))
    content_tasks.reset_follow()
    with unit_of_work() as session:  # every shipped limited item has its stock row already
        store.sync_stock(session)
    try:
        yield directory
    finally:
        set_env("CONTENT_DIR", None)
        content_tasks.reset_follow()
        content.reload()
        content.sync_to_store()


def admin_member(user_id: int) -> int:
    with unit_of_work() as session:
        session.get(User, user_id).role = "admin"  # type: ignore[union-attr]
    return user_id


def audits(request_key: str) -> list[AuditEntry]:
    with read_session() as session:
        return [row for row in session.scalars(select(AuditEntry).where(
            AuditEntry.action == "content.reload").order_by(AuditEntry.id))
            if row.details.get("request_key") == request_key]


def reload_as(actor: int | None, request_key: str, **kwargs: Any) -> catalogs.Outcome:
    with unit_of_work() as session:
        return catalogs.reload(session, actor, request_key, **kwargs)


def yaml_counts(directory: Path) -> dict[str, int]:
    """Entries per catalog as the files hold them (the story: fragments in its files)."""
    counts = {name: len(yaml.safe_load((directory / f"{name}.yaml").read_text()))
              for name in content.LOADERS if name != "story"}
    counts["story"] = sum(len(yaml.safe_load(path.read_text())["fragments"])
                          for path in (directory / "story").glob("*.yaml"))
    return counts


# --- the service: apply and reload ----------------------------------------------------------


def test_a_valid_reload_syncs_counts_stock_and_the_store(content_copy: Path) -> None:
    new_id = new_item_id()
    add_item(content_copy, item_entry(new_id, stock=4))
    assert content.item(new_id) is None

    with unit_of_work() as session:
        applied = catalogs.apply(session)
    assert applied.counts == yaml_counts(content_copy)
    assert applied.stock_added == 1
    assert applied.stored == sum(applied.counts[name] for name in content.STORE_KINDS)
    assert content.item(new_id) is not None  # in use in this process
    with unit_of_work() as session:
        session.get(ItemStock, new_id).remaining = 1  # type: ignore[union-attr]
    doc = mongo.catalog().find_one({"kind": "item", "key": new_id})
    assert doc is not None and doc["data"]["price"] == 40

    # stock is never refilled by a reload; an entry that left its file leaves the store
    path = content_copy / "items.yaml"
    entries = [e for e in yaml.safe_load(path.read_text()) if e["id"] != new_id]
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))
    with unit_of_work() as session:
        assert catalogs.apply(session).stock_added == 0
    add_item(content_copy, item_entry(new_id, stock=4))
    with unit_of_work() as session:
        assert catalogs.apply(session).stock_added == 0
    with read_session() as session:
        assert session.get(ItemStock, new_id).remaining == 1  # type: ignore[union-attr]
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))
    with unit_of_work() as session:
        catalogs.apply(session)
    assert mongo.catalog().find_one({"kind": "item", "key": new_id}) is None
    assert mongo.catalog().find_one({"kind": "item", "key": "rosa-roja"}) is not None


def _price_zero(directory: Path) -> None:
    path = directory / "items.yaml"
    entries = yaml.safe_load(path.read_text())
    entries[1]["price"] = 0
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))


def _unknown_reward(directory: Path) -> None:
    path = directory / "missions.yaml"
    entries = yaml.safe_load(path.read_text())
    entries[0]["reward"] = {"besitos": 5, "items": [{"item": "no-such-item"}]}
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))


def _recipe_item_removed(directory: Path) -> None:
    path = directory / "items.yaml"  # a valid items.yaml without what a recipe makes
    entries = [e for e in yaml.safe_load(path.read_text()) if e["id"] != "carta-de-amor"]
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))


def _broken_yaml(directory: Path) -> None:
    path = directory / "trivia.yaml"
    path.write_text(path.read_text() + "\n- id: [unclosed\n")


def _levels_missing(directory: Path) -> None:
    (directory / "levels.yaml").unlink()


def _story_target_missing(directory: Path) -> None:
    path = directory / "story" / "lucien.yaml"
    path.write_text(path.read_text().replace("target: el-vestibulo", "target: el-vestibul0", 1))


def _story_unknown_item(directory: Path) -> None:
    path = directory / "story" / "lucien.yaml"
    path.write_text(path.read_text().replace("item: carta-perfumada", "item: carta-perdida"))


BREAKAGES = [
    (_story_target_missing, "story: story/lucien.yaml:52: choice 'la-invitacion.seguir' "
                            "leads to 'el-vestibul0'"),
    (_story_unknown_item, "story: story/lucien.yaml:128: "),
    (_price_zero, "items.yaml: entry 2, price: Input should be greater than 0"),
    (_unknown_reward, "missions.yaml: 'regalo-del-dia' rewards items that are not in "
                      "items.yaml: no-such-item"),
    (_recipe_item_removed, "recipes.yaml: recipe"),
    (_broken_yaml, "trivia.yaml: not valid YAML"),
    (_levels_missing, "levels.yaml: the file is missing"),
]


@pytest.mark.parametrize(("breakage", "expected"), BREAKAGES,
                         ids=[b.__name__.strip("_") for b, _ in BREAKAGES])
def test_a_broken_catalog_is_refused_and_the_previous_stay(
        content_copy: Path, registered: int, breakage: Any, expected: str) -> None:
    admin = admin_member(registered)
    before = {name: getattr(content, name)() for name in content.LOADERS}
    new_id = new_item_id()
    add_item(content_copy, item_entry(new_id, stock=2))  # valid on its own: not applied
    breakage(content_copy)
    key = f"t:broken:{admin}:{new_id}"

    outcome = reload_as(admin, key)

    assert outcome.result == "invalid"
    assert outcome.error is not None and outcome.error.startswith(expected)
    assert str(content_copy) not in outcome.error  # no server paths for the admin
    assert all(getattr(content, name)() is entries for name, entries in before.items())
    assert content.item(new_id) is None
    with read_session() as session:
        assert session.get(ItemStock, new_id) is None
        event = session.get(OutboxEvent, f"content.reload_failed:{key}")
        assert event is not None
        assert event.payload["user_id"] == admin and event.payload["error"] == outcome.error
    assert mongo.catalog().find_one({"kind": "item", "key": new_id}) is None
    [row] = audits(key)
    assert (row.actor_id, row.result, row.target) == (admin, "invalid", expected.split(":")[0])
    assert row.details["error"] == outcome.error
    text = messages.for_event({"type": event.type, "payload": event.payload}).text  # type: ignore[union-attr]
    assert "sigo con los anteriores" in text and expected in text


def test_only_admins_reload_once_per_key_and_every_attempt_is_audited(
        content_copy: Path, registered: int, new_user_id: Any) -> None:
    member = registered
    key = f"t:member:{member}"
    refused = reload_as(member, key)
    assert refused.result == "not_admin" and [e.type for e in refused.events] == \
        ["content.reload_refused"]
    assert refused.events[0].payload == {"user_id": member, "lang": "es"}
    assert reload_as(member, key).replayed
    [row] = audits(key)
    assert (row.actor_id, row.result) == (member, "not_admin")
    text = messages.for_event(refused.events[0].as_message()).text  # type: ignore[union-attr]
    assert "Solo un administrador" in text

    admin = new_user_id()  # in ADMIN_IDS, never registered
    set_env("ADMIN_IDS", str(admin))
    key = f"t:admin:{admin}"
    try:
        done = reload_as(admin, key)
    finally:
        set_env("ADMIN_IDS", "")
    assert done.result == "ok" and done.counts == yaml_counts(content_copy)
    assert done.events[0].payload["counts"] == done.counts
    again = reload_as(admin, key)
    assert again.replayed and again.result == "ok" and again.counts == done.counts
    [row] = audits(key)
    assert (row.result, row.target, row.details["counts"]) == ("ok", "catalogs", done.counts)
    assert "Test" not in str(row.details) and "Test" not in str(done.events[0].payload)
    text = messages.for_event(done.events[0].as_message()).text  # type: ignore[union-attr]
    assert text.startswith(f"✅ Catálogos recargados: {done.counts['missions']} misiones, "
                           f"{done.counts['achievements']} logros")

    console = reload_as(None, f"t:console:{admin}", console=True)
    assert console.result == "ok" and "user_id" not in console.events[0].payload
    assert messages.for_event(console.events[0].as_message()) is None  # nobody to tell


# --- every process follows the generation ---------------------------------------------------


def test_the_check_reloads_after_a_bump_and_not_before_the_interval(
        content_copy: Path) -> None:
    interval = 5.0  # CONTENT_CHECK_INTERVAL's default
    content_tasks.bump_generation()
    t0 = 1000.0
    assert content_tasks.follow_generation(now=t0)  # first look: from the files

    new_id = new_item_id()
    add_item(content_copy, item_entry(new_id))
    content_tasks.bump_generation()
    assert not content_tasks.follow_generation(now=t0 + 1)
    assert not content_tasks.follow_generation(now=t0 + interval - 0.01)
    assert content.item(new_id) is None
    assert content_tasks.follow_generation(now=t0 + interval + 0.01)
    assert content.item(new_id) is not None
    assert not content_tasks.follow_generation(now=t0 + 2 * interval + 0.02)  # no news

    # a file broken after the bump: this process keeps what it uses
    in_use = content.items()
    _price_zero(content_copy)
    content_tasks.bump_generation()
    assert not content_tasks.follow_generation(now=t0 + 3 * interval + 0.03)
    assert content.items() is in_use


def test_a_redis_outage_during_the_check_is_harmless(content_copy: Path) -> None:
    from telegram import Update

    from bot.handlers import common
    from worker import signals

    content_tasks.bump_generation()
    assert content_tasks.follow_generation(now=2000.0)
    in_use = content.items()
    add_item(content_copy, item_entry(new_item_id()))
    redis_url = os.environ["REDIS_URL"]
    set_env("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    content_tasks.reset_follow()
    try:
        started = time.monotonic()
        assert not content_tasks.follow_generation(now=3000.0)
        assert common.stamp(Update(update_id=1)) == "upd:0:1"  # a handler goes on
        signals._follow_content()  # a task goes on
        assert time.monotonic() - started < 3 * content_tasks.CHECK_TIMEOUT_S
        assert content.items() is in_use
    finally:
        set_env("REDIS_URL", redis_url)
        content_tasks.reset_follow()
    assert content_tasks.follow_generation(now=4000.0)  # back: follows again
    assert content.items() is not in_use
