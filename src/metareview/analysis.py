"""One analysis from a data file to printed results: what the CLI (and later the web app) runs.

It chains the library's layers (effect sizes, model, subgroups, bias diagnostics, forest plot)
and collects their results; it computes nothing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metareview._util.jsonable import jsonable
from metareview.effects.escalc import effect_sizes
from metareview.effects.io import read_study_table
from metareview.errors import InputError
from metareview.models.inference import Predictions, predict
from metareview.models.rma import MetaAnalysis, meta_analysis
from metareview.models.sandwich import RobustResult, robust
from metareview.models.subgroup import SubgroupAnalysis, subgroup_analysis


@dataclass(frozen=True, eq=False)
class AnalysisReport:
    """The results of :func:`run_analysis`."""

    fit: MetaAnalysis
    subgroups: SubgroupAnalysis | None = None
    bias: dict[str, Any] | None = None
    bias_text: str = ""
    plot: str | None = None
    extra_warnings: tuple[str, ...] = field(default_factory=tuple)
    predictions: tuple[Predictions, ...] = ()
    robust: RobustResult | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON: the fit's fields, plus ``subgroups`` and the bias fields if run."""
        out = self.fit.to_dict()
        if self.subgroups is not None:
            sg = self.subgroups.to_dict()
            out["subgroups"] = {"by": sg["by"], "groups": sg["groups"],
                                "test_for_subgroup_differences":
                                    sg["test_for_subgroup_differences"]}
        if self.bias is not None:
            out.update(self.bias)
        if self.plot is not None:
            out["plot"] = self.plot
        if self.predictions:
            out["predictions"] = [p.to_dict() for p in self.predictions]
        if self.robust is not None:
            # robust_* beside se and p (first coefficient) and beside each coefficient's.
            rob = self.robust.to_dict()
            per = [{"robust_se": c["robust_se"], "robust_df": c["robust_df"],
                    "robust_p": c["robust_p"]} for c in rob["coefficients"]]
            out.update(per[0])
            for c, extra in zip(out.get("coefficients", []), per, strict=False):
                c.update(extra)
            out["robust"] = rob
        return jsonable(out)

    def summary(self) -> str:
        """Readable text: the model, subgroup tests and bias diagnostics."""
        parts = [self.subgroups.summary() if self.subgroups is not None else self.fit.summary()]
        if self.robust is not None:
            parts += ["", self.robust.summary()]
        for p in self.predictions:
            scale = f", back-transformed ({p.transf})" if p.transf else ""
            parts += ["", f"Predicted effects{scale}:", "", p.summary()]
        if self.bias_text:
            parts += ["", self.bias_text]
        if self.plot is not None:
            parts += ["", f"Forest plot written to {self.plot}"]
        return "\n".join(parts)


