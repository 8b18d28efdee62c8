"""Reading study-level data files with errors that say where."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from metareview.errors import InputError


def read_study_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV of study-level data, keeping every cell as text.

    Cells stay text so that :func:`~metareview.effect_sizes` can name the exact cell that is not
    a number; column names are stripped of surrounding spaces.

    Raises
    ------
    InputError
        If the file is missing, empty, not valid CSV, has a row with more cells than the header,
        or repeats a column name.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise InputError(f"{name}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    rows = list(csv.reader(text.splitlines()))
    rows = [r for r in rows if any(c.strip() for c in r)] if rows else rows
    if not rows:
        raise InputError(f"{name}: the file is empty")
    header = [h.strip() for h in rows[0]]
    if any(h == "" for h in header):
        raise InputError(f"{name} row 1: column {header.index('') + 1} has no name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise InputError(f"{name} row 1: column name {dupes[0]} appears more than once")
    for i, r in enumerate(rows[1:], start=2):
        if len(r) > len(header):
            raise InputError(f"{name} row {i}: {len(r)} cells but the header has {len(header)}")
    body = [r + [""] * (len(header) - len(r)) for r in rows[1:]]
    if not body:
        raise InputError(f"{name}: no studies (only a header row)")
    df = pd.DataFrame(body, columns=header, dtype=object)
    return df.apply(lambda s: s.str.strip())
