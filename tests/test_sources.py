"""Every number of the flagship can be opened where it is cited.

A row's ``source`` is ``"<document id> <location>"``; the document's text is a file inside the
review folder (``protocol.yaml`` documents, ``file`` + ``sha256``). The matching rule, applied
to ``outcomes.csv``, ``arms.csv``, ``placebo_response.csv``, ``judgements.csv``, the studies'
YAML and the protocol's own source and minimal important differences:

* **Text.** Compared case-insensitively with all whitespace removed (the 2021 review's text
  is extracted from a PDF: headings are letter-spaced, lines wrap anywhere). Unicode minus
  signs and dashes count as ``-``; a comma between digits is a thousands separator.
* **Location.** A parenthesised remark at the end (``(HealthDay)``, ``(quote of first
  author)``) says which part of the location is meant and is not matched. No location (a
  short news text without headings): the whole document. The rest is split
  at ``", "`` into parts that must all be found, in order. A part is
  ``Table N`` - a caption line ``Table N. <title>``; its extent runs to the next caption or
  letter-spaced section heading; ``§X`` - a Markdown heading numbered ``X``; its extent runs
  to the next heading of the same or a higher level; ``line N`` - the document's N-th line
  (1-based, as an editor numbers it; used for CSV documents); ``row N`` - a CSV document's
  N-th row as a spreadsheet numbers it (header = row 1; a quoted cell may span lines); any
  other text - a heading or
  phrase found verbatim (as above), its extent the next :data:`NEAR` characters from each
  occurrence. Nothing found: the location fails.
* **Numbers.** Each number of a row - estimate, CI bounds, events, total, studies,
  participants, I² (outcomes); events and total (arms); events, total, trials and the
  proportion as a percentage (placebo response); participants, studies and quality score
  (studies); the value (minimal important differences) - must appear in the location's
  extent, sign ignored, as a whole token (``1.83`` is not found in ``11.83``), written as
  the source writes it: trailing zeros allowed (``0.6`` as ``0.60``), an integer up to ten
  also as its English word. In a CSV document a comma
  separates cells, never thousands. The ``p`` column is text and is not checked. Rows
  labelled ``I`` (inference, arithmetic) or ``NF`` (not found) are not checked for numbers:
  by definition their numbers are not printed. Numbers of a row that is otherwise verbatim but
  holds a sum or a reading of words are listed in :data:`DERIVED` with the reason.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

import pytest

from metareview.studies import check_documents, load_folder

ROOT = Path(__file__).resolve().parents[1]
FLAGSHIP = ROOT / "reviews" / "ketamine-chronic-pain"
NEAR = 3000

#: (file, line, column): numbers a row holds that its location does not print, with why.
DERIVED: dict[tuple[str, int, str], str] = {
    ("studies/noppers2011.yaml", 1, "n_participants"):
        "12 + 12: evidence §3.2 prints the arms (n = 12 each); estimates line 40 prints 24",
    ("studies/whitney1992.yaml", 1, "n_participants"):
        "147 + 95: evidence §4.3 prints the two groups; estimates line 58 prints 242",
    ("outcomes.csv", 126, "n_participants"):
        "99 + 96: evidence §3.3 prints the arms; §6 and estimates line 10 print 195",
    ("outcomes.csv", 186, "events"):
        "'No serious adverse events were reported' entered as 0 events of 1,034",
}


def _flat(text: str) -> str:
    """Whitespace removed, lower case, dashes as ``-`` (one character per character kept)."""
    return re.sub(r"\s+", "", re.sub(r"[\u2212\u2013\u2014]", "-", text)).lower()


@cache
def _text(doc_id: str) -> str:
    data = load_folder(FLAGSHIP)
    doc = next(d for d in data.protocol.documents if d.id == doc_id)
    assert doc.file is not None, f"document {doc_id} has no file"
    return (FLAGSHIP / doc.file).read_text(encoding="utf-8")


@cache
def _is_csv(doc_id: str) -> bool:
    data = load_folder(FLAGSHIP)
    doc = next(d for d in data.protocol.documents if d.id == doc_id)
    return (doc.file or "").endswith(".csv")


_CAPTION = re.compile(r"^\s*Table (\d+)\.\s+\S", re.M)
_SPACED = re.compile(r"^\s*(?:[A-Z] ){3,}[A-Z]\s*$", re.M)
_HEADING = re.compile(r"^(#+)\s*([\d.]*\d)\.?\s", re.M)


def _extents(doc_id: str, part: str, start: int) -> list[tuple[int, int]]:
    """Character ranges of ``part`` in the document (at or after ``start``)."""
    text = _text(doc_id)
    m = re.fullmatch(r"Table (\d+)", part)
    if m:
        stops = sorted([c.start() for c in _CAPTION.finditer(text)]
                       + [h.start() for h in _SPACED.finditer(text)] + [len(text)])
        return [(c.start(), next(s for s in stops if s > c.start()))
                for c in _CAPTION.finditer(text, start) if c.group(1) == m.group(1)]
    m = re.fullmatch(r"§([\d.]+)", part)
    if m:
        heads = list(_HEADING.finditer(text))
        out = []
        for i, h in enumerate(heads):
            if h.group(2) == m.group(1) and h.start() >= start:
                level = len(h.group(1))
                end = next((g.start() for g in heads[i + 1:] if len(g.group(1)) <= level),
                           len(text))
                out.append((h.start(), end))
        return out
    m = re.fullmatch(r"row (\d+)", part)
    if m:
        # A CSV document's N-th row as a spreadsheet numbers it (header = row 1); a row can span
        # several lines when a quoted cell holds a line break.
        import csv
        import io

        lines = text.splitlines(keepends=True)
        reader = csv.reader(io.StringIO(text))
        first = 1
        for k, _ in enumerate(reader, start=1):
            last = reader.line_num
            if k == int(m.group(1)):
                begin = sum(len(x) for x in lines[:first - 1])
                return [(begin, sum(len(x) for x in lines[:last]))]
            first = last + 1
        return []
    m = re.fullmatch(r"line (\d+)", part)
    if m:
        lines = text.splitlines(keepends=True)
        n = int(m.group(1))
        if not 1 <= n <= len(lines):
            return []
        begin = sum(len(x) for x in lines[:n - 1])
        return [(begin, begin + len(lines[n - 1]))]
    # Free text: map normalised positions back to the raw text.
    keep = [i for i, ch in enumerate(text) if not ch.isspace()]
    flat = _flat("".join(text[i] for i in keep))
    needle = _flat(part)
    out = []
    pos = flat.find(needle)
    while pos >= 0 and needle:
        raw = keep[min(pos, len(keep) - 1)]
        if raw >= start:
            out.append((raw, raw + NEAR))
        pos = flat.find(needle, pos + 1)
    return out


def locate(source: str) -> tuple[str, list[tuple[int, int]]]:
    """The document id and the extents of a ``source``'s location (empty if not found)."""
    doc, _, loc = source.partition(" ")
    loc = re.sub(r"\s*\([^()]*\)\s*$", "", loc).strip()
    if not loc:
        return doc, [(0, len(_text(doc)))]
    spans: list[tuple[int, int]] = [(0, len(_text(doc)))]
    for part in loc.split(", "):
        found = _extents(doc, part.strip(), spans[0][0])
        if not found:
            return doc, []
        spans = found
    return doc, spans


