"""🛠️ What admins read in the /admin panel: the panel, a member's card, the system status,
the audit log; the answers to their actions and the member's notice of an adjustment.

Panel buttons carry `z:<view>` or `z:member:<id>` (bot/callbacks.py `parse_admin`).
"""

from __future__ import annotations

from typing import Any

from services import messages
from services.messages import Rendered, renders, t

messages.add_texts(
    es={
        "admin.panel": "🛠️ Panel de administración. ¿Qué quieres ver?",
        "admin.btn.members": "👥 Miembros",
        "admin.btn.status": "📊 Estado del sistema",
        "admin.btn.audit": "📜 Auditoría",
        "admin.btn.reload": "📚 Recargar catálogos",
        "admin.btn.vip": "👑 VIP y códigos",
        "admin.btn.posts": "🗓️ Publicaciones",
        "admin.btn.broadcasts": "📣 Difusiones",
        "admin.btn.panel": "⬅️ Panel",
        "admin.btn.refresh": "🔄 Actualizar",
        "admin.members": "👥 Miembros. Busca uno con /miembro <id o @usuario>.\n"
                         "Acciones:\n/ajustar <id> <+N|-N> <motivo> — besitos\n"
                         "/rol <id> <admin|member>\n/vip_dar <id> <días> · /vip_quitar <id>",
        "admin.member": "👤 Miembro {user_id}{username}\nIdioma: {lang} · Rol: {role}\n"
                        "VIP: {vip}\nAlcanzable: {reachable}\n💰 Saldo: {balance} · "
                        "ganado: {lifetime} · nivel {level}",
        "admin.member.vip_no": "no",
        "admin.member.vip_until": "hasta {until}",
        "admin.member.ledger": "Últimos movimientos:",
        "admin.member.unknown": "No encuentro a ese miembro.",
        "admin.status": "📊 Estado: {status}",
        "admin.audit": "📜 Auditoría (últimas {count}):",
        "admin.audit.empty": "📜 No hay entradas de auditoría.",
        "admin.vip": "👑 VIP: /vip_dar <id> <días> [plan] · /vip_quitar <id> · "
                     "/vip_codigos <cantidad> <días> [plan]",
        "admin.posts": "🗓️ Publicaciones: /posts para verlas; /programar respondiendo al "
                       "mensaje que quieres publicar.",
        "admin.broadcasts": "📣 Difusiones: /difundir <todos|vip|free|inactivos N|lista ids> "
                            "respondiendo al mensaje que quieres enviar.",
        "admin.usage.adjust": "Uso: /ajustar <id> <+N|-N> <motivo>",
        "admin.usage.role": "Uso: /rol <id> <admin|member>",
        "admin.usage.member": "Uso: /miembro <id o @usuario>",
        "admin.refused.not_admin": "🔒 Eso es solo para administradores.",
        "admin.refused.invalid": "⚠️ Esa petición no es válida (revisa la cantidad y el "
                                 "motivo).",
        "admin.refused.unknown_member": "⚠️ Ese miembro no está registrado.",
        "admin.refused.insufficient_funds": "⚠️ El saldo del miembro no alcanza para ese "
                                            "descuento.",
        "admin.confirmed.member.adjust_besitos": "✅ Besitos de {member_id} ajustados: "
                                                 "{amount:+d}. Saldo: {balance}.",
        "admin.confirmed.member.set_role": "✅ {member_id} ahora tiene el rol {role}.",
        "admin.confirmed": "✅ Hecho.",
        "admin.besitos_adjusted": "🛠️ Un administrador ajustó tus besitos: {amount:+d}.\n"
                                  "💰 Saldo: {balance} besitos.",
    },
    en={
        "admin.panel": "🛠️ Admin panel. What would you like to see?",
        "admin.btn.members": "👥 Members",
        "admin.btn.status": "📊 System status",
        "admin.btn.audit": "📜 Audit log",
        "admin.btn.reload": "📚 Reload catalogs",
        "admin.btn.vip": "👑 VIP and codes",
        "admin.btn.posts": "🗓️ Posts",
        "admin.btn.broadcasts": "📣 Broadcasts",
        "admin.btn.panel": "⬅️ Panel",
        "admin.btn.refresh": "🔄 Refresh",
        "admin.members": "👥 Members. Find one with /member <id or @username>.\n"
                         "Actions:\n/adjust <id> <+N|-N> <reason> — besitos\n"
                         "/role <id> <admin|member>\n/vip_dar <id> <days> · /vip_quitar <id>",
        "admin.member": "👤 Member {user_id}{username}\nLanguage: {lang} · Role: {role}\n"
                        "VIP: {vip}\nReachable: {reachable}\n💰 Balance: {balance} · "
                        "earned: {lifetime} · level {level}",
        "admin.member.vip_no": "no",
        "admin.member.vip_until": "until {until}",
        "admin.member.ledger": "Latest movements:",
        "admin.member.unknown": "I cannot find that member.",
        "admin.status": "📊 Status: {status}",
        "admin.audit": "📜 Audit log (latest {count}):",
        "admin.audit.empty": "📜 No audit entries.",
        "admin.vip": "👑 VIP: /vip_dar <id> <days> [plan] · /vip_quitar <id> · "
                     "/vip_codigos <count> <days> [plan]",
        "admin.posts": "🗓️ Posts: /posts to list them; /programar as a reply to the message "
                       "to publish.",
        "admin.broadcasts": "📣 Broadcasts: /difundir <todos|vip|free|inactivos N|lista ids> "
                            "as a reply to the message to send.",
        "admin.usage.adjust": "Usage: /adjust <id> <+N|-N> <reason>",
        "admin.usage.role": "Usage: /role <id> <admin|member>",
        "admin.usage.member": "Usage: /member <id or @username>",
        "admin.refused.not_admin": "🔒 That is for admins only.",
        "admin.refused.invalid": "⚠️ That request is not valid (check the amount and the "
                                 "reason).",
        "admin.refused.unknown_member": "⚠️ That member is not registered.",
        "admin.refused.insufficient_funds": "⚠️ The member's balance does not cover that "
                                            "deduction.",
        "admin.confirmed.member.adjust_besitos": "✅ Besitos of {member_id} adjusted: "
                                                 "{amount:+d}. Balance: {balance}.",
        "admin.confirmed.member.set_role": "✅ {member_id} now has the role {role}.",
        "admin.confirmed": "✅ Done.",
        "admin.besitos_adjusted": "🛠️ An admin adjusted your besitos: {amount:+d}.\n"
                                  "💰 Balance: {balance} besitos.",
    },
)

