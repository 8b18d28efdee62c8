"""The whole path on a fixture review with known counts, through the command line:
init → import (3 sources) → dedupe → dual title/abstract screening → resolve → full text →
prisma, on SQLite and (when a server is running) PostgreSQL.

The fixture is described in tests/data/review_flow/README.md; every expected count below
follows from the planted duplicates and the votes written in this file.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from metareview.cli import app
from metareview.records.readers import read_records

DATA = Path(__file__).parent / "data" / "review_flow"
runner = CliRunner()


def cli(*args: str, code: int = 0) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res.stdout


def cli_json(*args: str) -> dict:
    return json.loads(cli(*args, "--json"))


def write_votes(path: Path, votes: dict[int, tuple[str, str | None]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["record", "decision", "reason"])
        for rid, (value, reason) in votes.items():
            w.writerow([rid, value, reason or ""])
    return path


def ids_by_title(review: Path) -> dict[str, int]:
    """Record id of each non-duplicate record, keyed by a few words of its title."""
    out = review / "records.csv"
    cli("export", out, "-r", review)
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {" ".join(r["title"].lower().split()[:3]): int(r["record_id"]) for r in rows}


def test_init_import_dedupe_screen_resolve_prisma(tmp_path, db_url):
    rv = tmp_path / "ketamine"
    cli("init", rv, "--criteria", "Adults with chronic pain; NMDA antagonist vs placebo; RCT",
        *(["--db", db_url] if db_url else []))
    got = cli_json("import", DATA / "pubmed.nbib", "-r", rv, "--source", "PubMed",
                   "--searched-on", "2026-11-01")
    assert got["imported"] == 6 and got["source"] == "PubMed"
    assert got["searched_on"] == "2026-11-01"
    assert cli_json("import", DATA / "embase.ris", "-r", rv, "--source", "Embase")[
        "imported"] == 5
    assert cli_json("import", DATA / "citations.csv", "-r", rv, "--source",
                    "Citation searching", "--kind", "citation")["imported"] == 2
    # the same file twice is refused and stores nothing
    err = runner.invoke(app, ["import", str(DATA / "embase.ris"), "-r", str(rv)])
    assert err.exit_code == 2 and "already imported" in err.output

    assert cli_json("dedupe", "-r", rv) == {"run": 1, "records": 13, "clusters": 4,
                                            "duplicates": 4}
    ids = ids_by_title(rv)
    assert len(ids) == 9
    crps, memantine, sci, magnesium, dxm, renal, cohort, amantadine, series = (
        ids[k] for k in ("intravenous ketamine infusion", "oral memantine for",
                         "ketamine versus placebo", "magnesium sulfate infusion",
                         "dextromethorphan for painful", "ketamine in the",
                         "long-term outcomes of", "amantadine for phantom",
                         "subanaesthetic ketamine for"))

    # dual, independent title/abstract screening of the 8 database records
    ann = {crps: "include", memantine: "include", sci: "include", magnesium: "maybe",
           dxm: "exclude", renal: "exclude", cohort: "exclude", amantadine: "include"}
    bob = {crps: "include", memantine: "maybe", sci: "include", magnesium: "exclude",
           dxm: "exclude", renal: "exclude", cohort: "include", amantadine: "exclude"}
    for name, votes in (("ann", ann), ("bob", bob)):
        got = cli_json("screen", "-r", rv, "--reviewer", name, "--stage", "ta", "--decisions",
                       write_votes(tmp_path / f"{name}.csv",
                                   {r: (v, None) for r, v in votes.items()}))
        assert got["stored"] == 8 and got["remaining"] == 0
    conf = cli_json("conflicts", "-r", rv, "--stage", "ta")
    assert sorted(c["record"] for c in conf["conflicts"]) == sorted([magnesium, cohort,
                                                                     amantadine])
    # agreement is on the votes as cast: identical on 4 of 8 (memantine: include vs maybe)
    assert conf["agreement"]["percent_agreement"] == pytest.approx(50.0)
    conf = cli_json("conflicts", "-r", rv, "--stage", "ta", "--by", "carol",
                    "--resolve", f"{magnesium}=exclude", "--resolve", f"{cohort}=include",
                    "--resolve", f"{amantadine}=exclude")
    assert conf["remaining"] == 0
    assert [(c["record"], c["value"]) for c in conf["resolved"]] == [
        (magnesium, "exclude"), (cohort, "include"), (amantadine, "exclude")]
    assert cli_json("conflicts", "-r", rv, "--stage", "ta")["conflicts"] == []

    # full text: crps, memantine, sci, cohort (databases) and the case series (citations)
    cli("fulltext", sci, "--not-retrieved", "--by", "ann", "-r", rv)
    ft_ann = {crps: ("include", None), memantine: ("exclude", "wrong population"),
              cohort: ("exclude", "wrong study design"), series: ("include", None)}
    ft_bob = {crps: ("include", None), memantine: ("exclude", "wrong population"),
              cohort: ("include", None), series: ("include", None)}
    for name, votes in (("ann", ft_ann), ("bob", ft_bob)):
        cli("screen", "-r", rv, "--reviewer", name, "--stage", "ft", "--decisions",
            write_votes(tmp_path / f"ft-{name}.csv", votes))
    cli("conflicts", "-r", rv, "--stage", "ft", "--by", "carol",
        "--resolve", f"{cohort}=exclude:wrong study design")
    cli("fulltext", crps, series, "--study", "Alvarez 2023", "--by", "ann", "-r", rv)

    counts = cli_json("prisma", "-r", rv, "--out", tmp_path / "prisma.svg",
                      "--out", tmp_path / "prisma.png")
    expected = {
        "database_results": 11, "database_specific_results": {"Embase": 5, "PubMed": 6},
        "register_results": None, "citations_results": 2, "website_results": 0,
        "organisation_results": 0, "duplicates": 3, "excluded_automatic": 0,
        "excluded_other": 0, "records_screened": 8, "records_excluded": 4,
        "dbr_sought_reports": 4, "dbr_notretrieved_reports": 1, "dbr_assessed": 3,
        "dbr_excluded": 2,
        "dbr_excluded_reasons": {"wrong population": 1, "wrong study design": 1},
        "other_sought_reports": 1, "other_notretrieved_reports": 0, "other_assessed": 1,
        "other_excluded": 0, "new_studies": 1, "new_reports": 2,
        "previous_studies": None, "previous_reports": None,
        "total_studies": None, "total_reports": None,
    }
    assert {k: counts[k] for k in expected} == expected
    assert counts["problems"] == []
    assert counts["pending"] == {"pending_records": 0, "pending_reports": 0}
    svg = (tmp_path / "prisma.svg").read_text()
    assert "wrong study design" in svg
    assert (tmp_path / "prisma.png").read_bytes()[:4] == b"\x89PNG"

    # an updated review: the previous version's studies are added to the totals
    upd = cli_json("prisma", "-r", rv, "--previous-studies", "67", "--previous-reports", "70")
    assert (upd["total_studies"], upd["total_reports"]) == (68, 72)

    # exported RIS carries the decisions and imports again with its labels
    cli("export", tmp_path / "all.ris", "-r", rv)
    back = read_records(tmp_path / "all.ris")
    labels = {r.title.split()[0]: r.label for r in back.records}
    assert len(back.records) == 9
    assert labels["Oral"] == "exclude" and labels["Subanaesthetic"] == "include"


def test_dedupe_undo_restores_records(tmp_path):
    rv = tmp_path / "r"
    cli("init", rv)
    cli("import", DATA / "pubmed.nbib", "-r", rv)
    cli("import", DATA / "embase.ris", "-r", rv)
    assert cli_json("dedupe", "-r", rv)["duplicates"] == 3
    assert cli_json("dedupe", "-r", rv, "--undo") == {"undone": 1}
    assert cli_json("prisma", "-r", rv)["duplicates"] == 0
    assert cli_json("prisma", "-r", rv)["records_screened"] == 11


@pytest.mark.parametrize(("args", "message"), [
    (["import", "missing.ris"], "missing.ris"),
    (["screen", "--reviewer", "ann", "--stage", "xx"], "stage 'xx'"),
    (["conflicts", "--resolve", "1=include"], "--by"),
    (["prisma", "--out", "x.pdf"], "x.pdf"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, message):
    rv = tmp_path / "r"
    cli("init", rv)
    res = runner.invoke(app, [*args, "-r", str(rv)])
    assert res.exit_code == 2
    assert message in res.output and len(res.output.strip().splitlines()) == 1
    assert "Traceback" not in res.output
