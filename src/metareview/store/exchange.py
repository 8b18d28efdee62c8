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
                   include_duplicates: bool = False, formula_safe: bool = False) -> int:
    """Write every record with where it stands now to ``.ris`` or ``.csv``; returns the count.

    Each record carries its id and source and:

    * ``decision``, ``stage``, ``reason``: the newest outcome and the stage it was reached at:
      a full-text outcome, else the title/abstract one (so a record included at
      title/abstract and awaiting full text is ``include`` at ``title_abstract``), else
      ``conflict`` (the reviewers disagree, unresolved) or ``pending`` (votes still missing);
      ``duplicate`` for a duplicate (with ``--duplicates``). ``label`` is the decision when it
      is include or exclude, so includes can be filtered and a labelled RIS imports again
      with its labels;
    * ``conflict``: ``yes`` when the record awaits a resolution at its stage, else ``no``;
    * per stage (``title_abstract_``, ``full_text_``): ``state`` (pending, agreed, conflict,
      resolved, automated), ``decision`` (the consensus: the votes combined, or the
      resolution), ``reason``, and each reviewer's current vote ``vote_<reviewer>`` (with
      ``reason_<reviewer>`` when the vote gave one);
    * ``duplicate_of`` for a duplicate: the record it duplicates.

    ``formula_safe`` (CSV only) keeps spreadsheets from running cells as formulas
    (:func:`metareview.records.export.write_csv`).
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
        decision, reason, stage, conflict = _current(ta.get(r), ft.get(r), r in dup)
        d.update(decision=decision, reason=reason, stage=stage,
                 conflict="yes" if conflict else "no")
        if r in dup:
            d["duplicate_of"] = dup[r]
        for name, st in (("title_abstract", ta.get(r)), ("full_text", ft.get(r))):
            if st is None:
                continue
            d[f"{name}_state"] = st.state
            d[f"{name}_decision"] = st.final
            d[f"{name}_reason"] = st.reason
            for v in st.votes:
                d[f"{name}_vote_{v.reviewer}"] = v.value
                d[f"{name}_reason_{v.reviewer}"] = v.reason
        decisions[i] = d
    if suffix == ".ris":
        write_ris(records, path, decisions=decisions)
    else:
        write_csv(records, path, decisions=decisions, formula_safe=formula_safe)
    return len(records)


def _current(ta: Any, ft: Any, duplicate: bool) -> tuple[str, str | None, str | None, bool]:
    """(decision, reason, stage, in conflict) of one record: its newest outcome.

    A stage without an outcome yet gives way to the stage before it when that one decided
    (an include at title/abstract awaiting full text reads ``include``), so no record that
    has an outcome exports without one.
    """
    if duplicate:
        return "duplicate", None, None, False
    if ft is not None:
        if ft.final is not None:
            return ft.final, ft.reason, "full_text", False
        if ft.state == "conflict":
            return "conflict", None, "full_text", True
        if ta is not None and ta.final is not None:
            return ta.final, ta.reason, "title_abstract", False
        return "pending", None, "full_text", False
    if ta is not None:
        if ta.final is not None:
            return ta.final, ta.reason, "title_abstract", False
        if ta.state == "conflict":
            return "conflict", None, "title_abstract", True
        return "pending", None, "title_abstract", False
    return "pending", None, None, False
