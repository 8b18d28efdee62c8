"""PRISMA 2020 flow-diagram counts, under the field names of the PRISMA2020 R package.

The names are those of the PRISMA2020 package and Shiny app (Haddaway, Page, Pritchard &
McGuinness 2022, Campbell Syst Rev 18:e1230): its CSV template's ``data`` column and the list
that ``PRISMA_data()`` returns. A PRISMA2020 user can read ``to_dict()`` line by line, and
:meth:`PrismaCounts.to_prisma2020_csv` writes the template so that ``PRISMA_data(read.csv(...))``
and ``PRISMA_flowdiagram()`` (or the Shiny app) draw the same diagram.

Representation of the lists (where the package packs "name, n; name, n" into one CSV cell):

* ``database_specific_results`` / ``register_specific_results``: a mapping source name ->
  records identified there (empty when only totals are known);
* ``dbr_excluded`` / ``other_excluded``: the total number of reports excluded (an int), and
  ``dbr_excluded_reasons`` / ``other_excluded_reasons``: a mapping reason -> reports excluded
  for that reason. ``to_dict()`` keeps both keys.

``None`` (JSON ``null``, ``NA`` in the CSV) means "not applicable or not known": the previous-
review fields of a new review, the other-methods fields when no other sources were searched.
Counts the store computes are never None where they apply (0 is a count).

They are counted from a review project by :func:`prisma_counts` (any
:class:`~metareview.screening.source.ScreeningSource`), and held and checked by
:class:`PrismaCounts`.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

from metareview.errors import InputError
from metareview.screening.source import DBR_KINDS, OTHER_KINDS, ScreeningSource

__all__ = ["PrismaCounts", "prisma_counts", "prisma_fields", "screening_progress"]

#: Fields that hold a single count (or None), in the order of the PRISMA2020 template.
COUNT_FIELDS = (
    "previous_studies", "previous_reports",
    "database_results", "register_results",
    "website_results", "organisation_results", "citations_results",
    "duplicates", "excluded_automatic", "excluded_other",
    "records_screened", "records_excluded",
    "dbr_sought_reports", "dbr_notretrieved_reports",
    "other_sought_reports", "other_notretrieved_reports",
    "dbr_assessed", "dbr_excluded",
    "other_assessed", "other_excluded",
    "new_studies", "new_reports", "total_studies", "total_reports",
)
#: Counts that are not PRISMA2020 fields: records and reports not yet decided (votes missing or
#: a conflict unresolved), which PRISMA 2020 lets a diagram show as "awaiting classification".
#: ``to_dict()`` holds them only when known (not None); the PRISMA2020 CSV leaves them out.
AWAITING_FIELDS = ("records_awaiting", "dbr_awaiting_reports", "other_awaiting_reports")
#: Fields that hold a mapping name -> count.
MAPPING_FIELDS = ("database_specific_results", "register_specific_results",
                  "dbr_excluded_reasons", "other_excluded_reasons")


def _sum(m: Mapping[str, int]) -> int:
    return sum(m.values())


@dataclass(frozen=True)
class PrismaCounts:
    """The numbers in a PRISMA 2020 flow diagram.

    Every count is a non-negative int or ``None`` (not applicable / unknown). If a total
    (``database_results``, ``register_results``, ``dbr_excluded``, ``other_excluded``) is
    ``None`` but its breakdown is given, the total is the sum of the breakdown.

    Attributes
    ----------
    previous_studies, previous_reports : int or None
        Studies (and their reports) included in the previous version of the review; ``None``
        for a new review. Set either to draw the updated-review diagram.
    database_results, register_results : int or None
        Records identified from bibliographic databases and from study registers.
    database_specific_results, register_specific_results : mapping of str to int
        The same per database / register (e.g. ``{"MEDLINE": 812, "Embase": 1044}``).
    website_results, organisation_results, citations_results : int or None
        Records identified by other methods; all ``None`` when no other methods were used.
    duplicates, excluded_automatic, excluded_other : int or None
        Records removed before screening: duplicates, marked ineligible by automation tools,
        removed for other reasons.
    records_screened, records_excluded : int or None
        Title/abstract screening (databases and registers).
    dbr_sought_reports, dbr_notretrieved_reports, dbr_assessed : int or None
        Full texts sought, not retrieved and assessed (databases and registers).
    dbr_excluded : int or None
        Reports excluded at full text (total); ``dbr_excluded_reasons`` per reason.
    other_sought_reports, other_notretrieved_reports, other_assessed, other_excluded : int or None
        The same for records from other methods; ``other_excluded_reasons`` per reason.
    new_studies, new_reports : int or None
        Studies included in the review (new studies, for an update) and their reports.
    total_studies, total_reports : int or None
        Updated reviews: previous plus new.
    records_awaiting : int or None
        Records screened at title/abstract but not yet decided (a vote missing, or a conflict
        not resolved): "awaiting classification", counted neither excluded nor sought.
    dbr_awaiting_reports, other_awaiting_reports : int or None
        Reports retrieved but not yet decided at full text (each column).
    """

    previous_studies: int | None = None
    previous_reports: int | None = None
    database_results: int | None = None
    database_specific_results: Mapping[str, int] = field(default_factory=dict)
    register_results: int | None = None
    register_specific_results: Mapping[str, int] = field(default_factory=dict)
    website_results: int | None = None
    organisation_results: int | None = None
    citations_results: int | None = None
    duplicates: int | None = None
    excluded_automatic: int | None = None
    excluded_other: int | None = None
    records_screened: int | None = None
    records_excluded: int | None = None
    dbr_sought_reports: int | None = None
    dbr_notretrieved_reports: int | None = None
    other_sought_reports: int | None = None
    other_notretrieved_reports: int | None = None
    dbr_assessed: int | None = None
    dbr_excluded: int | None = None
    dbr_excluded_reasons: Mapping[str, int] = field(default_factory=dict)
    other_assessed: int | None = None
    other_excluded: int | None = None
    other_excluded_reasons: Mapping[str, int] = field(default_factory=dict)
    new_studies: int | None = None
    new_reports: int | None = None
    total_studies: int | None = None
    total_reports: int | None = None
    records_awaiting: int | None = None
    dbr_awaiting_reports: int | None = None
    other_awaiting_reports: int | None = None

    def __post_init__(self) -> None:
        for name in COUNT_FIELDS + AWAITING_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _count(value, name))
        for name in MAPPING_FIELDS:
            raw = getattr(self, name)
            if not isinstance(raw, Mapping):
                raise InputError(f"PRISMA counts, {name}: expected a mapping of name to count, "
                                 f"got {type(raw).__name__}")
            clean: dict[str, int] = {}
            for key, value in raw.items():
                label = str(key).strip()
                if not label:
                    raise InputError(f"PRISMA counts, {name}: empty name")
                if label in clean:
                    raise InputError(f"PRISMA counts, {name}: {label!r} given twice")
                clean[label] = _count(value, f"{name}[{label!r}]")
            object.__setattr__(self, name, MappingProxyType(clean))
        for total, parts in (("database_results", "database_specific_results"),
                             ("register_results", "register_specific_results"),
                             ("dbr_excluded", "dbr_excluded_reasons"),
                             ("other_excluded", "other_excluded_reasons")):
            if getattr(self, total) is None and getattr(self, parts):
                object.__setattr__(self, total, _sum(getattr(self, parts)))

    # -- views ----------------------------------------------------------------------------------

    @property
    def is_update(self) -> bool:
        """Whether this is an updated review (previous studies or reports are given)."""
        return self.previous_studies is not None or self.previous_reports is not None

    @property
    def has_other_methods(self) -> bool:
        """Whether records were identified by other methods (websites, organisations,
        citation searching), which adds the right-hand column to the diagram."""
        return any(getattr(self, f) is not None for f in (
            "website_results", "organisation_results", "citations_results",
            "other_sought_reports", "other_assessed"))

    def to_dict(self) -> dict[str, Any]:
        """The counts under the PRISMA2020 package's field names (plain JSON values).

        Mappings stay mappings (insertion order kept); ``dbr_excluded``/``other_excluded`` are
        totals, with the per-reason counts under ``dbr_excluded_reasons`` /
        ``other_excluded_reasons``. The :data:`AWAITING_FIELDS` (not PRISMA2020's) come last,
        and only when known.
        """
        return {f.name: (dict(getattr(self, f.name)) if f.name in MAPPING_FIELDS
                         else getattr(self, f.name)) for f in fields(self)
                if f.name not in AWAITING_FIELDS or getattr(self, f.name) is not None}

    def summary(self) -> str:
        """The counts as indented text, in the order of the diagram."""
        def n(x: int | None) -> str:
            return "NA" if x is None else f"{x:,}"

        lines = ["PRISMA 2020 flow"]
        if self.is_update:
            lines += [f"Previous review: studies {n(self.previous_studies)}, "
                      f"reports {n(self.previous_reports)}"]
        lines.append(f"Identified: databases {n(self.database_results)}, "
                     f"registers {n(self.register_results)}")
        for name, count in {**self.database_specific_results,
                            **self.register_specific_results}.items():
            lines.append(f"  {name}: {n(count)}")
        lines += [
            f"Removed before screening: duplicates {n(self.duplicates)}, automation "
            f"{n(self.excluded_automatic)}, other {n(self.excluded_other)}",
            f"Records screened {n(self.records_screened)}, excluded {n(self.records_excluded)}"
            + _awaiting(self.records_awaiting),
            f"Reports sought {n(self.dbr_sought_reports)}, not retrieved "
            f"{n(self.dbr_notretrieved_reports)}",
            f"Reports assessed {n(self.dbr_assessed)}, excluded {n(self.dbr_excluded)}"
            + _awaiting(self.dbr_awaiting_reports),
        ]
        lines += [f"  {k}: {n(v)}" for k, v in self.dbr_excluded_reasons.items()]
        if self.has_other_methods:
            lines += [
                f"Other methods: websites {n(self.website_results)}, organisations "
                f"{n(self.organisation_results)}, citation searching {n(self.citations_results)}",
                f"  reports sought {n(self.other_sought_reports)}, not retrieved "
                f"{n(self.other_notretrieved_reports)}, assessed {n(self.other_assessed)}, "
                f"excluded {n(self.other_excluded)}" + _awaiting(self.other_awaiting_reports),
            ]
            lines += [f"    {k}: {n(v)}" for k, v in self.other_excluded_reasons.items()]
        lines.append(f"Included: studies {n(self.new_studies)}, reports {n(self.new_reports)}")
        if self.is_update:
            lines.append(f"Total included: studies {n(self.total_studies)}, reports "
                         f"{n(self.total_reports)}")
        return "\n".join(lines)

    # -- consistency ----------------------------------------------------------------------------

    def check(self) -> list[str]:
        """Arithmetic problems in the counts, as one sentence each (empty list: consistent).

        Checks only relations whose numbers are all known (a ``None`` is skipped; a missing
        database/register total counts as 0 where the other is known):

        * ``database_results`` = sum of ``database_specific_results`` (same for registers);
        * ``records_screened`` = ``database_results + register_results - duplicates -
          excluded_automatic - excluded_other``;
        * ``dbr_sought_reports`` = ``records_screened - records_excluded - records_awaiting``
          (awaiting counts 0 when unknown);
        * ``dbr_assessed`` = ``dbr_sought_reports - dbr_notretrieved_reports -
          dbr_awaiting_reports``, and the same for other methods;
        * ``dbr_excluded`` = sum of ``dbr_excluded_reasons`` (same for other methods), and at
          most the reports assessed;
        * ``other_sought_reports`` <= records identified by other methods;
        * ``new_reports`` = reports assessed - reports excluded (both columns);
          ``new_studies`` <= ``new_reports``;
        * updated reviews: ``total_studies`` = ``previous_studies + new_studies`` and
          ``total_reports`` = ``previous_reports + new_reports``.
        """
        problems: list[str] = []

        def eq(lhs: str, value: int | None, rhs: str, expected: int | None) -> None:
            if value is not None and expected is not None and value != expected:
                problems.append(f"{lhs} is {value:,} but {rhs} is {expected:,}")

        def known(*names: str) -> bool:
            return all(getattr(self, x) is not None for x in names)

        for total, parts in (("database_results", "database_specific_results"),
                             ("register_results", "register_specific_results"),
                             ("dbr_excluded", "dbr_excluded_reasons"),
                             ("other_excluded", "other_excluded_reasons")):
            if getattr(self, parts):
                eq(total, getattr(self, total), f"the sum of {parts}",
                   _sum(getattr(self, parts)))

        identified = None
        if self.database_results is not None or self.register_results is not None:
            identified = (self.database_results or 0) + (self.register_results or 0)
        if identified is not None and known("duplicates", "excluded_automatic",
                                            "excluded_other"):
            removed = self.duplicates + self.excluded_automatic + self.excluded_other
            eq("records_screened", self.records_screened,
               "database_results + register_results - duplicates - excluded_automatic - "
               "excluded_other", identified - removed)
        if known("records_screened", "records_excluded"):
            # records awaiting classification are neither excluded nor sought yet
            waiting = self.records_awaiting or 0
            eq("dbr_sought_reports", self.dbr_sought_reports,
               "records_screened - records_excluded"
               + (" - records_awaiting" if waiting else ""),
               self.records_screened - self.records_excluded - waiting)
        for col in ("dbr", "other"):
            sought, missing = f"{col}_sought_reports", f"{col}_notretrieved_reports"
            if known(sought, missing):
                waiting = getattr(self, f"{col}_awaiting_reports") or 0
                eq(f"{col}_assessed", getattr(self, f"{col}_assessed"),
                   f"{sought} - {missing}" + (f" - {col}_awaiting_reports" if waiting else ""),
                   getattr(self, sought) - getattr(self, missing) - waiting)
            if known(f"{col}_assessed", f"{col}_excluded") and (
                    getattr(self, f"{col}_excluded") > getattr(self, f"{col}_assessed")):
                problems.append(f"{col}_excluded ({getattr(self, f'{col}_excluded'):,}) exceeds "
                                f"{col}_assessed ({getattr(self, f'{col}_assessed'):,})")
        other_found = [getattr(self, x) for x in ("website_results", "organisation_results",
                                                  "citations_results")]
        if self.other_sought_reports is not None and any(x is not None for x in other_found):
            total_other = sum(x or 0 for x in other_found)
            if self.other_sought_reports > total_other:
                problems.append(f"other_sought_reports ({self.other_sought_reports:,}) exceeds "
                                f"the records identified by other methods ({total_other:,})")
        if known("dbr_assessed", "dbr_excluded"):
            included = self.dbr_assessed - self.dbr_excluded
            rhs = "dbr_assessed - dbr_excluded"
            if self.has_other_methods:
                if known("other_assessed", "other_excluded"):
                    included += self.other_assessed - self.other_excluded
                    rhs += " + other_assessed - other_excluded"
                else:
                    included = None
            eq("new_reports", self.new_reports, rhs, included)
        if known("new_studies", "new_reports") and self.new_studies > self.new_reports:
            problems.append(f"new_studies ({self.new_studies:,}) exceeds new_reports "
                            f"({self.new_reports:,}): every study has at least one report")
        if self.is_update:
            for kind in ("studies", "reports"):
                prev, new = getattr(self, f"previous_{kind}"), getattr(self, f"new_{kind}")
                if prev is not None and new is not None:
                    eq(f"total_{kind}", getattr(self, f"total_{kind}"),
                       f"previous_{kind} + new_{kind}", prev + new)
        return problems

    # -- PRISMA2020 template --------------------------------------------------------------------

    def to_prisma2020_csv(self, path: str | PathLike[str] | None = None) -> str:
        """The counts in the PRISMA2020 package's CSV template (``inst/extdata/PRISMA.csv``).

        Columns ``data,node,box,description,boxtext,tooltips,url,n``; one row per field in the
        template's order. ``n`` holds the count, ``NA`` for None, and for the lists the
        package's ``"name, n; name, n"`` format (commas and semicolons inside a name are
        replaced, since the package splits on them). Read it back in R with
        ``PRISMA2020::PRISMA_data(read.csv(path))``.

        Parameters
        ----------
        path : str or path-like, optional
            Where to write the file (UTF-8); the text is returned either way.
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["data", "node", "box", "description", "boxtext", "tooltips", "url",
                         "n"])
        for data, node, box, description, boxtext in _TEMPLATE:
            if data in ("NA", "identification", "screening", "included"):
                n = "0"
            else:
                n = self._csv_value(data)
            tooltip = description if node != "NA" else "NA"
            url = f"{data if data != 'NA' else box}.html"
            writer.writerow([data, node, box, description, boxtext, tooltip, url, n])
        text = buf.getvalue()
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _csv_value(self, data: str) -> str:
        lists = {"database_specific_results": self.database_specific_results,
                 "register_specific_results": self.register_specific_results,
                 "dbr_excluded": self.dbr_excluded_reasons,
                 "other_excluded": self.other_excluded_reasons}
        if lists.get(data):
            return "; ".join(f"{_csv_name(k)}, {v}" for k, v in lists[data].items())
        value = getattr(self, data, None)
        if isinstance(value, Mapping):
            return "NA"
        return "NA" if value is None else str(value)


