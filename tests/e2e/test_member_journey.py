"""End to end: the real bot, driven through the Telegram stand-in, with a real worker."""

from __future__ import annotations

from models.db import read_session
from services import wallet
from tests.support import wait_until


def test_member_registers_claims_gift_and_reads_wallet(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Lucía", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    buttons = [b["callback_data"] for row in menu["result"]["reply_markup"]["inline_keyboard"]
               for b in row]
    assert buttons == ["m:gift", "q:view", "g:missions", "g:achievements", "s:list", "i:list", "a:list",
                       "t:play", "g:top", "m:wallet", "v:status", "m:help"]

    standin.press(user_id, "m:gift", menu["result"]["message_id"])
    standin.wait_for_message(user_id, "+10 besitos", since=mark, timeout=15)
    # the "gift of the day" mission (+5) unlocks the first-mission achievement (+50)
    standin.wait_for_message(user_id, "Primera misión", since=mark, timeout=15)

    standin.press(user_id, "m:wallet", menu["result"]["message_id"])
    view = standin.wait_for(lambda r: "Tu saldo: 65" in r["params"].get("text", ""),
                            timeout=15, chat_id=user_id, method="editMessageText", since=mark)
    assert "+10" in view["params"]["text"] and "Regalo diario" in view["params"]["text"]
    with read_session() as session:
        assert wallet.balance(session, user_id) == 65 == wallet.ledger_sum(session, user_id)
    # every callback query was answered
    answered = standin.sent(method="answerCallbackQuery", since=mark)
    assert len(answered) >= 2


def test_english_member_is_answered_in_english(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="John", language_code="en-GB")
    standin.wait_for_message(user_id, "butler", since=mark, timeout=15)
    standin.inject_message(user_id, "/help", first_name="John", language_code="en-GB")
    standin.wait_for_message(user_id, "Commands:", since=mark, timeout=15)


def test_tampered_callback_gets_a_polite_answer(bot, standin, user_id) -> None:  # type: ignore[no-untyped-def]
    mark = standin.mark()
    standin.inject_message(user_id, "/start", first_name="Eve", language_code="es")
    menu = standin.wait_for_message(user_id, "mayordomo", since=mark, timeout=15)
    for data in ("m:gift;drop table", "x" * 64, "m:", "\u0000"):
        standin.press(user_id, data, menu["result"]["message_id"], force=True)
    wait_until(lambda: sum("no está disponible" in (r["params"].get("text") or "")
                           for r in standin.sent(method="answerCallbackQuery", since=mark)) == 4,
               timeout=15, message="four polite answers")
    assert "Traceback" not in bot.log()
    with read_session() as session:
        assert wallet.balance(session, user_id) == 0
