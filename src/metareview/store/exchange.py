"""Files in and out of a review: decisions from a spreadsheet, records with decisions out.

A decisions CSV lets a reviewer screen offline (or another tool's decisions be brought in): one
row a record, columns ``record`` (the record id shown by ``export``), ``decision``
(include/exclude/maybe or i/e/m) and optionally ``reason`` and ``note``. The whole file is
checked before anything is stored, so a bad row stores nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from metareview.errors import InputError, where
from metareview.screening.decisions import check_decision, parse_value
from metareview.store.project import Project


def import_decisions(review: Project, path: str | Path, *, stage: str, reviewer: str) -> int:
    """Store a reviewer's votes from a CSV file; returns how many were stored.

    Raises
    ------
    InputError
        Naming the file, row and column of the first bad cell; nothing is stored then.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
            header = rows[0].keys() if rows else []
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: not a UTF-8 CSV file ({exc})") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    for col in ("record", "decision"):
        if col not in header:
            raise InputError(f"{path}: no column {col!r} (columns: {', '.join(header)})")
    eligible = set(review.eligible(stage))
    parsed = []
    for n, row in enumerate(rows, start=2):
        rid = (row.get("record") or "").strip()
        if not rid.isdigit():
            raise InputError(f"{where(str(path), n, column='record')}: not a record id ({rid!r})")
        if int(rid) not in eligible:
            raise InputError(f"{where(str(path), n, column='record')}: record {rid} is not up "
                             f"for {stage} screening")
        try:
            value = parse_value(row.get("decision") or "")
            reason = (row.get("reason") or "").strip() or None
            check_decision(stage, value, reason)
        except InputError as exc:
            raise InputError(f"{where(str(path), n, column='decision')}: {exc}") from None
        parsed.append((int(rid), value, reason, (row.get("note") or "").strip() or None))
    review.decide_many(parsed, stage=stage, reviewer=reviewer)
    return len(parsed)


def export_records(review: Project, path: str | Path, *,
                   include_duplicates: bool = False) -> int:
    """Write records with their screening outcome to ``.ris`` or ``.csv``; returns the count.

    Each record carries its id, its stage outcomes (title/abstract and full text: state, final
    decision, reason) and, for duplicates, the id of the record it duplicates. A labelled RIS
    written here imports again with its labels (``label`` = the final outcome).
    """
    from metareview.records.export import write_csv, write_ris

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".ris", ".csv"):
        raise InputError(f"{path}: expected a .ris or .csv file")
    stored = review.records()
    dup = review.duplicates()
    ta = review.status("title_abstract")
    ft = review.status("full_text")
    ids = [r for r in stored if include_duplicates or r not in dup]
    records = [stored[r].record for r in ids]
    decisions: dict[int, dict[str, Any]] = {}
    for i, r in enumerate(ids):
        d: dict[str, Any] = {"record_id": r, "source": stored[r].source}
        if r in dup:
            d["duplicate_of"] = dup[r]
        for name, st in (("title_abstract", ta.get(r)), ("full_text", ft.get(r))):
            if st is not None:
                d[f"{name}_state"] = st.state
                d[f"{name}_decision"] = st.final
                d[f"{name}_reason"] = st.reason
        final = _final(ta.get(r), ft.get(r))
        if final is not None:
            d["decision"] = final[0]
            d["reason"] = final[1]
            d["stage"] = final[2]
        decisions[i] = d
    writer = write_ris if suffix == ".ris" else write_csv
    writer(records, path, decisions=decisions)
    return len(records)


def _final(ta: Any, ft: Any) -> tuple[str, str | None, str] | None:
    """The furthest stage's outcome: full text if decided there, else title/abstract exclusion."""
    if ft is not None and ft.final is not None:
        return ft.final, ft.reason, "full_text"
    if ta is not None and ta.final == "exclude":
        return "exclude", ta.reason, "title_abstract"
    return None
