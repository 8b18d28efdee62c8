"""Writing records (and screening decisions) to RIS and CSV.

**RIS** (:func:`write_ris`): the tags of :func:`.ris.ris_lines`, UTF-8 without BOM, ``\\n``
line ends. A screening decision is written as an ``N1`` note that :func:`.ris.parse_ris`
reads back into ``Record.label``::

    N1  - metareview: exclude; stage: title_abstract; reason: wrong population

(``include``/``exclude`` become the label; ``maybe`` leaves it empty but is kept). Any other
key of a decision becomes ``N1  - metareview <key>: <value>`` and is read back into
``extra['metareview_<key>']``. With ``asreview_labels=True`` ASReview LAB's own notes
(``ASReview_relevant``, ``ASReview_irrelevant``, ``ASReview_not_seen``) are added as well,
so ASReview can import the file with its labels.

**CSV** (:func:`write_csv`): one row per record, columns :data:`CSV_COLUMNS` in that order,
then any other keys of the decisions in first-seen order. Authors and keywords are joined
with ``"; "``; ``label`` is the include/exclude outcome (blank otherwise), so the file imports
again with its labels through :func:`.readers.read_records`. ``Record.extra`` is not written
to CSV.

A decision for record ``i`` (``decisions[i]``) overrides what the record carries (its
``label`` and the ``metareview_*`` values kept in ``extra`` from an earlier import).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from metareview.records.model import LABELS, Record
from metareview.records.ris import ris_lines

#: Record columns of :func:`write_csv`, in order.
RECORD_COLUMNS = ("title", "abstract", "authors", "year", "journal", "volume", "issue",
                  "pages", "doi", "pmid", "keywords", "url", "type", "source_key", "label")
#: Decision columns of :func:`write_csv`, after the record columns.
DECISION_COLUMNS = ("decision", "stage", "reason")
CSV_COLUMNS = RECORD_COLUMNS + DECISION_COLUMNS

_ASREVIEW = {"include": "ASReview_relevant", "exclude": "ASReview_irrelevant"}


@contextmanager
def _open(dest: str | Path | TextIO):
    if isinstance(dest, (str, Path)):
        with open(dest, "w", encoding="utf-8", newline="") as fh:
            yield fh
    else:
        yield dest


def _decision(record: Record, given: Mapping[str, Any] | None) -> dict[str, str]:
    """The decision fields for one record: what it carries, overridden by ``given``."""
    out = {k[len("metareview_"):]: v for k, v in record.extra.items()
           if k.startswith("metareview_") and v}
    if record.label:
        out["decision"] = record.label
    for k, v in (given or {}).items():
        if v is not None and v != "":
            out[str(k)] = str(v)
    return out


def _notes(d: Mapping[str, str], asreview: bool) -> list[str]:
    notes = []
    decision = d.get("decision", "")
    if decision:
        note = f"metareview: {decision}"
        if d.get("stage"):
            note += f"; stage: {d['stage']}"
        if d.get("reason"):
            note += f"; reason: {d['reason']}"
        notes.append(note)
    for k, v in d.items():
        if k not in DECISION_COLUMNS:
            notes.append(f"metareview {k}: {v}")
    if asreview:
        notes.append(_ASREVIEW.get(decision, "ASReview_not_seen"))
    return notes


def write_ris(
    records: Sequence[Record] | Iterable[Record],
    dest: str | Path | TextIO,
    decisions: Mapping[int, Mapping[str, Any]] | None = None,
    *,
    asreview_labels: bool = False,
) -> int:
    """Write records as RIS; returns the number written.

    Parameters
    ----------
    records : sequence of Record
    dest : str, Path or text stream
        A file path (written as UTF-8) or an open text stream.
    decisions : mapping of int to mapping, optional
        By record position: ``decision`` (``include``/``exclude``/``maybe``), ``stage``,
        ``reason`` and any other keys (written as notes).
    asreview_labels : bool
        Also write ASReview LAB's label notes.
    """
    n = 0
    with _open(dest) as fh:
        for i, rec in enumerate(records):
            notes = _notes(_decision(rec, (decisions or {}).get(i)), asreview_labels)
            fh.write("\n".join(ris_lines(rec, notes)))
            fh.write("\n\n")
            n += 1
    return n


def write_csv(
    records: Sequence[Record] | Iterable[Record],
    dest: str | Path | TextIO,
    decisions: Mapping[int, Mapping[str, Any]] | None = None,
    *,
    formula_safe: bool = False,
) -> int:
    """Write records as CSV (columns :data:`CSV_COLUMNS`, then other decision keys).

    Parameters
    ----------
    records : sequence of Record
    dest : str, Path or text stream
    decisions : mapping of int to mapping, optional
        As for :func:`write_ris`.
    formula_safe : bool
        Prefix ``'`` to every cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a
        carriage return, so that a spreadsheet shows it as text instead of running it as a
        formula (OWASP's advice for CSV injection). For files handed to people (the web
        app's download); off by default, because it changes the text a later import reads.

    Returns
    -------
    int
        Number of rows written (without the header).
    """
    rows = []
    more: dict[str, None] = {}
    for i, rec in enumerate(records):
        d = _decision(rec, (decisions or {}).get(i))
        for k in d:
            if k not in DECISION_COLUMNS:
                more.setdefault(k, None)
        decision = d.get("decision", "")
        row = {
            "title": rec.title, "abstract": rec.abstract, "authors": "; ".join(rec.authors),
            "year": "" if rec.year is None else str(rec.year), "journal": rec.journal,
            "volume": rec.volume, "issue": rec.issue, "pages": rec.pages, "doi": rec.doi,
            "pmid": rec.pmid, "keywords": "; ".join(rec.keywords), "url": rec.url,
            "type": rec.type, "source_key": rec.source_key,
            "label": decision if decision in LABELS else "",
            **{k: v for k, v in d.items() if k != "decision"}, "decision": decision,
        }
        rows.append(row)
    columns = [*CSV_COLUMNS, *more]
    if formula_safe:
        rows = [{k: _inert(v) for k, v in row.items()} for row in rows]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    with _open(dest) as fh:
        fh.write(buf.getvalue())
    return len(rows)


def _inert(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (see :func:`write_csv`)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
