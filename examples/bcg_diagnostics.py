"""A worked example on the bundled BCG data, using only metareview's API; ``make demo`` runs it.

    python examples/bcg_diagnostics.py OUTDIR

writes, for the BCG vaccine trials (log risk ratio, REML): a contour-enhanced funnel plot with
the trim-and-fill studies, a Baujat plot, the influence and leave-one-out tables (CSV), and the
Q-profile confidence interval for tau^2 with the sensitivity analyses in ``sensitivity.txt``.
"""

from __future__ import annotations

import sys
from importlib.resources import files
from pathlib import Path

from metareview.diagnostics import baujat, influence, leave_one_out, tau2_confint, trimfill
from metareview.effects.escalc import effect_sizes
from metareview.effects.io import read_study_table
from metareview.models.rma import meta_analysis
from metareview.report import baujat_plot, funnel_plot


def bcg_example(outdir: str | Path) -> list[Path]:
    """Run the BCG worked example's diagnostics and write them under ``outdir``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    data = files("metareview") / "data" / "bcg.csv"
    es = effect_sizes(read_study_table(str(data)), "RR", source="bcg.csv")
    fit = meta_analysis(es, method="REML")
    tf = trimfill(fit)
    written = []
    funnel_plot(fit, out / "funnel.svg", trimfill=(tf.filled_yi, tf.filled_vi))
    b = baujat(fit)
    baujat_plot(b.x, b.y, b.study, out / "baujat.svg")
    influence(fit).to_frame().to_csv(out / "influence.csv")
    l1o = leave_one_out(fit)
    l1o.to_frame().to_csv(out / "leave1out.csv")
    text = [tau2_confint(fit).summary(), "", l1o.summary(), "", influence(fit).summary(), "",
            tf.summary()]
    (out / "sensitivity.txt").write_text("\n".join(text) + "\n")
    for name in ("funnel.svg", "baujat.svg", "influence.csv", "leave1out.csv", "sensitivity.txt"):
        written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python examples/bcg_diagnostics.py OUTDIR``."""
    args = sys.argv[1:] if argv is None else argv
    for path in bcg_example(args[0] if args else "out"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
