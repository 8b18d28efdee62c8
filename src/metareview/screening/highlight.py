"""Terms of the protocol marked in a record's text, as screeners see them in Covidence or Rayyan.

A term matches case-insensitively, as whole words: ``pain`` marks "Pain" but not "painful". A
trailing ``*`` matches any ending (``random*`` marks "randomised" and "randomly"). Phrases
match across any run of spaces. Where terms overlap, the match that starts first wins, and of
those the longest; an inclusion and an exclusion term that are the same text mark as inclusion.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

__all__ = ["segments"]

#: The kinds of mark: a term of inclusion or of exclusion.
INCLUDE, EXCLUDE = "include", "exclude"


@lru_cache(maxsize=64)
def _pattern(include: tuple[str, ...], exclude: tuple[str, ...]
             ) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    kinds: dict[str, str] = {}
    parts: list[tuple[int, str, str]] = []
    for kind, terms in ((INCLUDE, include), (EXCLUDE, exclude)):
        for term in terms:
            t = term.strip()
            stem = t[:-1].rstrip() if t.endswith("*") else t
            if not stem:
                continue
            words = [re.escape(w) for w in stem.split()]
            body = r"\s+".join(words) + (r"\w*" if t.endswith("*") else "")
            key = t.lower()
            if key in kinds:  # the first list to name a term keeps it (inclusion first)
                continue
            kinds[key] = kind
            parts.append((len(stem), f"(?P<t{len(parts)}>{body})", kind))
    if not parts:
        return None, {}
    # Longest first, so that of two terms starting at one place the longer wins.
    ordered = sorted(range(len(parts)), key=lambda i: -parts[i][0])
    group_kind = {f"t{i}": parts[i][2] for i in range(len(parts))}
    alternation = "|".join(parts[i][1] for i in ordered)
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)", re.IGNORECASE), group_kind


def segments(text: str, include: Sequence[str], exclude: Sequence[str]
             ) -> list[tuple[str, str | None]]:
    """``text`` cut into pieces, each ``(piece, kind)`` where ``kind`` is ``"include"``,
    ``"exclude"`` or None (not a term). The pieces joined are ``text`` again.

    Parameters
    ----------
    text : str
        A title or abstract.
    include, exclude : sequence of str
        The protocol's terms (see the module docstring for how they match).
    """
    pattern, kinds = _pattern(tuple(include), tuple(exclude))
    if pattern is None or not text:
        return [(text, None)] if text else []
    out: list[tuple[str, str | None]] = []
    at = 0
    for m in pattern.finditer(text):
        if not m.group(0):
            continue
        if m.start() > at:
            out.append((text[at:m.start()], None))
        out.append((m.group(0), kinds[m.lastgroup or ""]))
        at = m.end()
    if at < len(text):
        out.append((text[at:], None))
    return out