def run_analysis(
    data: str | Path,
    *,
    measure: str | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 95,
    mods: list[str] | None = None,
    subgroup: str | None = None,
    bias: bool = False,
    plot: str | Path | None = None,
    newmods: Sequence[float] | Sequence[Sequence[float]] | None = None,
    cluster: str | None = None,
    clubsandwich: bool = False,
    random: Sequence[str] | None = None,
    struct: str | Sequence[str] = "CS",
    V: str | Path | None = None,
    rho: float | None = None,
    rho_cluster: str | None = None,
    dfs: str = "residual",
) -> AnalysisReport:
    """Read a study table and run the requested meta-analysis.

    Parameters
    ----------
    data : path
        CSV file with metafor's column names (see :func:`~metareview.effect_sizes`).
    measure : str, optional
        Effect measure; if omitted, ``GEN`` when the file has a ``yi`` column.
    method, test, level, mods
        As :func:`~metareview.meta_analysis`.
    subgroup : str, optional
        Column defining subgroups (adds per-subgroup fits and the test for differences).
    bias : bool
        Run Egger's regression test, the rank correlation test and trim-and-fill on the model.
    plot : path, optional
        Write a forest plot (SVG or PNG by extension).
    newmods : array-like, optional
        Moderator values to predict at (:func:`~metareview.models.inference.predict`): one
        value per prediction with one moderator, else one row per prediction; an empty
        sequence predicts the pooled effect (or each study's fitted value).
    cluster : str, optional
        Column of clusters: add cluster-robust tests of the model (:func:`~metareview.models.
        robust.robust`; metafor's sandwich, or clubSandwich's CR2 with ``clubsandwich``).
    clubsandwich : bool
        With ``cluster``, use CR2 with Satterthwaite df and the HTZ test.
    random : list of str, optional
        Random-effects formulas: fit a multilevel / multivariate model
        (:func:`~metareview.models.multilevel.meta_analysis_mv`, metafor's ``rma.mv``).
    struct, dfs
        As :func:`~metareview.models.multilevel.meta_analysis_mv`.
    V : path, optional
        CSV file with the k x k sampling covariance matrix (one row and one column per
        estimate, in the data's order; a header row is allowed).
    rho : float, optional
        Build ``V`` with :func:`~metareview.effects.covariance.vcalc`: estimates of the same
        cluster (``rho_cluster``, by default the outermost factor of the first random term)
        correlate ``rho``.
    """
    name = str(data)
    df = read_study_table(data)
    if measure is None:
        if "yi" not in df.columns:
            raise InputError(f"{name}: give measure (the file has no yi column to use as is)",
                             parameter="measure")
        measure = "GEN"
    es = effect_sizes(df, measure, source=name)
    if random:
        return _multilevel(es, name, method=method, test=test, level=level, mods=mods,
                           newmods=newmods, cluster=cluster, clubsandwich=clubsandwich,
                           random=list(random), struct=struct, V=V, rho=rho,
                           rho_cluster=rho_cluster, dfs=dfs, others={
                               "subgroup": subgroup, "bias": bias, "plot": plot})
    if V is not None or rho is not None:
        raise InputError("a sampling covariance matrix (V or rho) needs random effects")
    if mods and subgroup:
        raise InputError("use either mods or subgroup, not both")
    if bias and mods:
        raise InputError("bias applies to a model without mods")
    fit = meta_analysis(es, method=method, test=test, level=level, mods=mods)
    sub = subgroup_analysis(es, subgroup, method, test, level) if subgroup else None
    bias_dict: dict[str, Any] | None = None
    bias_text = ""
    if bias:
        bias_dict, bias_text = _bias(fit)
    written = None
    if plot is not None:
        written = _plot(fit, sub, Path(plot))
    preds = _predictions(fit, newmods) if newmods is not None else ()
    rob = robust(fit, cluster, clubsandwich=clubsandwich) if cluster else None
    return AnalysisReport(fit, sub, bias_dict, bias_text, written, predictions=preds, robust=rob)


def _multilevel(es, name: str, *, method, test, level, mods, newmods, cluster, clubsandwich,
                random, struct, V, rho, rho_cluster, dfs, others) -> AnalysisReport:
    """The multilevel branch of :func:`run_analysis`."""
    from metareview.effects.covariance import vcalc
    from metareview.models.multilevel import meta_analysis_mv
    from metareview.models.random_terms import formula_columns

    for option, value in others.items():
        if value:
            raise InputError(f"{option} is not available for multilevel models (random)")
    if V is not None and rho is not None:
        raise InputError("give either V (a matrix file) or rho, not both")
    Vm = None
    if V is not None:
        Vm = read_matrix(V, es.k)
    elif rho is not None:
        named = "named as the cluster of rho"
        if rho_cluster is None:
            # the first formula's outermost factor (its text is enough; the fit reads the data)
            rho_cluster = formula_columns(random[0])[0][2][0]
            named = f"named in the random effects {random[0]!r}"
        if rho_cluster not in es.data.columns:
            raise InputError(f"{name}: no column {rho_cluster} ({named})")
        Vm = vcalc(es.vi, es.data[rho_cluster].astype(str).to_numpy(),
                   obs=list(range(es.k)), rho=float(rho))
    fit = meta_analysis_mv(es, random, V=Vm, struct=struct, method=method, test=test, dfs=dfs,
                           level=level, mods=mods)
    preds = (predict(fit, newmods if len(newmods) else None),) if newmods is not None else ()
    rob = robust(fit, cluster, clubsandwich=clubsandwich) if cluster else None
    return AnalysisReport(fit, predictions=preds, robust=rob)


