"""Data extraction in the library: the form from the protocol, two blind extractors, the
comparison field by field, consensus written into the study data, every value's history, and
the conversions the form offers (each against worked numbers: the Cochrane Handbook's, the
papers' through metafor's reference values, or identities that define them).

The one-engine test extracts one trial of the BCG review (metadat's dat.bcg) through the
extraction workflow and checks that the pooled risk ratio the review's analyses read equals
what ``metareview analyze`` gives on the same rows, and metafor's. Runs on SQLite and
PostgreSQL (``db_url``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sqlalchemy import text

from metareview.effects.conversions import (
    CONVERSIONS,
    ArmSummary,
    arm_contrasts,
    ci_to_sd,
    combine_groups,
    convert,
    se_to_sd,
    split_shared_control,
)
from metareview.effects.escalc import effect_sizes
from metareview.effects.extraction import conversion_values, derived_effects
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.store import extraction as ex
from metareview.store.extraction import ValueInput as V
from metareview.store.project import Project
from metareview.studies import ReviewData, load_folder
from metareview.synthesis.pooling import pool_arms

ROOT = Path(__file__).resolve().parents[1]
REF = Path(__file__).parent / "reference"
FLAGSHIP = ROOT / "reviews" / "ketamine-chronic-pain"
BCG = ROOT / "reviews" / "bcg-tuberculosis"
TB = "res|tb|> 3 months|1|"


# -- the form ---------------------------------------------------------------------------------


def test_form_from_the_flagship_protocol():
    form = ex.extraction_form(load_folder(FLAGSHIP).protocol)
    ids = [o.id for o in form.outcomes]
    # the arm categories first (dichotomous, pooled under their category), then the PICO's
    assert ids == ["any", "psychotomimetic", "gastrointestinal", "cardiovascular", "responder",
                   "other", "responder_immediate", "pain-intensity", "duration",
                   "event-frequency", "medication-use-including-use-of-opioids", "function",
                   "quality-of-life", "psychological-wellbeing", "return-to-work"]
    any_ae = form.outcome("any")
    assert (any_ae.kind, any_ae.category, any_ae.question, any_ae.multi_arm) == (
        "dichotomous", "any", "Q3", "combine")
    assert any_ae.data_types == ("counts", "proportion", "estimate_ci")
    pain = form.outcome("pain-intensity")
    # the question whose critical outcomes name it; the unit is its first MID's scale
    assert (pain.kind, pain.question, pain.unit, pain.category) == (
        "continuous", "Q1", "0-10 NRS", None)
    assert pain.data_types == ("means", "change", "medians", "estimate_ci")
    assert form.outcome("quality-of-life").unit == "PROMIS T-score"
    assert form.windows == ("immediate/24-48 h", "1-2 weeks", "1-3 months", "> 3 months",
                            "unclear")
    assert form.documents[:2] == ("iscrr2021", "evidence")
    route = form.study_field("route")
    assert (route.label, route.kind) == ("route", "choice") and "sublingual" in route.choices
    assert form.study_field("populations").choices[:2] == ("neuropathic", "CRPS")
    assert form.study_field("questions").choices == ("Q1", "Q2", "Q3", "Q4")
    assert "Pain intensity (Q1, continuous, unit 0-10 NRS)" in form.summary()
    assert json.loads(json.dumps(form.to_dict()))["outcomes"][7]["id"] == "pain-intensity"


def test_keys_name_fields_of_the_form_only():
    form = ex.extraction_form(load_folder(BCG).protocol)
    assert ex.field_label(TB + "arm2|events", form) == (
        "Tuberculosis cases, > 3 months: arm 2 events")
    assert ex.field_label("study|year", form) == "study: publication year"
    for bad, why in (("res|tb|week 9|1|type", "unknown time window"),
                     ("res|nope|> 3 months|1|type", "outcome 'nope' is not on the extraction form"),
                     ("res|tb|> 3 months|10|type", "result slot must be 1 to 9"),
                     (TB + "arm1|weight", "not an arm's number"),
                     ("study|colour", "study field 'colour'"),
                     ("arm|0|name", "arm must be 1 to 8")):
        with pytest.raises(InputError, match=why):
            ex.parse_key(bad, form)


# -- a project with the BCG review less one trial, which is then extracted ------------------------


def _bcg_without(sid: str = "aronson1948") -> ReviewData:
    full = load_folder(BCG)
    return ReviewData(protocol=full.protocol,
                      studies={k: v for k, v in full.studies.items() if k != sid},
                      arms=tuple(a for a in full.arms if a.study != sid))


@pytest.fixture
def bcg(tmp_path, db_url):
    p = Project.create(tmp_path / "rv", "bcg", db_url=db_url)
    p.import_review(_bcg_without())
    p.add_import(ImportBatch((Record(title="BCG vaccination trial", year=1948),), "PubMed",
                             kind="database", format="ris", filename="a.ris", sha256="a"))
    p.link_study(1, "Aronson 1948", by="alice")
    yield p
    p.close()


STUDY = {"study|document": "metadat", "study|location": "dat.bcg row 1",
         "study|label": "Aronson 1948", "study|citation": "Aronson (1948), per dat.bcg",
         "study|year": "1948", "study|kind": "primary study",
         "study|design": "controlled trial, random allocation", "study|arms_design": "parallel",
         "study|population": "Trial participants", "study|populations": "latitude ≥ 40°",
         "study|drug": "BCG vaccine", "study|route": "unclear", "study|regimen": "unclear",
         "study|comparator": "no vaccination", "study|questions": "effectiveness",
         "study|reliability": "I",
         "arm|1|name": "BCG vaccinated", "arm|1|role": "intervention",
         "arm|2|name": "not vaccinated", "arm|2|role": "control",
         TB + "type": "counts", TB + "timepoint": "end of follow-up",
         TB + "definition": "TB positive during the trial",
         TB + "arm1|events": "4", TB + "arm1|total": "123",
         TB + "arm2|events": "11", TB + "arm2|total": "139"}


def _values(changes: dict[str, str] | None = None, **where: str) -> dict[str, V]:
    values = {**STUDY, **(changes or {})}
    return {k: V(v, "participants" if "events" in k or "total" in k else None,
                 where.get("page"), where.get("table", "row 1" if k.startswith("res") else None))
            for k, v in values.items()}


SID = "aronson-1948"


def test_extractors_are_blind_until_both_have_submitted(bcg):
    assert bcg.save_extraction(SID, "ann", _values()) == len(STUDY)
    bcg.save_extraction(SID, "bob", _values({TB + "arm2|events": "12"}))
    # each sees their own values only, also in a field's history
    assert bcg.extraction_values(SID, "ann")[TB + "arm2|events"].value == "11"
    assert bcg.extraction_values(SID, "bob")[TB + "arm2|events"].value == "12"
    assert [h.by for h in bcg.extraction_history(SID, TB + "arm2|events", viewer="ann")] == [
        "ann"]
    assert bcg.extraction_history(SID, TB + "arm2|events", viewer="carol") == []
    with pytest.raises(InputError, match="comparison opens when two extractors have submitted"
                                         r" \(submitted: nobody yet\)"):
        bcg.compare_extraction(SID)
    with pytest.raises(InputError, match="already extracted by ann and bob"):
        bcg.save_extraction(SID, "carol", _values())
    bcg.submit_extraction(SID, "ann")
    with pytest.raises(InputError, match="you submitted your extraction; reopen it"):
        bcg.save_extraction(SID, "ann", _values({TB + "arm2|events": "13"}))
    with pytest.raises(InputError, match=r"\(submitted: ann\)"):
        bcg.compare_extraction(SID)
    bcg.reopen_extraction(SID, "ann")  # allowed: bob has not submitted
    bcg.submit_extraction(SID, "ann")
    bcg.submit_extraction(SID, "bob")
    with pytest.raises(InputError, match="both extractors have submitted"):
        bcg.reopen_extraction(SID, "ann")
    state = bcg.extraction_state(SID)
    assert state.both_submitted and [(e.name, e.submitted, e.values)
                                     for e in state.extractors] == [
        ("ann", True, len(STUDY)), ("bob", True, len(STUDY))]
    # once both have submitted, the history shows everyone's
    assert [h.by for h in bcg.extraction_history(SID, TB + "arm2|events", viewer="carol")] == [
        "ann", "bob"]


def test_disagreements_are_found_field_by_field(bcg):
    bcg.save_extraction(SID, "ann", _values(page="3"))
    b = _values({TB + "arm2|events": "12", TB + "arm1|total": "123.0",
                 "study|populations": "latitude ≥ 40°"}, page="4")
    b[TB + "arm1|events"] = V("4", "cases", "4", "row 1")  # another unit
    b["study|country"] = V("USA")  # a field only B filled
    # a unit sent with a text field (the form sends the result's unit with each) is dropped
    b[TB + "timepoint"] = V("end of follow-up", "participants", "4", "row 1")
    bcg.save_extraction(SID, "bob", b)
    for who in ("ann", "bob"):
        bcg.submit_extraction(SID, who)
    c = bcg.compare_extraction(SID)
    assert (c.a, c.b) == ("ann", "bob")
    # 123 and 123.0 are one number; where a number was read (page 3 or 4) is not its value
    assert [f.label for f in c.disagreements] == [
        "study: country",
        "Tuberculosis cases, > 3 months: arm 1 events",
        "Tuberculosis cases, > 3 months: arm 2 events"]
    arm2 = c.disagreements[2]
    assert (arm2.a.value, arm2.b.value, arm2.a.location, arm2.b.location) == (
        "11", "12", "p. 3, row 1", "p. 4, row 1")
    assert len(c.fields) == len(STUDY) + 1
    assert c.fields[0].key == "study|document"  # form order: description, arms, results
    assert "3 to settle (ann vs bob)" in c.summary()
    assert c.to_dict()["fields"][-2]["status"] == "differ"  # arm 2 events, then its total
    with pytest.raises(InputError, match=r"3 field\(s\) still differ between ann and bob"):
        bcg.apply_extraction(SID, by="alice")


def _both_submit(p: Project, a: dict[str, V], b: dict[str, V]) -> None:
    p.save_extraction(SID, "ann", a)
    p.save_extraction(SID, "bob", b)
    p.submit_extraction(SID, "ann")
    p.submit_extraction(SID, "bob")


def _analyze(csv: Path, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "metareview.cli", "analyze", str(csv), *args,
                          "--json"], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_consensus_writes_rows_the_analyses_read_and_analyze_agrees(bcg, tmp_path):
    _both_submit(bcg, _values(), _values({TB + "arm2|events": "12"}))
    agreed = bcg.resolve_extraction(SID, TB + "arm2|events", by="alice", choice="A")
    assert (agreed.value, agreed.kind, agreed.choice, agreed.unit) == (
        "11", "consensus", "A", "participants")
    form = bcg.extraction_form()
    data = bcg.apply_extraction(SID, by="alice",
                                effects=derived_effects(form, bcg.compare_extraction(SID)
                                                        .agreed_values()))
    assert data.left_out == ()
    review = bcg.review_data()
    assert review.studies[SID].label == "Aronson 1948"
    rows = [r for r in review.arms if r.study == SID]
    assert [(r.arm, r.role, r.events, r.total, r.window, r.source, r.reliability)
            for r in rows] == [
        ("BCG vaccinated", "intervention", 4, 123, "> 3 months", "metadat row 1", "V"),
        ("not vaccinated", "control", 11, 139, "> 3 months", "metadat row 1", "V")]
    assert rows[0].notes == "extracted in duplicate, agreed by alice"
    assert bcg.extraction_state(SID).applied_by == "alice"
    # one engine: the review's pooled RR is what `metareview analyze` gives on the same rows
    # (the 13 trials of dat.bcg again), and what metafor gives
    pooled = pool_arms(review)[0].ratio
    pairs = {}
    for r in review.arms:
        pairs.setdefault(r.study, {})[r.role] = r
    csv = tmp_path / "same-rows.csv"
    pd.DataFrame([{"study": review.studies[s].label, "ai": a["intervention"].events,
                   "n1i": a["intervention"].total, "ci": a["control"].events,
                   "n2i": a["control"].total} for s, a in sorted(pairs.items())]).to_csv(
        csv, index=False)
    cli = _analyze(csv, "--measure", "RR", "--method", "REML")
    assert cli["k"] == pooled.k == 13
    for key in ("estimate", "se", "ci_low", "ci_high", "tau2", "i2", "q"):
        assert cli[key] == pytest.approx(getattr(pooled, key), rel=1e-12), key
    # reference: metafor 3.8-1, tests/reference/metafor_reference.json, bcg/RR/REML/z
    ref = next(r for r in json.loads((REF / "metafor_reference.json").read_text())["rma"]
               if r["id"] == "bcg/RR/REML/z")
    assert pooled.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert pooled.tau2 == pytest.approx(ref["tau2"], rel=1e-6)
    # closed: nothing more is entered, settled or written
    with pytest.raises(InputError, match="extraction is closed"):
        bcg.save_extraction(SID, "ann", _values())
    with pytest.raises(InputError, match="written already"):
        bcg.apply_extraction(SID, by="alice")
    with pytest.raises(InputError, match="written already"):
        bcg.resolve_extraction(SID, TB + "arm2|events", by="alice", choice="B")


def test_a_typed_agreed_value_needs_a_reason_when_it_differs_from_both(bcg):
    _both_submit(bcg, _values(), _values({TB + "arm2|events": "12"}))
    key = TB + "arm2|events"
    with pytest.raises(InputError, match="differs from both extractors'; say why"):
        bcg.resolve_extraction(SID, key, by="alice", choice="entered", entered=V("13"))
    with pytest.raises(InputError, match="not a number"):
        bcg.resolve_extraction(SID, key, by="alice", choice="entered", entered=V("a lot"),
                               reason="x")
    with pytest.raises(InputError, match="choose A, B or a typed value"):
        bcg.resolve_extraction(SID, key, by="alice", choice="C")
    bcg.resolve_extraction(SID, key, by="alice", choice="entered", entered=V("12"))  # = B's
    got = bcg.resolve_extraction(SID, key, by="alice", choice="entered",
                                 entered=V("13", "participants"),
                                 reason="Table 2 of the full report gives 13")
    assert (got.value, got.choice, got.reason) == ("13", "entered",
                                                    "Table 2 of the full report gives 13")
    f = next(f for f in bcg.compare_extraction(SID).fields if f.key == key)
    assert (f.status, f.agreed.value) == ("resolved", "13")
    bcg.apply_extraction(SID, by="alice")
    assert [r.events for r in bcg.review_data().arms if r.study == SID] == [4, 13]


def test_history_keeps_every_value_and_the_database_refuses_to_rewrite_it(bcg):
    key = TB + "arm1|events"
    bcg.save_extraction(SID, "ann", _values())
    assert bcg.save_extraction(SID, "ann", _values()) == 0  # nothing changed, nothing stored
    bcg.save_extraction(SID, "ann", {key: V("5", "participants", None, "row 1")})
    bcg.save_extraction(SID, "ann", {key: V("", None)})  # cleared
    bcg.save_extraction(SID, "ann", {key: V("4", "participants", "2", "row 1")})
    hist = bcg.extraction_history(SID, key, viewer="ann")
    assert [(h.value, h.location) for h in hist] == [
        ("4", "row 1"), ("5", "row 1"), (None, ""), ("4", "p. 2, row 1")]
    assert bcg.extraction_values(SID, "ann")[key].value == "4"
    bcg.submit_extraction(SID, "ann")
    for table in ("extraction_value", "extraction_event"):
        for sql in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            with pytest.raises(Exception, match="append-only"), bcg.engine.begin() as c:
                c.execute(text(sql))
    assert len(bcg.extraction_history(SID, key, viewer="ann")) == 4
    actions = [a["action"] for a in bcg.audit_log() if a["action"].startswith("extraction")]
    assert actions == ["extraction-save"] * 4 + ["extraction-submit"]


def test_bad_values_name_their_field_and_store_nothing(bcg):
    for change, message in (
            ({TB + "arm1|events": "four"}, "arm 1 events: not a number"),
            ({TB + "arm1|events": "4.5"}, "a count is a whole number"),
            ({TB + "arm1|total": "-3"}, "cannot be negative"),
            ({TB + "type": "means"}, "'means' is not one of counts, proportion, estimate_ci"),
            ({"study|route": "oral"}, "'oral' is not one of intradermal"),
            ({"study|populations": "latitude ≥ 40°\nMars"}, "'Mars' is not one of"),
            ({"arm|1|role": "placebo"}, "'placebo' is not one of intervention, control")):
        with pytest.raises(InputError, match=message):
            bcg.save_extraction(SID, "ann", _values(change))
    assert bcg.extraction_values(SID, "ann") == {}
    with pytest.raises(InputError, match="study 'nope': no such study"):
        bcg.save_extraction("nope", "ann", _values())
    # a study from the review folder is extracted already: its rows would be added twice
    with pytest.raises(InputError, match="ferguson1949 is in the study data already"):
        bcg.save_extraction("ferguson1949", "ann", _values())


def test_an_agreed_value_the_schema_refuses_is_named_and_nothing_is_written(bcg):
    _both_submit(bcg, _values({TB + "arm1|events": "200"}), _values({TB + "arm1|events":
                                                                     "200"}))
    with pytest.raises(InputError, match=r"arm 1, value: .*events 200 exceed total 123"):
        bcg.apply_extraction(SID, by="alice")
    assert SID not in bcg.review_data().studies
    assert bcg.extraction_state(SID).applied_at is None


def test_a_project_from_0007_upgrades_and_extracts(bcg, tmp_path):
    from alembic import command

    from metareview.store import db

    bcg.decide(1, "title_abstract", "ann", "include")
    cfg = db._config()
    with bcg.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    bcg.close()
    again = Project.open(tmp_path / "rv")
    try:
        assert db.current_revision(again.engine) == db.head_revision()
        assert again.own_labels("title_abstract", "ann") == {1: "include"}
        assert again.save_extraction(SID, "ann", _values()) == len(STUDY)
        assert again.check() == []
    finally:
        again.close()


# -- conversions in the form -------------------------------------------------------------------


CONVERSION_REF = json.loads((REF / "conversions.json").read_text())


def _medians(bcg: Project) -> tuple[ex.ExtractionForm, str]:
    """A project whose protocol has a continuous outcome (the flagship's)."""
    bcg.import_review(load_folder(FLAGSHIP))
    bcg.link_study(1, "Trial 2020", by="alice")
    return bcg.extraction_form(), "res|pain-intensity|1-2 weeks|1"


def test_median_and_iqr_become_mean_and_sd_with_the_method_stored(bcg):
    form, res = _medians(bcg)
    # reference: metafor conv.fivenum (Luo 2018 mean, Wan 2014 SD), tests/reference/conversions.R
    row = next(r for r in CONVERSION_REF["fivenum"] if (r["label"], r["scenario"], r["n"]) == (
        "score", "S3", 35))
    given = {"n": row["n"], "median": row["median"], "q1": row["q1"], "q3": row["q3"],
             "min": row["min"], "max": row["max"]}
    sid = "trial-2020"
    base = {"arm|1|name": "ketamine", "arm|1|role": "intervention", f"{res}|type": "medians"}
    base |= {f"{res}|arm1|{k}": str(v) for k, v in given.items()}
    bcg.save_extraction(sid, "ann", {k: V(v) for k, v in base.items()})
    out = conversion_values(form, bcg.extraction_values(sid, "ann"), res,
                            "median_to_mean_sd", 1, {}, page="4", table="Table 2")
    bcg.save_extraction(sid, "ann", out)
    mine = bcg.extraction_values(sid, "ann")
    mean, sd = mine[f"{res}|arm1|mean"], mine[f"{res}|arm1|sd"]
    assert float(mean.value) == pytest.approx(row["mean"], rel=1e-9)
    assert float(sd.value) == pytest.approx(row["sd"], rel=1e-9)
    assert mean.converted_from == {k: float(v) for k, v in given.items()}
    assert "Luo et al. 2018" in mean.method and "Wan et al. 2014" in sd.method
    assert mean.location == "p. 4, Table 2"
    # the same number saved again with the whole form keeps how it was made
    bcg.save_extraction(sid, "ann", {f"{res}|arm1|mean": V(mean.value, None, "4", "Table 2")})
    assert bcg.extraction_values(sid, "ann")[f"{res}|arm1|mean"].method == mean.method
    # typed over, it is a typed value
    bcg.save_extraction(sid, "ann", {f"{res}|arm1|mean": V("50", None, "4", "Table 2")})
    assert bcg.extraction_values(sid, "ann")[f"{res}|arm1|mean"].method is None
    with pytest.raises(InputError, match="choose the arm it fills"):
        conversion_values(form, mine, res, "median_to_mean_sd", None, {})
    with pytest.raises(InputError, match="give se"):
        conversion_values(form, mine, res, "se_to_sd", 1, {})


def test_a_continuous_result_gives_the_md_analyze_gives_on_the_same_numbers(bcg, tmp_path):
    form, res = _medians(bcg)
    sid = "trial-2020"
    arms = {"arm|1|name": "ketamine", "arm|1|role": "intervention",
            "arm|2|name": "placebo", "arm|2|role": "control",
            f"{res}|type": "means", f"{res}|direction": "benefit",
            f"{res}|arm1|mean": "3.1", f"{res}|arm1|sd": "1.9", f"{res}|arm1|n": "21",
            f"{res}|arm2|mean": "4.4", f"{res}|arm2|sd": "2.2", f"{res}|arm2|n": "20"}
    study = {"study|document": "trials", "study|location": "row 7", "study|label": "Trial 2020",
             "study|citation": "Trial 2020", "study|year": "2020",
             "study|kind": "primary study", "study|design": "RCT", "study|arms_design":
             "parallel", "study|population": "adults with CRPS", "study|populations": "CRPS",
             "study|drug": "ketamine", "study|route": "IV", "study|regimen": "multi-day",
             "study|comparator": "placebo", "study|questions": "Q1", "study|reliability": "V"}
    values = {k: V(v, "0-10 NRS" if k.startswith("res") else None, "5",
                   "Table 2" if k.startswith("res") else None)
              for k, v in {**study, **arms}.items()}
    for who in ("ann", "bob"):
        bcg.save_extraction(sid, who, values)
        bcg.submit_extraction(sid, who)
    agreed = bcg.compare_extraction(sid).agreed_values()
    effects = derived_effects(form, agreed)
    data = bcg.apply_extraction(sid, by="alice", effects=effects)
    (row,) = data.outcomes
    assert (row.measure, row.comparison, row.question, row.outcome, row.window,
            row.n_participants, row.scale, row.source, row.reliability) == (
        "MD", "ketamine vs placebo", "Q1", "pain intensity", "1-2 weeks", 41, "0-10 NRS",
        "trials p. 5, Table 2", "I")
    assert "escalc MD" in row.notes
    assert row.reported == ("ketamine: mean 3.1, SD 1.9, N 21; placebo: mean 4.4, SD 2.2, "
                            "N 20")
    stored = next(r for r in bcg.review_data().outcomes if r.study == sid)
    assert stored == row
    csv = tmp_path / "one.csv"
    pd.DataFrame([{"study": "Trial 2020", "m1i": 3.1, "sd1i": 1.9, "n1i": 21, "m2i": 4.4,
                   "sd2i": 2.2, "n2i": 20}]).to_csv(csv, index=False)
    cli = _analyze(csv, "--measure", "MD", "--method", "FE")
    assert (row.estimate, row.ci_low, row.ci_high) == pytest.approx(
        (cli["estimate"], cli["ci_low"], cli["ci_high"]), rel=1e-12)
    assert row.estimate == pytest.approx(-1.3, rel=1e-12)  # 3.1 - 4.4


# -- the conversions themselves -----------------------------------------------------------------


def test_sd_from_the_se_or_ci_of_a_group_mean_handbook_6_5_2_2():
    # SD = SE x sqrt(N)
    assert se_to_sd(1.2, 25) == pytest.approx(6.0, rel=1e-12)
    # large samples: SD = sqrt(N) x (upper - lower) / 3.92 (3.92 = 2 x 1.96, to 4 digits)
    assert ci_to_sd(30.0, 33.92, 25, t=False) == pytest.approx(5.0, rel=2e-4)
    # small samples: 3.92 is replaced by 2 x t(0.975, N - 1); for N = 25 the Handbook gives
    # t = 2.0639 and the divisor 4.128 (to the printed digits)
    t = stats.t.isf(0.025, 24)
    assert 2 * t == pytest.approx(4.128, abs=5e-4)
    assert ci_to_sd(30.0, 34.128, 25) == pytest.approx(5.0, rel=2e-4)
    with pytest.raises(InputError, match="cannot be negative"):
        se_to_sd(-1.0, 10)
    with pytest.raises(InputError, match="sample size must be at least 2"):
        ci_to_sd(1.0, 2.0, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-50, 50), min_size=2, max_size=30),
       st.lists(st.floats(-50, 50), min_size=2, max_size=30))
