"""End to end: the real bot, the stand-in and a real worker — 🛍️ Store → item → Buy."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks
from models.db import read_session, unit_of_work
from models.tables import User
from services import inventory, wallet
from tests.support import wait_until


def _buttons(record: dict) -> list[str]:  # type: ignore[type-arg]
    markup = record.get("params", record.get("result", {})).get("reply_markup") or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


def _registered_with(user_id: int, besitos: int) -> None:
    def exists() -> bool:
        with read_session() as session:
            return session.get(User, user_id) is not None

    wait_until(exists, timeout=15, message="member registered")
    with unit_of_work() as session:
        wallet.credit(session, user_id, besitos, reason="test", key=f"fund:{user_id}")


def test_member_buys_an_item_from_the_store(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Lucía", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    assert "s:list" in _buttons(menu)
    _registered_with(user_id, 50)
    message_id = menu["result"]["message_id"]

    standin.press(user_id, "s:list", message_id)
    listing = standin.wait_for(lambda r: "Tienda" in r["params"].get("text", ""), timeout=15,
                               chat_id=user_id, method="editMessageText", since=mark)
    assert "Saldo" in listing["params"]["text"] or "saldo" in listing["params"]["text"]
    assert "s:item:rosa-roja" in _buttons(listing)

    standin.press(user_id, "s:item:rosa-roja", message_id)
    shown = standin.wait_for(lambda r: "Rosa roja" in r["params"].get("text", ""), timeout=15,
                             chat_id=user_id, method="editMessageText", since=mark)
    assert "s:buy:rosa-roja" in _buttons(shown) and "20 besitos" in shown["params"]["text"]

    standin.press(user_id, "s:buy:rosa-roja", message_id)
    bought = standin.wait_for_message(user_id, "Compraste Rosa roja", since=mark, timeout=15)
    assert "Saldo: 30 besitos" in bought["params"]["text"]

    standin.press(user_id, "i:list", message_id, force=True)
    standin.wait_for(lambda r: "Rosa roja × 1" in r["params"].get("text", ""), timeout=15,
                     chat_id=user_id, since=mark)
    with read_session() as session:
        assert wallet.balance(session, user_id) == 30 == wallet.ledger_sum(session, user_id)
        assert inventory.lines(session, user_id) == [("rosa-roja", 1)]
    texts = [r["params"].get("text", "") for r in standin.sent(chat_id=user_id, since=mark)]
    assert sum("Compraste Rosa roja" in t for t in texts) == 1


def test_tampered_store_data_gets_a_polite_answer(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Eve", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    _registered_with(user_id, 1000)
    tampered = ("s:buy:no-such-item", "s:buy:ROSA", "s:buy:rosa-roja;x", "i:use:",
                "s:item:" + "a" * 40)
    for data in tampered:
        standin.press(user_id, data, menu["result"]["message_id"], force=True)
    wait_until(lambda: sum("no está disponible" in (r["params"].get("text") or "")
                           for r in standin.sent(method="answerCallbackQuery", since=mark))
               == len(tampered), timeout=15, message="polite answers")
    assert "Traceback" not in bot.log()
    with read_session() as session:
        assert wallet.balance(session, user_id) == 1000
        assert inventory.lines(session, user_id) == []


def test_store_callback_data_round_trips_and_fits() -> None:
    for verb, item in [("store", None), ("inventory", None), ("item", "rosa-roja"),
                       ("buy", "corona-vip"), ("use", "carta-perfumada")]:
        data = callbacks.store_data(verb, item)
        assert callbacks.parse_store(data) == (verb, item) and len(data.encode()) <= 64


@given(st.one_of(st.text(max_size=100), st.binary(max_size=80), st.none(), st.integers()))
def test_other_store_data_parses_to_none(raw: object) -> None:
    result = callbacks.parse_store(raw)
    if result is not None:  # only the exact shapes we send
        assert isinstance(raw, str) and callbacks.store_data(*result) == raw
