"""Slurm-style hostlist expressions: `gpu[0001-1250]`, `mgmt[01-02,05]`, `r[1-2]n[01-04]`, `a,b,c`.

Expansion keeps zero padding; compression is its inverse and is what slurm.conf / topology.conf print.
An expression is parsed and counted before anything is expanded, so a typo such as `gpu[0000001-9999999]` is refused
in microseconds instead of building ten million names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

# Fire-Flyer 2 has about 1,400 nodes; the largest synthetic cluster the benchmarks and property tests build (100k GPUs)
# has about 14,500. 100,000 leaves room for several times that, and stops a typo long before it costs memory or time.
MAX_HOSTS = 100_000
MAX_DIGITS = 18  # host numbers wider than this are typos; it also keeps int() far from Python's 4300-digit limit


class HostlistError(ValueError):
    pass


class HostlistTooLarge(HostlistError):
    """The expression names more hosts than MAX_HOSTS; raised after counting, before any name is built."""

    def __init__(self, expr: str, count: int, limit: int):
        self.expr, self.count, self.limit = expr, count, limit
        shown = expr if len(expr) <= 60 else expr[:57] + "..."
        super().__init__(f"{shown!r} names {count:,} hosts, more than the {limit:,} ffinfra takes in one hostlist")


@dataclass(frozen=True, slots=True)
class _Range:
    lo: int
    hi: int
    width: int  # zero padding of every number; 0 = none

    def __len__(self) -> int:
        return self.hi - self.lo + 1


# A part of an expression is a sequence of pieces: literal text, or a bracket of ranges ("[01-02,05]").
_Piece = str | tuple[_Range, ...]


def _split_top(expr: str) -> list[str]:
    """Split on commas that are not inside brackets."""
    parts, depth, cur = [], 0, []
    for ch in expr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"unbalanced ']' in {expr!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise HostlistError(f"unbalanced '[' in {expr!r}")
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


_RANGE = re.compile(r"^([0-9]+)(?:-([0-9]+))?$")  # ASCII digits only: int() would also take '٣'


def _parse_ranges(body: str, expr: str) -> tuple[_Range, ...]:
    out: list[_Range] = []
    for item in body.split(","):
        m = _RANGE.match(item.strip())
        if not m:
            raise HostlistError(f"bad range {item!r} in {expr!r}: use N or N-M with digits")
        lo_s, hi_s = m.group(1), m.group(2) or m.group(1)
        if max(len(lo_s), len(hi_s)) > MAX_DIGITS:
            raise HostlistError(f"range {item!r} in {expr!r} is too large: numbers have at most {MAX_DIGITS} digits")
        lo, hi = int(lo_s), int(hi_s)
        if hi < lo:
            raise HostlistError(f"range {item!r} in {expr!r} runs backwards")
        width = len(lo_s) if lo_s.startswith("0") or len(lo_s) == len(hi_s) else 0
        out.append(_Range(lo, hi, width))
    return tuple(out)


def _parse(expr: str) -> list[list[_Piece]]:
    parts: list[list[_Piece]] = []
    for part in _split_top(expr):
        pieces: list[_Piece] = []
        pos = 0
        for m in re.finditer(r"\[([^\]]*)\]", part):
            pieces.append(part[pos : m.start()])
            pieces.append(_parse_ranges(m.group(1), expr))
            pos = m.end()
        pieces.append(part[pos:])
        if any(isinstance(p, str) and ("[" in p or "]" in p) for p in pieces):
            raise HostlistError(f"unbalanced brackets in {expr!r}")
        parts.append(pieces)
    return parts


def _size(pieces: list[_Piece]) -> int:
    return math.prod(sum(len(r) for r in p) for p in pieces if not isinstance(p, str))


def count(expr: str) -> int:
    """How many names `expr` stands for, without building them; raises HostlistError where expand() would."""
    return sum(_size(pieces) for pieces in _parse(expr))


def expand(expr: str) -> list[str]:
    """Expand a hostlist expression into names, in written order; refuses more than MAX_HOSTS names."""
    parts = _parse(expr)
    n = sum(_size(pieces) for pieces in parts)
    if n > MAX_HOSTS:  # counted before a single name is built
        raise HostlistTooLarge(expr, n, MAX_HOSTS)
    names: list[str] = []
    for pieces in parts:
        combos = [""]
        for piece in pieces:
            if isinstance(piece, str):
                combos = [c + piece for c in combos]
            else:
                numbers = [str(i).zfill(r.width) for r in piece for i in range(r.lo, r.hi + 1)]
                combos = [c + s for c in combos for s in numbers]
        names.extend(combos)
    return names


_TAIL = re.compile(r"^(.*?)(\d+)$")


def compress(names: Iterable[str]) -> str:
    """Inverse of expand for lists of names: consecutive numbers sharing a prefix and width fold into ranges.

    Order is kept: only runs of adjacent names fold, so expand(compress(x)) == x.
    """
    groups: list[tuple[str, int, list[tuple[int, int]]] | str] = []
    for name in names:
        m = _TAIL.match(name)
        if not m:
            groups.append(name)
            continue
        prefix, digits = m.group(1), m.group(2)
        num = int(digits)
        # width 0 = unpadded; a padded run (0998, 0999) continues into 1000 since zfill(4) fits both
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        last = groups[-1] if groups else None
        if isinstance(last, tuple) and last[0] == prefix and str(num).zfill(last[1]) == digits:
            ranges = last[2]
            if ranges[-1][1] + 1 == num:
                ranges[-1] = (ranges[-1][0], num)
                continue
            if num > ranges[-1][1]:
                ranges.append((num, num))
                continue
        groups.append((prefix, width, [(num, num)]))
    out: list[str] = []
    for g in groups:
        if isinstance(g, str):
            out.append(g)
            continue
        prefix, width, ranges = g
        if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
            out.append(f"{prefix}{str(ranges[0][0]).zfill(width)}")
            continue
        body = ",".join(
            str(a).zfill(width) if a == b else f"{str(a).zfill(width)}-{str(b).zfill(width)}" for a, b in ranges
        )
        out.append(f"{prefix}[{body}]")
    return ",".join(out)
