"""Two versions of the BCG review for the change report: before and after one trial came in.

``python examples/bcg_living.py OUT`` writes two review folders made from
``reviews/bcg-tuberculosis`` (metadat's dat.bcg): ``OUT/after`` is the review with three
triggers added to its protocol, and ``OUT/before`` the same without Hart & Sutherland 1977
(dat.bcg row 4), as the review stood before an update found that trial. Nothing else is
changed and no number is made up: the rows are the review's own.
``metareview changes OUT/before OUT/after`` then reports what the trial changed.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import yaml

REVIEW = Path(__file__).resolve().parents[1] / "reviews" / "bcg-tuberculosis"
ADDED = "hart1977"
TRIGGERS = [
    {"outcome": "Tuberculosis cases", "when": "ci_excludes_mid",
     "action": "revisit the imprecision judgement and the conclusion's wording"},
    {"outcome": "Tuberculosis cases", "when": "certainty_changes",
     "action": "update the summary of findings"},
    {"outcome": "Tuberculosis cases", "when": "estimate_moves_by", "by": 0.05,
     "action": "recompute the absolute effects"},
]


def bcg_versions(out: Path) -> tuple[Path, Path]:
    """Write ``out/before`` and ``out/after``; returns both folders."""
    after, before = out / "after", out / "before"
    for folder in (after, before):
        if folder.exists():
            shutil.rmtree(folder)
    shutil.copytree(REVIEW, after)
    proto = yaml.safe_load((after / "protocol.yaml").read_text(encoding="utf-8"))
    proto["triggers"] = TRIGGERS
    (after / "protocol.yaml").write_text(
        yaml.safe_dump(proto, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    shutil.copytree(after, before)
    (before / "studies" / f"{ADDED}.yaml").unlink()
    arms = (before / "arms.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (before / "arms.csv").write_text(
        "".join(line for line in arms if not line.startswith(f"{ADDED},")), encoding="utf-8")
    return before, after


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "out/living")
    for path in bcg_versions(target):
        print(path)