def test_combining_groups_equals_pooling_their_observations(x, y):
    # Handbook 6.5.2.10 (Table 6.5.a) is exact: the combined N, mean and SD are those of the
    # two groups' observations taken together
    n, m, sd = combine_groups(len(x), np.mean(x), np.std(x, ddof=1),
                              len(y), np.mean(y), np.std(y, ddof=1))
    both = np.array(x + y)
    assert n == len(both)
    assert m == pytest.approx(both.mean(), abs=1e-9)
    assert sd == pytest.approx(both.std(ddof=1), rel=1e-9, abs=1e-9)


def test_a_shared_control_is_split_between_its_comparisons_handbook_23_3_4():
    assert split_shared_control(40, 2, events=10) == (20.0, 5.0)
    assert split_shared_control(30, 3) == (10.0, None)
    with pytest.raises(InputError, match="events \\(50\\) must lie between 0 and the total"):
        split_shared_control(40, 2, events=50)


def test_named_conversions_match_their_reference_numbers():
    # reference: metafor conv.wald (tests/reference/conversions.R)
    for row in CONVERSION_REF["pval"]:
        if row["df"] is None:
            got = convert("p_to_se", {"estimate": row["est"], "p": row["p"]}, ratio=row["ratio"])
            assert got.outputs["se"] == pytest.approx(row["se"], rel=1e-6)
            z = stats.norm.isf(0.025)
            centre = math.log(row["est"]) if row["ratio"] else row["est"]
            lo = centre - z * row["se"]
            assert (math.log(got.outputs["ci_low"]) if row["ratio"]
                    else got.outputs["ci_low"]) == pytest.approx(lo, rel=1e-6)
    for row in CONVERSION_REF["ci"]:
        if row["df"] is None and row["level"] == 95:
            got = convert("ci_to_se", {"ci_low": row["lb"], "ci_high": row["ub"]},
                          ratio=row["ratio"])
            assert got.outputs["se"] == pytest.approx(row["se"], rel=1e-6)
    # every conversion names its method and where it comes from
    for spec in CONVERSIONS.values():
        assert spec.method and ("Handbook" in spec.reference or "Luo" in spec.reference)
    c = convert("combine_subgroups", {"n1": 10, "mean1": 5, "sd1": 1, "n2": 10, "mean2": 7,
                                      "sd2": 1})
    # (9 + 9 + 10 x 10 / 20 x 4) / 19 = 38 / 19 = 2
    assert (c.outputs["n"], c.outputs["mean"], c.outputs["sd"]) == pytest.approx(
        (20, 6, math.sqrt(2)))
    assert "6.5.2.10" in c.summary() and c.to_dict()["inputs"]["n1"] == 10
    with pytest.raises(InputError, match="unknown conversion 'magic'"):
        convert("magic", {})