messages.add_reasons(es={"admin-adjust": "Ajuste de un administrador"},
                     en={"admin-adjust": "Adjustment by an admin"})

PANEL_VIEWS = ("panel", "members", "status", "audit", "reload", "vip", "posts", "broadcasts")


def _button(language: str, key: str, data: str) -> dict[str, str]:
    return {"text": t(language, key), "callback_data": data}


def _back(language: str, refresh: str | None = None) -> list[list[dict[str, str]]]:
    row = [_button(language, "admin.btn.panel", "z:panel")]
    if refresh:
        row.append(_button(language, "admin.btn.refresh", refresh))
    return [row]


def panel(language: str) -> Rendered:
    return Rendered(t(language, "admin.panel"), {"inline_keyboard": [
        [_button(language, "admin.btn.members", "z:members"),
         _button(language, "admin.btn.status", "z:status")],
        [_button(language, "admin.btn.audit", "z:audit"),
         _button(language, "admin.btn.reload", "z:reload")],
        [_button(language, "admin.btn.vip", "z:vip"),
         _button(language, "admin.btn.posts", "z:posts")],
        [_button(language, "admin.btn.broadcasts", "z:broadcasts")],
    ]})


def help_view(language: str, view: str) -> Rendered:
    """The members, VIP, posts and broadcasts views: how to act (the commands)."""
    return Rendered(t(language, f"admin.{view}"), {"inline_keyboard": _back(language)})


