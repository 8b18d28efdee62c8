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
# # BCG vaccine trials: a random-effects model and a meta-regression
#
# metafor's first worked example, in metareview. The 13 trials of the BCG vaccine against
# tuberculosis (metadat's `dat.bcg`, bundled with metareview as `data/bcg.csv`) give the number
# of tuberculosis cases among vaccinated (`ai` of `ai + bi`) and unvaccinated (`ci` of
# `ci + di`) people, the absolute latitude of each trial (`ablat`) and how treatment was
# allocated (`alloc`).
#
# This page is a notebook (`docs/examples/bcg.py`, jupytext percent format) executed each time
# the documentation is built; every output below is what the code printed then.

# %%
from importlib.resources import files

import pandas as pd

import metareview as mr
from metareview.report import forest_plot, funnel_plot

trials = pd.read_csv(files("metareview") / "data" / "bcg.csv")
trials

# %% [markdown]
# ## Effect sizes
#
# `effect_sizes` is metafor's `escalc`: log risk ratios `yi` and their sampling variances `vi`,
# with metafor's column names for the 2x2 table.

# %%
es = mr.effect_sizes(trials, "RR")  # escalc(measure = "RR", ai = tpos, bi = tneg, ...)
es.to_frame().round(4)

# %% [markdown]
# ## Random-effects model
#
# `meta_analysis` is `rma`; REML is the default estimator of tau², as in metafor. In a
# notebook the fitted model displays as a table laid out like metafor's `print(res)`.

# %%
fit = mr.meta_analysis(es, method="REML")
fit

# %% [markdown]
# The pooled risk ratio and its interval, back-transformed from the log scale:

# %%
{k: round(v, 4) for k, v in fit.back_transformed.items() if k != "scale"}

# %% [markdown]
# ## Forest and funnel plots
#
# The forest plot follows RevMan's layout; the funnel plot is contour-enhanced
# (p = 0.10, 0.05 and 0.01).

# %%
forest_plot(fit, favours=("Favours vaccine", "Favours control"))

# %%
funnel_plot(fit)

# %% [markdown]
# ## Meta-regression on absolute latitude
#
# The trials far from the equator found larger benefits. With `mods=["ablat"]`
# (metafor's `mods = ~ ablat`) latitude accounts for most of the heterogeneity (R² in the
# table below).

# %%
reg = mr.meta_analysis(es, mods=["ablat"])
reg

# %% [markdown]
# `predict` gives the expected log risk ratio at chosen latitudes (metafor's
# `predict(res, newmods = c(10, 30, 50))`), here with `transf=exp` for risk ratios:

# %%
import numpy as np

mr.predict(reg, [10, 30, 50], transf=np.exp)

# %% [markdown]
# ## Model comparison
#
# `anova` with one model is the Wald test of its moderators (QM above). Two models fitted by
# maximum likelihood give a likelihood-ratio test, as `anova(res1, res0)` in metafor.

# %%
print(mr.anova(reg).summary())

# %%
full = mr.meta_analysis(es, method="ML", mods=["ablat"])
reduced = mr.meta_analysis(es, method="ML")
print(mr.anova(full, reduced).summary())
