"""End to end: the real bot, the stand-in and a real worker — 🎯 missions, 🏆 achievements and
🏅 the leaderboard before and after the first daily gift."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from models.db import read_session, unit_of_work
from models.tables import User
from services import wallet
from tests.faults.helpers import message_counts
from tests.support import wait_until


def _buttons(record: dict[str, Any]) -> list[str]:
    markup = record.get("params", record.get("result", {})).get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def _view(standin: Any, user_id: int, data: str, message_id: int, needle: str,
          since: int) -> str:
    """Press a button and return the text of the view it edits in."""
    mark = standin.mark()
    standin.press(user_id, data, message_id, force=True)
    record = standin.wait_for(lambda r: needle in r["params"].get("text", ""), timeout=15,
                              chat_id=user_id, method="editMessageText", since=max(mark, since))
    assert _buttons(record) == ["g:missions", "g:achievements", "g:top", "m:menu"]
    return str(record["params"]["text"])


def test_member_sees_missions_achievements_and_the_leaderboard(bot, standin,  # type: ignore[no-untyped-def]
                                                               user_id) -> None:
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Lucía", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    message_id = menu["result"]["message_id"]
    assert {"g:missions", "g:achievements", "g:top"} <= set(_buttons(menu))
    wait_until(lambda: _registered(user_id), timeout=15, message="member registered")

    missions = _view(standin, user_id, "g:missions", message_id, "Tus misiones", mark)
    assert "▫️ Regalo del día — +5 besitos" in missions
    assert "▱▱▱▱▱▱▱▱ 0/1 regalos" in missions
    assert "Lector de la semana" in missions and "0/5 fragmentos" in missions
    assert "Capricho VIP" not in missions  # VIP only

    back = standin.mark()
    standin.press(user_id, "m:menu", message_id)  # ⬅️ back to the menu, then 🎁
    standin.wait_for(lambda r: "m:gift" in _buttons(r), timeout=15, chat_id=user_id,
                     method="editMessageText", since=back)
    standin.press(user_id, "m:gift", message_id)
    standin.wait_for_message(user_id, "Misión completada: Regalo del día. +5 besitos",
                             since=mark, timeout=20)
    standin.wait_for_message(user_id, "Logro desbloqueado: Primera misión (🥉 bronce)",
                             since=mark, timeout=20)
    level_up = standin.wait_for_message(user_id, "Ahora eres nivel 2: Invitado", since=mark,
                                        timeout=20)
    assert _buttons(level_up) == ["g:missions", "g:achievements", "g:top", "m:menu"]

    missions = _view(standin, user_id, "g:missions", message_id, "✅ Regalo del día", mark)
    assert "completada" in missions

    unlocked = _view(standin, user_id, "g:achievements", message_id, "Tus logros", mark)
    assert "Tus logros: 1 de " in unlocked
    assert "🥉 bronce · Primera misión" in unlocked
    assert "🔒 Cien besitos" in unlocked and "65/100" in unlocked
    assert "🤫 Y 1 logro(s) secreto(s) por descubrir." in unlocked
    assert "Devoción" not in unlocked  # the secret one stays hidden

    top = _view(standin, user_id, "g:top", message_id, "Ranking", mark)
    assert re.search(r"Tú: puesto \d+ · 65 besitos ganados", top), top
    assert "⭐ Nivel 2: Invitado" in top
    assert "65/150 para el nivel 3 (Habitual)" in top
    assert str(user_id) not in top

    with read_session() as session:
        assert wallet.balance(session, user_id) == 65 == wallet.ledger_sum(session, user_id)
    for needle in ("Misión completada: Regalo del día", "Primera misión", "nivel 2"):
        assert message_counts(standin, [user_id], needle)[user_id] == 1, needle


def test_a_vip_member_sees_the_vip_mission(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Vera", language_code="en")
    menu = standin.wait_for_message(user_id, "butler", since=mark, timeout=15)
    wait_until(lambda: _registered(user_id), timeout=15, message="member registered")
    with unit_of_work() as session:
        session.get(User, user_id).vip_until = datetime.now(UTC) + timedelta(days=30)  # type: ignore[union-attr]
    missions = _view(standin, user_id, "g:missions", menu["result"]["message_id"],
                     "Your missions", mark)
    assert "VIP treat · 👑 VIP — +50 besitos and 🎁 Red rose × 1" in missions
    assert "0/1 purchases" in missions


def test_tampered_progress_data_gets_a_polite_answer(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Eve", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    tampered = ("g:missions\n", "g:top:1", "g:", "g:MISSIONS", "g:" + "a" * 70)
    for data in tampered:
        standin.press(user_id, data, menu["result"]["message_id"], force=True)
    wait_until(lambda: sum("no está disponible" in (r["params"].get("text") or "")
                           for r in standin.sent(method="answerCallbackQuery", since=mark))
               == len(tampered), timeout=15, message="polite answers")
    assert "Traceback" not in bot.log()


def _registered(user_id: int) -> bool:
    with read_session() as session:
        return session.get(User, user_id) is not None
