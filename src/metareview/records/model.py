"""The bibliographic record every importer produces and every later step consumes.

A :class:`Record` is one citation as a search database exported it, after the field merging
each importer does (RIS ``A1``/``AU``, ``T1``/``TI`` …) but before any de-duplication. It is a
frozen value: normalisation for matching lives in :mod:`metareview.records.normalize` and never
alters what the reviewer imported.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

#: Labels a labelled import may carry (ASReview-style datasets, our own RIS export).
LABELS = ("include", "exclude")


@dataclass(frozen=True)
class Record:
    """One bibliographic record.

    Attributes
    ----------
    title, abstract : str
        As exported ('' when absent).
    authors : tuple of str
        In source order, each ``"Surname, Given"`` where the source gives that form.
    year : int or None
        Publication year.
    journal, volume, issue, pages : str
        Journal name as given (full or abbreviated), volume, issue, page range (``"12-19"``).
    doi : str
        Lower-case, without ``https://doi.org/`` or ``doi:`` prefixes ('' when absent).
    pmid : str
        PubMed identifier, digits only.
    keywords : tuple of str
        Author keywords and MeSH headings.
    url, type : str
        Link and publication type (RIS type code such as ``JOUR``; '' when unknown).
    source_key : str
        The record's identifier inside the source file (RIS ``ID``, BibTeX key, CSV id column),
        kept so exports and error messages can point back to it.
    line : int or None
        1-based line of the file where the record starts (row for spreadsheets).
    label : {'include', 'exclude'} or None
        Screening label carried by a labelled file.
    extra : mapping of str to str
        Every other field of the source, by its source tag, so nothing imported is dropped.
    """

    title: str = ""
    abstract: str = ""
    authors: tuple[str, ...] = ()
    year: int | None = None
    journal: str = ""
    volume: str = ""
    issue: str = ""
    pages: str = ""
    doi: str = ""
    pmid: str = ""
    keywords: tuple[str, ...] = ()
    url: str = ""
    type: str = ""
    source_key: str = ""
    line: int | None = None
    label: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        d = asdict(self)
        d["authors"] = list(self.authors)
        d["keywords"] = list(self.keywords)
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        """Inverse of :meth:`to_dict`; unknown keys are ignored."""
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in d.items() if k in names}
        for k in ("authors", "keywords"):
            if k in kw and kw[k] is not None:
                kw[k] = tuple(kw[k])
        if kw.get("extra") is None:
            kw["extra"] = {}
        return cls(**kw)


@dataclass(frozen=True)
class ImportBatch:
    """The records of one imported file and where they came from (for PRISMA's counts).

    Attributes
    ----------
    records : tuple of Record
    source : str
        The database or register searched (``"PubMed"``, ``"Embase"``, ``"CENTRAL"`` …).
    kind : {'database', 'register', 'website', 'organisation', 'citation', 'other'}
        PRISMA 2020's identification source kind.
    format : str
        ``ris``, ``nbib``, ``pubmed-xml``, ``bibtex``, ``csv``, ``tsv`` or ``xlsx``.
    filename : str
        The file's name as given.
    sha256 : str
        Hex digest of the file's bytes (re-importing the same file is detectable).
    searched_on : datetime.date or None
        Date the search was run, when known.
    warnings : tuple of str
        Lines skipped in lenient mode and similar, each naming its line.
    """

    records: tuple[Record, ...]
    source: str
    kind: str = "database"
    format: str = ""
    filename: str = ""
    sha256: str = ""
    searched_on: _dt.date | None = None
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for people."""
        when = f", searched {self.searched_on.isoformat()}" if self.searched_on else ""
        return (
            f"{len(self.records)} records from {self.source} ({self.format}, {self.filename}"
            f"{when})" + (f"; {len(self.warnings)} warnings" if self.warnings else "")
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, without the records themselves."""
        return {
            "imported": len(self.records),
            "source": self.source,
            "kind": self.kind,
            "format": self.format,
            "filename": self.filename,
            "sha256": self.sha256,
            "searched_on": self.searched_on.isoformat() if self.searched_on else None,
            "warnings": list(self.warnings),
        }