def member_view(language: str, card: Any) -> Rendered:
    """A member's card (`services.admin_members.MemberCard`)."""
    vip = (t(language, "admin.member.vip_until", until=f"{card.vip_until:%Y-%m-%d %H:%M}")
           if card.vip_until else t(language, "admin.member.vip_no"))
    lines = [t(language, "admin.member", user_id=card.user_id,
               username=f" (@{card.username})" if card.username else "",
               lang=card.language, role=card.role, vip=vip,
               reachable="✅" if card.reachable else "🚫", balance=card.balance,
               lifetime=card.lifetime, level=card.level)]
    if card.ledger:
        lines.append(t(language, "admin.member.ledger"))
        lines += [f"{e.created_at:%m-%d %H:%M} {e.amount:+d} "
                  f"{messages.reason_label(language, e.reason)}" for e in card.ledger]
    return Rendered("\n".join(lines),
                    {"inline_keyboard": _back(language, f"z:member:{card.user_id}")})


def unknown_member(language: str) -> Rendered:
    return Rendered(t(language, "admin.member.unknown"), {"inline_keyboard": _back(language)})


def status_view(language: str, status: str, reasons: list[str],
                checks: dict[str, dict[str, Any]]) -> Rendered:
    """The same facts as /health: overall status, then one line per check."""
    icon = {"ok": "✅", "warn": "⚠️", "stale": "⚠️"}
    lines = [t(language, "admin.status", status=status)]
    lines += [f"• {reason}" for reason in reasons]
    for name, result in checks.items():
        facts = ", ".join(f"{k}={v}" for k, v in result.items()
                          if k not in ("status", "latency_ms") and not isinstance(v, dict | list))
        lines.append(f"{icon.get(result.get('status', ''), '❌')} {name}"
                     f"{': ' + facts if facts else ''}")
    return Rendered("\n".join(lines)[:4000],
                    {"inline_keyboard": _back(language, "z:status")})


def audit_view(language: str, entries: list[Any]) -> Rendered:
    """Audit rows (`models.tables.AuditEntry`), newest first."""
    if not entries:
        return Rendered(t(language, "admin.audit.empty"), {"inline_keyboard": _back(language)})
    lines = [t(language, "admin.audit", count=len(entries))]
    for entry in entries:
        target = f" → {entry.target}" if entry.target else ""
        lines.append(f"{entry.created_at:%m-%d %H:%M} #{entry.actor_id} {entry.action}"
                     f"{target}: {entry.result}")
    return Rendered("\n".join(lines)[:4000], {"inline_keyboard": _back(language, "z:audit")})


@renders("admin.refused")
def _refused(event: dict[str, Any], language: str) -> Rendered:
    result = str(event["payload"].get("result"))
    key = f"admin.refused.{result}"
    if key not in messages.TEXTS["es"]:
        key = "admin.refused.not_admin"
    return Rendered(t(language, key))


@renders("admin.confirmed")
def _confirmed(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    key = f"admin.confirmed.{payload.get('action')}"
    if key not in messages.TEXTS["es"]:
        key = "admin.confirmed"
    values = {"member_id": payload.get("member_id"), "amount": payload.get("amount", 0),
              "balance": payload.get("balance", "?"), "role": payload.get("role", "?")}
    return Rendered(t(language, key, **values),
                    {"inline_keyboard": [[_button(language, "admin.btn.panel", "z:panel")]]})


@renders("admin.besitos_adjusted")
def _adjusted(event: dict[str, Any], language: str) -> Rendered:
    payload = event["payload"]
    return Rendered(t(language, "admin.besitos_adjusted", amount=payload["amount"],
                      balance=payload["balance"]))
