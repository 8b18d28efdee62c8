"""The living review: saved searches, ``metareview update`` against a local fake PubMed (never
the network), and the change report with the protocol's triggers.

The fake E-utilities server is the one of ``tests/test_pubmed_client.py`` (its handler's
transport and request log) serving a small PubMed of its own: articles with PMIDs, DOIs,
abstracts and Entrez dates, so an update can ask for what entered since the last run.

The change report is checked on the BCG review (metadat's dat.bcg) with one trial added:
twelve trials before, all thirteen after. Its numbers are those ``metareview analyze`` prints
for the same rows of ``src/metareview/data/bcg.csv`` (the review's arm rows are those rows).
"""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import itertools
import json
import math
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import replace
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from metareview.cli import app
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.screening.ranking import model_ranker
from metareview.store.living import snapshot_before, update_project
from metareview.store.project import Project
from metareview.store.searches import add_search, load_searches, remove_search
from metareview.studies import load_folder
from metareview.studies.schema import Trigger
from metareview.synthesis.changes import AnalysisState, compare_reviews, trigger_holds
from tests.test_pubmed_client import Fake, FakeTime, Handler

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "reviews" / "bcg-tuberculosis"
BCG_CSV = ROOT / "src" / "metareview" / "data" / "bcg.csv"
ADDED = "hart1977"  # the trial the update brings: dat.bcg row 4 (Hart & Sutherland 1977)
runner = CliRunner()


# ----------------------------------------------------------------------------- a fake PubMed
def article(pmid: str, title: str, *, doi: str = "", year: int = 2024, abstract: str = "",
            authors: tuple[str, ...] = ("Smith J",), journal: str = "Pain") -> str:
    """One PubmedArticle as efetch returns it."""
    names = "".join(f"<Author><LastName>{a.split()[0]}</LastName><Initials>{a.split()[1]}"
                    f"</Initials></Author>" for a in authors)
    ids = f'<ArticleId IdType="doi">{doi}</ArticleId>' if doi else ""
    return (f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal>"
            f"<JournalIssue><PubDate><Year>{year}</Year></PubDate></JournalIssue>"
            f"<Title>{journal}</Title></Journal><ArticleTitle>{title}</ArticleTitle>"
            f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>"
            f"<AuthorList>{names}</AuthorList></Article></MedlineCitation>"
            f"<PubmedData><ArticleIdList><ArticleId IdType=\"pubmed\">{pmid}</ArticleId>{ids}"
            f"</ArticleIdList></PubmedData></PubmedArticle>")


class PubMedHandler(Handler):
    """Every term finds every article, except one starting ``bad`` (PubMed's ERROR); ``edat``
    with ``mindate``/``maxdate`` keeps the articles entered in that range."""

    def handle_request(self, query: str) -> None:
        fake = self.fake
        params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        endpoint = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        with fake.lock:
            fake.log.append({"endpoint": endpoint, "params": params})
            failure = fake.failures.pop(0) if fake.failures else None
        if failure is not None:
            self.send(*failure)
            return
        if endpoint == "esearch.fcgi":
            ids = list(fake.articles)
            if params.get("datetype") == "edat":
                lo, hi = params["mindate"], params["maxdate"]
                ids = [i for i in ids if lo <= fake.entered[i] <= hi]
            res = {"count": str(len(ids)), "idlist": ids[:int(params.get("retmax", 20))],
                   "querytranslation": f"{params['term']}[All Fields]",
                   "querykey": "1", "webenv": "MCID_living"}
            if params["term"].startswith("bad"):
                res = {"ERROR": "Invalid query"}
            self.send(200, json.dumps({"esearchresult": res}).encode())
            return
        ids = [i for i in params["id"].split(",") if i in fake.articles]
        xml = ("<?xml version=\"1.0\" ?>\n<PubmedArticleSet>\n"
               + "\n".join(fake.articles[i] for i in ids) + "\n</PubmedArticleSet>\n")
        self.send(200, xml.encode(), ctype="text/xml")


@pytest.fixture
def pubmed() -> Iterator[tuple[str, Fake]]:
    fake = Fake()
    fake.articles, fake.entered = {}, {}
    handler = type("LivingHandler", (PubMedHandler,), {"fake": fake})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/entrez/eutils/", fake
    finally:
        httpd.shutdown()
        httpd.server_close()


