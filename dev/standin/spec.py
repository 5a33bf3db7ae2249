"""Telegram Bot API specification: loading, parameter decoding/validation, object synthesis.

The machine-readable spec (``bot-api-spec.json``, MIT licensed, see ``LICENSE-bot-api-spec``)
ships inside this package. :class:`Spec` uses it to

* look up methods case-insensitively, as Telegram does;
* decode request parameters according to their declared types. Form-encoded and multipart
  requests carry every value as a string, with objects, arrays and booleans JSON-encoded
  (this is what python-telegram-bot sends), so strings are converted per declared type;
* validate nested objects (required fields and field types) recursively;
* synthesize minimal well-formed objects for methods without a dedicated implementation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).with_name("bot-api-spec.json")
_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_BOOLS = {"true": True, "false": False, "1": True, "0": False}
_PRIMITIVE_DEFAULTS = {"Integer": 0, "Float": 0.0, "Boolean": False, "String": ""}


class ApiError(Exception):
    """An error answer in Telegram's shape: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, code: int, description: str, retry_after: int | None = None,
                 path: str = ""):
        super().__init__(description)
        self.code, self.description, self.retry_after, self.path = (
            code, description, retry_after, path)

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(message: str, path: str = "") -> ApiError:
    """A 400 error with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {message}", path=path)


@dataclass(frozen=True)
class Upload:
    """A file received in a multipart request (content is not kept)."""

    field: str
    filename: str
    size: int
    content_type: str

    def describe(self) -> dict[str, Any]:
        return {"upload": self.filename, "size": self.size, "content_type": self.content_type}


class Spec:
    """The loaded Bot API specification."""

    def __init__(self, data: dict[str, Any]):
        self.version: str = data.get("version", "")
        self.methods: dict[str, dict[str, Any]] = data["methods"]
        self.types: dict[str, dict[str, Any]] = data["types"]
        self._by_lower = {name.lower(): name for name in self.methods}
        # Methods that deliver a message to a chat and therefore count toward flood limits.
        self.message_methods = frozenset(
            name for name, m in self.methods.items()
            if name.startswith(("send", "copy", "forward"))
            and m["returns"][0] in ("Message", "Array of Message", "MessageId",
                                    "Array of MessageId"))

    @classmethod
    def load(cls, path: Path = SPEC_PATH) -> Spec:
        return _load(str(path))

    def canonical(self, name: str) -> str | None:
        """The spec's spelling of a method name, or ``None`` if unknown."""
        return self._by_lower.get(name.lower())

    def decode_params(self, method: str, raw: dict[str, Any],
                      files: dict[str, Upload]) -> dict[str, Any]:
        """Decode and validate ``raw`` request parameters; unknown parameters are dropped."""
        params: dict[str, Any] = {}
        for field in self.methods[method].get("fields", []):
            name = field["name"]
            value = raw.get(name)
            if value is None or (value == "" and "String" not in field["types"]):
                if field["required"]:
                    raise bad_request(f'parameter "{name}" is required', name)
                continue
            params[name] = self.decode(value, field["types"], name, files)
        return params

    def decode(self, value: Any, types: list[str], path: str,
               files: dict[str, Upload] | None = None) -> Any:
        """Convert ``value`` to the first of ``types`` it satisfies; raise :class:`ApiError`."""
        errors = []
        for type_name in types:
            try:
                return self._as(value, type_name, path, files or {})
            except ApiError as err:
                errors.append(err)
        deepest = max(errors, key=lambda e: len(e.path))
        if deepest.path != path or len(types) == 1:
            raise deepest
        raise bad_request(f'field "{path}" must be of type {" or ".join(types)}', path)

    def _as(self, value: Any, type_name: str, path: str, files: dict[str, Upload]) -> Any:
        wrong = bad_request(f'field "{path}" must be of type {type_name}', path)
        if type_name.startswith("Array of "):
            value = self._json(value, path) if isinstance(value, str) else value
            if not isinstance(value, list):
                raise wrong
            inner = [type_name[len("Array of "):]]
            return [self.decode(v, inner, f"{path}[{i}]", files) for i, v in enumerate(value)]
        if type_name == "Integer":
            if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
                return int(value)
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise wrong
        if type_name == "Float":
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
                return float(value)
            raise wrong
        if type_name == "Boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, (str, int)) and str(value).lower() in _BOOLS:
                return _BOOLS[str(value).lower()]
            raise wrong
        if type_name == "String":
            if isinstance(value, str):
                return value
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return str(value)
            raise wrong
        if type_name == "InputFile":
            if isinstance(value, Upload):
                return value
            if isinstance(value, str) and value.startswith("attach://"):
                if value[9:] in files:
                    return files[value[9:]]
                raise bad_request(f'file "{value}" for field "{path}" is not attached', path)
            raise wrong
        spec_type = self.types.get(type_name)
        if spec_type is None:
            return value  # a type the spec does not describe: accept as is
        if isinstance(value, str):
            value = self._json(value, path)
        if spec_type.get("subtypes"):
            return self.decode(value, spec_type["subtypes"], path, files)
        if not isinstance(value, dict):
            raise wrong
        out = dict(value)
        for field in spec_type.get("fields", []):
            name = field["name"]
            if value.get(name) is None:
                if field["required"]:
                    raise bad_request(f'field "{path}.{name}" is required', f"{path}.{name}")
                continue
            out[name] = self.decode(value[name], field["types"], f"{path}.{name}", files)
        return out

    @staticmethod
    def _json(value: str, path: str) -> Any:
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f'can\'t parse "{path}" JSON object', path) from None

    def synthesize(self, type_name: str, depth: int = 0) -> Any:
        """A minimal object of ``type_name`` with every required field filled with a default."""
        if type_name.startswith("Array of "):
            return []
        if type_name in _PRIMITIVE_DEFAULTS:
            return _PRIMITIVE_DEFAULTS[type_name]
        spec_type = self.types.get(type_name)
        if spec_type is None or depth > 8:
            return {}
        if spec_type.get("subtypes"):
            return self.synthesize(spec_type["subtypes"][0], depth + 1)
        return {f["name"]: self.synthesize(f["types"][0], depth + 1)
                for f in spec_type.get("fields", []) if f["required"]}


@lru_cache(maxsize=4)
def _load(path: str) -> Spec:
    return Spec(json.loads(Path(path).read_text(encoding="utf-8")))