def _awaiting(n: int | None) -> str:
    return f", awaiting classification {n:,}" if n else ""


def _csv_name(name: str) -> str:
    # PRISMA2020's parser splits the cell on ';' and takes the text before the first ','.
    return name.replace(";", " -").replace(",", " -").strip()


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            raise InputError(f"PRISMA counts, {name}: {value!r} is not a count") from None
        if not as_float.is_integer():
            raise InputError(f"PRISMA counts, {name}: {value!r} is not a whole number")
        value = int(as_float)
    if value < 0:
        raise InputError(f"PRISMA counts, {name}: negative count ({value})")
    return int(value)


# (data, node, box, description, boxtext): the rows of the PRISMA2020 CSV template.
_TEMPLATE = (
    ("NA", "node4", "prevstud", "Grey title box; Previous studies", "Previous studies"),
    ("previous_studies", "node5", "box1", "Studies included in previous version of review",
     "Studies included in previous version of review"),
    ("previous_reports", "NA", "box1",
     "Reports of studies included in previous version of review",
     "Reports of studies included in previous version of review"),
    ("NA", "node6", "newstud",
     "Yellow title box; Identification of new studies via databases and registers",
     "Identification of new studies via databases and registers"),
    ("database_results", "node7", "box2", "Records identified from: Databases", "Databases"),
    ("database_specific_results", "NA", "box2", "Records identified from: specific databases",
     "Specific Databases"),
    ("register_results", "NA", "box2", "Records identified from: Registers", "Registers"),
    ("register_specific_results", "NA", "box2", "Records identified from: specific registers",
     "Specific Registers"),
    ("NA", "node16", "othstud",
     "Grey title box; Identification of new studies via other methods",
     "Identification of new studies via other methods"),
    ("website_results", "node17", "box11", "Records identified from: Websites", "Websites"),
    ("organisation_results", "NA", "box11", "Records identified from: Organisations",
     "Organisations"),
    ("citations_results", "NA", "box11", "Records identified from: Citation searching",
     "Citation searching"),
    ("duplicates", "node8", "box3", "Duplicate records", "Duplicate records"),
    ("excluded_automatic", "NA", "box3", "Records marked as ineligible by automation tools",
     "Records marked as ineligible by automation tools"),
    ("excluded_other", "NA", "box3", "Records removed for other reasons",
     "Records removed for other reasons"),
    ("records_screened", "node9", "box4", "Records screened (databases and registers)",
     "Records screened"),
    ("records_excluded", "node10", "box5", "Records excluded (databases and registers)",
     "Records excluded"),
    ("dbr_sought_reports", "node11", "box6",
     "Reports sought for retrieval (databases and registers)", "Reports sought for retrieval"),
    ("dbr_notretrieved_reports", "node12", "box7",
     "Reports not retrieved (databases and registers)", "Reports not retrieved"),
    ("other_sought_reports", "node18", "box12", "Reports sought for retrieval (other)",
     "Reports sought for retrieval"),
    ("other_notretrieved_reports", "node19", "box13", "Reports not retrieved (other)",
     "Reports not retrieved"),
    ("dbr_assessed", "node13", "box8",
     "Reports assessed for eligibility (databases and registers)",
     "Reports assessed for eligibility"),
    ("dbr_excluded", "node14", "box9", "Reports excluded (databases and registers)",
     "Reports excluded"),
    ("other_assessed", "node20", "box14", "Reports assessed for eligibility (other)",
     "Reports assessed for eligibility"),
    ("other_excluded", "node21", "box15", "Reports excluded (other)", "Reports excluded"),
    ("new_studies", "node15", "box10", "New studies included in review",
     "New studies included in review"),
    ("new_reports", "NA", "box10", "Reports of new included studies",
     "Reports of new included studies"),
    ("total_studies", "node22", "box16", "Total studies included in review",
     "Total studies included in review"),
    ("total_reports", "NA", "box16", "Reports of total included studies",
     "Reports of total included studies"),
    ("identification", "node1", "identification", "Blue identification box", "Identification"),
    ("screening", "node2", "screening", "Blue screening box", "Screening"),
    ("included", "node3", "included", "Blue included box", "Included"),
)


