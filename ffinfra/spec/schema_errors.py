"""Turn pydantic's validation errors into findings that point at the YAML line and teach the fix."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from ffinfra.spec.findings import Finding, SpecPath, error

FINITE_HINT = "write a finite number: .inf, .nan and numbers too large for a float (1e999) mean nothing here"


def _unwrap(tp: Any) -> Any:
    """Peel Optional/Annotated/list/dict down to the model class a path element lands in."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else tp
    return tp


def model_at(root: type[BaseModel], path: SpecPath) -> type[BaseModel] | None:
    """The model class that holds the mapping at `path` (None when the path leaves the models)."""
    tp: Any = root
    for part in path:
        tp = _unwrap(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if not isinstance(part, str) or part not in tp.model_fields:
                return None
            tp = tp.model_fields[part].annotation
        elif origin in (list, tuple):
            tp = typing.get_args(tp)[0]
        elif origin is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _data_path(data: Any, loc: tuple[Any, ...]) -> SpecPath:
    """Keep the loc elements that address the data; drop pydantic's union-branch and validator tags."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if (isinstance(cur, dict) and isinstance(part, str) and part in cur) or (
            isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        ):
            out.append(part)
            cur = cur[part]
        elif isinstance(part, str) and isinstance(cur, dict):
            out.append(part)  # a missing key: report it under its parent's location
            cur = None
        else:
            continue
    return tuple(out)


def findings_from_validation_error(root: type[BaseModel], data: Any, exc: ValidationError) -> list[Finding]:
    out: list[Finding] = []
    for err in exc.errors(include_url=False):
        path = _data_path(data, tuple(err["loc"]))
        kind = err["type"]
        msg = err["msg"]
        hint = ""
        if kind.startswith("FF-"):  # models.refusal(): a finding of its own code, perhaps below the field
            ctx = err.get("ctx", {})
            out.append(error(kind, _data_path(data, (*path, *ctx.get("at", ()))), msg, ctx.get("hint", "")))
            continue
        if kind == "finite_number":
            msg = f"{msg} (got {err['input']!r})"
            hint = FINITE_HINT
        elif kind == "extra_forbidden":
            key = str(path[-1]) if path else "?"
            model = model_at(root, path[:-1])
            allowed = sorted(model.model_fields) if model else []
            close = difflib.get_close_matches(key, allowed, n=1)
            msg = f"unknown key {key!r}"
            hint = (
                f"did you mean {close[0]!r}?" if close else (f"allowed keys: {', '.join(allowed)}" if allowed else "")
            )
        elif kind == "missing":
            key = str(path[-1]) if path else "?"
            msg = f"missing required key {key!r}"
            model = model_at(root, path[:-1])
            field = model.model_fields.get(key) if model else None
            if field is not None and field.description:
                hint = f"{key}: {field.description}"
        elif kind == "literal_error":
            msg = f"{msg}, got {err.get('input')!r}"
        elif kind.startswith(("int_", "float_", "string_", "bool_")) and "input" in err:
            msg = f"{msg} (got {err['input']!r})"
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        out.append(error("FF-SPEC-001", path, msg, hint))
    return out