_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _forms(value: float) -> list[str]:
    """Regular expressions of the ways a source may print ``value`` (sign ignored)."""
    v = abs(value)
    if float(v).is_integer():
        words = [rf"\b{_WORDS[int(v)]}\b"] if int(v) < len(_WORDS) else []
        return [rf"(?<![\d.]){int(v)}(?:\.0+)?(?![\d]|\.\d)", *words]
    digits = re.escape(f"{v:.6f}".rstrip("0").rstrip("."))
    return [rf"(?<![\d.]){digits}0*(?!\d)"]


def number_found(doc: str, spans: list[tuple[int, int]], value: float) -> bool:
    """Whether ``value`` is written in one of the spans (sign ignored, whole token)."""
    text = _text(doc)
    for a, b in spans:
        chunk = re.sub(r"[\u2212\u2013\u2014]", "-", text[a:b])
        if not _is_csv(doc):  # in a CSV a comma separates cells
            chunk = re.sub(r"(?<=\d),(?=\d{3}\b)", "", chunk)
        if any(re.search(form, chunk, re.I) for form in _forms(value)):
            return True
    return False


def _cited() -> list[tuple[str, int, str, dict[str, float]]]:
    """(file, line, source, numbers) of every sourced item of the flagship."""
    data = load_folder(FLAGSHIP)
    out = []
    for attr, name, cols in (
            ("outcomes", "outcomes.csv", ("estimate", "ci_low", "ci_high", "events", "total",
                                          "n_studies", "n_participants", "i2")),
            ("arms", "arms.csv", ("events", "total")),
            ("placebo_response", "placebo_response.csv", ("events", "total", "n_trials"))):
        for i, r in enumerate(getattr(data, attr)):
            nums = {c: float(getattr(r, c)) for c in cols if getattr(r, c) is not None}
            if attr == "placebo_response" and r.proportion is not None:
                nums["proportion (%)"] = round(r.proportion * 100, 6)
            if r.reliability in ("I", "NF"):
                nums = {}
            out.append((name, data.line(name, i), r.source, nums))
    proto = data.protocol
    out.append(("protocol.yaml", 1, f"{proto.source.document} {proto.source.location}", {}))
    for m in proto.mids:
        out.append(("protocol.yaml", 1, m.source,
                    {} if m.reliability in ("I", "NF") else {f"mid {m.outcome}": m.value}))
    for i, j in enumerate(data.judgements):
        if j.source is not None:
            out.append(("judgements.csv", data.line("judgements.csv", i), j.source, {}))
    for sid, st in sorted(data.studies.items()):
        src = f"{st.source.document} {st.source.location}"
        nums = {c: float(getattr(st, c)) for c in ("n_participants", "n_studies")
                if getattr(st, c) is not None}
        out.append((f"studies/{sid}.yaml", 1, src, {} if st.reliability in ("I", "NF") else nums))
        if st.quality is not None:
            q = st.quality
            out.append((f"studies/{sid}.yaml", 1, f"{q.source.document} {q.source.location}",
                        {"quality.score": float(q.score)} if q.score is not None else {}))
    return out


