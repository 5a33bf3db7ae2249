"""👑 VIP texts, the /vip view and the VIP event messages (Spanish and English).

Callback data (bot/callbacks.py `parse_vip`): `v:status` (the /vip view) and `v:link` (a
single-use invite link to the VIP channel, sent privately).

Who sends what: `tasks.notify.member` sends the events registered here with `@renders`
(granted, revoked, redeemed, refused, reminder). `tasks.vip` sends the ones whose order
matters itself, with `render`: `vip.expired` after the removal from the channel, and the
join answers before Telegram approves or declines (a private message to someone who only
asked to join is allowed while the request is pending). `for_admin` renders the admin's
confirmation of a grant or a revocation; `codes_view` the codes, shown once.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from core.settings import get_settings
from services.messages import TEXTS, Rendered, add_texts, renders, t

add_texts(
    es={
        "vip.status.active": "👑 Eres VIP hasta el {date}.\n🎫 Plan: {plan}.",
        "vip.status.since": "📅 Desde el {date}.",
        "vip.status.link_hint": "Pulsa «🔗 Enlace de acceso» para entrar al canal VIP.",
        "vip.status.ended": "Tu acceso VIP terminó el {date}.",
        "vip.status.never": "Aún no eres VIP.",
        "vip.status.how": "🎟️ ¿Tienes un código? Escribe /canjear TU-CÓDIGO.",
        "btn.vip_link": "🔗 Enlace de acceso",
        "btn.vip_status": "👑 Mi VIP",
        "vip.granted": "👑 ¡Ya eres VIP! Tu acceso dura hasta el {date}.",
        "vip.extended": "👑 ¡Tu VIP se ha ampliado {days} día(s)! Ahora dura hasta el {date}.",
        "vip.redeemed": "🎟️ ¡Código canjeado! {days} día(s) de VIP: tu acceso dura hasta el "
                        "{date}.",
        "vip.revoked": "🔒 Un administrador ha retirado tu acceso VIP.",
        "vip.revoked_removed": "🔒 Un administrador ha retirado tu acceso VIP, así que ya no "
                               "estás en el canal VIP.",
        "vip.reminder": "⏳ Tu VIP termina en {days} día(s), el {date}. Renueva para no perder "
                        "el acceso al canal VIP.",
        "vip.expired": "⌛ Tu VIP terminó el {date}.",
        "vip.expired_removed": "⌛ Tu VIP terminó el {date}, así que te hemos sacado del canal "
                               "VIP. Cuando renueves podrás volver a entrar.",
        "vip.join_approved": "👑 ¡Bienvenida/o al canal VIP! Tu acceso dura hasta el {date}.",
        "vip.join_approved_admin": "👑 Entras al canal VIP como administrador.",
        "vip.join_declined": "🔒 No he podido aprobar tu solicitud para entrar al canal VIP: "
                             "no tienes una suscripción VIP activa.\n🎟️ Si tienes un código, "
                             "escribe /canjear TU-CÓDIGO y vuelve a solicitarlo.",
        "vip.invite": "🔗 Tu enlace al canal VIP (sirve una sola vez y caduca en {minutes} "
                      "min):\n{link}",
        "vip.invite_refused": "🔒 El enlace de acceso es solo para miembros VIP activos.",
        "vip.unavailable": "El canal VIP no está disponible ahora mismo.",
        "vip.usage.grant": "Uso: /vip_dar <id de usuario> <días> [plan]\n"
                           "Ejemplo: /vip_dar 123456789 30 mensual",
        "vip.usage.revoke": "Uso: /vip_quitar <id de usuario>",
        "vip.usage.codes": "Uso: /vip_codigos <cantidad 1-100> <días> [plan]\n"
                           "Ejemplo: /vip_codigos 5 30 mensual",
        "vip.usage.redeem": "Uso: /canjear <código>\nEjemplo: /canjear VIP-ABCD-EFGH-JKMN-PQRS",
        "vip.refused.not_admin": "🔒 Eso es solo para administradores.",
        "vip.refused.unknown_member": "⚠️ El miembro {target} no está registrado: tiene que "
                                      "escribir /start al bot primero.",
        "vip.refused.not_vip": "⚠️ El miembro {target} no tiene VIP activo.",
        "vip.refused.unknown_code": "🎟️ Ese código no existe. Revísalo y vuelve a probar.",
        "vip.refused.code_used": "🎟️ Ese código ya se ha usado.",
        "vip.refused.code_expired": "🎟️ Ese código ha caducado.",
        "vip.refused.refused": "No he podido hacer eso.",
        "vip.admin.granted": "✅ VIP para {target} hasta el {date} ({days} día(s), plan {plan}"
                             "{extended}).",
        "vip.admin.extended": ", ampliado",
        "vip.admin.revoked": "✅ VIP retirado a {target}{removed}.",
        "vip.admin.removed": "; sale del canal VIP",
        "vip.admin.codes": "🎟️ {count} código(s) de {days} día(s) de VIP (plan {plan}). Solo "
                           "se muestran esta vez; cada uno sirve una vez:",
    },
    en={
        "vip.status.active": "👑 You are VIP until {date}.\n🎫 Plan: {plan}.",
        "vip.status.since": "📅 Since {date}.",
        "vip.status.link_hint": "Press “🔗 Access link” to enter the VIP channel.",
        "vip.status.ended": "Your VIP access ended on {date}.",
        "vip.status.never": "You are not VIP yet.",
        "vip.status.how": "🎟️ Got a code? Send /redeem YOUR-CODE.",
        "btn.vip_link": "🔗 Access link",
        "btn.vip_status": "👑 My VIP",
        "vip.granted": "👑 You are VIP now! Your access lasts until {date}.",
        "vip.extended": "👑 Your VIP was extended by {days} day(s)! It now lasts until {date}.",
        "vip.redeemed": "🎟️ Code redeemed! {days} day(s) of VIP: your access lasts until "
                        "{date}.",
        "vip.revoked": "🔒 An admin has revoked your VIP access.",
        "vip.revoked_removed": "🔒 An admin has revoked your VIP access, so you are no longer "
                               "in the VIP channel.",
        "vip.reminder": "⏳ Your VIP ends in {days} day(s), on {date}. Renew to keep your "
                        "access to the VIP channel.",
        "vip.expired": "⌛ Your VIP ended on {date}.",
        "vip.expired_removed": "⌛ Your VIP ended on {date}, so you were removed from the VIP "
                               "channel. Renew and you can come back in.",
        "vip.join_approved": "👑 Welcome to the VIP channel! Your access lasts until {date}.",
        "vip.join_approved_admin": "👑 You join the VIP channel as an admin.",
        "vip.join_declined": "🔒 I could not approve your request to join the VIP channel: "
                             "you have no active VIP subscription.\n🎟️ If you have a code, "
                             "send /redeem YOUR-CODE and ask again.",
        "vip.invite": "🔗 Your link to the VIP channel (works once, expires in {minutes} "
                      "min):\n{link}",
        "vip.invite_refused": "🔒 The access link is for active VIP members only.",
        "vip.unavailable": "The VIP channel is not available right now.",
        "vip.usage.grant": "Usage: /vip_dar <user id> <days> [plan]\n"
                           "Example: /vip_dar 123456789 30 monthly",
        "vip.usage.revoke": "Usage: /vip_quitar <user id>",
        "vip.usage.codes": "Usage: /vip_codigos <count 1-100> <days> [plan]\n"
                           "Example: /vip_codigos 5 30 monthly",
        "vip.usage.redeem": "Usage: /redeem <code>\nExample: /redeem VIP-ABCD-EFGH-JKMN-PQRS",
        "vip.refused.not_admin": "🔒 That is for admins only.",
        "vip.refused.unknown_member": "⚠️ Member {target} is not registered: they must send "
                                      "/start to the bot first.",
        "vip.refused.not_vip": "⚠️ Member {target} has no active VIP.",
        "vip.refused.unknown_code": "🎟️ That code does not exist. Check it and try again.",
        "vip.refused.code_used": "🎟️ That code has been used already.",
        "vip.refused.code_expired": "🎟️ That code has expired.",
        "vip.refused.refused": "I could not do that.",
        "vip.admin.granted": "✅ VIP for {target} until {date} ({days} day(s), plan {plan}"
                             "{extended}).",
        "vip.admin.extended": ", extended",
        "vip.admin.revoked": "✅ VIP revoked for {target}{removed}.",
        "vip.admin.removed": "; they leave the VIP channel",
        "vip.admin.codes": "🎟️ {count} code(s) worth {days} day(s) of VIP (plan {plan}). Shown "
                           "only this once; each works once:",
    },
)


def date_text(value: datetime | str) -> str:
    """A date and time in the community's time zone (TIMEZONE), e.g. `25/12/2026 21:30`."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(get_settings().zone).strftime("%d/%m/%Y %H:%M")


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "callback_data": data}


