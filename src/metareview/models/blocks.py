"""Block algebra for multilevel and multivariate models (the engine under ``rma.mv``).

The marginal covariance of the estimates is ``M = V + sum_b c_b D_b`` (sampling covariance
``V`` plus the random-effects terms of :mod:`metareview.models.random_terms`). Rows that share
no random effect and no sampling covariance are independent, so ``M`` is block-diagonal over
the connected components of that relation. Everything here works per block: blocks are padded
to a few sizes (padding rows have ``y = 0``, ``X = 0``, ``V = 1``, no random effects, so they
change no sum, trace or determinant) and stacked, and each step is one batched matrix
operation per size. No k x k matrix is formed: k = 100,000 estimates in 20,000 clusters cost
20,000 small blocks.

Many models ("groups": independent datasets with the same terms, as in ``batch``) are fitted at
once; block sums within a group use ``np.add.reduceat``.

The variance components are estimated by Fisher scoring on the (restricted) log-likelihood
with an active set for parameters on their bounds (variances at 0, correlations at +-1) and
step halving, the algorithm of Harville (1977) and of metafor's ``rma.uni``; the score and the
expected information are

* ``s_b = -1/2 tr(P D_b) + 1/2 y'P D_b P y`` (REML; ML has ``M^-1`` for ``P`` in the trace),
* ``I_bc = 1/2 tr(P D_b P D_c)`` (ML: with ``M^-1``),

with ``P = M^-1 - M^-1 X (X'M^-1 X)^-1 X'M^-1``; the traces are expanded into block sums and
p x p products, and mapped to the parameters by the Jacobian of ``c``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from metareview.models.random_terms import Param, Term

_LOG2PI = float(np.log(2 * np.pi))
#: padded block sizes: exact up to 8, then steps of about a quarter
_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112,
          128, 160, 192, 224, 256, 320, 384, 448, 512)


def _padded(n: int) -> int:
    for s in _SIZES:
        if n <= s:
            return s
    return int(2 ** np.ceil(np.log2(n)))


@dataclass(eq=False)
class Bucket:
    """Blocks padded to size ``s``, sorted by group."""

    s: int
    rows: np.ndarray  # (nb, s) row index, -1 for padding
    group: np.ndarray  # (nb,)
    y: np.ndarray  # (nb, s)
    X: np.ndarray  # (nb, s, p)
    V: np.ndarray  # (nb, s, s)
    D: np.ndarray  # (nb, B, s, s)
    starts: np.ndarray  # start of each present group's run of blocks
    present: np.ndarray  # the groups present, in order

    def gsum(self, a: np.ndarray, G: int) -> np.ndarray:
        """Sum per group along the first axis (length G)."""
        out = np.zeros((G, *a.shape[1:]))
        if len(self.present) == 1:
            out[self.present[0]] = a.sum(axis=0)
        else:
            out[self.present] = np.add.reduceat(a, self.starts, axis=0)
        return out


class Problem:
    """The data of one or more multilevel models in block form.

    Parameters
    ----------
    y, vi : ndarray
        Estimates and sampling variances (the diagonal of ``V``).
    X : ndarray
        Model matrix (n x p).
    terms : tuple of Term
        Random-effects terms (labels per row; they must not link rows of different groups).
    group : ndarray of int, optional
        Each row's model (0 .. G-1); all rows are one model by default.
    V : scipy.sparse matrix, optional
        Full sampling covariance (its diagonal replaces ``vi``); rows of different groups must
        be uncorrelated.
    """

    def __init__(self, y: np.ndarray, vi: np.ndarray, X: np.ndarray, terms: tuple[Term, ...],
                 group: np.ndarray | None = None, V: sp.spmatrix | None = None) -> None:
        n, p = X.shape
        self.n, self.p = n, p
        self.y, self.X = np.asarray(y, float), np.asarray(X, float)
        self.terms = terms
        self.group = np.zeros(n, dtype=np.int64) if group is None else np.asarray(group, np.int64)
        self.G = int(self.group.max()) + 1 if n else 0
        self.k = np.bincount(self.group, minlength=self.G)
        self.params: tuple[Param, ...] = tuple(p_ for t in terms for p_ in t.params)
        self.R = len(self.params)
        self.B = sum(t.n_basis for t in terms)
        self._basis_off = np.cumsum([0] + [t.n_basis for t in terms])[:-1]
        self._param_off = np.cumsum([0] + [len(t.params) for t in terms])[:-1]
        Voff = None
        if V is not None:
            V = sp.csr_matrix(V)
            vi = V.diagonal()
            Voff = (V - sp.diags(vi)).tocsr()
            Voff.eliminate_zeros()
        self.vi = np.asarray(vi, float)
        self.block = self._components(Voff)
        self._Voff = Voff
        self.rank1 = self._rank1_layout(Voff)
        self.scale = np.bincount(self.group, weights=self.vi, minlength=self.G) / self.k

    def subset(self, idx: np.ndarray) -> Problem:
        """The models ``idx`` (sorted group numbers) as a problem of their own, sharing arrays
        where it can (used to stop working on models that have converged)."""
        idx = np.asarray(idx, dtype=np.int64)
        remap = -np.ones(self.G, dtype=np.int64)
        remap[idx] = np.arange(len(idx))
        sub = object.__new__(Problem)
        sub.__dict__.update({k: v for k, v in self.__dict__.items()
                             if k not in ("buckets", "_ldxx", "rank1")})
        rows = np.flatnonzero(remap[self.group] >= 0)
        sub.n, sub.G = len(rows), len(idx)
        sub.y, sub.X, sub.vi = self.y[rows], self.X[rows], self.vi[rows]
        sub.group = remap[self.group[rows]]
        sub.block = self.block[rows]
        sub.k, sub.scale = self.k[idx], self.scale[idx]
        if hasattr(self, "_ldxx"):
            sub._ldxx = self._ldxx[idx]
        if self.rank1 is not None:
            L = self.rank1
            keep = remap[L["grp"]] >= 0
            sub.rank1 = _rank1_arrays(L["blk"][keep], remap[L["grp"][keep]], L["y"][keep],
                                      L["v"][keep], L["X"][keep], L["XX"][keep])
        else:
            sub.rank1 = None
            out = []
            for bk in self.buckets:
                m = remap[bk.group] >= 0
                if not m.any():
                    continue
                g = remap[bk.group[m]]
                present, starts = np.unique(g, return_index=True)
                out.append(Bucket(bk.s, bk.rows[m], g, bk.y[m], bk.X[m], bk.V[m], bk.D[m],
                                  starts, present))
            sub.buckets = out
        return sub

    @cached_property
    def buckets(self) -> list[Bucket]:
        """The padded blocks (built on first use: rank-one models need none)."""
        return self._buckets(self._Voff)

    def _rank1_layout(self, Voff: sp.spmatrix | None) -> dict | None:
        """Flat layout for models whose blocks are ``diag(d) + sigma2_1 11'``: a random
        intercept for the blocks (the first term), optionally a second ``~ 1 | f`` term whose
        levels are single rows (three-level models with an id per estimate), diagonal ``V``.
        Such blocks are inverted by Sherman-Morrison in O(rows), with no padding."""
        t = self.terms
        if (Voff is not None and Voff.nnz) or not 1 <= len(t) <= 2 \
                or any(x.kind != "sigma" or x.params[0].fixed is not None for x in t):
            return None
        if len(t) == 2:
            _, code = np.unique(t[1].outer.astype(str), return_inverse=True)
            if len(np.unique(self.group * (int(code.max()) + 1) + code)) != self.n:
                return None
        order = np.lexsort((np.arange(self.n), self.block, self.group))
        X = self.X[order]
        return _rank1_arrays(self.block[order], self.group[order], self.y[order],
                             self.vi[order], X, X[:, :, None] * X[:, None, :])

    # ---- structure --------------------------------------------------------------------------
    def _components(self, Voff: sp.spmatrix | None) -> np.ndarray:
        n = self.n
        codes = []
        offset = n
        # a row and the group it belongs to never link: groups are kept apart by prefixing
        for t in self.terms:
            _, lab = np.unique(t.outer.astype(str), return_inverse=True)
            _, c = np.unique(self.group * (int(lab.max()) + 1) + lab, return_inverse=True)
            codes.append(c + offset)
            offset += int(c.max()) + 1
        rows = np.concatenate([np.arange(n)] * len(codes)) if codes else np.zeros(0, int)
        cols = np.concatenate(codes) if codes else np.zeros(0, int)
        A = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(offset, offset)).tocsr()
        if Voff is not None and Voff.nnz:
            Vc = Voff.tocoo()
            A = A + sp.coo_matrix((np.ones(Vc.nnz), (Vc.row, Vc.col)),
                                  shape=(offset, offset)).tocsr()
        _, lab = connected_components(A, directed=False)
        _, block = np.unique(lab[:n], return_inverse=True)
        return block

    def _buckets(self, Voff: sp.spmatrix | None) -> list[Bucket]:
        n, _p = self.n, self.p
        order = np.lexsort((np.arange(n), self.block))
        sizes = np.bincount(self.block)
        nblocks = len(sizes)
        bstart = np.zeros(nblocks, dtype=np.int64)
        np.cumsum(sizes[:-1], out=bstart[1:])
        bgroup = self.group[order[bstart]]
        padded = np.array([_padded(int(s)) for s in sizes])
        out = []
        for s in np.unique(padded):
            ids = np.flatnonzero(padded == s)
            ids = ids[np.argsort(bgroup[ids], kind="stable")]
            nb = len(ids)
            rows = np.full((nb, s), -1, dtype=np.int64)
            pos = np.arange(s)[None, :]
            valid = pos < sizes[ids][:, None]
            src = bstart[ids][:, None] + pos
            rows[valid] = order[src[valid]]
            r0 = np.maximum(rows, 0)
            y = np.where(valid, self.y[r0], 0.0)
            X = np.where(valid[:, :, None], self.X[r0], 0.0)
            V = np.zeros((nb, s, s))
            idx = np.arange(s)
            V[:, idx, idx] = np.where(valid, self.vi[r0], 1.0)
            pair = valid[:, :, None] & valid[:, None, :]
            ni, ii, jj = np.nonzero(pair)
            ri, rj = rows[ni, ii], rows[ni, jj]
            if Voff is not None and Voff.nnz:
                off = ii != jj
                vals = np.asarray(Voff[ri[off], rj[off]]).ravel()
                V[ni[off], ii[off], jj[off]] = vals
            D = np.zeros((nb, self.B, s, s))
            for t, boff in zip(self.terms, self._basis_off, strict=True):
                b = t.pair_basis(ri, rj)
                hit = b >= 0
                D[ni[hit], boff + b[hit], ii[hit], jj[hit]] = 1.0
            g = bgroup[ids]
            present, starts = np.unique(g, return_index=True)
            out.append(Bucket(int(s), rows, g, y, X, V, D, starts, present))
        return out

    # ---- parameters -> covariance coefficients -----------------------------------------------
    def coefficients(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Basis coefficients (G, B) and their Jacobian (G, B, R)."""
        G = theta.shape[0]
        c = np.zeros((G, self.B))
        J = np.zeros((G, self.B, self.R))
        for t, bo, po in zip(self.terms, self._basis_off, self._param_off, strict=True):
            r = len(t.params)
            ct, Jt = t.coefficients(theta[:, po:po + r])
            c[:, bo:bo + t.n_basis] = ct
            J[:, bo:bo + t.n_basis, po:po + r] = Jt
        return c, J

    # ---- the likelihood and its derivatives --------------------------------------------------
    def evaluate(self, theta: np.ndarray, reml: bool, need: int = 2) -> dict[str, np.ndarray]:
        """Log-likelihood, ``beta`` and ``A`` (``need = 0``), and also the score and the
        expected and observed information (``need = 2``, the default).

        ``theta`` is (G, R). Models whose ``M`` is not positive definite get ``ll = -inf``.
        Every per-block quantity is a batched matrix product; the per-block numbers are put
        side by side and summed within groups once per bucket.
        """
        G, p, B = self.G, self.p, self.B
        c, J = self.coefficients(theta)
        pp = p * p
        if self.rank1 is not None:
            return self._assemble(theta, c, J, reml, need, *self._rank1(theta, reml, need))
        first = np.zeros((G, 1 + pp + p))
        bad = np.zeros(G, dtype=bool)
        cache = []
        for bk in self.buckets:
            nb, s_ = len(bk.group), bk.s
            M = bk.V + (c[bk.group][:, None, :] @ bk.D.reshape(nb, B, s_ * s_)).reshape(nb, s_, s_)
            L, ok = _cholesky(M)
            bad[bk.group[~ok]] = True
            ld = 2 * np.log(np.abs(np.diagonal(L, axis1=1, axis2=2))).sum(axis=1)
            Mi = _chol_inv(L)
            MiX = Mi @ bk.X
            Miy = (Mi @ bk.y[:, :, None])[:, :, 0]
            Xt = np.swapaxes(bk.X, 1, 2)
            blk = np.concatenate([ld[:, None], (Xt @ MiX).reshape(nb, pp),
                                  (Xt @ Miy[:, :, None])[:, :, 0]], axis=1)
            first += bk.gsum(blk, G)
            cache.append((Mi, MiX, Miy, Xt))
        logdet = first[:, 0]
        XWX = first[:, 1:1 + pp].reshape(G, p, p)
        XWy = first[:, 1 + pp:]
        A, ldx = _inv_logdet(XWX)
        beta = (A @ XWy[:, :, None])[:, :, 0]
        # pass 2: r' M^-1 r from the residuals (yWy - b'X'Wy cancels badly with uncentred
        # moderators), then the derivatives
        acc = None
        for bk, (Mi, MiX, Miy, Xt) in zip(self.buckets, cache, strict=True):
            nb, s_ = len(bk.group), bk.s
            bg = beta[bk.group][:, :, None]
            Pr = Miy - (MiX @ bg)[:, :, 0]
            r = bk.y - (bk.X @ bg)[:, :, 0]
            parts = [np.einsum("ns,ns->n", r, Pr)[:, None]]
            if need:
                D = bk.D
                Dflat = D.reshape(nb, B, s_ * s_)
                parts.append((Dflat @ Mi.reshape(nb, s_ * s_, 1))[:, :, 0])  # tr(M^-1 D_b)
                DPr = (D @ Pr[:, None, :, None])[..., 0]  # (nb, B, s)
                parts.append((DPr @ Pr[:, :, None])[:, :, 0])  # r'P D_b P r
                DMiX = D @ MiX[:, None]  # (nb, B, s, p)
                parts.append((np.swapaxes(MiX, 1, 2)[:, None] @ DMiX).reshape(nb, B * pp))
                MiUt = Mi @ np.swapaxes(DPr, 1, 2)  # (nb, s, B)
                parts.append((DPr @ MiUt).reshape(nb, B * B))  # u_b' M^-1 u_c
                parts.append((Xt @ MiUt).reshape(nb, p * B))  # X' M^-1 u_b
                MiD = (Mi[:, None] @ D).reshape(nb, B, s_ * s_)
                MiDt = np.swapaxes(Mi[:, None] @ D, 2, 3).reshape(nb, B, s_ * s_)
                parts.append((MiD @ np.swapaxes(MiDt, 1, 2)).reshape(nb, B * B))
                if reml:
                    U = Mi[:, None] @ DMiX  # (nb, B, s, p)
                    W = DMiX @ A[bk.group][:, None]  # (nb, B, s, p)
                    parts.append((W.reshape(nb, B, s_ * p)
                                  @ np.swapaxes(U.reshape(nb, B, s_ * p), 1, 2)
                                  ).reshape(nb, B * B))  # tr(A F_cb)
            blk = np.concatenate(parts, axis=1)
            part = bk.gsum(blk, G)
            acc = part if acc is None else acc + part
        return self._assemble(theta, c, J, reml, need, logdet, ldx, A, beta, acc, bad)

    def _rank1(self, theta: np.ndarray, reml: bool, need: int):
        """The block sums of :meth:`evaluate` for ``M_j = diag(d) + s 11'`` by
        Sherman-Morrison: ``M^-1 = diag(w) - a w w'`` with ``w = 1/d``, ``a = s / (1 + s W)``,
        ``W = sum w``; every product is a weighted sum over the block's rows."""
        L = self.rank1
        G, _p = self.G, self.p
        bst, bgrp, rb, gst = L["bst"], L["bgrp"], L["row_blk"], L["gst"]
        X, y = L["X"], L["y"]

        def bsum(a):
            return np.add.reduceat(a, bst, axis=0)

        def gsum(a):
            return np.add.reduceat(a, gst, axis=0)

        sb = theta[bgrp, 0]
        d = L["v"] + (theta[L["grp"], 1] if self.R == 2 else 0.0)
        bad = np.zeros(G, dtype=bool)
        if (d <= 0).any() or (sb < 0).any():
            bad[L["grp"][d <= 0]] = True
            bad[bgrp[sb < 0]] = True
            d = np.where(d > 0, d, 1.0)
        w = 1.0 / d
        W = bsum(w)
        den = 1.0 + sb * W
        bad[bgrp[den <= 0]] = True
        den = np.where(den > 0, den, 1.0)
        a = sb / den
        wX = w[:, None] * X
        mX = bsum(wX)
        my = bsum(w * y)
        ld = bsum(np.log(d)) + np.log(den)
        XWX = bsum(w[:, None, None] * L["XX"]) - a[:, None, None] * mX[:, :, None] * mX[:, None, :]
        XWy = bsum(wX * y[:, None]) - a[:, None] * mX * my[:, None]
        logdet = gsum(ld)
        A, ldx = _inv_logdet(gsum(XWX))
        beta = (A @ gsum(XWy)[:, :, None])[:, :, 0]
        r = y - np.einsum("np,np->n", X, beta[L["grp"]])
        mr = bsum(w * r)
        rss_b = bsum(w * r * r) - a * mr * mr
        parts = [rss_b[:, None]]
        if need:
            Pr = w * (r - a[rb] * mr[rb])
            q = W / den
            w2 = bsum(w * w)
            t = mr / den
            g = mX / den[:, None]
            K = w[:, None] * (X - (a[:, None] * mX)[rb])
            parts.append(q[:, None] if self.R == 1 else np.column_stack([q, W - a * w2]))
            parts.append((t * t)[:, None] if self.R == 1
                         else np.column_stack([t * t, bsum(Pr * Pr)]))
            H1 = g[:, :, None] * g[:, None, :]
            H = [H1] if self.R == 1 else [H1, bsum(K[:, :, None] * K[:, None, :])]
            parts.append(np.stack(H, axis=1).reshape(len(bst), -1))
            mPr = bsum(w * Pr)
            u11 = t * t * q
            XMu1 = t[:, None] * g
            if self.R == 1:
                uMu = u11[:, None]
                XMu = XMu1[:, :, None]
                T = (q * q)[:, None]
            else:
                u12 = t * mPr / den
                u22 = bsum(w * Pr * Pr) - a * mPr * mPr
                uMu = np.column_stack([u11, u12, u12, u22])
                XMu2 = bsum(wX * Pr[:, None]) - a[:, None] * mX * mPr[:, None]
                XMu = np.stack([XMu1, XMu2], axis=2)
                w3 = bsum(w ** 3)
                T12 = w2 / (den * den)
                T = np.column_stack([q * q, T12, T12, w2 - 2 * a * w3 + a * a * w2 * w2])
            parts += [uMu, XMu.reshape(len(bst), -1), T]
            if reml:
                Ab = A[bgrp]
                gAg = np.einsum("np,npq,nq->n", g, Ab, g)
                if self.R == 1:
                    parts.append((q * gAg)[:, None])
                else:
                    mK = bsum(w[:, None] * K)
                    h = mK / den[:, None]
                    hAg = np.einsum("np,npq,nq->n", h, Ab, g)
                    KAK = bsum(w * np.einsum("np,npq,nq->n", K, A[L["grp"]], K))
                    F22 = KAK - a * np.einsum("np,npq,nq->n", mK, Ab, mK)
                    parts.append(np.column_stack([q * gAg, hAg, hAg, F22]))
        acc = gsum(np.concatenate(parts, axis=1))
        return logdet, ldx, A, beta, acc, bad

    def _assemble(self, theta, c, J, reml, need, logdet, ldx, A, beta, acc, bad):
        """Group-level likelihood, score and information from the summed block quantities."""
        G, p, B = self.G, self.p, self.B
        pp = p * p
        rss = acc[:, 0]
        if reml:
            ll = -0.5 * ((self.k - p) * _LOG2PI - self._logdet_xx() + logdet + ldx + rss)
        else:
            ll = -0.5 * (self.k * _LOG2PI + logdet + rss)
        ll[bad | ~np.isfinite(ll)] = -np.inf
        out = {"ll": ll, "beta": beta, "A": A, "rss": rss, "c": c, "J": J, "bad": bad}
        if not need:
            return out
        pos = 1
        tr, pos = acc[:, pos:pos + B], pos + B
        rDr, pos = acc[:, pos:pos + B], pos + B
        H, pos = acc[:, pos:pos + B * pp].reshape(G, B, p, p), pos + B * pp
        trP = tr - np.einsum("gpq,gbqp->gb", A, H) if reml else tr
        score_c = -0.5 * trP + 0.5 * rDr
        out["score"] = np.einsum("gbr,gb->gr", J, score_c)
        uMu, pos = acc[:, pos:pos + B * B].reshape(G, B, B), pos + B * B
        XMu, pos = acc[:, pos:pos + p * B].reshape(G, p, B), pos + p * B
        T, pos = acc[:, pos:pos + B * B].reshape(G, B, B), pos + B * B
        if reml:
            trAF = acc[:, pos:pos + B * B].reshape(G, B, B)
            AH = A[:, None] @ H
            trAHAH = np.einsum("gbpq,gcqp->gbc", AH, AH)
            info_c = 0.5 * (T - trAF - np.swapaxes(trAF, 1, 2) + trAHAH)
        else:
            info_c = 0.5 * T
        out["info"] = np.swapaxes(J, 1, 2) @ info_c @ J
        # observed information: u_b' P u_c - E_bc with u_b = D_b P y (REML and profiled ML)
        XMut = np.swapaxes(XMu, 1, 2)
        Q = uMu - XMut @ A @ XMu
        obs_c = Q - info_c
        out["observed"] = (np.swapaxes(J, 1, 2) @ obs_c @ J
                           - np.einsum("gb,gbrs->grs", score_c, self.curvature(theta)))
        return out

    def curvature(self, theta: np.ndarray) -> np.ndarray:
        """Second derivatives of the basis coefficients: (G, B, R, R)."""
        H = np.zeros((theta.shape[0], self.B, self.R, self.R))
        for t, bo, po in zip(self.terms, self._basis_off, self._param_off, strict=True):
            r = len(t.params)
            H[:, bo:bo + t.n_basis, po:po + r, po:po + r] = t.curvature(theta[:, po:po + r])
        return H

    def _logdet_xx(self) -> np.ndarray:
        """``log |X'X|`` per group (metafor's REML likelihood includes it)."""
        if not hasattr(self, "_ldxx"):
            XX = np.zeros((self.G, self.p, self.p))
            np.add.at(XX, self.group, np.einsum("np,nq->npq", self.X, self.X))
            self._ldxx = np.linalg.slogdet(XX)[1]
        return self._ldxx

    def logdet_v(self) -> np.ndarray:
        """``log |V|`` per model: the sum of ``log vi`` when ``V`` is diagonal, else of the
        blocks' log-determinants (padding rows have ``V = 1`` and add 0; nothing is inverted)."""
        if self._Voff is None or not self._Voff.nnz:
            return np.bincount(self.group, weights=np.log(self.vi), minlength=self.G)
        out = np.zeros(self.G)
        for bk in self.buckets:
            out += bk.gsum(np.linalg.slogdet(bk.V)[1], self.G)
        return out

    # ---- per-row and per-level quantities at a solution ---------------------------------------
    def blocks_at(self, theta: np.ndarray):
        """Yield, per bucket, ``(bucket, M, M^-1)`` at parameters ``theta`` (G, R)."""
        c, _ = self.coefficients(theta)
        for bk in self.buckets:
            M = bk.V + np.einsum("nb,nbij->nij", c[bk.group], bk.D)
            L, _ = _cholesky(M)
            yield bk, M, _chol_inv(L)


