"""The report templates (templates/, shipped as package data), rendered by Jinja2 with autoescaping on: every
name, message and note a test produced is text, never markup, in report.html."""

from __future__ import annotations

import functools
from typing import Any

import jinja2
from markupsafe import Markup


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ffinfra.accept.report", "templates"),
        autoescape=True,  # all our templates are HTML or SVG
        undefined=jinja2.StrictUndefined,  # a misspelt field fails the render instead of vanishing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["g"] = lambda v: f"{v:g}"
    return env


def render(name: str, **context: Any) -> Markup:
    """The template `name` rendered; Markup, so that an SVG rendered here nests unescaped in the page."""
    return Markup(environment().get_template(name).render(**context))