def _keyboard(language: str, *, link: bool) -> dict[str, Any]:
    rows = [[_button(t(language, "btn.vip_link"), "v:link")]] if link else []
    rows.append([_button(t(language, "btn.vip_status"), "v:status"),
                 _button(t(language, "btn.menu"), "m:menu")])
    return {"inline_keyboard": rows}


def status_view(language: str, status: Any) -> Rendered:
    """`/vip`: the member's status and end date; the access link button while active.

    `status` is a `services.vip.Status` (typed loosely: messages does not import SQL)."""
    if status.active:
        parts = [t(language, "vip.status.active", date=date_text(status.ends_at),
                   plan=status.plan or "vip")]
        if status.since is not None:
            parts.append(t(language, "vip.status.since", date=date_text(status.since)))
        parts.append(t(language, "vip.status.link_hint"))
        return Rendered("\n".join(parts), _keyboard(language, link=True))
    parts = [t(language, "vip.status.ended", date=date_text(status.ends_at))
             if status.ends_at is not None else t(language, "vip.status.never"),
             t(language, "vip.status.how")]
    return Rendered("\n".join(parts), _keyboard(language, link=False))


def invite_view(language: str, link: str, minutes: int) -> Rendered:
    return Rendered(t(language, "vip.invite", link=link, minutes=minutes),
                    _keyboard(language, link=False))