def _rank1_arrays(blk: np.ndarray, grp: np.ndarray, y: np.ndarray, v: np.ndarray,
                  X: np.ndarray, XX: np.ndarray) -> dict[str, np.ndarray]:
    """The rank-one layout from rows sorted by group and block: the start of each block
    (``bst``) and of each group's run of blocks (``gst``), each block's group and each row's
    block, with the rows' data (``XX`` the outer products of the rows of ``X``)."""
    bst = np.flatnonzero(np.r_[True, blk[1:] != blk[:-1]])
    bgrp = grp[bst]
    return {"blk": blk, "bst": bst, "bgrp": bgrp,
            "gst": np.flatnonzero(np.r_[True, bgrp[1:] != bgrp[:-1]]),
            "row_blk": np.repeat(np.arange(len(bst)), np.diff(np.r_[bst, len(blk)])),
            "y": y, "v": v, "X": X, "XX": XX, "grp": grp}


def _solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Batched ``A^-1 b``; the pseudo-inverse where ``A`` is singular (a parameter the data
    say nothing about, e.g. a correlation whose variances are 0)."""
    try:
        return np.linalg.solve(A, b[:, :, None])[:, :, 0]
    except np.linalg.LinAlgError:
        return np.einsum("grs,gs->gr", np.linalg.pinv(A, rcond=1e-13), b)


def _restrict(info: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The information of the parameters kept, with 1 on the diagonal for those held."""
    R = info.shape[1]
    out = np.where(keep[:, :, None] & keep[:, None, :], info, 0.0)
    out[:, np.arange(R), np.arange(R)] += np.where(keep, 0.0, 1.0)
    return out


