"""Cluster-robust inference for a fitted model (metafor's ``robust()``).

Two estimators, as metafor 3.8 offers them for ``rma.uni`` fits:

* ``clubsandwich=False`` -- metafor's own sandwich (``robust.rma.uni``): with the fit's
  variance-covariance matrix ``V`` (``vb``, Knapp-Hartung's ``s2w`` included), the bread
  ``B = V X' W`` and the residuals ``e = y - X b``,
  ``V_R = c * sum_j (B_j e_j)(B_j e_j)'`` over clusters ``j``; ``c = n / (n - p)`` with
  ``adjust=True`` (CR1, n clusters, p coefficients) and 1 otherwise (CR0). Tests are t
  tests with ``n - p`` degrees of freedom; moderators are tested with
  ``F = b' V_R^-1 b / m`` on ``(m, n - p)`` degrees of freedom.
* ``clubsandwich=True`` -- clubSandwich 0.5.8's CR2 (bias-reduced linearisation, Bell &
  McCaffrey 2002; Tipton 2015; Pustejovsky & Tipton 2018) with the fit's weights
  ``W = 1 / (v_i + tau^2)`` as working model: ``A_j = D_j (D_j (Theta_j - X_j M X_j') D_j)^-1/2
  D_j`` with ``Theta_j = W_j^-1``, ``D_j = Theta_j^1/2`` and ``M = (X' W X)^-1``;
  ``V_R = M [sum_j X_j' W_j A_j e_j e_j' A_j W_j X_j] M``. Each coefficient is tested
  with Satterthwaite degrees of freedom (``coef_test(test = "Satterthwaite")``), its CI uses
  the same df, and the moderators are tested with the HTZ test (``Wald_test(test = "HTZ")``:
  Hotelling's T^2 approximation, Tipton & Pustejovsky 2015).

Clusters are blocks: the work is per cluster (batched over clusters of equal size), never a
k x k matrix; the Satterthwaite and HTZ degrees of freedom use J x J arrays (J clusters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from metareview._util import html as _html
from metareview._util.jsonable import jsonable
from metareview._util.textfmt import printout_num, printout_p, signif_stars
from metareview.errors import InputError
from metareview.models.kinds import is_multilevel
from metareview.models.result import MetaAnalysis

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True)
class HTZTest:
    """clubSandwich's HTZ Wald test of several coefficients (all zero).

    ``f`` is the scaled statistic ``delta * Q / q`` with ``delta = (nu - q + 1) / nu``; it is
    referred to an F distribution on ``(df_num, df_denom) = (q, nu - q + 1)``.
    """

    f: float
    delta: float
    df_num: int
    df_denom: float
    p: float
    coefficients: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return jsonable({"f": self.f, "delta": self.delta, "df_num": self.df_num,
                         "df_denom": self.df_denom, "p": self.p,
                         "coefficients": list(self.coefficients)})


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust tests of a model's coefficients (metafor's ``robust.rma`` object).

    Attributes
    ----------
    vcov_type : str
        ``"CR0"``, ``"CR1"`` (metafor's sandwich without / with the n / (n - p) factor) or
        ``"CR2"`` (clubSandwich).
    clusters : tuple of str
        The cluster labels, sorted; ``cluster_sizes`` counts the estimates in each.
    robust_se, robust_stat, robust_df, robust_p, ci_low, ci_high : ndarray
        Per coefficient: robust SE, t statistic, degrees of freedom (``n - p`` for every
        coefficient with CR0/CR1, Satterthwaite's per coefficient with CR2), two-sided p and
        the confidence interval from the t distribution with those df.
    robust_vcov : ndarray
        The p x p cluster-robust variance-covariance matrix.
    qm, qm_df, qm_p : float, tuple, float
        Test of the moderators (of the intercept in an intercept-only model): an F statistic
        on ``qm_df = (m, df2)``; for CR2 with moderators it is the HTZ test's.
    htz : HTZTest or None
        The HTZ test (CR2 with moderators only).
    """

    fit: MetaAnalysis
    vcov_type: str
    clusters: tuple[str, ...]
    cluster_sizes: np.ndarray
    coef_names: tuple[str, ...]
    coef: np.ndarray
    robust_se: np.ndarray
    robust_stat: np.ndarray
    robust_df: np.ndarray
    robust_p: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    robust_vcov: np.ndarray
    qm: float
    qm_df: tuple[int, float]
    qm_p: float
    htz: HTZTest | None = None

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return len(self.clusters)

    @property
    def df_method(self) -> str:
        """How the degrees of freedom were found."""
        return "Satterthwaite" if self.vcov_type == "CR2" else "n - p"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the CLI adds them to ``analyze --json``)."""
        return jsonable({
            "vcov_type": self.vcov_type,
            "n_clusters": self.n_clusters,
            "cluster_sizes": {c: int(n) for c, n in zip(self.clusters, self.cluster_sizes,
                                                        strict=True)},
            "df_method": self.df_method,
            "coefficients": [
                {"name": n, "estimate": float(b), "robust_se": float(s), "robust_stat": float(t),
                 "robust_df": float(d), "robust_p": float(p), "ci_low": float(lo),
                 "ci_high": float(hi)}
                for n, b, s, t, d, p, lo, hi in zip(
                    self.coef_names, self.coef, self.robust_se, self.robust_stat, self.robust_df,
                    self.robust_p, self.ci_low, self.ci_high, strict=True)
            ],
            "qm": self.qm, "qm_df": list(self.qm_df), "qm_p": self.qm_p,
            "htz": None if self.htz is None else self.htz.to_dict(),
            "level": self.fit.level,
        })

    def summary(self) -> str:
        """Readable text in the layout of metafor's ``print(robust(res))``."""
        sizes = self.cluster_sizes
        lines = [
            f"Cluster-robust inference ({self.vcov_type}; df: {self.df_method})",
            "",
            f"Number of estimates:   {self.fit.k}",
            f"Number of clusters:    {self.n_clusters}",
            f"Estimates per cluster: {sizes.min()}-{sizes.max()} (mean: {sizes.mean():.2f}, "
            f"median: {np.median(sizes):g})",
            "",
        ]
        m, df2 = self.qm_df
        what = ("coefficient 1" if len(self.coef) == 1
                else f"coefficients 2:{len(self.coef)}" if m > 1 else "coefficient 2")
        test = "HTZ " if self.htz is not None else ""
        lines += [f"Test of Moderators ({what}):" if len(self.coef) > 1
                  else f"Test of the intercept ({what}):",
                  f"{test}F(df1 = {m}, df2 = {_df(df2)}) = {self.qm:.4f}, "
                  f"p-val {printout_p(self.qm_p, bare=False)}", "", "Model Results:", ""]
        names = [str(n) for n in self.coef_names] if len(self.coef) > 1 else [""]
        width = max(len(n) for n in names)
        header = ["estimate", "se", "tval", "df", "pval", "ci.lb", "ci.ub"]
        lines.append(" " * width + " " + " ".join(f"{h:>9}" for h in header))
        for i, name in enumerate(names):
            cells = [f"{printout_num(x):>9}" for x in (self.coef[i], self.robust_se[i],
                                                      self.robust_stat[i])]
            cells += [f"{_df(self.robust_df[i]):>9}", f"{printout_p(self.robust_p[i]):>9}",
                      f"{printout_num(self.ci_low[i]):>9}", f"{printout_num(self.ci_high[i]):>9}"]
            lines.append(f"{name:<{width}} " + " ".join(cells) + " "
                         + signif_stars(self.robust_p[i]))
        lines += ["", "---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1", "",
                  f"Results based on cluster-robust inference (var-cov estimator: "
                  f"{self.vcov_type},",
                  f"approx t/F tests and confidence intervals, df: {self.df_method})."]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        """The summary as compact HTML tables, for notebooks (numbers as :meth:`summary`)."""
        sizes = self.cluster_sizes
        m, df2 = self.qm_df
        what = ("coefficient 1" if len(self.coef) == 1
                else f"coefficients 2:{len(self.coef)}" if m > 1 else "coefficient 2")
        parts = [
            _html.table(["estimates", "clusters", "min per cluster", "max per cluster",
                         "mean", "median"],
                        [[str(self.fit.k), str(self.n_clusters), str(sizes.min()),
                          str(sizes.max()), f"{sizes.mean():.2f}", f"{np.median(sizes):g}"]],
                        row_labels=False, caption="Clusters"),
            _html.table([f"{'HTZ ' if self.htz is not None else ''}F", "df1", "df2", "pval"],
                        [[printout_num(self.qm), str(m), _df(df2), printout_p(self.qm_p)]],
                        row_labels=False,
                        caption=(f"Test of moderators ({what})" if len(self.coef) > 1
                                 else f"Test of the intercept ({what})")),
            _html.table(
                ["", "estimate", "se", "tval", "df", "pval", "ci.lb", "ci.ub", ""],
                [[name, *(printout_num(x) for x in (self.coef[i], self.robust_se[i],
                                                    self.robust_stat[i])),
                  _df(self.robust_df[i]), printout_p(self.robust_p[i]),
                  printout_num(self.ci_low[i]), printout_num(self.ci_high[i]),
                  signif_stars(self.robust_p[i])] for i, name in enumerate(self.coef_names)],
                caption="Model results"),
        ]
        return _html.block([f"Cluster-robust inference ({self.vcov_type}; df: {self.df_method})"],
                           parts)