def publish(fake: Fake, pmid: str, entered: str, *args, **kw) -> None:
    fake.articles[pmid] = article(pmid, *args, **kw)
    fake.entered[pmid] = entered


def client(url: str):
    from metareview.records.pubmed import PubMedClient

    ft = FakeTime()
    return PubMedClient(url, clock=ft.clock, sleep=ft.sleep, timeout=5)


# ----------------------------------------------------------------------------- a project
RELEVANT = "ketamine infusion randomised placebo controlled trial chronic neuropathic pain"
OTHER = "hip fracture surgery outcomes in elderly patients cohort"
EARLIER = [  # (title, pmid, doi, abstract, decision)
    ("Ketamine infusion for chronic neuropathic pain: a randomised trial", "31000001",
     "10.1000/k1", RELEVANT + " relief", "include"),
    ("Intravenous ketamine versus placebo in chronic pain", "31000010", "10.1000/k10",
     RELEVANT + " intravenous", "include"),
    ("Oral ketamine for chronic pain: randomised placebo trial", "31000011", "",
     RELEVANT + " oral", "include"),
    ("Hip fracture surgery in the elderly", "31000012", "10.1000/h12", OTHER, "exclude"),
    ("Outcomes after hip fracture surgery", "31000013", "", OTHER + " mortality", "exclude"),
    ("Elderly patients after hip surgery: a cohort", "31000014", "", OTHER + " rehab",
     "exclude"),
    # from another database: no PMID, a DOI PubMed also has (under a PMID new to the project)
    ("Ketamine and magnesium for neuropathic pain", "", "10.1000/c", RELEVANT, None),
    # no PMID, no DOI: PubMed's copy is a duplicate only de-duplication can find
    ("Subcutaneous ketamine for cancer pain: an open-label study", "", "",
     "subcutaneous ketamine cancer pain open label", None),
    # the same article twice (a cluster before the update) ...
    ("Ketamine lozenges in palliative care", "", "", "lozenge palliative", None),
    ("Ketamine lozenges in palliative care", "", "", "lozenge palliative", None),
    # ... and twice again, which a person split apart (a correction the update must keep)
    ("Ketamine nasal spray for migraine", "", "", "nasal spray migraine", None),
    ("Ketamine nasal spray for migraine", "", "", "nasal spray migraine", None),
]


def earlier_batch() -> ImportBatch:
    recs = tuple(Record(title=t, pmid=p, doi=d, abstract=a, year=2020, journal="Pain",
                        authors=("Jones, A", "Brown, B"))
                 for t, p, d, a, _ in EARLIER)
    return ImportBatch(recs, source="Embase", kind="database", format="ris",
                       filename="earlier.ris", sha256="e" * 64)


@pytest.fixture
def project(tmp_path, db_url) -> Iterator[Project]:
    """A single-screening project with earlier records, their final decisions, a
    de-duplication run with one split, and one saved PubMed search."""
    pr = Project.create(tmp_path / "rv", "living", db_url=db_url, reviewers_required=1)
    pr.add_import(earlier_batch(), actor="ann")
    for rid, (_, _, _, _, decision) in enumerate(EARLIER, 1):
        if decision:
            pr.decide(rid, "title_abstract", "ann", decision)
    pr.dedupe(actor="ann")
    clusters = {c.record_ids for c in pr.dedupe_clusters()}
    assert clusters == {(9, 10), (11, 12)}
    pr.split_record(12, actor="ann")
    add_search(pr, "ketamine AND chronic pain", by="ann", today=dt.date(2026, 10, 1))
    yield pr
    pr.close()


