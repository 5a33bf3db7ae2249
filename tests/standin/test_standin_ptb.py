"""python-telegram-bot 22 against the stand-in: every result must parse into PTB objects."""

from __future__ import annotations

import asyncio

import pytest
from telegram import (
    Bot,
    BotCommand,
    ChatMemberBanned,
    ChatMemberMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

pytestmark = pytest.mark.timeout(20)

KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="vote:yes"),
                                  InlineKeyboardButton("Site", url="https://example.org")]])


def run(coro):
    return asyncio.run(coro)


def test_bot_core_calls(server, client, token):
    async def scenario():
        async with Bot(token, base_url=server.api_base_url) as bot:
            me = await bot.get_me()
            assert me.is_bot
            assert me.username == "yabot_standin_bot"
            assert me.id == 123456
            message = await bot.send_message(1001, "Vote?", reply_markup=KEYBOARD)
            assert isinstance(message, Message)
            assert message.chat.id == 1001
            assert message.reply_markup == KEYBOARD
            assert message.from_user.id == me.id
            update = await asyncio.to_thread(client.press, 1001, "vote:yes",
                                             message.message_id)
            query_id = update["callback_query"]["id"]
            assert await bot.answer_callback_query(query_id, text="Thanks!") is True
            edited = await bot.edit_message_text("Voted", chat_id=1001,
                                                 message_id=message.message_id)
            assert edited.text == "Voted"
            assert edited.edit_date is not None
            assert edited.reply_markup is None
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_text("Voted", chat_id=1001,
                                            message_id=message.message_id)
            with pytest.raises(BadRequest, match="(?i)query id is invalid"):
                await bot.answer_callback_query(query_id)
            remarked = await bot.edit_message_reply_markup(1001, message.message_id,
                                                           reply_markup=KEYBOARD)
            assert remarked.reply_markup == KEYBOARD
            assert await bot.delete_message(1001, message.message_id) is True
    run(scenario())
    records = client.sent(chat_id=1001)
    assert [r["method"] for r in records] == [
        "sendMessage", "answerCallbackQuery", "editMessageText", "editMessageReplyMarkup",
        "deleteMessage"]
    assert records[1]["params"]["text"] == "Thanks!"


def test_bot_media_chat_and_admin_calls(server, client, token):
    async def scenario():
        async with Bot(token, base_url=server.api_base_url) as bot:
            photo = await bot.send_photo(-100200, b"\x89PNG fake bytes", caption="<b>pic</b>",
                                         parse_mode="HTML")
            assert photo.photo[-1].width == 800
            assert photo.caption == "pic"
            assert photo.caption_entities[0].type == "bold"
            poll = await bot.send_poll(-100200, "Lunch?", ["Pizza", "Sushi"])
            assert [o.text for o in poll.poll.options] == ["Pizza", "Sushi"]
            assert await bot.send_chat_action(-100200, "typing") is True
            chat = await bot.get_chat(-100200)
            assert chat.type == "supergroup"
            member = await bot.get_chat_member(-100200, 77)
            assert isinstance(member, ChatMemberMember)
            assert await bot.ban_chat_member(-100200, 77) is True
            assert isinstance(await bot.get_chat_member(-100200, 77), ChatMemberBanned)
            assert await bot.unban_chat_member(-100200, 77) is True
            link = await bot.create_chat_invite_link(-100200, name="spring",
                                                     creates_join_request=True)
            assert link.invite_link.startswith("https://t.me/+")
            assert link.name == "spring"
            with pytest.raises(BadRequest, match="(?i)hide_requester_missing"):
                await bot.approve_chat_join_request(-100200, 88)
            await asyncio.to_thread(client.inject_join_request, 88, -100200)
            assert await bot.approve_chat_join_request(-100200, 88) is True
            await asyncio.to_thread(client.inject_join_request, 89, -100200)
            assert await bot.decline_chat_join_request(-100200, 89) is True
            commands = [BotCommand("start", "Start"), BotCommand("help", "Help")]
            assert await bot.set_my_commands(commands) is True
            assert await bot.get_my_commands() == tuple(commands)
            assert await bot.get_my_commands(language_code="es") == ()
            assert await bot.delete_my_commands() is True
            assert await bot.get_my_commands() == ()
            copy_id = await bot.copy_message(-100200, -100200, poll.message_id)
            forwarded = await bot.forward_message(-100200, -100200, photo.message_id)
            assert copy_id.message_id > poll.message_id
            assert forwarded.photo
            document = await bot.send_document(-100200, b"file", filename="a.txt")
            assert document.document.file_id.startswith("standin-")
    run(scenario())
    upload = client.sent(method="sendPhoto")[0]["params"]["photo"]
    assert upload["size"] == len(b"\x89PNG fake bytes")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_ptb_errors_map_to_exceptions(server, client, token):
    client.block(1002)
    client.fail_next(1, "429", retry_after=4)

    async def scenario():
        async with Bot(token, base_url=server.api_base_url) as bot:
            with pytest.raises(RetryAfter, match="Retry in 4"):
                await bot.send_message(1003, "x")
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(1002, "x")
    run(scenario())


def test_application_end_to_end_polling(server, client, token):
    async def start(update, context: ContextTypes.DEFAULT_TYPE):
        lang = update.effective_user.language_code
        await update.message.reply_text(f"Hola ({lang})" if lang == "es" else "Hello",
                                        reply_markup=KEYBOARD)

    async def echo(update, context: ContextTypes.DEFAULT_TYPE):
        await update.message.reply_text(update.message.text.upper())

    async def button(update, context: ContextTypes.DEFAULT_TYPE):
        query = update.callback_query
        await query.answer("Counted")
        await query.edit_message_text(f"You said {query.data}")

    async def scenario():
        app = Application.builder().token(token).base_url(server.api_base_url).build()
        app.add_handler(CommandHandler("start", start))
        app.add_handler(CallbackQueryHandler(button))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
        async with app:
            await app.start()
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                await asyncio.to_thread(client.inject_message, 2001, "/start",
                                        language_code="es", first_name="Ana")
                hello = await asyncio.to_thread(client.wait_for_message, 2001, "Hola (es)")
                await asyncio.to_thread(client.press, 2001, "vote:yes")
                await asyncio.to_thread(client.wait_for, lambda r: r["method"] ==
                                        "editMessageText", chat_id=2001)
                await asyncio.to_thread(client.inject_message, 2001, "shout")
                await asyncio.to_thread(client.wait_for_message, 2001, "SHOUT")
            finally:
                await app.updater.stop()
                await app.stop()
        return hello

    hello = run(scenario())
    assert hello["result"]["chat"]["first_name"] == "Ana"
    texts = [m.get("text") for m in client.messages(2001)]
    assert texts == ["/start", "You said vote:yes", "shout", "SHOUT"]
    assert client.sent(method="answerCallbackQuery")[0]["params"]["text"] == "Counted"
    assert client.stats()["pending_updates"] == 0


def test_file_download(server, client, token):
    async def scenario():
        async with Bot(token, base_url=server.api_base_url,
                       base_file_url=f"{server.base_url}/file/bot") as bot:
            file = await bot.get_file("AgACAgIAAxk")
            return bytes(await file.download_as_bytearray())
    assert len(run(scenario())) == 16
