"""Dependencies and the production description (README "Security" and "Production").

- pip-audit checks every pin of requirements.txt and of deploy/constraints.txt (the
  transitive ones) against the vulnerability service; the test fails listing vulnerable
  packages and skips, saying why, only when that service cannot be reached.
- deploy/constraints.txt is the current closure of requirements.txt (deploy/lock.py).
- deploy/compose.yaml parses, runs only commands that exist in the code, and reads only
  environment variables that are documented settings.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from tests.support import ROOT

AUDITED = [ROOT / "requirements.txt", ROOT / "deploy" / "constraints.txt"]
UNREACHABLE = re.compile(r"ConnectionError|NameResolution|Max retries exceeded|"
                         r"Temporary failure in name resolution|timed out|"
                         r"Failed to establish a new connection|SSLError", re.IGNORECASE)


def _lock() -> Any:
    spec = importlib.util.spec_from_file_location("deploy_lock", ROOT / "deploy" / "lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- pip-audit ---------------------------------------------------------------------------


def test_pinned_dependencies_have_no_known_vulnerability() -> None:
    argv = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off",
            "--no-deps", "--disable-pip", "--timeout", "30"]
    for path in AUDITED:
        argv += ["-r", str(path)]
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    report: dict[str, Any] | None = None
    try:
        report = json.loads(run.stdout) if run.stdout.strip() else None
    except json.JSONDecodeError:
        report = None
    if report is None:
        if UNREACHABLE.search(run.stderr):
            reason = ("pip-audit could not reach the vulnerability service: "
                      + UNREACHABLE.search(run.stderr).group(0))  # type: ignore[union-attr]
            print(reason)
            pytest.skip(reason)
        pytest.fail(f"pip-audit failed (exit {run.returncode}):\n{run.stderr[-3000:]}")
    dependencies = report["dependencies"]
    assert len(dependencies) > 50  # both files were read
    vulnerable = [f"{dep['name']}=={dep.get('version', '?')}: " + ", ".join(
        f"{vuln['id']} (fixed in {', '.join(vuln.get('fix_versions') or ['-'])})"
        for vuln in dep["vulns"]) for dep in dependencies if dep.get("vulns")]
    assert vulnerable == [], "vulnerable pins:\n" + "\n".join(vulnerable)
    skipped = [f"{dep['name']}: {dep['skip_reason']}"
               for dep in dependencies if dep.get("skip_reason")]
    if skipped and len(skipped) == len(dependencies):
        # The service answered nothing for any package (here: PyPI's JSON API is not
        # reachable, only its package index is): nothing could be audited.
        reason = (f"the vulnerability service could not be reached: none of the "
                  f"{len(dependencies)} pins could be audited ({skipped[0]})")
        print(reason)
        pytest.skip(reason)
    assert skipped == [], "pins that could not be audited:\n" + "\n".join(skipped)


def test_constraints_pin_the_whole_closure_of_requirements() -> None:
    lock = _lock()
    assert lock.main(["--check"]) == 0, "run: .venv/bin/python deploy/lock.py"
    constraints = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            constraints[name] = version
    for requirement in lock.requirements():
        (pinned,) = [spec.version for spec in requirement.specifier]
        name = lock.canonicalize_name(requirement.name)
        assert constraints.get(name) == pinned, (name, pinned, constraints.get(name))


# --- deploy/compose.yaml -----------------------------------------------------------------

COMPOSE = ROOT / "deploy" / "compose.yaml"
# Variables of the images the description uses (not YABOT settings), each documented in the
# README's "Production" section.
THIRD_PARTY_ENV = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "REDIS_PASSWORD",
                   "FLOWER_BASIC_AUTH", "DOMAIN"}
# Variables read by the processes or the Procfile rather than through Settings.
PROCESS_ENV = {"BOT_WEBHOOK_PORT", "FLOWER_USER", "FLOWER_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _check_python(argv: list[str]) -> None:
    """`python -m module …` or `python -c "from a import b; b()"`: the code exists."""
    if argv[1] == "-m":
        module = argv[2]
        assert _module_exists(module), module
        spec = importlib.util.find_spec(module)
        assert spec is not None
        if spec.submodule_search_locations:  # a package: it needs a __main__
            assert _module_exists(f"{module}.__main__"), module
        else:
            assert spec.origin and "__main__" in Path(spec.origin).read_text(), module
        if module == "celery":
            _check_celery(argv[3:])
    elif argv[1] == "-c":
        tree = ast.parse(argv[2])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), (node.module, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert _module_exists(alias.name), alias.name
    else:
        pytest.fail(f"unexpected python command {argv}")


def _check_celery(args: list[str]) -> None:
    from worker.queues import Queue

    assert args[:2] == ["-A", "worker.app"], args
    assert args[2] in ("worker", "beat", "flower"), args
    if args[2] == "worker" and "-Q" in args:
        queues = args[args.index("-Q") + 1].split(",")
        assert set(queues) <= {queue.value for queue in Queue}, queues


def _commands(service: dict[str, Any]) -> list[list[str]]:
    """The command lines a service runs (a `sh -c` script split at &&)."""
    command = service.get("command")
    if command is None:
        return []
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&") if part.strip()]
    return [argv]


def test_compose_runs_only_commands_that_exist(compose: dict[str, Any]) -> None:
    services = compose["services"]
    ours = {name: s for name, s in services.items() if s.get("build") or
            str(s.get("image", "")).startswith("yabot")}
    assert {"migrate", "bot", "beat", "api", "flower"} <= set(ours), sorted(services)
    workers = [name for name in ours if name.startswith("worker")]
    assert len(workers) >= 2, workers
    checked = 0
    for name, service in ours.items():
        for argv in _commands(service):
            argv = [part for part in argv if not part.startswith("$")]
            if argv[0] in ("python", "python3"):
                _check_python(argv)
            elif argv[0] in ("celery", "uvicorn"):
                if argv[0] == "celery":
                    _check_celery(argv[1:])
                else:
                    module, _, attribute = argv[1].partition(":")
                    assert hasattr(importlib.import_module(module), attribute), argv[1]
            elif argv[0] != "exec":
                pytest.fail(f"{name}: unknown command {argv}")
            checked += 1
    assert checked >= len(ours)
    # exactly one beat, migrations before the rest
    beats = [name for name, s in ours.items()
             if any("beat" in argv for argv in _commands(s))]
    assert beats == ["beat"], beats
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1
    for name, service in ours.items():
        if name != "migrate":
            depends = service.get("depends_on", {})
            assert depends.get("migrate", {}).get("condition") == \
                "service_completed_successfully", name


def test_compose_reads_only_documented_settings(compose: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text()
    settings = {name.upper() for name in Settings.model_fields}
    used: set[str] = set()
    for service in compose["services"].values():
        environment = service.get("environment") or {}
        names = environment if isinstance(environment, dict) else \
            [item.split("=", 1)[0] for item in environment]
        used.update(names)
    anchors = compose.get("x-yabot-env") or {}
    used.update(anchors)
    text = COMPOSE.read_text()
    used.update(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    example = (ROOT / "deploy" / "production.env.example").read_text()
    used.update(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    assert "TELEGRAM_WEBHOOK_URL" in used and "TELEGRAM_WEBHOOK_SECRET" in used
    unknown = sorted(name for name in used - THIRD_PARTY_ENV - PROCESS_ENV
                     if name not in settings)
    assert unknown == [], f"not settings: {unknown}"
    undocumented = sorted(name for name in used if f"`{name}`" not in readme)
    assert undocumented == [], f"not documented in README.md: {undocumented}"