def test_every_document_text_is_inside_the_folder_and_unchanged():
    data = load_folder(FLAGSHIP)
    assert check_documents(data, FLAGSHIP) == []
    for doc in data.protocol.documents:
        assert doc.file is not None and doc.sha256 is not None, doc.id
        path = (FLAGSHIP / doc.file).resolve()
        assert path.is_relative_to(FLAGSHIP.resolve())
        assert hashlib.sha256(path.read_bytes()).hexdigest() == doc.sha256


def test_a_changed_source_text_is_refused(tmp_path):
    import shutil

    from metareview.errors import InputError

    copy = tmp_path / "review"
    shutil.copytree(FLAGSHIP, copy)
    (copy / "sources" / "iscrr2021.txt").write_text("edited", encoding="utf-8")
    with pytest.raises(InputError, match=r"iscrr2021.*SHA-256"):
        load_folder(copy)
    (copy / "sources" / "iscrr2021.txt").unlink()  # an export without texts still loads
    assert load_folder(copy).protocol.id == "ketamine-chronic-pain"
    assert check_documents(load_folder(copy), copy) == [
        f"{copy / 'protocol.yaml'}, document iscrr2021: file sources/iscrr2021.txt is not "
        "in the folder"]


def test_every_cited_location_is_in_its_document():
    missing = [f"{f} line {line}: {src!r}" for f, line, src, _ in _cited()
               if not locate(src)[1]]
    assert missing == []


def test_every_number_is_printed_at_its_location():
    wrong = []
    for f, line, src, nums in _cited():
        doc, spans = locate(src)
        if not spans:
            continue
        for col, v in nums.items():
            if (f, line, col) not in DERIVED and not number_found(doc, spans, v):
                wrong.append(f"{f} line {line}: {col} {v:g} not at {src!r}")
    assert wrong == []


def test_the_matching_rule_finds_tables_sections_and_rejects_what_is_not_there():
    doc, spans = locate("iscrr2021 Table 4")
    assert doc == "iscrr2021" and spans
    assert number_found(doc, spans, -1.83) and not number_found(doc, spans, 1.8)
    assert locate("evidence §3.3")[1] and not locate("evidence §3.9")[1]
    assert not locate("iscrr2021 Table 12")[1]
    # Michelet's 195 participants are in the evidence file, not in the 2021 review's Table 4
    doc, spans = locate("iscrr2021 Table 4")
    assert not number_found(doc, spans, 195)
    doc, spans = locate("evidence §3.3")
    assert number_found(doc, spans, 99) and number_found(doc, spans, 96)


