"""`make run`: the whole system on embedded defaults, one Ctrl-C stops it all.

Starts Redis and MongoDB where REDIS_URL / MONGODB_URI are unset (dev/stack.py), brings the
SQL schema to the latest migration, loads the content catalogs, starts the Telegram
stand-in when no TELEGRAM_TOKEN is set, then every Procfile process through honcho, and
prints where each one listens.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from dev.stack import ensure_services

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("YABOT_VAR_DIR") or ROOT / "var")  # local state (tests: a temp dir)


def main() -> int:
    VAR.mkdir(parents=True, exist_ok=True)
    env = os.environ
    started = ensure_services(VAR, env)
    try:
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("DATABASE_URL", f"sqlite:///{VAR / 'yabot.db'}")
        env.setdefault("STANDIN_PORT", "8081")
        env.setdefault("API_PORT", "8000")
        env.setdefault("FLOWER_PORT", "5555")
        env.setdefault("FLOWER_USER", "admin")
        env.setdefault("BEAT_SCHEDULE", str(VAR / "celerybeat-schedule"))
        if not env.get("FLOWER_PASSWORD"):
            env["FLOWER_PASSWORD"] = secrets.token_urlsafe(12)
        processes = ["bot", "worker", "beat", "api", "flower"]
        if not env.get("TELEGRAM_TOKEN"):
            env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{env['STANDIN_PORT']}"
            processes.insert(0, "standin")

        from core.settings import reset_settings
        from models import mongo
        from models.db import unit_of_work
        from models.migrate import upgrade
        from services import catalogs, content

        reset_settings()
        upgrade()
        try:
            mongo.ensure_indexes()
        except mongo.UNAVAILABLE:
            pass  # said below
        try:  # the admins' reload, minus the audit: one path (services/catalogs.py)
            with unit_of_work() as session:
                applied = catalogs.apply(session, require_store=False)
        except content.CatalogError as exc:
            print(f"content/ cannot be used, nothing started: {exc}", file=sys.stderr)
            return 1
        loaded = applied.stored or 0
        if applied.stored is None:
            print("MongoDB unreachable: content not loaded now (members get defaults)")
        redis_kind = "embedded, " if any(s.name == "redis" for s in started) else ""
        mongo_kind = "embedded SecantusDB, " if any(s.name == "mongo" for s in started) else ""
        api = f"http://127.0.0.1:{env['API_PORT']}"
        print(f"""
YABOT is starting ({len(processes)} processes; content entries loaded: {loaded})
  SQL       {env['DATABASE_URL'].split('@')[-1]}
  Redis     {redis_kind}port {env['REDIS_URL'].rsplit(':', 1)[-1]}
  MongoDB   {mongo_kind}{env['MONGODB_URI'].split('@')[-1]}
  API       {api}/docs   health: {api}/health
  Flower    http://127.0.0.1:{env['FLOWER_PORT']}   user {env['FLOWER_USER']} / password \
{env['FLOWER_PASSWORD']}""")
        if "standin" in processes:
            print(f"  Telegram  stand-in (no TELEGRAM_TOKEN): chat with the bot at "
                  f"http://127.0.0.1:{env['STANDIN_PORT']}/")
        else:
            print("  Telegram  real Bot API (TELEGRAM_TOKEN is set)")
        print("Ctrl-C stops everything.\n", flush=True)
        honcho = Path(sys.executable).parent / "honcho"
        child = subprocess.Popen([str(honcho), "-f", str(ROOT / "Procfile"), "-d", str(ROOT),
                                  "start", *processes], env=env)

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signal.SIGTERM)  # honcho stops every process, then exits

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGHUP, forward)
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:
                child.send_signal(signal.SIGINT)
    finally:
        for server in started:
            server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
