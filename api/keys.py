"""API keys from the command line (an admin's tool; the key is printed once):

    python -m api.keys create NAME --scopes read,member [--created-by TELEGRAM_ID]
    python -m api.keys list
    python -m api.keys revoke ID [--revoked-by TELEGRAM_ID]
"""

from __future__ import annotations

import argparse
import sys

from models.db import read_session, unit_of_work
from services import apikeys


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m api.keys", description="YABOT API keys")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("name")
    create.add_argument("--scopes", default="read",
                        help="comma-separated: read, member, admin (default: read)")
    create.add_argument("--created-by", type=int, default=None,
                        help="Telegram id of the admin creating it (audit log)")
    commands.add_parser("list", help="list keys (never their secrets)")
    revoke = commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id", type=int)
    revoke.add_argument("--revoked-by", type=int, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "create":
            with unit_of_work() as session:
                row, plaintext = apikeys.create(session, args.name, args.scopes.split(","),
                                                created_by=args.created_by)
            _out(f"created API key {row.id} '{row.name}' scopes={','.join(row.scopes)}")
            _out(plaintext)
            _out("Store it now: it is shown only once.")
        elif args.command == "list":
            with read_session() as session:
                rows = apikeys.list_keys(session)
            _out(f"{'id':>4}  {'prefix':12}  {'scopes':18}  {'status':8}  {'last used':25}  name")
            for row in rows:
                status = "revoked" if row.revoked_at else "active"
                used = row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "-"
                _out(f"{row.id:>4}  {row.prefix:12}  {','.join(row.scopes):18}  {status:8}  "
                     f"{used:25}  {row.name}")
        else:
            with unit_of_work() as session:
                row = apikeys.revoke(session, args.id, revoked_by=args.revoked_by)
            _out(f"revoked API key {row.id} '{row.name}'")
    except apikeys.ApiKeyError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