def report_prisma(review: ScreeningSource) -> PrismaCounts | None:
    """The flow a report of the project draws: the project's own counts, or None when it holds
    no records (a project made from a review folder), so the report shows the flow the review
    itself reported, as the folder's report does, instead of a diagram of zeros."""
    if not review.records():
        return None
    return prisma_counts(review)


def prisma_counts(review: ScreeningSource) -> PrismaCounts:
    """The review's PRISMA 2020 counts (see :func:`prisma_fields` for how each is counted).

    The other-methods fields are None when nothing was imported from other methods, so the
    diagram draws one column.
    """
    f = prisma_fields(review)
    # the totals are screening_progress()'s; the diagram takes them per column
    del f["pending_records"], f["pending_reports"]
    if not any(f[k] for k in ("website_results", "organisation_results", "citations_results")):
        for k in ("website_results", "organisation_results", "citations_results",
                  "other_sought_reports", "other_notretrieved_reports", "other_assessed",
                  "other_excluded", "other_awaiting_reports"):
            f[k] = None
        f["other_excluded_reasons"] = {}
    if not f["register_results"]:
        f["register_results"] = None
    return PrismaCounts(**f)


def screening_progress(review: ScreeningSource) -> dict[str, int]:
    """Records still to decide at title/abstract (pending or in conflict), and reports still to
    decide at full text (neither decided nor marked not retrieved)."""
    f = prisma_fields(review)
    return {"pending_records": f["pending_records"], "pending_reports": f["pending_reports"]}


