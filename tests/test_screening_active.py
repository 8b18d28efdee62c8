"""Active learning (features, classifiers, query strategies, balancing), simulation, plots."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.figure import Figure

from metareview.errors import InputError
from metareview.report.screening_plots import recall_plot, time_to_discovery_plot
from metareview.screening.active import (
    CLASSIFIERS,
    Learner,
    as_label_array,
    balance_weights,
    query_order,
    rank_records,
    record_text,
    tfidf_features,
)
from metareview.screening.simulate import simulate

# A hand-written toy corpus: trials of aspirin after stroke (relevant) against soil science and
# astronomy (irrelevant). Vocabulary separates the two classes completely.
RELEVANT = [
    ("Aspirin after ischaemic stroke: a randomised controlled trial",
     "Patients with acute ischaemic stroke were randomised to aspirin or placebo; recurrent "
     "stroke at six months was the primary outcome."),
    ("Early aspirin for secondary stroke prevention",
     "A randomised trial of aspirin started within 48 hours of stroke onset in hospital patients."),
    ("Low-dose aspirin and recurrent stroke in older patients",
     "Randomised placebo-controlled trial; aspirin reduced recurrent ischaemic stroke."),
    ("Aspirin versus clopidogrel after minor stroke",
     "Patients after minor stroke were randomised; aspirin arm had similar recurrent stroke."),
    ("Stroke recurrence with aspirin: multicentre randomised trial",
     "Aspirin given to stroke patients in a randomised multicentre trial lowered recurrence."),
    ("Aspirin dose and stroke outcome",
     "Randomised comparison of aspirin doses in patients after ischaemic stroke."),
]
IRRELEVANT = [
    ("Nitrogen cycling in agricultural soil", "Soil bacteria fix nitrogen in wheat fields."),
    ("Soil moisture and microbial respiration", "Field measurements of soil carbon fluxes."),
    ("Spectra of distant galaxies", "Redshift survey of galaxies with a ground telescope."),
    ("Exoplanet transits observed from orbit", "Telescope photometry of planetary transits."),
    ("Clay minerals in river sediments", "X-ray diffraction of sediment clay fractions."),
    ("Dark matter halos in dwarf galaxies", "Rotation curves of dwarf galaxies and halos."),
    ("Earthworms and soil structure", "Earthworm burrows change soil porosity in pasture."),
    ("Solar flares and coronal loops", "Imaging of coronal loops during solar flares."),
    ("Phosphorus sorption in volcanic soils", "Sorption isotherms for andisol soil samples."),
    ("Cosmic rays at high altitude", "Detector arrays measure cosmic ray showers on mountains."),
    ("Salinity of irrigated soils", "Irrigation water raises soil salinity in dry regions."),
    ("Globular cluster ages", "Stellar populations date globular clusters in the halo."),
    ("Soil fungi and tree roots", "Mycorrhizal fungi colonise roots in forest soil."),
    ("Meteor showers and comet debris", "Radar counts of meteors from comet dust trails."),
]
# Interleave so that relevant records are not simply the first rows.
CORPUS = [None] * (len(RELEVANT) + len(IRRELEVANT))
Y = np.zeros(len(CORPUS), dtype=int)
_rel_rows = [1, 4, 8, 12, 15, 19]
_r, _i = iter(RELEVANT), iter(IRRELEVANT)
for _k in range(len(CORPUS)):
    CORPUS[_k] = next(_r) if _k in _rel_rows else next(_i)
    Y[_k] = int(_k in _rel_rows)
TEXTS = [record_text(t, a) for t, a in CORPUS]
FEATURES = tfidf_features(TEXTS)


def _labels(known: dict[int, int]) -> np.ndarray:
    out = np.full(len(TEXTS), -1)
    for k, v in known.items():
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------------
# Features and labels
def test_features() -> None:
    assert FEATURES.n_records == len(TEXTS)
    assert np.allclose(np.sqrt(FEATURES.matrix.row_sq_norms()), 1.0)
    assert FEATURES.to_dict()["settings"]["ngram_range"] == (1, 2)
    assert record_text("Title.", None) == "Title."
    assert record_text(None, "") == ""
    with pytest.raises(InputError, match="no records"):
        tfidf_features([])
    with pytest.raises(InputError, match="cannot build"):
        tfidf_features(["", " "])


def test_label_forms() -> None:
    a = as_label_array({0: True, 3: False}, 5)
    assert a.tolist() == [1, -1, -1, 0, -1]
    assert as_label_array([1, None, -1, 0, False], 5).tolist() == [1, -1, -1, 0, 0]
    with pytest.raises(InputError, match="outside"):
        as_label_array({7: 1}, 5)
    with pytest.raises(InputError, match="record 1 has label 2"):
        as_label_array([0, 2, 1], 3)
    with pytest.raises(InputError, match="3 labels for 4"):
        as_label_array([0, 1, 1], 4)


def test_balance_weights() -> None:
    y = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    for ratio in (1.0, 9.8):
        w = balance_weights(y, ratio)
        # positives carry `ratio` times the negatives' total weight; weights sum to n
        assert w[y == 1].sum() / w[y == 0].sum() == pytest.approx(ratio)
        assert w.sum() == pytest.approx(len(y))
        assert np.ptp(w[y == 1]) == 0 and np.ptp(w[y == 0]) == 0
    assert balance_weights(y, None) is None
    assert Learner("svm", balance=True).ratio == 9.8
    assert Learner("nb", balance=False).ratio is None


def test_learner_validation() -> None:
    with pytest.raises(InputError, match="classifier"):
        Learner(classifier="forest")
    with pytest.raises(InputError, match="query"):
        Learner(query="max")
    with pytest.raises(InputError, match="balance"):
        Learner(balance=-1.0)
    with pytest.raises(InputError, match="regularisation"):
        Learner(regularisation=0.0)


# ---------------------------------------------------------------------------------------------
# Ranking
@pytest.mark.parametrize("classifier", CLASSIFIERS)
@pytest.mark.parametrize("balance", [True, False])
def test_relevant_records_ranked_first(classifier: str, balance: bool) -> None:
    known = {1: 1, 4: 1, 0: 0, 2: 0, 3: 0}
    r = rank_records(FEATURES, _labels(known), classifier=classifier, balance=balance, seed=1)
    assert r.fallback is None and r.n_labelled == 5 and r.n_relevant == 2
    remaining_rel = [k for k in _rel_rows if k not in known]
    assert sorted(r.order[:len(remaining_rel)].tolist()) == remaining_rel
    assert sorted(r.order.tolist()) == [k for k in range(len(TEXTS)) if k not in known]
    assert np.all(np.diff(r.scores) <= 0)  # certainty: best score first
    # mapping input gives the same ranking
    same = rank_records(FEATURES, known, classifier=classifier, balance=balance, seed=1)
    assert same.order.tolist() == r.order.tolist()


def test_texts_or_features_give_the_same_ranking() -> None:
    known = {1: 1, 0: 0}
    a = rank_records(TEXTS, known, seed=3)
    b = rank_records(FEATURES, known, seed=3)
    assert a.order.tolist() == b.order.tolist()
    assert np.allclose(a.scores, b.scores)


def test_uncertainty_and_random_queries() -> None:
    known = {1: 1, 0: 0, 2: 0}
    unc = rank_records(FEATURES, known, query="uncertainty", seed=0)
    assert np.all(np.diff(np.abs(unc.scores)) >= 0)  # closest to the boundary first
    rnd1 = rank_records(FEATURES, known, query="random", seed=5)
    rnd2 = rank_records(FEATURES, known, query="random", seed=5)
    assert rnd1.order.tolist() == rnd2.order.tolist()
    assert sorted(rnd1.order.tolist()) == sorted(unc.order.tolist())


def test_mixed_query() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    top = np.argsort(-scores, kind="stable")
    # p = 1: pure certainty; p = 0: the random permutation drawn first from the same generator
    assert query_order(scores, "mixed", np.random.default_rng(1), 1.0).tolist() == top.tolist()
    perm = np.random.default_rng(2).permutation(200)
    assert query_order(scores, "mixed", np.random.default_rng(2), 0.0).tolist() == perm.tolist()
    mixed = query_order(scores, "mixed", np.random.default_rng(3), 0.95)
    assert sorted(mixed.tolist()) == list(range(200))
    # about 5% of the first 100 picks come from the random list: mostly the top records
    assert len(set(mixed[:100].tolist()) & set(top[:100].tolist())) >= 80
    r = rank_records(FEATURES, {1: 1, 0: 0}, query="mixed", seed=4)
    assert sorted(r.order.tolist()) == [k for k in range(len(TEXTS)) if k not in (0, 1)]


@pytest.mark.parametrize("known, why", [({}, "no records labelled"),
                                        ({1: 1, 4: 1}, "no irrelevant"),
                                        ({0: 0}, "no relevant")])
def test_cold_start_falls_back_to_a_seeded_random_order(known: dict, why: str) -> None:
    a = rank_records(FEATURES, known, seed=11)
    b = rank_records(FEATURES, known, seed=11)
    assert a.fallback is not None and why in a.fallback
    assert a.order.tolist() == b.order.tolist()
    assert sorted(a.order.tolist()) == [k for k in range(len(TEXTS)) if k not in known]
    assert np.all(np.isnan(a.scores))
    assert a.to_dict()["scores"][0] is None and "random order" in a.summary()


# ---------------------------------------------------------------------------------------------
# Simulation
def test_simulation_is_deterministic_per_seed() -> None:
    a = simulate(FEATURES, Y, seeds=(0, 1))
    b = simulate(FEATURES, Y, seeds=(0, 1))
    for ra, rb in zip(a.runs, b.runs, strict=True):
        assert ra.prior == rb.prior and ra.order.tolist() == rb.order.tolist()
    run = a.runs[0]
    assert sorted(run.order.tolist() + list(run.prior)) == list(range(len(Y)))
    assert run.labels_in_order.tolist() == Y[run.order].tolist()
    assert Y[list(run.prior)].tolist() == [1, 0]
    # separable corpus: every relevant record comes first, so loss is 0
    # (recall at 25% = 4 of 18 records: 4 of the 5 relevant ones)
    assert run.metrics.loss == 0.0 and run.metrics.recall[0.25] == 0.8
    assert run.metrics.recall[0.5] == 1.0
    assert run.n_screened == 5  # stopped at the last of the 5 non-prior relevant records
    assert a.runs[0].prior != a.runs[1].prior
    assert a.mean_metrics()["loss"]["mean"] == 0.0
    assert "Simulation" in a.summary() and a.to_dict()["runs"][0]["seed"] == 0


def test_simulation_replays_rank_records() -> None:
    # The simulation's shortcut (partial sort of the top batch) must give exactly the order of
    # retraining with rank_records and taking its first record each time.
    y = Y.copy()
    y[[3, 7]] = 1  # make it harder: two irrelevant-looking records count as relevant
    for clf in CLASSIFIERS:
        res = simulate(FEATURES, y, seeds=(2,), classifier=clf, stop_at_last_relevant=False,
                       growth=0)
        run = res.runs[0]
        known = {int(k): int(y[k]) for k in run.prior}
        replay = []
        while len(known) < len(y):
            nxt = int(rank_records(FEATURES, known, classifier=clf, seed=2).order[0])
            replay.append(nxt)
            known[nxt] = int(y[nxt])
        assert run.order.tolist() == replay, clf


def test_simulation_options() -> None:
    calls: list[tuple[int, int]] = []
    res = simulate(TEXTS, Y, seeds=(0, 1, 2), batch_size=3, classifier="nb",
                   progress=lambda done, total: calls.append((done, total)))
    n_rest = len(Y) - 2
    assert calls[-1] == (3 * n_rest, 3 * n_rest)
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(calls))
    assert all(r.n_retrains <= -(-n_rest // 3) for r in res.runs)
    full = simulate(FEATURES, Y, seeds=(0,), stop_at_last_relevant=False)
    early = simulate(FEATURES, Y, seeds=(0,))
    assert full.runs[0].n_screened == n_rest > early.runs[0].n_screened
    assert full.runs[0].labels_in_order.tolist() == early.runs[0].labels_in_order.tolist()
    mixed = simulate(FEATURES, Y, seeds=(0,), query="mixed")
    assert sorted(mixed.runs[0].order.tolist()) == sorted(early.runs[0].order.tolist())
    rnd = simulate(FEATURES, Y, seeds=(0,), query="random")
    assert rnd.runs[0].n_retrains == 0 and rnd.runs[0].prior == early.runs[0].prior
    assert rnd.runs[0].metrics.loss > early.runs[0].metrics.loss


def test_simulation_input_errors() -> None:
    with pytest.raises(InputError, match="need more than"):
        simulate(FEATURES, np.eye(1, len(Y), 0, dtype=int)[0], seeds=(0,))
    with pytest.raises(InputError, match="has no label"):
        simulate(FEATURES, np.where(Y == 1, 1, -1), seeds=(0,))
    with pytest.raises(InputError, match="batch size"):
        simulate(FEATURES, Y, batch_size=0)
    with pytest.raises(InputError, match="priors"):
        simulate(FEATURES, Y, n_prior_excluded=0)


# ---------------------------------------------------------------------------------------------
# Plots
def test_plots(tmp_path) -> None:
    y = Y.copy()
    y[[3, 7]] = 1
    res = simulate(FEATURES, y, seeds=(0, 1))
    fig = recall_plot(res, tmp_path / "recall.svg")
    assert isinstance(fig, Figure) and (tmp_path / "recall.svg").stat().st_size > 0
    ax = fig.axes[0]
    # one curve per seed, the random line, the perfect line and its flat end, the 10% mark
    assert len(ax.lines) == 2 + 4
    perfect = next(ln for ln in ax.lines if ln.get_label() == "perfect screening")
    n = len(res.runs[0].labels_in_order)
    assert perfect.get_xdata()[-1] == pytest.approx(7 / n)  # 7 non-prior relevant records
    fig2 = time_to_discovery_plot(res, tmp_path / "td.png")
    assert (tmp_path / "td.png").stat().st_size > 0
    # one bar per relevant record that is not a prior in at least one seed: all 8 here, as
    # the two seeds drew different relevant priors
    assert res.runs[0].prior[0] != res.runs[1].prior[0]
    assert len(fig2.axes[0].patches) == 8
    recall_plot([res, res], labels=["a", "b"], x_absolute=True, annotate=False)
