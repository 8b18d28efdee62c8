"""Protocol terms marked in records (issue 14): what matches, and that nothing is lost."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.screening.highlight import segments


def marked(text: str, include: list[str], exclude: list[str]) -> list[tuple[str, str]]:
    return [(p, k) for p, k in segments(text, include, exclude) if k]


def test_whole_words_case_insensitive_with_prefixes_and_phrases():
    text = "Randomised trial of ketamine for chronic  pain; painful rats were excluded."
    got = marked(text, ["random*", "chronic pain", "ketamine"], ["rats", "pain"])
    assert got == [("Randomised", "include"), ("ketamine", "include"),
                   ("chronic  pain", "include"), ("rats", "exclude")]
    # "pain" alone marks only the whole word, never inside "painful"
    assert marked("Pain, painful, PAIN.", [], ["pain"]) == [("Pain", "exclude"),
                                                            ("PAIN", "exclude")]
    # the same term in both lists marks as inclusion; blank and lone-star terms are ignored
    assert marked("ketamine", ["Ketamine", "", "*"], ["ketamine"]) == [("ketamine", "include")]
    assert segments("", ["a"], []) == [] and segments("x", [], []) == [("x", None)]
    # terms are text, never patterns
    assert marked("a (b) c+ d", ["(b)", "c+"], []) == [("(b)", "include"), ("c+", "include")]
    assert marked("a.b axb", ["a.b"], []) == [("a.b", "include")]


words = st.sampled_from(["pain", "Pain", "painful", "ketamine", "rat", "rats", "trial",
                         "chronic", "é", "ß", "_x"])
texts = st.lists(st.tuples(words, st.sampled_from([" ", "  ", ", ", "-", "\n", "(", ")"])),
                 max_size=12).map(lambda ps: "".join(w + s for w, s in ps))
terms = st.lists(st.sampled_from(["pain", "pain*", "chronic pain", "rat", "trial", "KETAMINE",
                                  "é", "ß*", "x"]), max_size=4)


@settings(max_examples=300, deadline=None)
@given(texts, terms, terms)
def test_segments_rebuild_the_text_and_mark_only_terms(text, include, exclude):
    pieces = segments(text, include, exclude)
    assert "".join(p for p, _ in pieces) == text
    allowed = {t.lower() for t in include + exclude}
    at = 0
    for piece, kind in pieces:
        if kind is not None:
            source = include if kind == "include" else exclude
            ok = [t for t in source if re.fullmatch(
                r"\s+".join(map(re.escape, t.rstrip("*").split()))
                + (r"\w*" if t.endswith("*") else ""), piece, re.IGNORECASE)]
            assert ok and ok[0].lower() in allowed
            # whole words: no word character touches a marked piece
            assert not (at > 0 and (text[at - 1].isalnum() or text[at - 1] == "_"))
            end = at + len(piece)
            assert not (end < len(text) and (text[end].isalnum() or text[end] == "_"))
        at += len(piece)
