"""End to end: the real bot, the stand-in and a real worker, both reading a copy of
content/ — a member's /recargar is refused politely (audited); an admin's /reload is
confirmed once, and the member's 🛍️ store, rendered by the bot, then shows the item that
was added to the file."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from models.db import read_session, unit_of_work
from models.tables import AuditEntry, User
from services import content
from tasks import content as content_tasks
from tests.faults.helpers import message_counts
from tests.support import Process, buttons, start_in_bot, start_worker

TITLE = "Perla de prueba"


@pytest.fixture(scope="module")
def content_copy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("journey") / "content"
    shutil.copytree(content.CONTENT_DIR, directory)
    yield directory
    content.sync_to_store()  # the repo's catalogs in MongoDB again


@pytest.fixture(scope="module")
def worker(log_dir: Path, content_copy: Path) -> Iterator[Process]:
    """This module's worker and bot read the copy and check the generation every time."""
    content_tasks.bump_generation()  # a generation exists: both look at it from the start
    process = start_worker(log_dir, name="worker-journey",
                           env={"CONTENT_DIR": str(content_copy), "CONTENT_CHECK_INTERVAL": "0"})
    yield process
    process.stop()


@pytest.fixture(scope="module")
def bot(log_dir: Path, worker: Process, content_copy: Path) -> Iterator[Process]:
    process = Process("bot-journey", [sys.executable, "-m", "bot"], log_dir,
                      env={"CONTENT_DIR": str(content_copy),
                           "CONTENT_CHECK_INTERVAL": "0"}).start()
    process.wait_for_log("bot ready", timeout=30)
    yield process
    process.stop()


def _store(standin, uid: int, menu: int) -> list[str]:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.press(uid, "s:list", menu)
    listing = standin.wait_for(lambda r: "Tienda" in r["params"].get("text", ""), timeout=15,
                               chat_id=uid, method="editMessageText", since=mark)
    return buttons(listing)


def test_member_is_refused_and_admin_reloads_what_the_store_shows(
        bot, standin, content_copy: Path, new_user_id) -> None:  # type: ignore[no-untyped-def]
    admin, member = new_user_id(), new_user_id()
    int(start_in_bot(standin, admin, "Admin")["result"]["message_id"])
    menu = int(start_in_bot(standin, member, "Marta")["result"]["message_id"])
    with unit_of_work() as session:
        session.get(User, admin).role = "admin"  # type: ignore[union-attr]
    item_id = f"test-perla-{member % 100000}"
    path = content_copy / "items.yaml"
    entry = {"id": item_id, "title": {"es": TITLE}, "description": {"es": "Para las pruebas."},
             "category": "collectible", "rarity": "rare", "price": 30}
    entries = [*yaml.safe_load(path.read_text()), entry]
    path.write_text(yaml.safe_dump(entries, allow_unicode=True))
    assert f"s:item:{item_id}" not in _store(standin, member, menu)  # the bot's catalogs

    mark = standin.mark()
    standin.inject_message(member, "/recargar")
    standin.wait_for_message(member, "Solo un administrador puede recargar", since=mark,
                             timeout=20)
    with read_session() as session:
        rows = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "content.reload", AuditEntry.actor_id == member)).all()
        assert [row.result for row in rows] == ["not_admin"]

    standin.inject_message(admin, "/reload")
    done = standin.wait_for_message(admin, "Catálogos recargados", since=mark, timeout=20)
    assert f"{len(entries)} artículos" in done["result"]["text"]
    assert f"s:item:{item_id}" in _store(standin, member, menu)  # the bot followed

    time.sleep(2)  # give a duplicate every chance to show up
    assert message_counts(standin, [admin], "Catálogos recargados")[admin] == 1
    assert message_counts(standin, [member], "Catálogos recargados")[member] == 0
    assert "not followed" not in bot.log()