def fill(fake: Fake) -> None:
    """PubMed as the first update finds it."""
    publish(fake, "31000001", "2021/01/05", EARLIER[0][0], doi="10.1000/k1")  # known PMID
    publish(fake, "31000003", "2022/03/01", "Ketamine and magnesium for neuropathic pain",
            doi="10.1000/c", abstract=RELEVANT)  # known DOI
    publish(fake, "31000004", "2023/06/01", "Subcutaneous ketamine for cancer pain: an "
            "open-label study", year=2020, abstract="subcutaneous ketamine cancer pain open "
            "label", authors=("Jones A", "Brown B"))  # a duplicate under a new PMID
    publish(fake, "31000005", "2026/09/01", "Ketamine infusion versus placebo for chronic "
            "neuropathic pain: a randomised controlled trial", abstract=RELEVANT + " new",
            doi="10.1000/n5")
    publish(fake, "31000006", "2026/09/02", "Hip fracture surgery outcomes: a cohort",
            abstract=OTHER + " new")
    publish(fake, "31000007", "2026/09/03", "Esketamine nasal spray randomised placebo trial "
            "in chronic pain", abstract=RELEVANT + " esketamine")
    publish(fake, "31000008", "2026/09/04", "Mortality in elderly patients after hip fracture",
            abstract=OTHER + " mortality rates")


# ----------------------------------------------------------------------------- the update
def test_update_imports_only_new_records_dedupes_and_ranks(project, pubmed):
    url, fake = pubmed
    fill(fake)
    before_runs = len(project.imports())
    res = update_project(project, client=client(url), actor="ann", today=dt.date(2026, 11, 1))

    (run,) = res.runs
    assert (run.search, run.mode, run.found) == ("pubmed-1", "all records (first run)", 7)
    assert (run.known_pmid, run.known_doi, run.imported) == (1, 1, 5)
    # the known PMID is never fetched; everything else is, once
    fetched = [r["params"]["id"] for r in fake.log if r["endpoint"] == "efetch.fcgi"]
    assert fetched == ["31000003,31000004,31000005,31000006,31000007,31000008"]
    esearch = next(r["params"] for r in fake.log if r["endpoint"] == "esearch.fcgi")
    assert "mindate" not in esearch and esearch["term"] == "ketamine AND chronic pain"

    imports = project.imports()
    assert len(imports) == before_runs + 1
    new_import = imports[-1]
    assert new_import["source"] == "PubMed" and new_import["searched_on"] == "2026-11-01"
    assert new_import["filename"] == ("update 1 of 2026-11-01, search pubmed-1 (all records "
                                      "(first run)): ketamine AND chronic pain")
    stored = project.records()
    new_ids = [r for r, s in stored.items() if s.import_id == new_import["id"]]
    assert [stored[r].record.pmid for r in new_ids] == [
        "31000004", "31000005", "31000006", "31000007", "31000008"]

    # de-duplicated against the earlier records: PubMed's copy of record 8 joins it, the
    # earlier cluster stays, and the person's split is made again
    clusters = {c.record_ids for c in project.dedupe_clusters()}
    assert (8, new_ids[0]) in clusters and (9, 10) in clusters
    assert not any({11, 12} <= set(c) for c in clusters)
    assert res.dedupe is not None and res.dedupe.corrections == 1
    assert res.duplicates_of_earlier == 1
    assert list(res.new_records) == new_ids[1:]

    # ranked by the model of every final decision: the same order as model_ranker gives for
    # the one reviewer whose votes are the final decisions (single screening)
    direct = model_ranker()(project, "title_abstract", "ann", new_ids[1:])
    assert [(r.record, r.score) for r in res.ranking] == direct
    assert res.trained_on == (3, 3) and res.ranking_note is None
    top_two = {res.ranking[0].record, res.ranking[1].record}
    assert {stored[r].record.pmid for r in top_two} == {"31000005", "31000007"}
    assert all(a.score >= b.score for a, b in itertools.pairwise(res.ranking))

    # the full ranking as CSV, in the update's folder
    assert res.ranking_csv == project.root / "updates" / "001-2026-11-01" / "ranking.csv"
    with res.ranking_csv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["record"]) for r in rows] == [r.record for r in res.ranking]
    assert rows[0]["search"] == "pubmed-1" and float(rows[0]["score"]) == pytest.approx(
        res.ranking[0].score, rel=1e-5)
    assert res.snapshot is None  # no study data in this project yet: nothing to compare
    log = [a for a in project.audit_log() if a["action"] == "update"]
    assert log[-1]["detail"]["searches"][0]["imported"] == 5
    assert json.loads(json.dumps(res.to_dict()))["imported"] == 5


