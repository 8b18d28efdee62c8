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
# # Screening simulation: how much reading does active learning save?
#
# A simulation replays a finished review. The model starts from one relevant and one
# irrelevant record, ranks the rest, "screens" the top record by looking up its known label,
# retrains, and repeats. The order in which the relevant records turn up gives the recall
# curve and ASReview's metrics (work saved over sampling, WSS; recall at a fraction screened;
# average time to discovery, ATD), computed as asreview-insights 1.6 computes them.
#
# The data are the labelled title/abstract set of Kitchenham et al. (2010), a tertiary study
# in software engineering, from ASReview's SYNERGY collection (CC-BY 4.0), bundled in
# `tests/data/screening/` (its README gives the source and checksum). It is not a clinical
# review; it is the smallest openly licensed labelled set at hand.
#
# This page is a notebook (`docs/examples/screening_simulation.py`) executed each time the
# documentation is built. The [screening guide](../guides/screening.html) explains the model and
# the stopping aids.

# %%
from pathlib import Path

from metareview.report.screening_plots import recall_plot
from metareview.screening.simulate import read_labelled, simulate

# the notebook runs in docs/examples/; the data are in the repository's tests/data/
ROOT = next(p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").exists())
texts, labels = read_labelled(ROOT / "tests" / "data" / "screening" / "Kitchenham_2010.csv")
print(f"{len(texts):,} records, {int(labels.sum())} relevant")

# %% [markdown]
# ## Active learning
#
# Three runs with different random priors (seeds 0, 1, 2), with the default model: a linear
# SVM on TF-IDF features of title and abstract, most-likely-relevant record first
# (`query="certainty"`), classes balanced. Each run stops when the last relevant record is
# found.

# %%
active = simulate(texts, labels, seeds=(0, 1, 2))
active

# %% [markdown]
# ## Against screening in random order
#
# The same replay with `query="random"`: the reviewer reads the records in a random order, as
# without a model. The expected recall then grows in a straight line.

# %%
random_order = simulate(texts, labels, seeds=(0, 1, 2), query="random")
print(random_order.summary())

# %% [markdown]
# ## The recall plot
#
# Recall (relevant records found over all relevant) against the fraction of records screened,
# one line per run, with the priors left out (hence 1,702 records and 44 relevant in the
# title). The dashed line is what a random order finds on average, the grey one a perfect
# order, which reads every relevant record first.

# %%
recall_plot([active, random_order], labels=["active learning (SVM)", "random order"])
