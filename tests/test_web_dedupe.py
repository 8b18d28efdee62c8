"""The de-duplication review: clusters side by side, corrected by merge, split and the choice of
the record kept (issue: "de-duplication review showing clusters side by side with merge and
split").

The library half checks that each correction is a new de-duplication run that undo takes back,
that no screening decision is orphaned, that PRISMA's counts follow, and (a property test) that
any sequence of corrections leaves a partition of the records. The web half checks what an owner
sees and does, and tries the attacks: another role, another project, no CSRF token, markup in a
title. Each test runs on SQLite and on PostgreSQL (``db_url``).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.screening.prisma import prisma_counts
from metareview.store.project import DedupeCluster, Project
from metareview.web.accounts import Site
from metareview.web.app import create_app
from tests.test_web import PASSWORD, Browser

TA = "title_abstract"

#: One trial as three databases export it, a second trial twice, and two unrelated records.
TRIAL = "Ketamine infusion for refractory chronic pain: a randomised, placebo-controlled trial"
PUBMED = (
    Record(title=TRIAL, authors=("Alvarez, Maria", "Chen, Li", "Okafor, Ngozi"), year=2021,
           journal="Pain", volume="162", issue="4", pages="1021-1030",
           doi="10.1097/j.pain.0000000000002101", pmid="33021234"),
    Record(title="Oral ketamine and opioid use after spine surgery: a cohort study",
           authors=("Berg, Ole",), year=2019, journal="Anesth Analg", volume="128",
           pages="55-61", doi="10.1213/ane.0000000000003900"),
    Record(title="Soil nitrogen in alpine meadows", authors=("Moser, Hans",), year=2018,
           journal="Oecologia", doi="10.1007/s00442-018-4100-1"),
)
EMBASE = (
    Record(title=TRIAL.upper() + ".", authors=("Alvarez M.", "Chen L.", "Okafor N."),
           year=2021, journal="Pain", volume="162", issue="4", pages="1021-30",
           doi="10.1097/j.pain.0000000000002101"),
    Record(title="Oral ketamine and opioid use after spine surgery: a cohort study",
           authors=("Berg, O.",), year=2019, journal="Anesthesia and Analgesia",
           volume="128", pages="55-61", doi="10.1213/ane.0000000000003900"),
    Record(title="<script>alert('x')</script> & ketamine", authors=("Roe, R",), year=2020,
           journal="J Pain Res", doi="10.2147/jpr.s999999"),
)
CENTRAL = (
    Record(title=TRIAL, authors=("Alvarez M", "Chen L", "Okafor N"), year=2020,
           journal="Pain", volume="162", pages="1021-1030", pmid="33021234"),
)


def _batch(records: tuple[Record, ...], source: str, kind: str = "database") -> ImportBatch:
    return ImportBatch(records, source, kind=kind, format="ris",
                       filename=f"{source.lower()}-2024-05-02.ris", sha256=source)


def _fill(p: Project) -> None:
    """Records 1-3 from PubMed, 4-6 from Embase, 7 from CENTRAL: the trial is 1, 4 and 7, the
    cohort study 2 and 5."""
    for records, source in ((PUBMED, "PubMed"), (EMBASE, "Embase"), (CENTRAL, "CENTRAL")):
        p.add_import(_batch(records, source))


def _partition(p: Project) -> list[tuple[tuple[int, ...], int]]:
    return [(c.record_ids, c.canonical) for c in p.dedupe_clusters()]


def _state(p: Project) -> tuple:
    """Everything a bad correction must leave unchanged."""
    return _partition(p), len(p.audit_log()), p.duplicates()


@pytest.fixture
def review(tmp_path, db_url):
    p = Project.create(tmp_path / "rv", "dedupe review", db_url=db_url)
    _fill(p)
    yield p
    p.close()


# -- library ----------------------------------------------------------------------------------


def test_the_de_duplicator_finds_the_trial_in_three_databases(review):
    review.dedupe(actor="alice")
    clusters = review.dedupe_clusters()
    assert [c.record_ids for c in clusters] == [(1, 4, 7), (2, 5)]
    assert all(isinstance(c, DedupeCluster) for c in clusters)
    assert clusters[0].canonical in (1, 4, 7) and clusters[0].candidates == (1, 4, 7)
    assert clusters[0].to_dict()["duplicates"] == list(clusters[0].duplicates)
    assert clusters[0].summary().startswith(f"cluster {clusters[0].cluster}: record ")


def test_merge_split_keep_and_undo_round_trip(review):
    states = [_partition(review)]
    assert states[0] == []
    first = review.merge_records([2, 5], actor="alice")  # no run yet: the merge makes one
    assert first.record_ids == (2, 5) and first.run_id == 1
    states.append(_partition(review))
    # a record joins a cluster with its whole cluster: 1 and 4 bring 7's cluster along
    review.merge_records([1, 7], actor="alice")
    grown = review.merge_records([4, 1], actor="alice")
    assert grown.record_ids == (1, 4, 7) and grown.cluster == 1
    states += [None, _partition(review)]
    keep = next(r for r in grown.record_ids if r != grown.canonical)
    kept = review.set_canonical(keep, actor="alice")
    assert kept.canonical == keep and kept.cluster == grown.cluster
    assert {r: c for r, c in review.duplicates().items() if r in (1, 4, 7)} == {
        r: keep for r in (1, 4, 7) if r != keep}
    states.append(_partition(review))
    left = review.split_record(keep, actor="alice")  # the kept record leaves: another is kept
    assert left is not None and keep not in left.record_ids and left.canonical != keep
    states.append(_partition(review))
    assert review.split_record(left.canonical, actor="bob") is None  # one left: dissolved
    assert _partition(review) == [((2, 5), first.canonical)]
    # each correction is its own run, named in its parameters and in the audit log
    log = [a for a in review.audit_log() if a["action"].startswith("dedupe-")]
    assert [a["action"] for a in log] == ["dedupe-merge"] * 3 + ["dedupe-canonical"] + [
        "dedupe-split"] * 2
    assert log[-1]["actor"] == "bob" and log[-1]["detail"]["base_run"] == log[-2]["detail"]["run"]
    # undo walks back through every state
    for expected in reversed(states):
        review.undo_dedupe(actor="alice")
        if expected is not None:
            assert _partition(review) == expected
    assert review.dedupe_clusters() == [] and review.duplicates() == {}


def test_finding_duplicates_again_makes_the_corrections_again(review):
    """A re-run starts from all records and then makes people's corrections again, in their
    order, and a second re-run still has them; an undone correction is not made again."""
    review.dedupe(actor="alice")
    review.split_record(7, actor="alice")          # CENTRAL's record: not the same report
    review.merge_records([3, 6], actor="alice")    # two records the rules keep apart
    trial = next(c for c in review.dedupe_clusters() if 1 in c.record_ids)
    other = next(r for r in trial.record_ids if r != trial.canonical)
    review.set_canonical(other, actor="alice")
    review.merge_records([2, 3], actor="alice")
    review.undo_dedupe(actor="alice")              # the last merge is taken back
    before = _partition(review)
    assert ((1, 4), other) in before and any(ids == (3, 6) for ids, _ in before)
    for _ in range(2):
        summary = review.dedupe(actor="bob")
        assert summary.corrections == 3 and summary.to_dict()["corrections"] == 3
        assert "3 manual corrections kept" in summary.summary()
        assert _partition(review) == before
    # with every run undone there is nothing to make again, and the JSON the CLI prints is
    # as before (two re-runs, three corrections, the first run)
    for _ in range(6):
        review.undo_dedupe(actor="alice")
    assert review.dedupe_clusters() == []
    assert "corrections" not in review.dedupe(actor="bob").to_dict()
    assert [c.record_ids for c in review.dedupe_clusters()] == [(1, 4, 7), (2, 5)]


def test_a_record_with_decisions_stays_kept(review):
    review.decide(4, TA, "bob", "include")  # Embase's copy was screened before the merge
    merged = review.merge_records([1, 4, 7], actor="alice")
    assert merged.canonical == 4 and merged.candidates == (4,)
    before = _state(review)
    with pytest.raises(InputError, match=r"record 1 cannot be kept: record 4 .* has screening "
                                         r"decisions"):
        review.set_canonical(1, actor="alice")
    assert _state(review) == before
    # 1 and 7 apart from 4 keep each other; 4's decision still counts
    review.split_record(4, actor="alice")
    assert review.status(TA)[4].votes[0].value == "include"
    # merging two clusters whose kept records were both screened keeps a screened one
    other = review.dedupe_clusters()[0]
    assert other.record_ids == (1, 7)
    review.decide(other.canonical, TA, "bob", "exclude")
    assert review.merge_records([4, 7], actor="alice").canonical in (4, other.canonical)


def test_a_database_record_is_kept_before_one_found_elsewhere(review):
    review.add_import(_batch((Record(title=TRIAL, year=2021, doi=PUBMED[0].doi),),
                             "Trial website", kind="website"))
    merged = review.merge_records([8, 1], actor="alice")
    assert merged.canonical == 1 and 8 not in merged.candidates
    with pytest.raises(InputError, match="from a database or register and it does not"):
        review.set_canonical(8, actor="alice")


def test_prisma_and_eligibility_follow_the_corrections(review):
    def removed() -> int:
        return prisma_counts(review).duplicates

    assert removed() == 0 and len(review.eligible(TA)) == 7
    review.dedupe(actor="alice")
    assert removed() == 3 and len(review.eligible(TA)) == 4
    review.merge_records([3, 6], actor="alice")  # wrongly: two unrelated records
    assert removed() == 4 and len(review.eligible(TA)) == 3 and len(review.status(TA)) == 3
    review.split_record(6, actor="alice")
    assert removed() == 3 and set(review.eligible(TA)) >= {3, 6}
    review.undo_dedupe(actor="alice")
    assert removed() == 4


@pytest.mark.parametrize("action, args, message", [
    ("merge_records", ([1],), "two or more different records"),
    ("merge_records", ([4, 4],), "two or more different records"),
    ("merge_records", ([],), "not none"),
    ("merge_records", ([1, 999],), "record 999: no such record"),
    ("merge_records", ([7, 1],), "already one cluster"),
    ("split_record", (999,), "no such record"),
    ("split_record", (3,), "record 3 is not in a cluster"),
    ("set_canonical", (3,), "record 3 is not in a cluster"),
    ("set_canonical", (1,), "already the record kept"),
])
def test_bad_corrections_raise_and_change_nothing(review, action, args, message):
    review.dedupe(actor="alice")
    if review.duplicates().get(4) != 1:
        review.set_canonical(1, actor="alice")
    before = _state(review)
    with pytest.raises(InputError, match=message):
        getattr(review, action)(*args, actor="alice")
    assert _state(review) == before


_OPS = st.lists(st.one_of(
    st.tuples(st.just("merge"), st.lists(st.integers(1, 8), min_size=1, max_size=3)),
    st.tuples(st.just("split"), st.integers(1, 8)),
    st.tuples(st.just("keep"), st.integers(1, 8)),
    st.tuples(st.just("undo"), st.just(0))), max_size=8)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS)
def test_any_corrections_leave_a_partition(review, ops):
    """Whatever the sequence (the review carries on from the previous example, so from any
    state): each record is in at most one cluster, each cluster has two or more records and
    keeps exactly one, a cluster with a screened record keeps a screened one, and a refused
    correction changes nothing. Record 8 does not exist."""
    if not review.history():  # the first example, before any run
        review.decide(1, TA, "bob", "include")
    for op, arg in ops:
        before = _state(review)
        try:
            if op == "merge":
                review.merge_records(arg, actor="prop")
            elif op == "split":
                review.split_record(arg, actor="prop")
            elif op == "keep":
                review.set_canonical(arg, actor="prop")
            else:
                review.undo_dedupe(actor="prop")
        except InputError:
            assert _state(review) == before
        seen: set[int] = set()
        decided = {h["record"] for h in review.history()}
        for c in review.dedupe_clusters():
            assert len(c.record_ids) >= 2 and c.canonical in c.record_ids
            assert not seen & set(c.record_ids)
            seen |= set(c.record_ids)
            if decided & set(c.record_ids):
                assert c.canonical in decided
        dup = review.duplicates()
        assert set(dup) == seen - {c.canonical for c in review.dedupe_clusters()}
        assert not set(dup) & set(review.eligible(TA))


# -- web --------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, db_url):
    """alice administers ``alpha`` and ``beta``; bob reviews and vera views ``alpha``; olga
    owns ``beta`` only. ``alpha`` holds the seven records of :func:`_fill`."""
    site = Site.open(tmp_path, db_url)
    alice = site.create_user("alice", PASSWORD)
    for slug in ("alpha", "beta"):
        site.create_project(alice, slug, slug.title())
    for name, role, slug in (("bob", "reviewer", "alpha"), ("vera", "viewer", "alpha"),
                             ("olga", "owner", "beta")):
        site.accept(site.invite(alice, slug, role), site.create_user(name, PASSWORD))
    with Project.open(tmp_path / "projects" / "alpha") as p:
        _fill(p)
    site.close()
    app = create_app(tmp_path, site_url=db_url, testing=True)
    yield app
    for worker in app.extensions["metareview_fit_workers"]:
        worker.close()
    app.extensions["metareview_site"].close()


def _as(app, name: str) -> Browser:
    b = Browser(app)
    assert b.sign_in(name).status_code == 302
    return b


def _flash(page: str) -> list[str]:
    return re.findall(r'<p class="flash[^"]*" role="alert">([^<]*)</p>', page)


def _columns(page: str, cluster: int) -> list[str]:
    card = page.split(f'id="cluster-{cluster}"')[1].split("</section>")[0]
    return re.findall(r">Record (\d+)</a>", card)


def test_owner_sees_clusters_side_by_side_with_differences_marked(app):
    a = _as(app, "alice")
    assert "Review duplicates side by side" in a.get("/p/alpha/").text
    r = a.post("/p/alpha/dedupe")
    assert r.status_code == 302 and r.location.endswith("/p/alpha/duplicates")
    page = a.get("/p/alpha/duplicates").text
    assert "<strong>2</strong> clusters of duplicates" in page
    assert "<strong>7</strong> records" in page and "<strong>3</strong> duplicates removed" in page
    assert _flash(page) == ["de-duplication run 1: 7 records, 2 clusters of duplicates, "
                            "3 duplicates removed"]
    trial = re.search(r'id="cluster-(\d+)"', page).group(1)
    cols = _columns(page, int(trial))
    assert sorted(cols) == ["1", "4", "7"]
    card = page.split(f'id="cluster-{trial}"')[1].split("</section>")[0]
    assert card.count('class="badge kept"') == 1 and card.count('class="badge dup"') == 2
    # year (2020 in CENTRAL) and DOI (missing in CENTRAL) differ; the title differs only in
    # case and a full stop, the journal not at all: not marked
    marked = re.findall(r'<tr class="differs">\s*<th scope="row">([^<]+?) <span', card)
    assert {"Year", "DOI", "PMID", "Volume, issue, pages", "Authors"} >= set(marked)
    assert {"Year", "DOI"} <= set(marked) and "Title" not in marked and "Journal" not in marked
    assert "PubMed (database)" in card and "central-2024-05-02.ris" in card
    # owners get the forms; each input has a label
    assert card.count("Not a duplicate (split)") == 3 and card.count("Keep this one") == 2
    assert 'id="merge-form"' in page and '<label for="merge-records">' in page
    assert "Duplicates</a>" in page  # the navigation links here


def test_owner_merges_splits_and_keeps_through_the_forms(app):
    a = _as(app, "alice")
    a.post("/p/alpha/dedupe")
    # merge by typed ids and ticked boxes together
    r = a.post("/p/alpha/duplicates/merge", {"records": "3, #6", "record": "2"})
    assert r.status_code == 302 and "#cluster-" in r.location
    page = a.get(r.location).text
    assert any("merged records 3, 6, 2" in m for m in _flash(page))
    assert "<strong>5</strong> duplicates removed" in page
    merged = int(r.location.rsplit("#cluster-", 1)[1])
    assert sorted(_columns(page, merged)) == ["2", "3", "5", "6"]
    # split one back out
    r = a.post("/p/alpha/duplicates/6/split", {"page": "1"})
    page = a.get(r.location).text
    assert any("record 6 is not a duplicate any more" in m for m in _flash(page))
    assert sorted(_columns(page, merged)) == ["2", "3", "5"]
    # keep another record of the cluster
    kept = page.split(f'id="cluster-{merged}"')[1].split("</section>")[0]
    other = re.search(r'/duplicates/(\d+)/canonical"', kept).group(1)
    r = a.post(f"/p/alpha/duplicates/{other}/canonical", {"page": "1"})
    page = a.get(r.location).text
    assert any(f"record {other} is kept" in m for m in _flash(page))
    assert _columns(page, merged)[0] == other  # the kept record comes first
    # a bad merge is a message, not an error page
    for data in ({"records": "12x"}, {"records": "4"}, {"records": "1, 999"}):
        r = a.post("/p/alpha/duplicates/merge", {**data, "page": "1"})
        assert r.status_code == 302
        assert any(m.startswith(("record", "a merge")) for m in _flash(a.get(r.location).text))
    assert a.post("/p/alpha/duplicates/999/split").status_code == 302
    # undo takes back the last correction
    r = a.post("/p/alpha/dedupe/undo")
    assert r.status_code == 302
    assert _columns(a.get("/p/alpha/duplicates").text, merged)[0] != other


def test_clusters_come_in_pages(app, tmp_path):
    with Project.open(tmp_path / "projects" / "alpha") as p:
        p.add_import(_batch(tuple(Record(title=f"Trial {i} of ketamine", year=2000 + i % 20,
                                         doi=f"10.1000/k{i}") for i in range(30)) * 2, "Scopus"))
        p.dedupe(actor="alice")
        assert len(p.dedupe_clusters()) == 32
    a = _as(app, "alice")
    first, second = a.get("/p/alpha/duplicates").text, a.get("/p/alpha/duplicates?page=2").text
    assert first.count('class="card cluster"') == 25 and second.count('class="card cluster"') == 7
    assert "Page 1 of 2" in first and 'rel="next"' in first and 'rel="prev"' in second
    assert a.get("/p/alpha/duplicates?page=99").status_code == 200  # the last page


def test_viewers_and_reviewers_look_but_do_not_touch(app):
    _as(app, "alice").post("/p/alpha/dedupe")
    for name in ("vera", "bob"):
        b = _as(app, name)
        page = b.get("/p/alpha/duplicates").text
        assert "Cluster" in page and "Record 4" in page
        assert "<form" not in page.split("<main>")[1]  # no correction forms, no merge box
        for path in ("/p/alpha/duplicates/merge", "/p/alpha/duplicates/4/split",
                     "/p/alpha/duplicates/4/canonical", "/p/alpha/dedupe",
                     "/p/alpha/dedupe/undo"):
            assert b.post(path, {"records": "1, 2"}).status_code == 403, (name, path)


def test_a_member_of_another_project_gets_404(app):
    o = _as(app, "olga")
    assert o.get("/p/beta/duplicates").status_code == 200
    assert o.get("/p/alpha/duplicates").status_code == 404
    for path in ("/p/alpha/duplicates/merge", "/p/alpha/duplicates/4/split",
                 "/p/alpha/duplicates/4/canonical", "/p/alpha/dedupe/undo"):
        assert o.post(path, {"records": "1, 4"}).status_code == 404


def test_a_correction_without_the_csrf_token_is_refused(app):
    a = _as(app, "alice")
    a.post("/p/alpha/dedupe")
    a.get("/p/alpha/duplicates")  # shows the run's message once
    before = a.get("/p/alpha/duplicates").text
    for path in ("/p/alpha/duplicates/merge", "/p/alpha/duplicates/4/split",
                 "/p/alpha/duplicates/4/canonical", "/p/alpha/dedupe/undo"):
        assert a.post(path, {"records": "3, 6"}, token=False).status_code == 400
    assert a.get("/p/alpha/duplicates").text == before


def test_markup_in_a_title_is_shown_as_text(app):
    a = _as(app, "alice")
    a.post("/p/alpha/duplicates/merge", {"records": "6, 3"})
    page = a.get("/p/alpha/duplicates").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; ketamine" in page