def _df(x: float) -> str:
    """Degrees of freedom as metafor prints them: whole numbers bare, else two decimals."""
    return f"{x:g}" if float(x).is_integer() else f"{x:.2f}"


# ---------------------------------------------------------------------------------------------
def robust(
    fit: MetaAnalysis,
    cluster: str | Sequence[Any] | np.ndarray,
    *,
    clubsandwich: bool = False,
    adjust: bool = True,
) -> RobustResult:
    """Cluster-robust tests and confidence intervals for a model (metafor's ``robust()``).

    Parameters
    ----------
    fit : MetaAnalysis
        An inverse-variance fit (FE or a tau^2 estimator; intercept-only or with moderators).
    cluster : str or sequence
        A column of the fit's data (``fit.effects.data``), or one label per estimate in the
        fit's order. Estimates with the same label form a cluster.
    clubsandwich : bool
        Use clubSandwich's CR2 with Satterthwaite df and the HTZ test (metafor's
        ``robust(..., clubSandwich = TRUE)``) instead of metafor's own sandwich.
    adjust : bool
        Multiply metafor's sandwich by n / (n - p) (CR1; otherwise CR0). Ignored with
        ``clubsandwich=True``.

    Returns
    -------
    RobustResult

    Raises
    ------
    InputError
        A cluster column that is missing, a label that is missing, a length that does not
        match, a model that is not inverse-variance, or no more clusters than coefficients.

    References
    ----------
    Viechtbauer W (2010) metafor, ``robust.rma.uni`` (3.8-1). Pustejovsky JE, Tipton E (2018)
    Small-sample methods for cluster-robust variance estimation and hypothesis testing in
    fixed effects models. J Bus Econ Stat 36:672-683. Tipton E, Pustejovsky JE (2015)
    Small-sample adjustments for tests of moderators and model fit using robust variance
    estimation in meta-regression. J Educ Behav Stat 40:604-634.
    """
    labels = _cluster_labels(fit, cluster)
    clusters, inv, sizes = np.unique(labels, return_inverse=True, return_counts=True)
    n, p = len(clusters), fit.p_coef
    if n - p <= 0:
        raise InputError(f"cluster: {n} cluster{'s' if n != 1 else ''} for {p} "
                         f"coefficient{'s' if p != 1 else ''}; cluster-robust tests need more "
                         "clusters than coefficients")
    X, b = fit.X, fit.coef
    multilevel = is_multilevel(fit)
    e = fit.yi - X @ b
    level = fit.level / 100
    # the coefficients of the test of moderators: the fit's own (metafor's x$btt)
    btt = (np.array(fit.btt) - 1 if multilevel else np.arange(1, p) if p > 1 else np.array([0]))
    if multilevel:
        from metareview.models.multilevel_tools import marginal
    else:
        theta = fit.vi + (fit.tau2 if fit.is_random_effects else 0.0)
        w = 1.0 / theta
    if clubsandwich and multilevel:
        vb, df, nu = _cr2_blocks(fit, X, marginal(fit), e, inv, n, btt)
        vtype = "CR2"
    elif clubsandwich:
        vb, df, nu = _cr2(X, w, theta, e, inv, n, btt)
        vtype = "CR2"
    else:
        WX = marginal(fit, inverse=True) @ X if multilevel else X * w[:, None]
        # metafor's bread is the fit's vb (Knapp-Hartung's s2w included) times X'W.
        scores = np.zeros((n, p))
        np.add.at(scores, inv, ((fit.vcov @ WX.T) * e).T)
        vb = scores.T @ scores
        vtype = "CR0"
        if adjust:
            vb *= n / (n - p)
            vtype = "CR1"
        df = np.full(p, float(n - p))
        nu = None
    se = np.sqrt(np.diag(vb))
    tval = b / se
    pval = 2 * special.stdtr(df, -np.abs(tval))  # scipy.special: no scipy.stats import
    crit = special.stdtrit(df, 1 - (1 - level) / 2)
    htz = None
    if p == 1:
        qm, qm_df, qm_p = float(tval[0] ** 2), (1, float(df[0])), float(pval[0])
    elif nu is not None:
        q = len(btt)
        sub = b[btt]
        q_stat = float(sub @ np.linalg.solve(vb[np.ix_(btt, btt)], sub))
        delta = (nu - q + 1) / nu
        df2 = nu - q + 1
        f = delta * q_stat / q
        p_htz = float(special.fdtrc(q, df2, f)) if df2 > 0 else np.nan
        htz = HTZTest(float(f), float(delta), q, float(df2), p_htz,
                      tuple(fit.coef_names[i] for i in btt))
        qm, qm_df, qm_p = max(0.0, float(f)), (q, float(df2)), p_htz
    else:
        m = len(btt)
        sub = b[btt]
        qm = float(sub @ np.linalg.solve(vb[np.ix_(btt, btt)], sub)) / m
        qm_df, qm_p = (m, float(n - p)), float(special.fdtrc(m, n - p, qm))
    return RobustResult(
        fit=fit, vcov_type=vtype, clusters=tuple(str(c) for c in clusters), cluster_sizes=sizes,
        coef_names=fit.coef_names, coef=b, robust_se=se, robust_stat=tval, robust_df=df,
        robust_p=pval, ci_low=b - crit * se, ci_high=b + crit * se, robust_vcov=vb, qm=qm,
        qm_df=qm_df, qm_p=qm_p, htz=htz,
    )