def test_a_document_file_outside_the_review_folder_is_refused():
    from pydantic import ValidationError

    from metareview.studies.schema import DocumentRef

    for bad in ("../shared/seeds/003.txt", "/work/shared/evidence/sources.md", "sources/../../x"):
        with pytest.raises(ValidationError, match="inside the review folder"):
            DocumentRef(id="x", citation="c", file=bad, kind="news")
    with pytest.raises(ValidationError, match="sha256 without file"):
        DocumentRef(id="x", citation="c", sha256="0" * 64, kind="news")
    with pytest.raises(ValidationError, match="doi"):
        DocumentRef(id="x", citation="c", doi="CD015373.pub2", kind="review")
    ok = DocumentRef(id="x", citation="c", doi="10.1136/rapm-2025-106907", file="sources/x.txt",
                     kind="article")
    assert ok.file == "sources/x.txt" and ok.doi == "10.1136/rapm-2025-106907"


def test_the_data_errors_are_fixed_from_the_sources_own_text():
    data = load_folder(FLAGSHIP)
    rows = data.outcomes
    # The Cochrane sentence as seed 000 prints it in English (not a Spanish translation).
    opioid = [r for r in rows if r.study == "ferraro2025" and r.outcome == "opioid consumption"]
    assert [r.reported for r in opioid] == [
        "none of the trials examined whether ketamine helps reduce depressive symptoms or "
        "decreases opioid use"]
    assert opioid[0].reported.replace(" ", "") in _text("news2025").replace(" ", "")
    assert not any("tampoco" in r.reported for r in rows)
    # Marchetti's 16% who stopped is a percentage, its denominator said to be unknown.
    (stop,) = [r for r in rows if r.study == "marchetti2015"
               and r.outcome == "discontinuation due to adverse effects"]
    assert (stop.measure, stop.estimate, stop.events, stop.total) == ("proportion (%)", 16, 8,
                                                                      None)
    assert "denominator not stated" in stop.denominator_note
    # Michelet's N is not credited to ISCRR Table 4, which prints none.
    assert data.study("michelet2018").n_participants is None


def test_dropped_seed_content_is_in_the_data_with_its_location():
    data = load_folder(FLAGSHIP)
    by = {(r.study, r.outcome, r.source, r.estimate) for r in data.outcomes}
    assert ("iscrr2021", "any adverse event", "iscrr2021 Adverse effects of ketamine", 40) in by
    assert ("iscrr2021", "psychotomimetic effects", "iscrr2021 Adverse effects of ketamine",
            10) in by
    assert ("iscrr2021", "blinding (correct allocation guess)",
            "iscrr2021 Considerations and challenges", 75) in by
    cleveland = {(r.source, r.outcome, r.estimate) for r in data.outcomes
                 if r.study == "tankha2025" and r.outcome in ("treatment completion",
                                                              "repeat treatment")}
    assert cleveland == {
        ("evidence §2", "treatment completion", 86.1),
        ("clevelandpress2025", "treatment completion", 86.1),
        ("clevelandpress2025", "treatment completion", 90),
        ("clevelandpress2025", "repeat treatment", 80),
        ("news2025 Cleveland Clinic Study Shows Promise", "treatment completion", 90),
        ("news2025 Cleveland Clinic Study Shows Promise", "repeat treatment", 80)}
    recs = [r for r in data.outcomes if r.outcome == "recommendation"]
    assert {(r.study, r.source) for r in recs} == {
        ("cohen2018", "iscrr2021 Table 10"), ("acoem2017", "iscrr2021 Table 10"),
        ("cohen2018", "iscrr2021 Table 11")}
    assert len(recs) == 3 + 4 + 18  # Table 10: 3 + 4 rows; Table 11: 18 recommendations
    crps = [r for r in recs if r.study == "cohen2018" and r.population == "CRPS"]
    assert sorted(r.certainty_reported for r in crps) == ["Grade B, low-moderate certainty",
                                                          "Grade B, moderate certainty"]
    assert all(r.certainty_reported for r in recs)
    assert {r.reported for r in recs if r.study == "acoem2017"} == {
        "Chronic persistent pain: Not recommended", "CRPS: Not recommended",
        "Fibromyalgia: Not recommended", "Neuropathic pain: Not recommended"}


def test_every_recommendation_is_quoted_from_its_table():
    data = load_folder(FLAGSHIP)
    for r in data.outcomes:
        if r.outcome != "recommendation":
            continue
        doc, spans = locate(r.source)
        where = "".join(_flat(_text(doc)[a:b]) for a, b in spans)
        # "<indication or category>: <recommendation>": in Table 10 an indication may hold a
        # colon, in Table 11 a recommendation may.
        category, words = (r.reported.rsplit(": ", 1) if r.source.endswith("Table 10")
                           else r.reported.split(": ", 1))
        assert _flat(words) in where, r.reported
        assert _flat(category) in where, r.reported
        assert _flat(r.certainty_reported) in where, r.certainty_reported