def read_matrix(path: str | Path, k: int) -> Any:
    """A k x k numeric matrix from a CSV file, checked cell by cell: the error names the file,
    row and column.

    A first row is a header if it has text (R's ``V1, V2, ...``) or is exactly the column
    numbers ``0 .. k-1`` (pandas' ``to_csv``) or ``1 .. k``; any other numeric row is data, so
    a file with a row too many is reported, not cut."""
    import numpy as np
    import pandas as pd

    name = str(path)
    try:
        raw = pd.read_csv(path, header=None, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{name}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{name}: not a readable CSV file ({exc})") from None
    first = 1
    if len(raw):
        head = raw.iloc[0].str.strip()
        numbers = [str(j) for j in range(len(head) + 1)]
        if (pd.to_numeric(head, errors="coerce").isna().any()
                or list(head) in (numbers[:-1], numbers[1:])):
            raw = raw.iloc[1:]
            first = 2
    if raw.shape != (k, k):
        raise InputError(f"{name}: V must be {k} x {k} (one row and column per estimate); "
                         f"the file has {raw.shape[0]} rows and {raw.shape[1]} columns")
    values = raw.apply(lambda col: pd.to_numeric(col.str.strip(), errors="coerce"))
    bad = np.argwhere(values.isna().to_numpy())
    if len(bad):
        i, j = (int(x) for x in bad[0])  # the first bad cell in reading order
        raise InputError(f"{name}, row {i + first}, column {j + 1}: "
                         f"{raw.iloc[i, j]!r} is not a number")
    return values.to_numpy(dtype=float)


def _predictions(fit: MetaAnalysis, newmods: Sequence[float] | Sequence[Sequence[float]]
                 ) -> tuple[Predictions, ...]:
    """Predictions on the analysis scale, and back-transformed for ratio, proportion and
    correlation measures (metafor's ``predict(res, newmods, transf=exp)``)."""
    at = newmods if len(newmods) else None
    out = [predict(fit, at)]
    try:
        bt = predict(fit, at, transf="auto")
    except InputError:  # PFT without sample sizes: no back-transformation
        bt = None
    if bt is not None and bt.transf is not None:
        out.append(bt)
    return tuple(out)


def _bias(fit: MetaAnalysis) -> tuple[dict[str, Any], str]:
    from metareview.diagnostics import ranktest, regtest, trimfill

    if not fit.is_inverse_variance:
        raise InputError("bias needs an inverse-variance model (FE or a tau^2 estimator), "
                         f"not {fit.method}")
    eg = regtest(fit)
    rk = ranktest(fit)
    tf = trimfill(fit)
    out = {
        "egger_z": eg.stat,
        "egger_p": eg.p,
        "rank_tau": rk.tau,
        "rank_p": rk.p,
        "trimfill_k0": tf.k0,
        "trimfill_side": tf.side,
        "trimfill_estimate": tf.fit.estimate,
    }
    text = "\n\n".join(x.summary() for x in (eg, rk, tf))
    return out, text


def _plot(fit: MetaAnalysis, sub: SubgroupAnalysis | None, path: Path) -> str:
    from metareview.report import forest_plot

    if path.suffix.lower() not in (".svg", ".png"):
        raise InputError(f"{path}: plot file must end in .svg or .png")
    if not path.parent.exists():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    forest_plot(fit, path, subgroups=sub)
    return str(path)
