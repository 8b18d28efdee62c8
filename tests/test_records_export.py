"""Writing records to RIS and CSV, and reading them back.

The central invariant: export → import gives back every Record field the format can carry
(RIS: all of them except ``line``, with ``extra`` limited to two-letter RIS tags; CSV: all but
``line`` and ``extra``), for generated records with Unicode text, multi-line abstracts,
authors, years, DOIs and labels. rispy (ASReview's reader) is used as an independent check
that what we write is RIS other tools read.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
import rispy
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from metareview.records.export import CSV_COLUMNS, write_csv, write_ris
from metareview.records.fields import normalise_space, split_authors
from metareview.records.model import Record
from metareview.records.readers import read_records, read_records_text

DATA = Path(__file__).parent / "data" / "records"

# A line of text as RIS can hold it: no control characters, no surrounding whitespace.
LINE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=25
).map(str.strip).filter(bool)
TEXT = st.lists(LINE, min_size=1, max_size=4).map("\n".join)  # multi-line, no blank lines
SHORT = st.one_of(st.just(""), LINE)
DOI = st.builds(
    lambda reg, suffix: f"10.{reg}/{suffix}",
    st.integers(1000, 99999),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_/()", min_size=1, max_size=20)
    .filter(lambda s: s[-1].isalnum()),
)
#: Two-letter RIS tags that no Record field reads (so they come back in ``extra``).
EXTRA_TAGS = ["DB", "M1", "M3", "U2", "SN", "LA", "PB", "CY", "C5", "AD", "A2", "T3", "N1",
              "JA", "J2"]


@st.composite
def records(draw, *, with_extra: bool = True, titled: bool = False) -> Record:
    journal = draw(SHORT)
    extra = {}
    if with_extra:
        tags = draw(st.lists(st.sampled_from(EXTRA_TAGS), unique=True, max_size=4))
        for t in tags:
            if t in ("JA", "J2") and not journal:
                continue  # with no T2, an abbreviation is read as the journal (by design)
            extra[t] = draw(TEXT)
    return Record(
        title=draw(TEXT if titled else st.one_of(st.just(""), TEXT)),
        abstract=draw(st.one_of(st.just(""), TEXT)),
        authors=tuple(draw(st.lists(LINE, max_size=4, unique=True))),
        year=draw(st.one_of(st.none(), st.integers(1000, 2999))),
        journal=journal,
        volume=draw(SHORT),
        issue=draw(SHORT),
        pages=draw(SHORT),
        doi=draw(st.one_of(st.just(""), DOI)),
        pmid=draw(st.one_of(st.just(""), st.integers(1, 99_999_999).map(str))),
        keywords=tuple(draw(st.lists(LINE, max_size=4, unique=True))),
        url=draw(SHORT),
        type=draw(st.sampled_from(["JOUR", "BOOK", "CHAP", "CPAPER", "GEN", "RPRT", "THES"])),
        source_key=draw(SHORT),
        label=draw(st.sampled_from([None, "include", "exclude"])),
        extra=extra,
    )


def roundtrip_ris(recs, **kw):
    buf = io.StringIO()
    assert write_ris(recs, buf, **kw) == len(recs)
    return buf.getvalue(), read_records_text(buf.getvalue(), "ris", source="x").records


def without_line(r: Record) -> Record:
    return replace(r, line=None)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(), min_size=1, max_size=5))
def test_ris_roundtrip(recs):
    text, back = roundtrip_ris(recs)
    assert [without_line(r) for r in back] == recs
    # every record starts where the writer put its TY line
    ty_lines = [i for i, ln in enumerate(text.split("\n"), 1) if ln.startswith("TY  - ")]
    assert [r.line for r in back] == ty_lines


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(records(with_extra=False), min_size=1, max_size=5))
def test_ris_output_reads_in_rispy(recs):
    text, _ = roundtrip_ris(recs)
    theirs = rispy.loads(text)
    assert len(theirs) == len(recs)
    for r, t in zip(recs, theirs, strict=True):
        assert t["type_of_reference"] == r.type
        assert t.get("authors", []) == list(r.authors)
        assert t.get("keywords", []) == list(r.keywords)
        # rispy joins continuation lines with spaces where we keep the line breaks
        assert t.get("title", "") == r.title.replace("\n", " ")
        assert t.get("doi", "") == r.doi


def _csv_safe(r: Record) -> Record:
    """A record whose authors and keywords survive joining with '; ' and splitting again."""
    authors = tuple(a for a in (normalise_space(x.replace(";", " ")) for x in r.authors) if a)
    keywords = tuple(dict.fromkeys(
        k for k in (normalise_space(x.replace(";", " ")) for x in r.keywords) if k))
    return replace(r, authors=tuple(dict.fromkeys(authors)), keywords=keywords, extra={})


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
# titled: a row of empty cells is a blank row, not a record
@given(st.lists(records(with_extra=False, titled=True).map(_csv_safe), min_size=1, max_size=5))
def test_csv_roundtrip(recs):
    assume(all(len(r.authors) != 1 or split_authors(r.authors[0]) == r.authors for r in recs))
    buf = io.StringIO()
    assert write_csv(recs, buf) == len(recs)
    back = read_records_text(buf.getvalue(), "csv", source="x").records
    assert [replace(r, line=None, extra={}) for r in back] == recs


def test_multiline_and_tag_like_text_survive():
    r = Record(title="Ketamine", abstract="BACKGROUND: x\nAU  - not an author\nER  - not the end",
               authors=("Smith, J.",), type="JOUR")
    text, (back,) = roundtrip_ris([r])
    assert " AU  - not an author" in text.split("\n")
    assert back.abstract == r.abstract and back.authors == ("Smith, J.",)


def test_blank_lines_inside_text_are_dropped():
    # RIS has no way to carry an empty line inside a value (documented in ris._tagged)
    r = Record(title="T", abstract="First paragraph.\n\n  \nSecond paragraph.", type="JOUR")
    _, (back,) = roundtrip_ris([r])
    assert back.abstract == "First paragraph.\nSecond paragraph."


def test_decisions_roundtrip_through_ris():
    recs = [Record(title=f"Record {i}", type="JOUR") for i in range(4)]
    decisions = {
        0: {"decision": "include", "stage": "full_text", "record_id": 11},
        1: {"decision": "exclude", "stage": "title_abstract",
            "reason": "wrong population; adults only", "record_id": 12},
        2: {"decision": "maybe", "stage": "full_text", "reason": None, "record_id": 13},
    }
    text, back = roundtrip_ris(recs, decisions=decisions)
    assert "N1  - metareview: exclude; stage: title_abstract; reason: wrong population; adults " \
           "only" in text
    assert [r.label for r in back] == ["include", "exclude", None, None]
    assert back[1].extra == {"metareview_stage": "title_abstract",
                             "metareview_reason": "wrong population; adults only",
                             "metareview_record_id": "12"}
    assert back[2].extra == {"metareview_decision": "maybe", "metareview_stage": "full_text",
                             "metareview_record_id": "13"}
    assert back[3].extra == {}
    # written again without decisions, the records carry the same notes
    text2, back2 = roundtrip_ris(back)
    assert text2 == text
    assert back2 == back


def test_a_decision_overrides_the_imported_label():
    b = read_records(DATA / "asreview_labelled.ris")
    _, back = roundtrip_ris(b.records, decisions={0: {"decision": "exclude"}})
    assert [r.label for r in back] == ["exclude", "exclude", None]


def test_asreview_labels_for_asreview():
    b = read_records(DATA / "asreview_labelled.ris")
    text, back = roundtrip_ris(b.records, asreview_labels=True)
    assert [r.label for r in back] == ["include", "exclude", None]
    # as ASReview reads it: rispy's 'notes' list with ASReview's label words
    notes = [t.get("notes", []) for t in rispy.loads(text)]
    assert "ASReview_relevant" in notes[0]
    assert "ASReview_irrelevant" in notes[1] and "Screened twice" in notes[1]
    assert "ASReview_not_seen" in notes[2]


@pytest.mark.parametrize("name", ["embase_com.ris", "scopus.ris", "asreview_labelled.ris"])
def test_ris_fixtures_roundtrip(name):
    recs = read_records(DATA / name).records
    _, back = roundtrip_ris(recs)
    assert [without_line(r) for r in back] == [without_line(r) for r in recs]


@pytest.mark.parametrize("name", ["pubmed.nbib", "pubmed.xml", "zotero.bib", "scopus.csv"])
def test_other_formats_keep_their_fields_through_ris(name):
    recs = read_records(DATA / name, source="x").records
    _, back = roundtrip_ris(recs)
    for a, b in zip(recs, back, strict=True):
        assert replace(a, line=None, extra={}) == replace(b, line=None, extra={})


def test_write_to_path_and_csv_columns(tmp_path):
    recs = read_records(DATA / "pubmed.nbib").records
    out = tmp_path / "out.ris"
    assert write_ris(recs, out) == 3
    assert out.read_bytes().startswith(b"TY  - JOUR\nTI  - Low-dose ketamine")
    again = read_records(out).records
    assert [r.pmid for r in again] == ["90000001", "90000002", "90000003"]
    csv_path = tmp_path / "out.csv"
    n = write_csv(recs, csv_path, decisions={
        0: {"record_id": 1, "decision": "exclude", "reason": "not an RCT", "stage": "full_text"},
        2: {"record_id": 3, "source": "PubMed"},
    })
    assert n == 3
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert list(rows[0]) == [*CSV_COLUMNS, "record_id", "source"]
    assert CSV_COLUMNS == ("title", "abstract", "authors", "year", "journal", "volume", "issue",
                           "pages", "doi", "pmid", "keywords", "url", "type", "source_key",
                           "label", "decision", "stage", "reason")
    assert (rows[0]["label"], rows[0]["decision"], rows[0]["reason"], rows[0]["stage"]) == (
        "exclude", "exclude", "not an RCT", "full_text")
    assert rows[0]["authors"] == "Sørensen, Mette; García-López, José; O'Neill, Aoife"
    assert rows[1]["label"] == rows[1]["decision"] == rows[1]["record_id"] == ""
    assert rows[2]["record_id"] == "3"
    back = read_records(csv_path).records
    assert [r.label for r in back] == ["exclude", None, None]
    assert back[0].authors == recs[0].authors and back[0].pmid == "90000001"
