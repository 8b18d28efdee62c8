"""PRISMA 2020 counts (metareview.screening.prisma) and flow diagram (metareview.report.prisma)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.report.prisma import prisma_diagram, prisma_layout
from metareview.screening.prisma import PrismaCounts

# The `data` column of the PRISMA2020 R package's CSV template (inst/extdata/PRISMA.csv,
# Haddaway et al. 2022), in its order, without the title and phase rows.
PRISMA2020_FIELDS = [
    "previous_studies", "previous_reports", "database_results", "database_specific_results",
    "register_results", "register_specific_results", "website_results", "organisation_results",
    "citations_results", "duplicates", "excluded_automatic", "excluded_other",
    "records_screened", "records_excluded", "dbr_sought_reports", "dbr_notretrieved_reports",
    "other_sought_reports", "other_notretrieved_reports", "dbr_assessed", "dbr_excluded",
    "other_assessed", "other_excluded", "new_studies", "new_reports", "total_studies",
    "total_reports",
]

# A hand-made, consistent flow: 2,153 + 95 identified, 714 removed, 1,534 screened ...
NEW = dict(
    database_specific_results={"MEDLINE (Ovid)": 812, "Embase": 1044, "CENTRAL": 297},
    register_specific_results={"ClinicalTrials.gov": 64, "WHO ICTRP": 31},
    duplicates=702, excluded_automatic=0, excluded_other=12,
    records_screened=1534, records_excluded=1401,
    dbr_sought_reports=133, dbr_notretrieved_reports=4, dbr_assessed=129,
    dbr_excluded_reasons={"Wrong population": 41, "Wrong intervention": 22,
                          "Wrong comparator, placebo run-in only": 9, "Wrong outcome": 17,
                          "Not a randomised controlled trial": 12, "Conference abstract": 6},
    new_studies=18, new_reports=22,
)
OTHER = dict(
    NEW, website_results=14, organisation_results=3, citations_results=27,
    other_sought_reports=19, other_notretrieved_reports=2, other_assessed=17,
    other_excluded_reasons={"Wrong population": 8, "Wrong outcome": 5},
    new_studies=21, new_reports=26,
)
UPDATE = dict(OTHER, previous_studies=12, previous_reports=15, total_studies=33,
              total_reports=41)


# -- counts ------------------------------------------------------------------------------------


def test_field_names_are_prisma2020s() -> None:
    d = PrismaCounts().to_dict()
    assert [k for k in d if not k.endswith("_reasons")] == PRISMA2020_FIELDS
    assert set(d) - set(PRISMA2020_FIELDS) == {"dbr_excluded_reasons", "other_excluded_reasons"}
    assert all(v is None or v == {} for v in d.values())


def test_totals_from_breakdowns() -> None:
    c = PrismaCounts(**NEW)
    assert c.database_results == 812 + 1044 + 297
    assert c.register_results == 64 + 31
    assert c.dbr_excluded == 41 + 22 + 9 + 17 + 12 + 6
    assert c.other_excluded is None
    assert not c.is_update and not c.has_other_methods
    o = PrismaCounts(**OTHER)
    assert o.other_excluded == 13 and o.has_other_methods
    assert PrismaCounts(**UPDATE).is_update


@pytest.mark.parametrize("counts", [NEW, OTHER, UPDATE])
def test_consistent_counts_pass(counts) -> None:
    assert PrismaCounts(**counts).check() == []


@pytest.mark.parametrize(("change", "message"), [
    ({"database_results": 2000}, "database_results is 2,000 but the sum of "
                                 "database_specific_results is 2,153"),
    ({"duplicates": 700}, "records_screened is 1,534 but database_results + register_results - "
                          "duplicates - excluded_automatic - excluded_other is 1,536"),
    ({"records_excluded": 1400}, "dbr_sought_reports is 133 but records_screened - "
                                 "records_excluded is 134"),
    ({"dbr_notretrieved_reports": 3}, "dbr_assessed is 129 but dbr_sought_reports - "
                                      "dbr_notretrieved_reports is 130"),
    ({"dbr_excluded": 100}, "dbr_excluded is 100 but the sum of dbr_excluded_reasons is 107"),
    ({"new_reports": 23}, "new_reports is 23 but dbr_assessed - dbr_excluded is 22"),
    ({"new_studies": 23, "new_reports": 22}, "new_studies (23) exceeds new_reports (22)"),
    ({"dbr_assessed": 100, "dbr_sought_reports": 104, "records_excluded": 1430,
      "dbr_excluded_reasons": {}, "dbr_excluded": 101, "new_reports": None},
     "dbr_excluded (101) exceeds dbr_assessed (100)"),
])
def test_inconsistent_counts_flagged(change, message) -> None:
    problems = PrismaCounts(**{**NEW, **change}).check()
    assert any(message in p for p in problems), problems


def test_inconsistent_other_and_update_flagged() -> None:
    problems = PrismaCounts(**{**UPDATE, "other_assessed": 16, "total_studies": 30,
                               "total_reports": 40, "other_sought_reports": 50}).check()
    joined = "\n".join(problems)
    assert "other_assessed is 16 but other_sought_reports - other_notretrieved_reports is 48" \
        in joined
    assert "other_sought_reports (50) exceeds the records identified by other methods (44)" \
        in joined
    assert "total_studies is 30 but previous_studies + new_studies is 33" in joined
    assert "total_reports is 40 but previous_reports + new_reports is 41" in joined
    # new_reports now disagrees too: 22 + (16 - 13)
    assert "new_reports is 26 but dbr_assessed - dbr_excluded + other_assessed - " \
           "other_excluded is 25" in joined


def test_unknown_counts_are_not_checked() -> None:
    assert PrismaCounts(database_results=10, records_screened=3).check() == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"duplicates": -1}, "duplicates: negative count"),
    ({"records_screened": 2.5}, "records_screened: 2.5 is not a whole number"),
    ({"records_screened": "many"}, "records_screened: 'many' is not a count"),
    ({"dbr_excluded_reasons": {"Wrong design": -2}}, "dbr_excluded_reasons['Wrong design']"),
    ({"database_specific_results": [("MEDLINE", 3)]}, "expected a mapping"),
    ({"dbr_excluded_reasons": {" ": 2}}, "empty name"),
])
def test_bad_counts(kwargs, message) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        PrismaCounts(**kwargs)


def test_to_dict_is_json_and_round_trips() -> None:
    c = PrismaCounts(**UPDATE)
    d = c.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    assert d["dbr_excluded"] == 107
    assert d["dbr_excluded_reasons"]["Wrong population"] == 41
    assert d["database_specific_results"] == {"MEDLINE (Ovid)": 812, "Embase": 1044,
                                              "CENTRAL": 297}
    assert PrismaCounts(**d) == c
    assert PrismaCounts(**NEW).to_dict()["previous_studies"] is None
    assert dataclasses.is_dataclass(c)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.duplicates = 3  # type: ignore[misc]


def test_summary() -> None:
    text = PrismaCounts(**UPDATE).summary()
    for part in ("databases 2,153", "MEDLINE (Ovid): 812", "Wrong outcome: 17",
                 "citation searching 27", "Total included: studies 33, reports 41",
                 "Previous review: studies 12"):
        assert part in text


def _parse_reasons(cell: str) -> list[tuple[str, int]]:
    """The PRISMA2020 package's PRISMA_parse_reasons_: split on '; ', name before the first
    comma, the count after it."""
    out = []
    for part in re.split(r";( )?", cell):
        if not part or part == " ":
            continue
        name = re.sub(r",.*$", "", part)
        out.append((name, int(part.split(",", 1)[1].replace(",", "").strip())))
    return out


def test_prisma2020_csv(tmp_path: Path) -> None:
    c = PrismaCounts(**NEW)
    path = tmp_path / "PRISMA.csv"
    text = c.to_prisma2020_csv(path)
    assert path.read_text(encoding="utf-8") == text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["data", "node", "box", "description", "boxtext", "tooltips", "url",
                             "n"]
    data = [r["data"] for r in rows]
    # every PRISMA2020 field once, plus the title rows (NA) and the three phase labels
    assert [d for d in data if d != "NA"] == [*PRISMA2020_FIELDS, "identification", "screening",
                                              "included"]
    n = {r["data"]: r["n"] for r in rows if r["data"] != "NA"}
    assert n["records_screened"] == "1534"
    assert n["previous_studies"] == "NA"  # new review: R reads NA and drops the column
    assert n["website_results"] == "NA"
    assert _parse_reasons(n["database_specific_results"]) == [
        ("MEDLINE (Ovid)", 812), ("Embase", 1044), ("CENTRAL", 297)]
    reasons = _parse_reasons(n["dbr_excluded"])
    # the comma inside a reason would split it in R, so it is replaced
    assert ("Wrong comparator - placebo run-in only", 9) in reasons
    assert sum(v for _, v in reasons) == 107
    # the package finds a row with grep(field, data[, 1]): each field must match one row only
    for field in PRISMA2020_FIELDS:
        pattern = field + ("$" if field.startswith("total_") else "")
        assert sum(bool(re.search(pattern, d)) for d in data) == 1, field


def test_prisma2020_csv_total_without_reasons() -> None:
    text = PrismaCounts(dbr_excluded=7).to_prisma2020_csv()
    n = {r["data"]: r["n"] for r in csv.DictReader(io.StringIO(text))}
    assert n["dbr_excluded"] == "7"
    assert n["other_excluded"] == "NA"


# -- diagram -----------------------------------------------------------------------------------


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()
    parts = [t.text or "" for t in root.iter() if t.tag.endswith("}text") or t.tag == "text"]
    parts += [t.text or "" for t in root.iter() if t.tag.endswith("}tspan")]
    return re.sub(r"\s+", " ", " ".join(parts))


def _boxes(counts, **kw):
    boxes, width, height = prisma_layout(counts, **kw)
    return {b.name: b for b in boxes}, width, height


VARIANTS = {
    "new": (NEW, {"identified", "removed", "records_screened", "records_excluded",
                  "dbr_sought_reports", "dbr_notretrieved_reports", "dbr_assessed",
                  "dbr_excluded", "included", "header_dbr"}),
    "other": (OTHER, {"other_identified", "other_sought_reports", "other_notretrieved_reports",
                      "other_assessed", "other_excluded", "header_other"}),
    "update": (UPDATE, {"previous", "total", "header_previous"}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variants_have_their_boxes(variant) -> None:
    counts = VARIANTS[variant][0]
    names = set(_boxes(counts)[0])
    expected = set(VARIANTS["new"][1])
    if variant in ("other", "update"):
        expected |= VARIANTS["other"][1]
    if variant == "update":
        expected |= VARIANTS["update"][1]
    phases = {"phase_identification", "phase_screening", "phase_included"}
    assert names == expected | phases


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_svg_has_every_count_and_reason(variant, tmp_path: Path) -> None:
    counts = VARIANTS[variant][0]
    c = PrismaCounts(**counts)
    path = tmp_path / f"{variant}.svg"
    fig = prisma_diagram(c, path)
    text = _svg_text(path)
    numbers = [v for k, v in c.to_dict().items() if isinstance(v, int)
               and k not in ("dbr_excluded", "other_excluded")]
    for mapping in (c.database_specific_results, c.register_specific_results,
                    c.dbr_excluded_reasons, c.other_excluded_reasons):
        numbers += list(mapping.values())
        for name in mapping:
            assert name in text, name
    for v in numbers:
        assert f"(n = {v:,})" in text, v
    for phrase in ("Records identified from:", "Records removed before screening:",
                   "Duplicate records removed (n = 702)",
                   "Records marked as ineligible by automation tools (n = 0)",
                   "Records removed for other reasons (n = 12)", "Records screened",
                   "Records excluded", "Reports sought for retrieval", "Reports not retrieved",
                   "Reports assessed for eligibility", "Reports excluded (n = 107):",
                   "Identification", "Screening", "Included", "Databases (n = 2,153)",
                   "Registers (n = 95)"):
        assert phrase in text, phrase
    if variant == "new":
        assert "Identification of studies via databases and registers" in text
        assert "Studies included in review" in text and "Reports of included studies" in text
        assert "other methods" not in text and "Previous studies" not in text
    if variant == "other":
        assert "Identification of studies via other methods" in text
        assert "Citation searching (n = 27)" in text
    if variant == "update":
        assert "Identification of new studies via databases and registers" in text
        assert "New studies included in review" in text
        assert "Total studies included in review" in text
        assert "Studies included in previous version of review (n = 12)" in text
    assert fig.get_figwidth() > 5


def test_png_written(tmp_path: Path) -> None:
    path = tmp_path / "flow.png"
    fig = prisma_diagram(PrismaCounts(**UPDATE), path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    # PNG header: width and height in pixels at the figure's dpi
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width == pytest.approx(fig.get_figwidth() * fig.dpi, abs=1)
    assert height == pytest.approx(fig.get_figheight() * fig.dpi, abs=1)


def test_same_counts_same_svg(tmp_path: Path) -> None:
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    prisma_diagram(PrismaCounts(**OTHER), a)
    prisma_diagram(PrismaCounts(**OTHER).to_dict(), b)  # a mapping works too
    assert a.read_bytes() == b.read_bytes()


def test_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="svg"):
        prisma_diagram(PrismaCounts(**NEW), tmp_path / "flow.gif")


def _overlap(a, b, gap: float = 0.0) -> bool:
    return (a.x < b.right + gap and b.x < a.right + gap
            and a.y < b.bottom + gap and b.y < a.bottom + gap)


def _check_geometry(counts, **kw) -> None:
    """No two boxes overlap, every box lies inside the figure, every text inside its box, and
    the connectors run through no box they do not connect."""
    boxes, width, height = _boxes(counts, **kw)
    items = list(boxes.values())
    for i, a in enumerate(items):
        assert 0 <= a.x and a.right <= width and 0 <= a.y and a.bottom <= height, a.name
        for b in items[i + 1:]:
            assert not _overlap(a, b, gap=0.05), (a.name, b.name)
    fig = prisma_diagram(counts, **kw)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    patches = {p.get_gid().split(":", 1)[1]: p for p in ax.patches
               if (p.get_gid() or "").startswith("prisma-box:")}
    texts = {t.get_gid().split(":", 1)[1]: t for t in ax.texts
             if (t.get_gid() or "").startswith("prisma-text:")}
    assert set(patches) == set(texts) == set(boxes)
    for name, text in texts.items():
        outer = patches[name].get_window_extent(renderer)
        inner = text.get_window_extent(renderer)
        assert outer.x0 - 0.5 <= inner.x0 and inner.x1 <= outer.x1 + 0.5, name
        assert outer.y0 - 0.5 <= inner.y0 and inner.y1 <= outer.y1 + 0.5, name
    # the connectors that turn corners
    if "other_assessed" in boxes:
        src, dst = boxes["other_assessed"], boxes["included"]
        for b in items:
            if b.name in ("other_assessed", "included"):
                continue
            crosses_v = b.x < src.cx < b.right and b.y < dst.cy and b.bottom > src.bottom
            crosses_h = b.y < dst.cy < b.bottom and b.x < src.cx and b.right > dst.right
            assert not (crosses_v or crosses_h), b.name
    if "previous" in boxes:
        src, dst = boxes["previous"], boxes["total"]
        for b in items:
            if b.name in ("previous", "total") or b.kind == "phase":
                continue
            assert not (b.x < src.cx < b.right and b.y < dst.cy and b.bottom > src.bottom), b.name
            assert not (b.y < dst.cy < b.bottom and b.right > src.cx and b.x < dst.x), b.name


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_layout_geometry(variant) -> None:
    _check_geometry(PrismaCounts(**VARIANTS[variant][0]))


def test_long_lists_wrap_and_grow() -> None:
    reasons = {f"Reason {i}: " + "a very long explanation of the exclusion " * (i % 3): i
               for i in range(1, 16)}
    dbs = {"Supercalifragilisticexpialidociousdatabasewithoutanyspaces": 5,
           **{f"Database {i}": i for i in range(1, 11)}}
    c = PrismaCounts(**{**UPDATE, "database_specific_results": dbs,
                        "dbr_excluded_reasons": reasons, "database_results": None})
    _check_geometry(c)
    short, _, h_short = _boxes(PrismaCounts(**UPDATE))
    long_, _, h_long = _boxes(c)
    assert long_["dbr_excluded"].h > 3 * short["dbr_excluded"].h
    assert h_long > h_short
    assert long_["dbr_excluded"].w == short["dbr_excluded"].w


def test_forced_variants() -> None:
    boxes, _, _ = _boxes(PrismaCounts(**UPDATE), other_sources=False, previous=False)
    assert "other_identified" not in boxes and "previous" not in boxes
    boxes, _, _ = _boxes(PrismaCounts(**NEW), other_sources=True, previous=True)
    assert {"other_identified", "previous", "total"} <= set(boxes)
    assert "(n = NA)" in boxes["previous"].text


def test_footnotes(tmp_path: Path) -> None:
    path = tmp_path / "f.svg"
    prisma_diagram(PrismaCounts(**NEW), path, footnotes=True)
    text = _svg_text(path)
    assert "Records identified from*:" in text and "Records excluded**" in text
    assert "BMJ 2021;372:n71" in text
    assert "*" not in _svg_text(_write(tmp_path / "g.svg", NEW))


def _write(path: Path, counts) -> Path:
    prisma_diagram(PrismaCounts(**counts), path)
    return path


@settings(max_examples=8, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghij ,;-()", min_size=1, max_size=90)
                .filter(lambda s: s.strip()), max_size=12, unique_by=str.strip),
       st.integers(0, 10**7), st.booleans(), st.booleans())
def test_any_reasons_fit(reasons, big, other, update) -> None:
    counts = dict(UPDATE if update else NEW, records_screened=big,
                  dbr_excluded_reasons={r: i for i, r in enumerate(reasons)})
    if not other:
        counts = {k: v for k, v in counts.items() if k in NEW or k.startswith(("prev", "total"))}
    _check_geometry(PrismaCounts(**counts), other_sources=other)


def test_mappings_are_frozen() -> None:
    source = {"MEDLINE": 3}
    c = PrismaCounts(database_specific_results=source)
    source["Embase"] = 4  # the caller's dict is copied
    assert dict(c.database_specific_results) == {"MEDLINE": 3} and c.database_results == 3
    with pytest.raises(TypeError):
        c.database_specific_results["Embase"] = 4  # type: ignore[index]


def test_short_rows_still_hold_the_phase_labels() -> None:
    # two-line boxes only: the rows grow so that "Identification" fits its bar
    c = PrismaCounts(database_results=10, duplicates=0, records_screened=10, records_excluded=9,
                     dbr_sought_reports=1, dbr_notretrieved_reports=0, dbr_assessed=1,
                     dbr_excluded=0, new_studies=1, new_reports=1)
    assert c.check() == []
    _check_geometry(c)


def test_awaiting_classification_counts() -> None:
    # 20 of the 1,534 records screened are still in conflict: neither excluded nor sought
    waiting = PrismaCounts(**{**NEW, "records_excluded": 1381, "records_awaiting": 20})
    assert waiting.check() == []
    hidden = PrismaCounts(**{**NEW, "records_excluded": 1381})
    assert hidden.check() == ["dbr_sought_reports is 133 but records_screened - "
                              "records_excluded is 153"]
    reports = PrismaCounts(**{**NEW, "dbr_assessed": 125, "dbr_excluded_reasons": {"x": 103},
                              "dbr_awaiting_reports": 4})
    assert reports.check() == []
    d = waiting.to_dict()
    assert d["records_awaiting"] == 20 and "dbr_awaiting_reports" not in d  # unknown: left out
    assert PrismaCounts(**d) == waiting
    assert "excluded 1,381, awaiting classification 20" in waiting.summary()
    boxes = {b.name: b for b in prisma_layout(waiting)[0]}
    assert boxes["records_screened"].text.split("\n") == [
        "Records screened", "(n = 1,534)", "Records awaiting classification", "(n = 20)"]
    assert "awaiting" not in {b.name: b for b in prisma_layout(NEW)[0]}["records_screened"].text
    assert "records_awaiting" not in waiting.to_prisma2020_csv()