def _cluster_labels(fit: MetaAnalysis, cluster: str | Sequence[Any] | np.ndarray) -> np.ndarray:
    """One string label per estimate, checked (the boundary: names file, row and column)."""
    if not fit.is_inverse_variance:
        raise InputError(f"cluster-robust tests need an inverse-variance model (FE or a tau^2 "
                         f"estimator), not {fit.method}")
    source = fit.effects.source if fit.effects is not None else None
    if isinstance(cluster, str):
        if fit.effects is None or cluster not in fit.effects.data.columns:
            raise InputError(f"{source or 'data'}: no column {cluster} (named as the cluster)")
        raw = fit.effects.data[cluster]
        missing = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            rows = fit.effects.rows
            row = f" row {int(rows[i])}" if len(rows) == fit.k else ""
            raise InputError(f"{source or 'data'}{row} ({fit.study[i]}), column {cluster}: "
                             "the cluster is missing")
        values = raw.to_numpy()
    else:
        values = np.asarray(cluster, dtype=object)
        if values.ndim != 1 or len(values) != fit.k:
            raise InputError(f"cluster: {len(values)} labels for {fit.k} estimates (give one "
                             "label per estimate)")
        bad = [i for i, v in enumerate(values) if v is None or v != v]
        if bad:
            raise InputError(f"cluster: the label of {fit.study[bad[0]]} is missing")
    # Numbers and strings alike become labels; 1 and 1.0 are the same cluster.
    return np.array([_label(v) for v in values])


