"""Slurm-style hostlist expressions: `gpu[0001-1250]`, `mgmt[01-02,05]`, `r[1-2]n[01-04]`, `a,b,c`.

Expansion keeps zero padding; compression is its inverse and is what slurm.conf / topology.conf print.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_HOSTS = 10_000_000  # guards against typos such as gpu[1-9999999999]


class HostlistError(ValueError):
    pass


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


_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _expand_range(body: str, expr: str) -> list[str]:
    out: list[str] = []
    for item in body.split(","):
        m = _RANGE.match(item.strip())
        if not m:
            raise HostlistError(f"bad range {item!r} in {expr!r}: use N or N-M with digits")
        lo_s, hi_s = m.group(1), m.group(2) or m.group(1)
        lo, hi = int(lo_s), int(hi_s)
        if hi < lo:
            raise HostlistError(f"range {item!r} in {expr!r} runs backwards")
        if hi - lo + 1 > MAX_HOSTS:
            raise HostlistError(f"range {item!r} in {expr!r} is too large")
        width = len(lo_s) if lo_s.startswith("0") or len(lo_s) == len(hi_s) else 0
        out.extend(str(i).zfill(width) for i in range(lo, hi + 1))
    return out


def expand(expr: str) -> list[str]:
    """Expand a hostlist expression into names, in written order."""
    names: list[str] = []
    for part in _split_top(expr):
        pieces: list[list[str]] = []
        pos = 0
        for m in re.finditer(r"\[([^\]]*)\]", part):
            pieces.append([part[pos : m.start()]])
            pieces.append(_expand_range(m.group(1), expr))
            pos = m.end()
        pieces.append([part[pos:]])
        if any("[" in p or "]" in p for piece in pieces if len(piece) == 1 for p in piece):
            raise HostlistError(f"unbalanced brackets in {expr!r}")
        combos = [""]
        for piece in pieces:
            if len(combos) * len(piece) > MAX_HOSTS:  # before building the list, not after
                raise HostlistError(f"{expr!r} expands to too many names")
            combos = [c + p for c in combos for p in piece]
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
