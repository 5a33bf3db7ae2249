"""Catalog reloads through real worker processes: an admin's reload task (delivered twice)
makes the worker sell an item added to the files, the admin is told once; a reload from
the operator's console reaches every pool process; a broken file is refused by both and
announces nothing."""

from __future__ import annotations

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
from models.db import read_session, unit_of_work
from models.tables import AuditEntry, ItemStock, User
from services import content, wallet
from tasks import content as content_tasks
from tasks.telegram import redis_client
from tests.faults.helpers import message_counts, register_directly
from tests.support import Process, start_worker, wait_until
from worker.app import app

TITLE = "Perla de prueba"


def add_item(directory: Path, item_id: str, **fields: Any) -> None:
    path = directory / "items.yaml"
    entry = {"id": item_id, "title": {"es": TITLE, "en": "Test pearl"},
             "description": {"es": "Para las pruebas."}, "category": "collectible",
             "rarity": "rare", "price": 30, **fields}
    path.write_text(yaml.safe_dump([*yaml.safe_load(path.read_text()), entry],
                                   allow_unicode=True))


def funded_members(count: int, new_user_id: Any) -> list[int]:
    uids = [new_user_id() for _ in range(count)]
    register_directly(uids)
    with unit_of_work() as session:
        for uid in uids:
            wallet.credit(session, uid, 500, reason="test", key=f"fund:{uid}")
    return uids


def buy(uid: int, item_id: str, label: str) -> None:
    app.send_task("tasks.store.purchase", args=[uid, item_id, f"cb:{label}-{uid}"])


def told(standin, uids: list[int], needle: str) -> bool:  # type: ignore[no-untyped-def]
    counts = message_counts(standin, uids, needle)
    return all(counts[uid] >= 1 for uid in uids)


@pytest.fixture(scope="module")
def content_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("reload") / "content"
    shutil.copytree(content.CONTENT_DIR, directory)
    yield directory
    content.sync_to_store()  # the repo's catalogs in MongoDB again


@pytest.fixture(scope="module")
def reloading_worker(log_dir: Path, content_copy: Path) -> Iterator[Process]:
    """A worker reading the copy and checking the generation before every task; both pool
    processes have loaded the copy when it is handed out."""
    content_tasks.bump_generation()  # each pool process looks at it when it starts
    process = start_worker(log_dir, name="worker-content",
                           env={"CONTENT_DIR": str(content_copy),
                                "CONTENT_CHECK_INTERVAL": "0"})
    wait_until(lambda: process.log().count("catalogs reloaded") >= 2, timeout=30,
               message="both pool processes on the current generation")
    yield process
    process.stop()


def test_an_admins_reload_is_served_by_the_worker_and_told_once(
        reloading_worker: Process, content_copy: Path, standin, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, member = funded_members(2, new_user_id)
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    item_id = f"test-perla-{member % 100000}"
    add_item(content_copy, item_id, stock=5)

    buy(member, item_id, "before")  # the worker serves what it loaded, not the file
    wait_until(lambda: told(standin, [member], "ya no está en la tienda"), timeout=20,
               message="unknown-item refusal")

    key = f"upd:{admin}:1"
    for _ in range(2):  # the same task message, delivered twice
        app.send_task("tasks.content.reload", args=[admin, key], task_id=f"reload-{admin}")
    wait_until(lambda: told(standin, [admin], "Catálogos recargados"), timeout=20,
               message="the admin told")
    buy(member, item_id, "after")
    wait_until(lambda: told(standin, [member], f"Compraste {TITLE}"), timeout=20,
               message="the new item sold")

    time.sleep(2)  # give a duplicate every chance to show up
    assert message_counts(standin, [admin], "Catálogos recargados")[admin] == 1
    with read_session() as session:
        rows = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "content.reload", AuditEntry.actor_id == admin)).all()
        assert [(row.result, row.details["request_key"]) for row in rows] == [("ok", key)]
        assert session.get(ItemStock, item_id).remaining == 4  # type: ignore[union-attr]


def test_a_console_reload_reaches_every_pool_process(
        reloading_worker: Process, content_copy: Path, standin, new_user_id,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    members = funded_members(6, new_user_id)
    item_id = f"test-perla-{members[0] % 100000}"
    add_item(content_copy, item_id, price=0)  # broken: prices are positive
    for uid in members:
        buy(uid, item_id, "before")
    wait_until(lambda: told(standin, members, "ya no está en la tienda"), timeout=30,
               message="unknown-item refusals")

    os.environ["CONTENT_DIR"] = str(content_copy)
    reset_settings()
    try:
        generation = redis_client().get(content_tasks.GENERATION_KEY)
        assert content_tasks.main(["reload"]) == 1
        assert "items.yaml: entry" in capsys.readouterr().err
        assert redis_client().get(content_tasks.GENERATION_KEY) == generation  # not announced

        path = content_copy / "items.yaml"
        entries = yaml.safe_load(path.read_text())
        entries[-1]["price"] = 25
        path.write_text(yaml.safe_dump(entries, allow_unicode=True))
        # a pool process that had not yet followed an earlier generation may have tried
        # while the file was broken (and rightly kept its catalogs): judge from here on
        log_mark = len(reloading_worker.log())
        assert content_tasks.main(["reload"]) == 0
        assert "reloaded: items" in capsys.readouterr().out
        assert redis_client().get(content_tasks.GENERATION_KEY) != generation
    finally:
        os.environ.pop("CONTENT_DIR")
        reset_settings()
        content.reload()
        content.sync_to_store()  # the repo's catalogs in MongoDB again
        content_tasks.reset_follow()

    for uid in members:  # whichever pool process takes each: it sells the item now
        buy(uid, item_id, "after")
    wait_until(lambda: told(standin, members, f"Compraste {TITLE}"), timeout=30,
               message="the item sold to every member")
    assert "not followed" not in reloading_worker.log()[log_mark:]
