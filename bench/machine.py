"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gb() -> str:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GB"
    except OSError:
        pass
    return "?"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "-"


def describe(redis_url: str | None = None, mongo_url: str | None = None) -> dict[str, str]:
    info = {
        "CPU": f"{_cpu_model()}, {os.cpu_count()} cores "
               f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'}"
               " usable)",
        "RAM": _ram_gb(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "Celery": f"{_version('celery')} (kombu {_version('kombu')}, billiard "
                  f"{_version('billiard')})",
        "redis-py": _version("redis"),
        "SQLAlchemy": f"{_version('SQLAlchemy')}, SQLite {sqlite3.sqlite_version}",
        "pymongo": _version("pymongo"),
        "python-telegram-bot": _version("python-telegram-bot"),
    }
    if redis_url:
        try:
            import redis

            server = redis.Redis.from_url(redis_url).info("server")
            info["Redis server"] = f"{server.get('redis_version')} (AOF everysec, dev.stack)"
        except Exception as exc:  # noqa: BLE001
            info["Redis server"] = f"? ({type(exc).__name__})"
    if mongo_url:
        try:
            import pymongo

            client = pymongo.MongoClient(mongo_url, serverSelectionTimeoutMS=2000)
            build = client.admin.command("buildInfo")
            client.close()
            info["MongoDB server"] = (f"SecantusDB {_version('SecantusDB')} "
                                      f"(wire version {build.get('version', '?')})")
        except Exception as exc:  # noqa: BLE001
            info["MongoDB server"] = f"SecantusDB {_version('SecantusDB')} ({type(exc).__name__})"
    return info