def _label(v: Any) -> str:
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _cr2_blocks(
    fit: Any, X: np.ndarray, Mfull: sp.csr_matrix, e: np.ndarray, inv: np.ndarray, n: int,
    btt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """CR2 for a multilevel fit: as :func:`_cr2` with each cluster's block ``Theta_j`` of the
    fitted marginal covariance as working model (``W_j = Theta_j^-1``), ``A_j = R_j'
    (R_j (Theta_j - X_j M X_j') R_j')^-1/2 R_j`` with ``Theta_j = R_j' R_j`` (clubSandwich's
    ``CR2`` with ``inverse_var``). Clusters must hold whole blocks of correlated estimates."""
    block = fit.problem.block
    first_cluster = np.zeros(block.max() + 1, dtype=inv.dtype)
    blocks, first_row = np.unique(block, return_index=True)
    first_cluster[blocks] = inv[first_row]
    split = np.flatnonzero(inv != first_cluster[block])
    if len(split):
        raise InputError("cluster: clubSandwich's CR2 needs clusters that hold whole groups "
                         "of correlated estimates (random effects or sampling covariance); "
                         f"estimate {split[0] + 1} is correlated with an estimate of another "
                         "cluster")
    p = X.shape[1]
    M = fit.vcov
    L = np.linalg.cholesky(M)
    meat = np.zeros((n, p))
    U_diag = np.zeros((n, p, p))
    K = np.zeros((n, p, p))
    members = [np.flatnonzero(inv == j) for j in range(n)]
    for j, idx in enumerate(members):
        Th = Mfull[idx][:, idx].toarray()
        Xj, ej = X[idx], e[idx]
        R = np.linalg.cholesky(Th).T  # upper: Th = R'R
        G = R @ (Th - Xj @ M @ Xj.T) @ R.T
        A = R.T @ _inv_sqrt_sym(G[None])[0] @ R
        Wj = np.linalg.inv(Th)
        Uj = A @ Wj @ Xj @ M
        meat[j] = Uj.T @ ej
        U_diag[j] = Uj.T @ Th @ Uj
        K[j] = L.T @ Xj.T @ Uj
    return _satterthwaite_htz(meat, U_diag, K, n, p, btt)


def _inv_sqrt_sym(a: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """Symmetric inverse square root of (a stack of) symmetric matrices.

    As clubSandwich's ``matrix_power(x, -1/2)``: eigenvalues at or below ``tol`` give 0 (a
    generalised inverse), which happens when a cluster holds all the information on a
    coefficient (a dummy moderator that is 1 in one cluster only).
    """
    vals, vecs = np.linalg.eigh(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(vals > tol, 1.0 / np.sqrt(np.where(vals > tol, vals, 1.0)), 0.0)
    return (vecs * root[..., None, :]) @ np.swapaxes(vecs, -1, -2)


def _cr2(
    X: np.ndarray, w: np.ndarray, theta: np.ndarray, e: np.ndarray, inv: np.ndarray, n: int,
    btt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """CR2 variance, Satterthwaite df per coefficient and the HTZ test's nu (with moderators).

    With W = Theta^-1 (clubSandwich's ``inverse_var``), the Satterthwaite array of
    ``get_P_array`` for contrasts c_s, c_t reduces to
    ``P[s, t, i, j] = [i = j] u_si' Theta_i u_tj - k_si' k_tj`` with ``u_sj = A_j W_j X_j M c_s``
    and ``k_sj = L' X_j' u_sj`` (``M = L L'``), so only per-cluster blocks are formed.
    """
    p = X.shape[1]
    # clubSandwich scales the weights to mean 1 (weightMatrix.rma.uni); the results do not
    # depend on it except through the eigenvalue threshold of the inverse square root.
    scale = w.mean()
    w, theta = w / scale, theta * scale
    M = np.linalg.inv((X * w[:, None]).T @ X)
    L = np.linalg.cholesky(M)
    meat_scores = np.zeros((n, p))
    U_diag = np.zeros((n, p, p))  # u' Theta u per cluster, for every pair of coefficients
    K = np.zeros((n, p, p))       # k_j: L' X_j' U_j, columns per coefficient
    members = [np.flatnonzero(inv == j) for j in range(n)]
    by_size: dict[int, list[int]] = {}
    for j, idx in enumerate(members):
        by_size.setdefault(len(idx), []).append(j)
    for size, js in by_size.items():
        idx = np.array([members[j] for j in js])           # (J_s, size)
        Xj, th, wj, ej = X[idx], theta[idx], w[idx], e[idx]  # (J_s, size, p), (J_s, size)
        d = np.sqrt(th)
        h = Xj @ M @ np.swapaxes(Xj, -1, -2)                # X_j M X_j'
        G = d[..., :, None] * (np.eye(size) * th[..., None, :] - h) * d[..., None, :]
        A = d[..., :, None] * _inv_sqrt_sym(G) * d[..., None, :]
        WX = Xj * wj[..., None]
        Uj = A @ WX @ M                                     # (J_s, size, p): A_j W_j X_j M
        meat_scores[js] = np.einsum("jnp,jn->jp", Uj, ej)   # M X_j' W_j A_j e_j
        U_diag[js] = np.einsum("jnp,jn,jnq->jpq", Uj, th, Uj)
        K[js] = L.T @ np.swapaxes(Xj, -1, -2) @ Uj
    return _satterthwaite_htz(meat_scores, U_diag, K, n, p, btt)


def _satterthwaite_htz(meat_scores: np.ndarray, U_diag: np.ndarray, K: np.ndarray, n: int,
                       p: int, btt: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """CR2's variance, Satterthwaite df per coefficient and the HTZ test's nu from the
    per-cluster pieces (see :func:`_cr2`)."""
    vb = meat_scores.T @ meat_scores
    # Satterthwaite per coefficient s: P_s = diag(U_diag[:, s, s]) - K[:, :, s] K[:, :, s]'
    df = np.empty(p)
    for s in range(p):
        P = np.diag(U_diag[:, s, s]) - K[:, :, s] @ K[:, :, s].T
        df[s] = np.trace(P) ** 2 / np.sum(P**2)
    if p == 1:
        return vb, df, None
    C = np.eye(p)[btt]
    q = len(btt)
    dC = np.einsum("sa,jab,tb->stj", C, U_diag, C)         # (q, q, J)
    KC = K @ C.T                                            # (J, p, q)
    P4 = -np.einsum("ias,jat->stij", KC, KC)               # (q, q, J, J)
    P4[:, :, np.arange(n), np.arange(n)] += dC
    omega = np.einsum("stjj->st", P4)
    om = _inv_sqrt_sym(omega)
    B = np.einsum("as,stij,tb->abij", om, P4, om)
    var = (np.einsum("stij,tsij->st", B, B)
           + np.einsum("ssij,ttij->st", B, B))
    return vb, df, float(q * (q + 1) / var.sum())