def test_second_update_asks_for_what_entered_since_and_imports_nothing_new(project, pubmed):
    url, fake = pubmed
    fill(fake)
    update_project(project, client=client(url), today=dt.date(2026, 11, 1))
    n_imports, n_records = len(project.imports()), len(project.records())
    fake.log.clear()

    res = update_project(project, client=client(url), today=dt.date(2026, 11, 2))
    (run,) = res.runs
    assert run.mode == "entered since 2026-11-01"
    (esearch,) = [r["params"] for r in fake.log if r["endpoint"] == "esearch.fcgi"]
    assert (esearch["datetype"], esearch["mindate"], esearch["maxdate"]) == (
        "edat", "2026/11/01", "2026/11/02")
    assert (run.found, run.imported, res.imported, res.number) == (0, 0, 0, 2)
    assert not [r for r in fake.log if r["endpoint"] == "efetch.fcgi"]
    assert (len(project.imports()), len(project.records())) == (n_imports, n_records)
    assert res.dedupe is None and res.ranking == () and res.folder is None

    # a record entered later comes with the next update, and only it is fetched
    publish(fake, "31000009", "2026/11/10", "Ketamine for phantom limb pain: a randomised "
            "trial", abstract=RELEVANT + " phantom")
    fake.log.clear()
    res = update_project(project, client=client(url), today=dt.date(2026, 11, 15))
    (run,) = res.runs
    assert (run.mode, run.found, run.imported) == ("entered since 2026-11-02", 1, 1)
    assert [r["params"]["id"] for r in fake.log if r["endpoint"] == "efetch.fcgi"] == [
        "31000009"]
    assert [r.pmid for r in res.ranking] == ["31000009"]


def test_update_needs_saved_searches_and_stores_nothing_on_a_pubmed_error(tmp_path, pubmed):
    url, fake = pubmed
    fill(fake)
    with Project.create(tmp_path / "p", "p") as pr:
        with pytest.raises(InputError, match=r"searches\.yaml: no saved searches; save one first"):
            update_project(pr, client=client(url))
        add_search(pr, "ketamine", by="ann")
        add_search(pr, "bad query", by="ann")  # well formed here, refused by PubMed
        with pytest.raises(InputError, match=r"^search pubmed-2: PubMed esearch: Invalid "
                                             r"query$"):
            update_project(pr, client=client(url))
        assert pr.imports() == [] and not (pr.root / "updates").exists()
        assert not [a for a in pr.audit_log() if a["action"] == "update"]
        remove_search(pr, "pubmed-2", by="ann")
        assert [s.id for s in load_searches(pr.root)] == ["pubmed-1"]
        res = update_project(pr, client=client(url), today=dt.date(2026, 11, 1))
        assert res.imported == 7 and res.trained_on == (0, 0)
        assert res.ranking_note == "no title/abstract decisions yet"
        assert [r.score for r in res.ranking] == [None] * 7  # import order, not a model's


def test_saved_searches_are_readable_data(tmp_path):
    with Project.create(tmp_path / "p", "p") as pr:
        s = add_search(pr, "ketamine[tiab] AND (pain OR analgesia)", by="ann",
                       mindate="2000", maxdate="2026/12/31", today=dt.date(2026, 12, 6))
        add_search(pr, "'ketamine'/exp", by="bob", source="Embase", database="embase",
                   today=dt.date(2026, 12, 6))
        text = (pr.root / "searches.yaml").read_text(encoding="utf-8")
        assert yaml.safe_load(text)["searches"][0] == {
            "id": "pubmed-1", "source": "PubMed", "database": "pubmed",
            "query": "ketamine[tiab] AND (pain OR analgesia)", "date_type": "pdat",
            "mindate": "2000", "maxdate": "2026/12/31", "added_by": "ann",
            "added_on": "2026-12-06"}
        assert [x.id for x in load_searches(pr.root)] == ["pubmed-1", "embase-1"]
        assert s.limits() == "pdat 2000-2026/12/31"
        with pytest.raises(InputError, match=r"query: '\(' is left open"):
            add_search(pr, "ketamine AND (pain", by="ann")
        with pytest.raises(InputError, match="give both mindate and maxdate"):
            add_search(pr, "ketamine", by="ann", mindate="2000")
        with pytest.raises(InputError, match="a search 'pubmed-1' exists already"):
            add_search(pr, "ketamine", by="ann", search_id="pubmed-1")
        # a hand edit that breaks the file: the line and field
        (pr.root / "searches.yaml").write_text(text.replace("date_type: pdat",
                                                            "date_type: year"))
        with pytest.raises(InputError, match=r"searches\.yaml line 8, field "
                                             r"searches\.0\.date_type: Input should be"):
            load_searches(pr.root)
        actions = [a["action"] for a in pr.audit_log()]
        assert actions.count("search-add") == 2


