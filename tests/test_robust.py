"""Cluster-robust inference (models.sandwich) against metafor 3.8-1 and clubSandwich 0.5.8.

Reference: tests/reference/robust.R (R 4.2.2, metafor 3.8-1, clubSandwich 0.5.8), which wrote
tests/reference/robust.json: metafor's robust(fit, cluster, adjust = TRUE / FALSE) (CR1 / CR0)
and robust(fit, cluster, clubSandwich = TRUE) (CR2, Satterthwaite df, HTZ Wald test).
Tolerance: rel 1e-6 for every number, including the Satterthwaite and HTZ degrees of freedom
(they agree to about 1e-9 even for the badly conditioned intercept of mods = ~ ablat + year).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import metareview
from metareview.errors import InputError
from metareview.models.sandwich import robust

HERE = Path(__file__).parent
REF = json.loads((HERE / "reference" / "robust.json").read_text())["cases"]
REL = 1e-6


def _bcg() -> pd.DataFrame:
    df = pd.read_csv(HERE / "data" / "dat.bcg.csv")
    df["decade"] = (df["year"] // 10) * 10  # as robust.R: floor(year / 10) * 10
    df["study"] = df["author"] + " " + df["year"].astype(str)
    return df


def _fit(case: str) -> metareview.MetaAnalysis:
    """The fit robust.R makes for a case id '<data>/<cluster>/<mods>[/<method>[/<test>]]'."""
    data, _, mods, *rest = case.split("/")
    method = rest[0] if rest else "REML"
    test = rest[1] if len(rest) > 1 else "z"
    if data == "bcg":
        es = metareview.effect_sizes(_bcg(), "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    else:
        df = pd.read_csv(HERE / "data" / f"dat.{data}.csv")
        df["study"] = [f"{d}/{s}" for d, s in zip(df["district"], df["school"], strict=True)]
        df["d11"] = (df["district"] == 11).astype(float)  # as robust.R
        es = metareview.effect_sizes(df, "GEN")
    return metareview.meta_analysis(es, method=method, test=test,
                                    mods=None if mods == "int" else mods.split("+"))


KINDS = {"CR1": {}, "CR0": {"adjust": False}, "CR2": {"clubsandwich": True}}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", list(REF))
def test_matches_metafor_and_clubsandwich(case: str, kind: str) -> None:
    # reference: tests/reference/robust.json[case][kind], rel 1e-6
    ref = REF[case][kind]
    fit = _fit(case)
    assert fit.coef == pytest.approx(REF[case]["beta"], rel=REL)
    res = robust(fit, case.split("/")[1], **KINDS[kind])
    assert res.vcov_type == kind
    assert res.n_clusters == REF[case]["n_clusters"]
    assert res.robust_se == pytest.approx(ref["se"], rel=REL)
    assert res.robust_stat == pytest.approx(ref["tval"], rel=REL)
    assert res.robust_df == pytest.approx(np.broadcast_to(ref["df"], res.robust_df.shape),
                                          rel=REL)
    assert res.robust_p == pytest.approx(ref["pval"], rel=REL)
    assert res.ci_low == pytest.approx(ref["ci_lb"], rel=REL)
    assert res.ci_high == pytest.approx(ref["ci_ub"], rel=REL)
    assert res.robust_vcov.ravel(order="F") == pytest.approx(ref["vb"], rel=REL)
    assert res.qm == pytest.approx(ref["QM"], rel=REL)
    assert res.qm_df[0] == ref["QMdf"][0]
    assert res.qm_df[1] == pytest.approx(ref["QMdf"][1], rel=REL)
    assert res.qm_p == pytest.approx(ref["QMp"], rel=REL)
    if "HTZ" in ref:
        htz = ref["HTZ"]
        assert res.htz is not None
        assert res.htz.f == pytest.approx(htz["Fstat"], rel=REL)
        assert res.htz.delta == pytest.approx(htz["delta"], rel=REL)
        assert res.htz.df_num == htz["df_num"]
        assert res.htz.df_denom == pytest.approx(htz["df_denom"], rel=REL)
        assert res.htz.p == pytest.approx(htz["p_val"], rel=REL)
    else:
        assert res.htz is None


def test_known_values_read_like_metafor() -> None:
    # reference: robust.Rout, bcg/alloc/ablat: CR2 se 0.09170147, 0.004511553; df 1.68876, 1.51773
    res = robust(_fit("bcg/alloc/ablat"), "alloc", clubsandwich=True)
    assert res.robust_se == pytest.approx([0.09170147, 0.004511553], rel=1e-6)
    assert res.robust_df == pytest.approx([1.68876, 1.51773], rel=1e-5)  # printed to 6 digits
    text = res.summary()
    assert "Number of clusters:    3" in text
    assert "Estimates per cluster: 2-7" in text
    assert "HTZ F(df1 = 1, df2 = 1.52)" in text
    d = res.to_dict()
    assert d["vcov_type"] == "CR2"
    assert d["cluster_sizes"] == {"alternate": 2, "random": 7, "systematic": 4}
    assert [c["name"] for c in d["coefficients"]] == ["intrcpt", "ablat"]
    assert d["coefficients"][1]["robust_df"] == pytest.approx(1.51773, rel=1e-5)
    json.dumps(d, allow_nan=False)


def test_labels_from_a_sequence_equal_the_column() -> None:
    fit = _fit("bcg/decade/ablat")
    by_column = robust(fit, "decade", clubsandwich=True)
    labels = [f"d{int(y) // 10}" for y in fit.effects.data["year"]]
    by_list = robust(fit, labels, clubsandwich=True)
    assert by_list.robust_se == pytest.approx(by_column.robust_se, rel=1e-12)
    assert by_list.robust_df == pytest.approx(by_column.robust_df, rel=1e-12)


def test_bad_clusters_are_input_errors() -> None:
    fit = _fit("bcg/alloc/ablat")
    with pytest.raises(InputError, match="no column nope"):
        robust(fit, "nope")
    with pytest.raises(InputError, match="12 labels for 13 estimates"):
        robust(fit, ["a"] * 12)
    with pytest.raises(InputError, match=r"label of .* is missing"):
        robust(fit, [None] + ["a", "b", "c"] * 4)
    # three clusters for three coefficients: metafor stops too (dfs <= 0)
    fit3 = metareview.meta_analysis(fit.effects, mods=["ablat", "year"])
    with pytest.raises(InputError, match="3 clusters for 3 coefficients"):
        robust(fit3, "alloc")
    df = _bcg()
    df.loc[4, "alloc"] = None
    es = metareview.effect_sizes(df, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg",
                                 source="bcg.csv")
    with pytest.raises(InputError, match=r"bcg.csv row 6 \(.*\), column alloc: the cluster is "
                                          "missing"):
        robust(metareview.meta_analysis(es), "alloc")
    mh = metareview.meta_analysis(fit.effects, method="MH")
    with pytest.raises(InputError, match="inverse-variance"):
        robust(mh, "alloc")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), clubsandwich=st.booleans())
def test_order_and_names_of_clusters_do_not_matter(seed: int, clubsandwich: bool) -> None:
    """Shuffling the studies and renaming the clusters changes no robust result."""
    rng = np.random.default_rng(seed)
    df = _bcg()
    order = rng.permutation(len(df))
    rename = {d: f"c{rng.integers(1000)}_{d}" for d in df["decade"].unique()}
    shuffled = df.iloc[order].assign(decade=lambda x: x["decade"].map(rename))

    def fit_of(frame):
        es = metareview.effect_sizes(frame, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
        return metareview.meta_analysis(es, mods=["ablat"])

    a = robust(fit_of(df), "decade", clubsandwich=clubsandwich)
    b = robust(fit_of(shuffled), "decade", clubsandwich=clubsandwich)
    assert b.robust_se == pytest.approx(a.robust_se, rel=1e-8)
    assert b.robust_df == pytest.approx(a.robust_df, rel=1e-8)
    assert b.qm == pytest.approx(a.qm, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_cr1_is_cr0_times_the_adjustment_and_cr2_is_model_based_without_leverage(
        seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 12
    yi, vi = rng.normal(0, 0.5, k), rng.uniform(0.01, 0.2, k)
    es = metareview.effect_sizes(pd.DataFrame({"study": [f"s{i}" for i in range(k)],
                                               "yi": yi, "vi": vi}), "GEN")
    fit = metareview.meta_analysis(es, method="DL")
    labels = rng.integers(0, 4, k)
    labels[:4] = np.arange(4)  # four clusters
    cr0 = robust(fit, labels, adjust=False)
    cr1 = robust(fit, labels)
    assert cr1.robust_vcov == pytest.approx(cr0.robust_vcov * 4 / 3, rel=1e-12)
    assert cr1.robust_df[0] == 3
    # one study per cluster, every study equally precise and tau^2 = 0 (FE): CR2's A_j is
    # (1 - 1/k)^-1/2, so its variance is CR0's times k / (k - 1)
    same = metareview.effect_sizes(pd.DataFrame({"study": [f"s{i}" for i in range(k)],
                                                 "yi": yi, "vi": np.full(k, 0.1)}), "GEN")
    fe = metareview.meta_analysis(same, method="FE")
    own = np.arange(k)
    assert robust(fe, own, clubsandwich=True).robust_vcov[0, 0] == pytest.approx(
        robust(fe, own, adjust=False).robust_vcov[0, 0] * k / (k - 1), rel=1e-10)