def _cholesky(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Batched Cholesky factors and which matrices are positive definite (the others get the
    identity, so the batch goes on; their models are marked bad)."""
    try:
        return np.linalg.cholesky(M), np.ones(len(M), dtype=bool)
    except np.linalg.LinAlgError:
        pass
    ok = np.linalg.eigvalsh(M)[:, 0] > 0
    M2 = M.copy()
    M2[~ok] = np.eye(M.shape[1])
    try:
        return np.linalg.cholesky(M2), ok
    except np.linalg.LinAlgError:  # eigenvalues barely positive: hand them back one by one
        L = np.empty_like(M2)
        for i in range(len(M2)):
            try:
                L[i] = np.linalg.cholesky(M2[i])
            except np.linalg.LinAlgError:
                ok[i] = False
                L[i] = np.eye(M.shape[1])
        return L, ok


def _chol_inv(L: np.ndarray) -> np.ndarray:
    """``(L L')^-1`` from batched Cholesky factors."""
    s = L.shape[1]
    if s == 1:
        return 1.0 / (L * L)
    Li = np.linalg.inv(L)
    return np.swapaxes(Li, 1, 2) @ Li


def _inv_logdet(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses and log-determinants of a stack of symmetric positive-definite matrices."""
    sign, ld = np.linalg.slogdet(A)
    with np.errstate(all="ignore"):
        good = sign > 0
        Ai = np.full_like(A, np.nan)
        if good.any():
            Ai[good] = np.linalg.inv(A[good])
    ld = np.where(good, ld, np.inf)
    return (Ai + np.swapaxes(Ai, 1, 2)) / 2, ld


# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Solution:
    """Estimated variance components of G models, with what the fit needs afterwards."""

    theta: np.ndarray  # (G, R)
    ll: np.ndarray
    beta: np.ndarray
    A: np.ndarray  # (G, p, p) = (X'M^-1X)^-1
    converged: np.ndarray
    iterations: np.ndarray
    info: np.ndarray  # (G, R, R) expected information at the solution


def trace_p0(prob: Problem, A: np.ndarray | None = None) -> np.ndarray:
    """``tr(P)`` at ``theta = 0`` per model: ``P = W - W X (X'WX)^-1 X'W`` with ``W = V^-1``.

    Parameters
    ----------
    prob : Problem
        The models.
    A : ndarray, optional
        ``(X'WX)^-1`` per model (G, p, p), the ``"A"`` of ``prob.evaluate`` at 0; evaluated
        when not given.

    Returns
    -------
    ndarray
        (G,) traces.
    """
    if A is None:
        A = prob.evaluate(np.zeros((prob.G, prob.R)), reml=True, need=0)["A"]
    if prob._Voff is None or not prob._Voff.nnz:
        # W diagonal: tr(P) = sum w - tr(A X'W^2 X), with no blocks (rank-one models have none)
        w = 1.0 / prob.vi
        XW2X = np.zeros((prob.G, prob.p, prob.p))
        wX = (w * w)[:, None, None] * prob.X[:, :, None]
        np.add.at(XW2X, prob.group, wX * prob.X[:, None, :])
        return np.bincount(prob.group, weights=w, minlength=prob.G) - np.einsum(
            "gpq,gqp->g", A, XW2X)
    out = np.zeros(prob.G)
    for bk, _M, Mi in prob.blocks_at(np.zeros((prob.G, prob.R))):
        pad = bk.s - (bk.rows >= 0).sum(axis=1)  # padding rows add 1 each to tr(M^-1)
        MiX = Mi @ bk.X
        AX = np.einsum("npq,nsq->nsp", A[bk.group], MiX)
        out += bk.gsum(np.trace(Mi, axis1=1, axis2=2) - pad - np.einsum("nsp,nsp->n", AX, MiX),
                       prob.G)
    return out


def start_values(prob: Problem, e0: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Starting values: a method-of-moments total variance split over the variance parameters,
    correlations 0.

    Parameters
    ----------
    prob : Problem
        The models.
    e0 : dict, optional
        ``prob.evaluate(0, reml=True, need=0)``, if the caller has it already.
    """
    e = prob.evaluate(np.zeros((prob.G, prob.R)), reml=True, need=0) if e0 is None else e0
    trP0 = trace_p0(prob, e["A"])
    tau2 = np.maximum((e["rss"] - (prob.k - prob.p)) / np.maximum(trP0, 1e-300), 0.0)
    scale = prob.scale
    nvar = sum(1 for p_ in prob.params if p_.kind == "var" and p_.fixed is None) or 1
    total = np.maximum(tau2, 0.25 * scale)
    theta = np.zeros((prob.G, prob.R))
    for r, p_ in enumerate(prob.params):
        if p_.fixed is not None:
            theta[:, r] = p_.fixed
        elif p_.kind == "var":
            theta[:, r] = total / nvar
    return theta


def fit(prob: Problem, reml: bool = True, theta0: np.ndarray | None = None,
        free: np.ndarray | None = None, tol: float = 1e-10, maxiter: int = 500) -> Solution:
    """Maximise the (restricted) likelihood over the free variance components.

    Parameters
    ----------
    prob : Problem
        The models.
    reml : bool
        REML (True) or ML.
    theta0 : ndarray, optional
        Starting values (G, R); :func:`start_values` by default. Fixed parameters keep theirs.
    free : ndarray of bool, optional
        (R,) or (G, R): which parameters are estimated (default: those not fixed in the terms).
    tol : float
        Convergence: every step below ``tol`` times the parameter's scale.
    """
    G, R = prob.G, prob.R
    theta = start_values(prob) if theta0 is None else np.array(theta0, dtype=float)
    if free is None:
        free = np.array([p_.fixed is None for p_ in prob.params])
    free = np.broadcast_to(np.asarray(free, bool), (G, R)).copy()
    lower = np.array([p_.lower for p_ in prob.params])
    upper = np.array([p_.upper for p_ in prob.params])
    is_var = np.array([p_.kind == "var" for p_ in prob.params])
    scale = prob.scale
    cur = prob.evaluate(theta, reml)
    if R == 0 or not free.any():
        return Solution(theta, cur["ll"], cur["beta"], cur["A"], np.ones(G, bool),
                        np.zeros(G, int), cur["info"])
    # the state of every model; the loop works on the active ones (``act``), and moves to a
    # smaller problem when half of them have finished
    out = {"theta": theta.copy(), "converged": np.zeros(G, bool), "iters": np.zeros(G, int)}
    for key in ("ll", "beta", "A", "info"):
        out[key] = cur[key].copy()
    act = np.arange(G)
    work = prob
    lam = np.ones(G)
    iters = np.zeros(G, dtype=int)
    for _ in range(maxiter):
        s = cur["score"]
        # hold parameters on a bound whose score points outward
        held = ~free | ((theta <= lower + 1e-14) & (s <= 0)) | ((theta >= upper - 1e-14) & (s >= 0))
        keep = ~held
        # Newton's step where the observed information is positive definite (it converges
        # quadratically; Fisher scoring can zigzag near a boundary), else Fisher scoring's
        Ik = _restrict(cur["info"], keep)
        Ok = _restrict(cur["observed"], keep)
        newton = np.linalg.eigvalsh(Ok)[:, 0] > 0
        use = np.where(newton[:, None, None], Ok, Ik)
        step = _solve(use, np.where(keep, s, 0.0))
        size = np.where(is_var, np.maximum(np.abs(theta), scale[act][:, None] * 1e-6), 1.0)
        rel = np.max(np.abs(step) / size, axis=1)
        stuck = lam < 1e-10
        finished = (rel <= tol) | stuck
        if finished.any():
            f = act[finished]
            out["theta"][f] = theta[finished]
            for key in ("ll", "beta", "A", "info"):
                out[key][f] = cur[key][finished]
            # a step that cannot raise the likelihood even when tiny: converged if it was small
            out["converged"][f] = rel[finished] <= max(tol, 1e-6)
            out["iters"][f] = iters[finished]
            live = ~finished
            act, theta, lam, iters = act[live], theta[live], lam[live], iters[live]
            step, free = step[live], free[live]
            cur = {k: v[live] for k, v in cur.items() if isinstance(v, np.ndarray)
                   and v.ndim and len(v) == len(live)}
            if not len(act):
                break
            if len(act) <= work.G // 2:
                pos = np.searchsorted(_active_ids(work), act)
                work = work.subset(pos)
                work._ids = act.copy()
        trial = np.clip(theta + lam[:, None] * step, lower, upper)
        new = work.evaluate(trial if work.G == len(act) else _spread(trial, work, act), reml)
        if work.G != len(act):
            new = {k: v[np.searchsorted(_active_ids(work), act)] if isinstance(v, np.ndarray)
                   and v.ndim and len(v) == work.G else v for k, v in new.items()}
        ok = new["ll"] >= cur["ll"] - 1e-10 * np.maximum(1.0, np.abs(cur["ll"]))
        iters += 1
        # accept: move; reject: halve the step (from the same point)
        theta = np.where(ok[:, None], trial, theta)
        for key in ("ll", "beta", "A", "score", "info", "observed", "rss"):
            cur[key] = np.where(ok.reshape((-1,) + (1,) * (cur[key].ndim - 1)), new[key], cur[key])
        lam = np.where(ok, 1.0, lam / 2)
    else:
        out["theta"][act] = theta
        for key in ("ll", "beta", "A", "info"):
            out[key][act] = cur[key]
        out["iters"][act] = iters
    return Solution(out["theta"], out["ll"], out["beta"], out["A"], out["converged"],
                    out["iters"], out["info"])


def _active_ids(work: Problem) -> np.ndarray:
    """The original model numbers of a (sub)problem's models."""
    return getattr(work, "_ids", np.arange(work.G))


def _spread(theta: np.ndarray, work: Problem, act: np.ndarray) -> np.ndarray:
    """Parameters of the active models placed in a problem that still holds some finished
    ones (their rows get the active models' first row: any valid point will do)."""
    full = np.repeat(theta[:1], work.G, axis=0)
    full[np.searchsorted(_active_ids(work), act)] = theta
    return full
