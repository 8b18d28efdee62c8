# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Multilevel and multivariate models (metafor's `rma.mv`)
#
# Two of metafor's classic `rma.mv` examples, with the data metadat ships and the repository
# keeps in `tests/data/` (written there by `tests/reference/multilevel.R`, which also records
# metafor 3.8-1's results that the test suite checks these fits against):
#
# * `dat.konstantopoulos2011`: 56 studies of a modified school calendar, in 11 school
#   districts; a three-level model with schools nested in districts;
# * `dat.berkey1998`: five trials of periodontal surgery, each reporting two correlated
#   outcomes (probing depth, PD, and attachment level, AL); a multivariate model with an
#   unstructured (UN) covariance of the true effects.
#
# This page is a notebook (`docs/examples/multilevel.py`) executed each time the documentation
# is built.

# %%
from pathlib import Path

import pandas as pd
import scipy.linalg

import metareview as mr
from metareview.models.multilevel_tools import confint, ranef

# the notebook runs in docs/examples/; the data are in the repository's tests/data/
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").exists())
schools = pd.read_csv(ROOT / "tests" / "data" / "dat.konstantopoulos2011.csv")
schools.head()

# %% [markdown]
# ## A three-level model
#
# The estimates are standardized mean differences already (`yi`, `vi`), so the measure is
# `GEN`. `"~ 1 | district/school"` is metafor's formula: a variance component for districts
# and one for schools within districts.

# %%
es = mr.effect_sizes(schools, "GEN")
# metafor: rma.mv(yi, vi, random = ~ 1 | district/school, data = dat)
fit = mr.meta_analysis_mv(es, "~ 1 | district/school")
fit

# %% [markdown]
# ## Profile-likelihood intervals of the variance components
#
# `confint` profiles the restricted likelihood over each component, as metafor's
# `confint(res)` does.

# %%
print(confint(fit).summary())

# %% [markdown]
# ## Random effects (BLUPs)
#
# `ranef` gives the best linear unbiased predictions of each level's random effects, with
# standard errors and prediction intervals (metafor's `ranef(res)`). The district effects:

# %%
ranef(fit)["district"].frame().round(4)

# %% [markdown]
# ## Cluster-robust inference
#
# With few districts, the model-based SE may be too optimistic if the model is wrong.
# `robust(fit, "district", clubsandwich=True)` is clubSandwich's CR2 estimator with
# Satterthwaite degrees of freedom (metafor's `robust(res, cluster = district,
# clubSandwich = TRUE)`).

# %%
mr.robust(fit, "district", clubsandwich=True)

# %% [markdown]
# ## A multivariate model: two correlated outcomes per trial
#
# Each trial's two estimates share a 2x2 sampling covariance matrix (`v1i`, `v2i` on its two
# rows), so `V` is block-diagonal. `"~ outcome | trial"` with `struct="UN"` gives each outcome
# its own heterogeneity variance and a correlation between them; one coefficient per outcome
# (`mods=["outcome"]`, no intercept).

# %%
trials = pd.read_csv(ROOT / "tests" / "data" / "dat.berkey1998.csv")
V = scipy.linalg.block_diag(
    *[rows[["v1i", "v2i"]].to_numpy() for _, rows in trials.groupby("trial", sort=False)]
)
es2 = mr.effect_sizes(trials, "GEN")
mv = mr.meta_analysis_mv(es2, "~ outcome | trial", V=V, struct="UN", mods=["outcome"],
                         intercept=False)
mv
