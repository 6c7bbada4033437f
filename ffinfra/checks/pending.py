"""Fields the spec sets that ffinfra does not use yet: a note at each, so no value is silently ignored."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, SpecPath, info
from ffinfra.spec.pending import pending_issue


def _written(value: object, path: SpecPath) -> Iterator[tuple[SpecPath, type[BaseModel], str]]:
    """(path, model, field) of every field the user wrote (defaults excluded), in the models' field order."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            if name in value.model_fields_set:
                yield (*path, name), type(value), name
                yield from _written(getattr(value, name), (*path, name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _written(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _written(item, (*path, key))


@rule("FF-SPEC-002")
def pending_fields(ctx: CheckContext) -> Iterator[Finding]:
    """Fields that ffinfra does not use yet are noted where the spec sets them (note)."""
    for path, model, name in _written(ctx.spec, ()):
        issue = pending_issue(model, name)
        if issue is not None:
            yield info(
                "FF-SPEC-002",
                path,
                f"not used yet: issue {issue.number} ({issue.brings}) will use it",
                "ffinfra checks the value and keeps it; -s FF-SPEC-002 (or validation.suppress) silences this note",
            )