def test_several_intervention_arms_are_combined_or_split_against_one_control():
    arms = [ArmSummary("low dose", "intervention", 3.0, 1.0, 10),
            ArmSummary("high dose", "intervention", 2.0, 1.5, 12),
            ArmSummary("placebo", "control", 4.0, 1.2, 20)]
    (combined,) = arm_contrasts(arms, multi_arm="combine")
    n, m, sd = combine_groups(10, 3.0, 1.0, 12, 2.0, 1.5)
    es = effect_sizes(pd.DataFrame([{"m1i": m, "sd1i": sd, "n1i": n, "m2i": 4.0, "sd2i": 1.2,
                                     "n2i": 20}]), "MD")
    assert combined.estimate == pytest.approx(es.yi[0], rel=1e-12)
    assert combined.se == pytest.approx(math.sqrt(es.vi[0]), rel=1e-12)
    assert combined.comparison == "low dose + high dose vs placebo"
    assert combined.n_participants == 42 and "intervention arms combined" in combined.method
    low, high = arm_contrasts(arms, multi_arm="split")
    es = effect_sizes(pd.DataFrame([{"m1i": 3.0, "sd1i": 1.0, "n1i": 10, "m2i": 4.0,
                                     "sd2i": 1.2, "n2i": 10}]), "MD")  # control N 20 / 2
    assert low.estimate == pytest.approx(-1.0) and low.se == pytest.approx(
        math.sqrt(es.vi[0]), rel=1e-12)
    assert (low.n_participants, high.n_participants) == (20, 22)
    assert "split between 2 comparisons" in high.method
    (g,) = arm_contrasts(arms[1:], measure="SMD")
    es = effect_sizes(pd.DataFrame([{"m1i": 2.0, "sd1i": 1.5, "n1i": 12, "m2i": 4.0,
                                     "sd2i": 1.2, "n2i": 20}]), "SMD")
    assert g.estimate == pytest.approx(es.yi[0], rel=1e-12)
    with pytest.raises(InputError, match="needs an intervention and a control arm"):
        arm_contrasts(arms[:2])