def test_a_search_with_date_limits_runs_whole_and_keeps_only_new(tmp_path, pubmed):
    url, fake = pubmed
    fill(fake)
    with Project.create(tmp_path / "p", "p") as pr:
        add_search(pr, "ketamine", by="ann", mindate="2000", maxdate="2030")
        first = update_project(pr, client=client(url), today=dt.date(2026, 11, 1))
        again = update_project(pr, client=client(url), today=dt.date(2026, 11, 2))
    assert first.runs[0].imported == 7
    assert again.runs[0].mode == "all records (the search has date limits of its own)"
    assert (again.runs[0].found, again.runs[0].known_pmid, again.imported) == (7, 7, 0)
    esearch = [r["params"] for r in fake.log if r["endpoint"] == "esearch.fcgi"][-1]
    assert (esearch["datetype"], esearch["mindate"], esearch["maxdate"]) == (
        "pdat", "2000", "2030")


# ----------------------------------------------------------------------------- the command line
def test_cli_search_update_and_exit_codes(tmp_path, pubmed):
    url, fake = pubmed
    fill(fake)
    rv = str(tmp_path / "rv")
    assert runner.invoke(app, ["init", rv]).exit_code == 0
    out = runner.invoke(app, ["update", "--review", rv, "--eutils", url])
    assert out.exit_code == 2
    assert out.output.strip().splitlines() == [
        f"metareview: error: {rv}/searches.yaml: no saved searches; save one first "
        "('metareview search add', or the Updates page of the web app)"]
    bad = runner.invoke(app, ["search", "add", "ketamine AND (pain", "--by", "ann",
                              "--review", rv])
    assert bad.exit_code == 2 and bad.output.strip().splitlines() == [
        "metareview: error: search pubmed-1, query: '(' is left open"]
    ok = runner.invoke(app, ["search", "add", "ketamine AND pain", "--by", "ann", "--review",
                             rv, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["id"] == "pubmed-1"

    fake.failures = [(400, b'{"error":"API key invalid"}', {})]
    err = runner.invoke(app, ["update", "--review", rv, "--eutils", url, "--no-progress"])
    assert err.exit_code == 2 and err.output.strip().splitlines() == [
        "metareview: error: search pubmed-1: PubMed esearch.fcgi: HTTP 400: API key invalid"]

    done = runner.invoke(app, ["update", "--review", rv, "--eutils", url, "--no-progress",
                               "--by", "ann", "--top", "3"])
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].startswith("update 1 on ") and lines[0].endswith(
        ": 7 new records imported")
    assert "pubmed-1 (PubMed, all records (first run)): 7 found, 0 known by PMID, 0 by DOI, " \
           "7 imported (import 1)" in done.output
    assert "New records, best ranked first (top 3 of 7)" in done.output
    listed = runner.invoke(app, ["search", "list", "--review", rv])
    assert "last run " in listed.output and "7 found, 7 imported; 7 imported in 1 run" \
        in listed.output
    again = runner.invoke(app, ["update", "--review", rv, "--eutils", url, "--json"])
    assert again.exit_code == 0 and json.loads(again.output)["imported"] == 0
    gone = runner.invoke(app, ["search", "remove", "pubmed-9", "--by", "ann", "--review", rv])
    assert gone.exit_code == 2 and "no search 'pubmed-9' (pubmed-1)" in gone.output


# ----------------------------------------------------------------------------- the change report
TRIGGERS = [
    {"outcome": "Tuberculosis cases", "when": "ci_excludes_mid",
     "action": "revise the recommendation's wording"},
    {"outcome": "tb", "when": "certainty_changes"},
    {"outcome": "Tuberculosis cases", "when": "estimate_moves_by", "by": 0.04},
    {"outcome": "Tuberculosis cases", "when": "estimate_moves_by", "by": 0.05},
    {"outcome": "Tuberculosis cases", "when": "ci_excludes_null"},
    {"outcome": "Tuberculosis cases", "when": "ci_includes_mid"},
]


def bcg_versions(tmp_path: Path) -> tuple[Path, Path]:
    """The BCG review folder with triggers: without one trial (before), and whole (after)."""
    after = tmp_path / "after"
    shutil.copytree(BCG, after)
    proto = yaml.safe_load((after / "protocol.yaml").read_text(encoding="utf-8"))
    proto["triggers"] = TRIGGERS
    (after / "protocol.yaml").write_text(yaml.safe_dump(proto, sort_keys=False,
                                                        allow_unicode=True), encoding="utf-8")
    before = tmp_path / "before"
    shutil.copytree(after, before)
    (before / "studies" / f"{ADDED}.yaml").unlink()
    lines = (before / "arms.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (before / "arms.csv").write_text("".join(x for x in lines if not x.startswith(ADDED + ",")),
                                     encoding="utf-8")
    return before, after


def analyze(rows: list[dict[str, str]], tmp_path: Path, name: str) -> dict:
    """``metareview analyze --measure RR --json`` on these rows of bcg.csv."""
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = runner.invoke(app, ["analyze", str(path), "--measure", "RR", "--method", "REML",
                              "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_change_report_on_bcg_with_one_trial_added(tmp_path):
    before, after = bcg_versions(tmp_path)
    report = compare_reviews(load_folder(before), load_folder(after),
                             before_label="12 trials", after_label="13 trials")
    assert report.studies_added == (ADDED,) and report.studies_removed == ()
    (a,) = report.analyses
    assert (a.key, a.category, a.status) == (
        ("effectiveness", "Tuberculosis cases", None, None), "tb", "changed")

    with BCG_CSV.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[3]["study"] == "Hart & Sutherland 1977"  # dat.bcg row 4, the trial added
    ref = {"before": analyze(rows[:3] + rows[4:], tmp_path, "twelve"),
           "after": analyze(rows, tmp_path, "thirteen")}
    for side, state in (("before", a.before), ("after", a.after)):
        r = ref[side]
        assert state.measure == "RR"
        assert state.estimate == pytest.approx(math.exp(r["estimate"]), rel=1e-9)
        assert state.ci_low == pytest.approx(math.exp(r["ci_low"]), rel=1e-9)
        assert state.ci_high == pytest.approx(math.exp(r["ci_high"]), rel=1e-9)
        assert state.tau2 == pytest.approx(r["tau2"], rel=1e-9)
        assert state.i2 == pytest.approx(r["i2"], rel=1e-9)
        assert state.studies == r["k"]
    # participants: the sum of the four cells of every row analysed
    cells = ("ai", "bi", "ci", "di")
    assert a.after.participants == sum(int(r[c]) for r in rows for c in cells) == 357347
    assert a.before.participants == 357347 - sum(int(rows[3][c]) for c in cells)
    assert (a.before.certainty, a.after.certainty) == ("very low", "very low")
    # metafor 3.8-1 on dat.bcg, rma(measure = "RR", method = "REML"): tau^2 = 0.3132
    assert a.after.tau2 == pytest.approx(0.313243, rel=1e-5)

    # which fired: the interval no longer reaches RR 0.75 (before: up to 0.7541); the
    # estimate moved from 0.5334 to 0.4894 (0.0440: at least 0.04, less than 0.05)
    fired = {(t.index, t.fired) for t in report.triggers}
    assert fired == {(0, True), (1, False), (2, True), (3, False), (4, False), (5, False)}
    t0 = report.triggers[0]
    assert t0.why == ("before: 95% CI 0.3774 to 0.7541 includes 0.75; after: 95% CI 0.3441 to "
                      "0.6962 excludes 0.75 and 1.25 (MID: GRADE's default for ratios (0.75 "
                      "and 1.25))")
    assert report.triggers[2].why == ("estimate 0.5334 → 0.4894, moved by 0.0440 (at least "
                                      "0.04)")
    assert report.triggers[4].why.endswith("(held before too)")
    text = report.summary()
    assert "triggers: 2 of 6 fired" in text
    assert "Action: revise the recommendation's wording" in text
    d = json.loads(json.dumps(report.to_dict()))
    assert d["fired"] == 2 and d["analyses"][0]["before"]["studies"] == 12


def test_changes_command_and_its_html(tmp_path):
    before, after = bcg_versions(tmp_path)
    html = tmp_path / "changes.html"
    out = runner.invoke(app, ["changes", str(before), str(after), "--json", "--html",
                              str(html)])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["fired"] == 2 and data["studies_added"] == [ADDED]
    page = html.read_text(encoding="utf-8")
    assert page.count('class="badge badge-fired"') == 2
    assert "0.4894 [0.3441, 0.6962]" in page and "0.5334 [0.3774, 0.7541]" in page
    assert "<svg" in page and "MID 0.75" in page
    text = runner.invoke(app, ["changes", str(before), str(after)])
    assert text.exit_code == 0 and "triggers: 2 of 6 fired" in text.output
    assert "[FIRED] trigger 1, ci_excludes_mid on Tuberculosis cases" in text.output
    one = runner.invoke(app, ["changes", str(before)])
    assert one.exit_code == 2 and "give the newer version too" in one.output
    nothing = runner.invoke(app, ["changes", "--review", str(tmp_path)])
    assert nothing.exit_code == 2 and nothing.output.startswith("metareview: error: ")


def test_update_saves_the_study_data_the_change_report_compares(tmp_path, pubmed, db_url):
    """A project with the twelve-trial review: the update saves its study data; after the new
    trial's data come in, ``metareview changes --review`` compares the two."""
    url, fake = pubmed
    fill(fake)
    before, after = bcg_versions(tmp_path)
    rv = tmp_path / "rv"
    with Project.create(rv, "bcg", db_url=db_url) as pr:
        pr.import_review(load_folder(before), actor="ann")
        add_search(pr, "BCG vaccine AND tuberculosis", by="ann")
        res = update_project(pr, client=client(url), today=dt.date(2026, 11, 1))
        assert res.snapshot == rv / "updates" / "001-2026-11-01" / "before"
        assert load_folder(res.snapshot).fingerprint() == load_folder(before).fingerprint()
        pr.import_review(load_folder(after), actor="ann")  # the added trial, extracted
    assert snapshot_before(rv) == res.snapshot
    out = runner.invoke(app, ["changes", "--review", str(rv), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["before"] == str(res.snapshot) and data["after"] == "rv (now)"
    assert data["studies_added"] == [ADDED] and data["fired"] == 2
    bad = runner.invoke(app, ["changes", "--review", str(rv), "--update", "7"])
    assert bad.exit_code == 2 and "update 7 saved the study data" in bad.output


# ----------------------------------------------------------------------------- triggers
def test_bad_triggers_give_one_line_naming_the_line(tmp_path):
    _, after = bcg_versions(tmp_path)
    path = after / "protocol.yaml"
    good = path.read_text(encoding="utf-8")
    lines = good.splitlines()
    first = next(i for i, x in enumerate(lines) if x.startswith("triggers:")) + 2  # 1-based

    def refused(old: str, new: str) -> str:
        path.write_text(good.replace(old, new, 1), encoding="utf-8")
        with pytest.raises(InputError) as exc:
            load_folder(after)
        assert "\n" not in str(exc.value)
        return str(exc.value)

    msg = refused("when: ci_excludes_mid", "when: ci_exclude_mid")
    assert msg.startswith(f"{path} line {first + 1}, field triggers.0.when: Input should be "
                          "'ci_excludes_mid'")
    msg = refused("  by: 0.04\n", "")
    assert msg == (f"{path} line {first + 5}, field triggers.2: estimate_moves_by needs by: "
                   "the distance the estimate must move (e.g. by: 0.1)")
    msg = refused("when: certainty_changes", "when: certainty_changes\n  by: 2")
    assert msg.endswith("field triggers.1: by is only read with when: estimate_moves_by, "
                        "not certainty_changes")
    msg = refused("by: 0.04", "by: -0.04")
    assert "field triggers.2.by: Input should be greater than 0" in msg
    msg = refused("- outcome: tb", "- outcome: tuberculosis")
    assert msg.startswith(f"{path} line {first + 3}, field triggers.1.outcome: 'tuberculosis' "
                          "is not an outcome of the review")
    msg = refused("- outcome: tb", "- outcome: tb\n  question: Q9")
    assert msg.startswith(f"{path} line {first + 3}, field triggers.1.question: unknown "
                          "question 'Q9'")


LEVELS = st.sampled_from([None, "very low", "low", "moderate", "high"])


@st.composite
def states(draw) -> AnalysisState | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    ratio = draw(st.booleans())
    null = 1.0 if ratio else 0.0
    grid = st.sampled_from([0.2, 0.5, 0.74, 0.75, 0.9, 1.0, 1.1, 1.25, 1.3, 2.0]) if ratio \
        else st.sampled_from([-3.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
    a, b = sorted(draw(st.lists(grid, min_size=2, max_size=2)))
    est = draw(st.floats(a, b)) if draw(st.booleans()) else None
    mid = ((0.75, 1.25) if ratio else (-1.5, 1.5)) if draw(st.booleans()) else None
    return AnalysisState("RR" if ratio else "MD", est, a if est is not None else None,
                         b if est is not None else None, None, None, 3, 100, draw(LEVELS),
                         null, mid)


@given(before=states(), after=states(),
       when=st.sampled_from(["ci_excludes_mid", "ci_includes_mid", "ci_excludes_null",
                             "ci_includes_null", "certainty_changes", "estimate_moves_by"]),
       by=st.sampled_from([0.01, 0.1, 0.5, 1.0]))
def test_a_trigger_fires_iff_its_condition_holds(before, after, when, by):
    trig = Trigger(outcome="x", when=when, by=by if when == "estimate_moves_by" else None)

    def interval(s):  # (low, high, null, mid) when the state has an interval
        if s is None or s.estimate is None:
            return None
        return s.ci_low, s.ci_high, s.null, s.mid

    def cond(s) -> bool:
        iv = interval(s)
        if iv is None:
            return False
        lo, hi, null, mid = iv
        if when == "ci_excludes_null":
            return hi < null or lo > null
        if when == "ci_includes_null":
            return lo <= null <= hi
        if mid is None:
            return False
        touches = lo <= mid[0] <= hi or lo <= mid[1] <= hi
        return touches if when == "ci_includes_mid" else not touches

    if when == "certainty_changes":
        # a missing analysis has no certainty, like one not graded
        expected = (before and before.certainty) != (after and after.certainty)
    elif when == "estimate_moves_by":
        expected = (before is not None and after is not None and None not in (
            before.estimate, after.estimate) and (
            abs(after.estimate - before.estimate) >= by
            or math.isclose(abs(after.estimate - before.estimate), by, rel_tol=1e-9)))
    else:
        expected = cond(after) and not cond(before)
    assert trigger_holds(trig, before, after) == expected


def test_trigger_on_an_analysis_new_after_the_update():
    """An analysis first pooled after the update has no 'before': its interval conditions
    count as not met then, and its certainty as none."""
    after = AnalysisState("RR", 0.5, 0.3, 0.7, 0.1, 40.0, 3, 300, "low", 1.0, (0.75, 1.25))
    for when, fires in (("ci_excludes_null", True), ("ci_excludes_mid", True),
                        ("ci_includes_mid", False), ("certainty_changes", True)):
        assert trigger_holds(Trigger(outcome="x", when=when), None, after) is fires
    moved = Trigger(outcome="x", when="estimate_moves_by", by=0.1)
    assert not trigger_holds(moved, None, after)
    assert trigger_holds(moved, replace(after, estimate=0.6), after)


def test_the_readme_example(tmp_path):
    """``examples/bcg_living.py`` and ``metareview changes`` print what the README shows."""
    spec = importlib.util.spec_from_file_location("bcg_living",
                                                  ROOT / "examples" / "bcg_living.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before, after = module.bcg_versions(tmp_path / "living")
    out = runner.invoke(app, ["changes", str(before), str(after)])
    assert out.exit_code == 0, out.output
    assert "triggers: 1 of 3 fired" in out.output
    assert ("before: RR 0.5334 [0.3774, 0.7541], tau² 0.2628, I² 90.4%, k = 12, n = 330882, "
            "certainty very low") in out.output
    assert ("after:  RR 0.4894 [0.3441, 0.6962], tau² 0.3132, I² 92.2%, k = 13, n = 357347, "
            "certainty very low") in out.output