def notice(language: str, key: str) -> Rendered:
    """A short answer with the VIP buttons (refused invite, channel unavailable, usage)."""
    return Rendered(t(language, key), _keyboard(language, link=False))


def codes_view(language: str, codes: list[str], days: int, plan: str) -> Rendered:
    """The codes, once, each in monospace so a tap copies it."""
    lines = [html.escape(t(language, "vip.admin.codes", count=len(codes), days=days,
                           plan=plan))]
    lines += [f"<code>{html.escape(code)}</code>" for code in codes]
    return Rendered("\n".join(lines), parse_mode="HTML")


# --- events ----------------------------------------------------------------------------------


@renders("vip.granted")
def _granted(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    key = "vip.extended" if payload.get("source") == "extend" else "vip.granted"
    return Rendered(t(language, key, days=payload["days"], date=date_text(payload["ends_at"])),
                    _keyboard(language, link=True))


@renders("vip.redeemed")
def _redeemed(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "vip.redeemed", days=payload["days"],
                      date=date_text(payload["ends_at"])), _keyboard(language, link=True))


@renders("vip.revoked")
def _revoked(event: dict[str, Any], language: str) -> Rendered:
    removed = event["payload"].get("remove") and get_settings().vip_chat_id is not None
    return Rendered(t(language, "vip.revoked_removed" if removed else "vip.revoked"),
                    _keyboard(language, link=False))


@renders("vip.reminder")
def _reminder(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "vip.reminder", days=payload["days"],
                      date=date_text(payload["ends_at"])), _keyboard(language, link=False))


@renders("vip.refused")
def _refused(event: dict[str, Any], language: str) -> Rendered | None:
    payload = event["payload"]
    if "user_id" not in payload:  # asked from the console or the API: nobody to tell
        return None
    reason, action = str(payload.get("reason")), str(payload.get("action"))
    if reason == "invalid":
        key = f"vip.usage.{action}"
    else:
        key = f"vip.refused.{reason}"
    if key not in TEXTS["es"]:
        key = "vip.refused.refused"
    return Rendered(t(language, key, target=payload.get("target_id", "?")),
                    _keyboard(language, link=False) if action == "redeem" else None)


def _expired(event: dict[str, Any], language: str, *, removed: bool) -> Rendered:
    key = "vip.expired_removed" if removed else "vip.expired"
    return Rendered(t(language, key, date=date_text(event["payload"]["ends_at"])),
                    _keyboard(language, link=False))


def render(event: dict[str, Any], *, removed: bool | None = None) -> Rendered | None:
    """The member's message for any VIP event, including those `tasks.vip` sends itself.
    `removed`: whether the member actually left the channel (`vip.expired`)."""
    language = event["payload"].get("lang", "es")
    kind = event["type"]
    if kind == "vip.expired":
        return _expired(event, language, removed=bool(removed))
    if kind == "vip.join_approved":
        ends = event["payload"].get("ends_at")
        text = t(language, "vip.join_approved", date=date_text(ends)) if ends else \
            t(language, "vip.join_approved_admin")
        return Rendered(text)
    if kind == "vip.join_declined":
        return Rendered(t(language, "vip.join_declined"))
    renderer = {"vip.granted": _granted, "vip.redeemed": _redeemed, "vip.revoked": _revoked,
                "vip.reminder": _reminder, "vip.refused": _refused}.get(kind)
    return renderer(event, language) if renderer is not None else None


def for_admin(event: dict[str, Any]) -> Rendered | None:
    """The acting admin's confirmation of a grant or a revocation (None: nobody to tell)."""
    payload = event["payload"]
    if payload.get("actor_id") is None:
        return None
    language = payload.get("admin_lang", "es")
    if event["type"] == "vip.granted":
        extended = t(language, "vip.admin.extended") if payload.get("source") == "extend" \
            else ""
        return Rendered(t(language, "vip.admin.granted", target=payload["user_id"],
                          date=date_text(payload["ends_at"]), days=payload["days"],
                          plan=payload["plan"], extended=extended))
    if event["type"] == "vip.revoked":
        removed = t(language, "vip.admin.removed") \
            if payload.get("remove") and get_settings().vip_chat_id is not None else ""
        return Rendered(t(language, "vip.admin.revoked", target=payload["user_id"],
                          removed=removed))
    return None