def prisma_fields(review: ScreeningSource) -> dict[str, Any]:
    """The PRISMA 2020 counts of a review, under the PRISMA2020 R package's field names.

    Left column (databases and registers): identified per source, duplicates removed (the
    non-canonical records of the active de-duplication run that came from a database or
    register), automation exclusions, records screened and excluded at title/abstract, reports
    sought (included at title/abstract), not retrieved, assessed (a final full-text decision)
    and excluded per reason. Right column: the same from the reports of other methods.
    ``new_studies`` counts distinct studies among included reports (a report without a study
    link is its own study). Records screened but not decided (a vote missing, or a conflict
    unresolved) are ``records_awaiting``; reports neither decided nor marked not retrieved are
    ``dbr_awaiting_reports`` / ``other_awaiting_reports`` (and, summed, ``pending_reports``);
    none of these is a PRISMA2020 field.
    """
    stored = review.records()
    dup = review.duplicates()
    settings = review.settings()
    by_kind: dict[str, int] = defaultdict(int)
    per_source: dict[str, dict[str, int]] = {"database": defaultdict(int),
                                             "register": defaultdict(int)}
    for rec in stored.values():
        by_kind[rec.kind] += 1
        if rec.kind in per_source:
            per_source[rec.kind][rec.source] += 1
    ta = review.status("title_abstract")
    ft = review.status("full_text")
    retrieved = review.retrieval()
    studies = review.studies()
    automated = sum(st.state == "automated" for st in ta.values())

    def column(ids: list[int]) -> dict[str, Any]:
        not_retrieved = [r for r in ids if retrieved.get(r) is False]
        decided = [r for r in ids if r not in not_retrieved and ft[r].final is not None]
        excluded = [r for r in decided if ft[r].final == "exclude"]
        reasons: dict[str, int] = defaultdict(int)
        for r in excluded:
            reasons[(ft[r].reason or "no reason given").strip()] += 1
        return {"sought": len(ids), "notretrieved": len(not_retrieved),
                "assessed": len(decided), "excluded": len(excluded),
                "reasons": dict(sorted(reasons.items())),
                "included": [r for r in decided if ft[r].final == "include"],
                "pending": len(ids) - len(not_retrieved) - len(decided)}

    ft_ids = list(ft)
    dbr = column([r for r in ft_ids if stored[r].kind in DBR_KINDS])
    other = column([r for r in ft_ids if stored[r].kind in OTHER_KINDS])
    included = dbr["included"] + other["included"]
    new_studies = len({studies.get(r, f"report-{r}") for r in included})
    prev_s, prev_r = settings["previous_studies"], settings["previous_reports"]
    return {
        "previous_studies": prev_s,
        "previous_reports": prev_r,
        "database_results": by_kind["database"],
        "database_specific_results": dict(sorted(per_source["database"].items())),
        "register_results": by_kind["register"],
        "register_specific_results": dict(sorted(per_source["register"].items())),
        "website_results": by_kind["website"],
        "organisation_results": by_kind["organisation"],
        "citations_results": by_kind["citation"] + by_kind["other"],
        "duplicates": sum(stored[r].kind in DBR_KINDS for r in dup),
        "excluded_automatic": automated,
        "excluded_other": 0,
        "records_screened": len(ta) - automated,
        "records_excluded": sum(st.final == "exclude" and st.state != "automated"
                                for st in ta.values()),
        "dbr_sought_reports": dbr["sought"],
        "dbr_notretrieved_reports": dbr["notretrieved"],
        "other_sought_reports": other["sought"],
        "other_notretrieved_reports": other["notretrieved"],
        "dbr_assessed": dbr["assessed"],
        "dbr_excluded": dbr["excluded"],
        "dbr_excluded_reasons": dbr["reasons"],
        "other_assessed": other["assessed"],
        "other_excluded": other["excluded"],
        "other_excluded_reasons": other["reasons"],
        "new_studies": new_studies,
        "new_reports": len(included),
        "total_studies": None if prev_s is None else prev_s + new_studies,
        "total_reports": None if prev_r is None else prev_r + len(included),
        "records_awaiting": sum(st.state in ("pending", "conflict") for st in ta.values()),
        "dbr_awaiting_reports": dbr["pending"],
        "other_awaiting_reports": other["pending"],
        "pending_records": sum(st.state in ("pending", "conflict") for st in ta.values()),
        "pending_reports": dbr["pending"] + other["pending"],
    }
