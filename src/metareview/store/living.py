"""Keeping a review alive: re-run the saved searches, import what is new, rank it.

:func:`update_project` is what ``metareview update`` runs (and what a web button can call in
one line). For each saved PubMed search (:mod:`metareview.store.searches`) it asks PubMed for
the records entered since the search last ran (Entrez date, ``edat``), or for all of them when
it cannot (the first run, a changed query, or a search with date limits of its own, which
take PubMed's one date field); it skips the PMIDs the project already holds before fetching
anything, then the DOIs it holds, and imports the rest as one import batch per search, named
for the update, the search and the date. Every search is fetched before anything is stored, so
a PubMed error leaves the project as it was. Then it:

- saves the project's study data as it was before the update, ``updates/<n>-<date>/before/``
  (a review folder; ``metareview changes`` compares it with the data after screening and
  extraction of the new studies);
- de-duplicates everything again (:meth:`Project.dedupe`: earlier clusters, people's
  corrections and the records already screened are kept), so a new record that is an earlier
  one under another identifier joins its cluster and is not screened again;
- ranks the new records with the model trained on every final title/abstract decision so far
  (:func:`metareview.screening.ranking.model_ranker`), writes the ranking as
  ``updates/<n>-<date>/ranking.csv`` and logs the run in the audit log (``update``), which is
  where the next update reads when each search last ran.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.store import db
from metareview.store.audit import audit
from metareview.store.models import AuditRow, RecordRow
from metareview.store.project import DedupeSummary, Project, StoredRecord
from metareview.store.searches import SavedSearch, load_searches, searches_path

#: The folder of a project that holds one subfolder per update that imported records.
UPDATES_DIR = "updates"
#: Records fetched per efetch request.
FETCH_BATCH = 200
_STAGE = "title_abstract"


@dataclass(frozen=True)
class SearchRun:
    """One saved search run by an update: what PubMed found and what was imported."""

    search: str
    source: str
    query: str
    mode: str  # "entered since YYYY-MM-DD" or "all records"
    found: int
    known_pmid: int
    known_doi: int
    imported: int
    import_id: int | None = None
    query_translation: str = ""
    warnings: tuple[str, ...] = ()
    limits: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for people."""
        imp = f" (import {self.import_id})" if self.import_id is not None else ""
        return (f"{self.search} ({self.source}, {self.mode}): {self.found} found, "
                f"{self.known_pmid} known by PMID, {self.known_doi} by DOI, "
                f"{self.imported} imported{imp}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (also the audit-log entry of the run)."""
        return {"search": self.search, "source": self.source, "query": self.query,
                "mode": self.mode, "limits": dict(self.limits), "found": self.found,
                "known_pmid": self.known_pmid, "known_doi": self.known_doi,
                "imported": self.imported, "import": self.import_id,
                "query_translation": self.query_translation, "warnings": list(self.warnings)}


@dataclass(frozen=True)
class RankedRecord:
    """A new record in the update's ranking (``score`` None when no model could be fitted)."""

    rank: int
    record: int
    score: float | None
    search: str
    pmid: str
    doi: str
    year: int | None
    title: str
    journal: str

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"rank": self.rank, "record": self.record, "score": self.score,
                "search": self.search, "pmid": self.pmid, "doi": self.doi, "year": self.year,
                "title": self.title, "journal": self.journal}


@dataclass(frozen=True)
class UpdateResult:
    """What one ``metareview update`` did.

    ``new_records`` are the imported records to screen: not duplicates of each other or of
    records the project held before. ``ranking`` orders them by the model trained on
    ``trained_on`` = (included, excluded) final title/abstract decisions; ``ranking_note``
    says why there is no model-based order when there is none.
    """

    number: int
    ran_on: dt.date
    runs: tuple[SearchRun, ...]
    not_run: tuple[str, ...]
    dedupe: DedupeSummary | None
    duplicates_of_earlier: int
    new_records: tuple[int, ...]
    ranking: tuple[RankedRecord, ...]
    trained_on: tuple[int, int]
    ranking_note: str | None
    folder: Path | None
    snapshot: Path | None
    ranking_csv: Path | None

    @property
    def imported(self) -> int:
        """Records imported, over all searches."""
        return sum(r.imported for r in self.runs)

    def summary(self) -> str:
        """Lines for people: each search, then de-duplication, ranking and files."""
        lines = [f"update {self.number} on {self.ran_on.isoformat()}: {self.imported} new "
                 f"record{'' if self.imported == 1 else 's'} imported"]
        lines += [f"  {r.summary()}" for r in self.runs]
        lines += [f"  not run: {n}" for n in self.not_run]
        if self.dedupe is not None:
            lines.append(f"  {self.dedupe.summary()}")
            lines.append(f"  {self.duplicates_of_earlier} of the imported records duplicate "
                         f"earlier ones; {len(self.new_records)} new to screen")
        if self.ranking:
            inc, exc = self.trained_on
            how = (f"model trained on {inc + exc} final title/abstract decisions ({inc} "
                   f"included, {exc} excluded)" if self.ranking_note is None
                   else f"import order: {self.ranking_note}")
            lines.append(f"  ranked by {how}")
        if self.snapshot is not None:
            lines.append(f"  study data before the update saved in {self.snapshot}")
        if self.ranking_csv is not None:
            lines.append(f"  full ranking: {self.ranking_csv}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (``metareview update --json`` prints this)."""
        return {"update": self.number, "ran_on": self.ran_on.isoformat(),
                "imported": self.imported, "searches": [r.to_dict() for r in self.runs],
                "not_run": list(self.not_run),
                "dedupe": None if self.dedupe is None else self.dedupe.to_dict(),
                "duplicates_of_earlier": self.duplicates_of_earlier,
                "new_records": list(self.new_records),
                "trained_on": {"include": self.trained_on[0], "exclude": self.trained_on[1]},
                "ranking_note": self.ranking_note,
                "ranking": [r.to_dict() for r in self.ranking],
                "folder": None if self.folder is None else str(self.folder),
                "snapshot": None if self.snapshot is None else str(self.snapshot),
                "ranking_csv": None if self.ranking_csv is None else str(self.ranking_csv)}


# ---- what earlier runs left -------------------------------------------------------------------
def update_runs(project: Project) -> list[dict[str, Any]]:
    """The audit-log entries of earlier updates, oldest first (their ``detail``, with ``at``)."""
    with Session(project.engine) as s:
        rows = s.execute(select(AuditRow.at, AuditRow.detail).where(AuditRow.action == "update")
                         .order_by(AuditRow.id)).all()
    return [{**(d or {}), "at": at.isoformat()} for at, d in rows]


def last_runs(project: Project) -> dict[str, dict[str, Any]]:
    """Search id → the newest update's entry for it, with ``ran_on``, and ``runs`` and
    ``imported_total`` over every update that ran it."""
    out: dict[str, dict[str, Any]] = {}
    for run in update_runs(project):
        for entry in run.get("searches", []):
            sid = str(entry.get("search"))
            before = out.get(sid, {})
            out[sid] = {**entry, "ran_on": run.get("ran_on"),
                        "runs": before.get("runs", 0) + 1,
                        "imported_total": before.get("imported_total", 0)
                        + int(entry.get("imported", 0))}
    return out


def update_folders(root: str | Path) -> list[Path]:
    """The project's update folders (``updates/<n>-<date>``), oldest first."""
    base = Path(root) / UPDATES_DIR
    if not base.is_dir():
        return []
    found = [p for p in base.iterdir() if p.is_dir() and p.name.split("-", 1)[0].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-", 1)[0]))


def snapshot_before(root: str | Path, number: int | None = None) -> Path:
    """The study data saved before an update (the newest update that saved one by default).

    Raises
    ------
    InputError
        When no update saved study data (or update ``number`` did not).
    """
    folders = [f for f in update_folders(root) if (f / "before" / "protocol.yaml").is_file()]
    if number is not None:
        folders = [f for f in folders if int(f.name.split("-", 1)[0]) == number]
    if not folders:
        which = f"update {number}" if number is not None else "no update"
        raise InputError(f"{Path(root) / UPDATES_DIR}: {which} saved the study data before "
                         "it (an update saves it when it imports records into a project "
                         "with study data)")
    return folders[-1] / "before"


# ---- the update ------------------------------------------------------------------------------
class _FinalDecisions:
    """The project as :func:`model_ranker` reads it, with the final title/abstract decisions
    as the labels of the one "reviewer" the model learns from."""

    def __init__(self, project: Project, labels: Mapping[int, str]):
        self._project, self._labels = project, dict(labels)

    def records(self, ids: Iterable[int] | None = None) -> Mapping[int, StoredRecord]:
        return self._project.records(ids)

    def eligible(self, stage: str) -> list[int]:
        return self._project.eligible(stage)

    def own_labels(self, stage: str, reviewer: str) -> dict[int, str]:
        return dict(self._labels)


def final_labels(project: Project) -> dict[int, str]:
    """Record → final title/abstract decision (include/exclude), for every decided record."""
    return {r: st.final for r, st in project.status(_STAGE).items() if st.final is not None}


def _known(project: Project) -> tuple[set[str], set[str]]:
    """The PMIDs and DOIs of every record the project holds."""
    with Session(project.engine) as s:
        rows = s.execute(select(RecordRow.pmid, RecordRow.doi)).all()
    return {p for p, _ in rows if p}, {d.lower() for _, d in rows if d}


def _plan(search: SavedSearch, last: Mapping[str, Any] | None, today: dt.date
          ) -> tuple[str, dict[str, str]]:
    """How to run a search: since its last run by entry date when it can, else all records."""
    if search.mindate is not None:
        return "all records (the search has date limits of its own)", {
            "datetype": search.date_type, "mindate": search.mindate,
            "maxdate": search.maxdate or ""}
    if last is None or not last.get("ran_on"):
        return "all records (first run)", {}
    if last.get("query") != search.query:
        return "all records (the query changed since its last run)", {}
    since = dt.date.fromisoformat(str(last["ran_on"]))
    return f"entered since {since.isoformat()}", {
        "datetype": "edat", "mindate": since.strftime("%Y/%m/%d"),
        "maxdate": today.strftime("%Y/%m/%d")}


@dataclass
class _Fetched:
    search: SavedSearch
    mode: str
    limits: dict[str, str]
    found: int
    translation: str
    todo: list[str]  # PMIDs to fetch (not known)
    known_pmid: int
    history: Any = None  # the SearchResult, when its IDs did not all come back
    records: list[Record] = field(default_factory=list)
    known_doi: int = 0
    warnings: list[str] = field(default_factory=list)
    digest: Any = field(default_factory=hashlib.sha256)


def update_project(
    project: Project,
    *,
    client: Any = None,
    actor: str = "metareview",
    today: dt.date | None = None,
    classifier: str = "svm",
    progress: Callable[[int, int], None] | None = None,
) -> UpdateResult:
    """Re-run the project's saved PubMed searches, import the new records, de-duplicate and
    rank them (see the module's description).

    Parameters
    ----------
    project : Project
        The open project; its folder holds ``searches.yaml``.
    client : PubMedClient, optional
        The E-utilities client (default: NCBI's, with its rate limit).
    actor : str
        Who runs the update (audit log, imports).
    today : date, optional
        The date of the run (default: today, UTC).
    classifier : str
        The ranking model: svm, logistic or nb.
    progress : callable, optional
        ``progress(done, total)`` while records are fetched and de-duplicated.

    Returns
    -------
    UpdateResult

    Raises
    ------
    InputError
        When no search is saved, none of them is a PubMed search, or PubMed refuses a query or
        keeps failing (:class:`~metareview.records.pubmed.PubMedError`, naming the search);
        nothing is stored then.
    """
    from metareview.records.pubmed import PubMedClient, PubMedError

    root = Path(project.root)
    searches = load_searches(root)
    if not searches:
        raise InputError(f"{searches_path(root)}: no saved searches; save one first "
                         "('metareview search add', or the Updates page of the web app)")
    runnable = [s for s in searches if s.runnable]
    not_run = tuple(f"{s.id} ({s.source}, database {s.database}: no client here; import its "
                    "export with 'metareview import')" for s in searches if not s.runnable)
    if not runnable:
        raise InputError(f"{searches_path(root)}: none of the saved searches is a PubMed "
                         "search (database: pubmed), so there is nothing to re-run")
    today = today or dt.datetime.now(dt.UTC).date()
    client = client or PubMedClient()
    previous = update_runs(project)
    number = len(previous) + 1
    last = last_runs(project)
    pmids, dois = _known(project)

    # 1. ask PubMed, search by search; nothing is stored until every search has answered
    fetched: list[_Fetched] = []
    seen = set(pmids)
    for search in runnable:
        mode, limits = _plan(search, last.get(search.id), today)
        try:
            found = client.esearch(search.query, mindate=limits.get("mindate"),
                                   maxdate=limits.get("maxdate"),
                                   datetype=limits.get("datetype", "pdat"), usehistory=True)
        except PubMedError as exc:
            raise InputError(f"search {search.id}: {exc}") from None
        complete = len(found.ids) >= found.count
        ids = list(found.ids) if complete else []
        todo = [i for i in dict.fromkeys(ids) if i not in seen]
        seen.update(todo)
        f = _Fetched(search, mode, limits, found.count, found.query_translation, todo,
                     len(ids) - len(todo), None if complete else found,
                     warnings=[f"PubMed: {w}" for w in found.warnings])
        fetched.append(f)
    total = sum(len(f.todo) if f.history is None else f.found for f in fetched)
    done = 0
    if progress is not None:
        progress(0, total)
    for f in fetched:
        try:
            if f.history is not None:  # more than esearch lists: fetch all, then drop known
                batch = client.efetch(f.history, batch_size=FETCH_BATCH, searched_on=today)
                f.digest.update(batch.sha256.encode())
                fresh = [r for r in batch.records if r.pmid not in seen]
                f.known_pmid += len(batch.records) - len(fresh)
                seen.update(r.pmid for r in fresh if r.pmid)
                f.records += fresh
                f.warnings += batch.warnings
                done += f.found
                if progress is not None:
                    progress(done, total)
                continue
            for start in range(0, len(f.todo), FETCH_BATCH):
                chunk = f.todo[start:start + FETCH_BATCH]
                batch = client.efetch(chunk, batch_size=FETCH_BATCH, searched_on=today)
                f.digest.update(batch.sha256.encode())
                f.records += batch.records
                f.warnings += batch.warnings
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        except PubMedError as exc:
            raise InputError(f"search {f.search.id}: {exc}") from None
        # a DOI the project holds is a record it holds (under another PMID, or without one)
        kept = []
        for r in f.records:
            doi = r.doi.lower()
            if doi and doi in dois:
                f.known_doi += 1
            else:
                kept.append(r)
                if doi:
                    dois.add(doi)
        f.records = kept

    # 2. store: the study data as they were, then one import per search that found new records
    imported = sum(len(f.records) for f in fetched)
    folder = snapshot = None
    if imported:
        folder = root / UPDATES_DIR / f"{number:03d}-{today.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        snapshot = _snapshot(project, folder / "before")
    runs = []
    new_ids: list[int] = []
    search_of: dict[int, str] = {}
    for f in fetched:
        import_id = None
        if f.records:
            s = f.search
            batch = ImportBatch(
                records=tuple(replace(r, line=None) for r in f.records), source=s.source,
                kind="database", format="pubmed-xml",
                filename=(f"update {number} of {today.isoformat()}, search {s.id} "
                          f"({f.mode}): {s.query}")[:500],
                sha256=f.digest.hexdigest(), searched_on=today, warnings=tuple(f.warnings))
            import_id = project.add_import(batch, actor=actor, allow_repeat=True)
            ids = _import_records(project, import_id)
            new_ids += ids
            search_of.update(dict.fromkeys(ids, s.id))
        runs.append(SearchRun(f.search.id, f.search.source, f.search.query, f.mode, f.found,
                              f.known_pmid, f.known_doi, len(f.records), import_id,
                              f.translation, tuple(f.warnings), f.limits))
    with db.write_session(project.engine) as s:
        audit(s, actor, "update", {"update": number, "ran_on": today.isoformat(),
                                   "searches": [r.to_dict() for r in runs],
                                   "not_run": list(not_run),
                                   "folder": None if folder is None else folder.name})

    # 3. de-duplicate against everything, then rank what is new
    dedupe = None
    dup_earlier = 0
    to_screen: list[int] = []
    if new_ids:
        dedupe = project.dedupe(actor=actor, progress=progress)
        dup_earlier, to_screen = _new_after_dedupe(project, new_ids)
    labels = final_labels(project)
    ranking, trained, note = _rank(project, labels, to_screen, classifier)
    ranked = _describe(project, ranking, search_of)
    csv_path = None
    if folder is not None:
        csv_path = folder / "ranking.csv"
        _write_ranking(ranked, csv_path)
    return UpdateResult(number, today, tuple(runs), not_run, dedupe, dup_earlier,
                        tuple(to_screen), tuple(ranked), trained, note, folder, snapshot,
                        csv_path)


def _snapshot(project: Project, folder: Path) -> Path | None:
    """The project's study data as a review folder (None when it has none yet)."""
    try:
        data = project.review_data()
    except InputError:  # no protocol imported yet: no analyses to compare later
        return None
    from metareview.studies import write_folder

    return write_folder(data, folder)


def _import_records(project: Project, import_id: int) -> list[int]:
    with Session(project.engine) as s:
        return list(s.scalars(select(RecordRow.id).where(RecordRow.import_id == import_id)
                              .order_by(RecordRow.id)))


def _new_after_dedupe(project: Project, new_ids: Sequence[int]) -> tuple[int, list[int]]:
    """(imported records in a cluster with an earlier record, the new records to screen:
    canonical, up for title/abstract screening, and in no cluster with an earlier record)."""
    new = set(new_ids)
    clusters: dict[int, set[int]] = {}
    for c in project.dedupe_clusters():
        members = set(c.record_ids)
        for r in members:
            clusters[r] = members
    with_earlier = {r for r in new if r in clusters and clusters[r] - new}
    eligible = set(project.eligible(_STAGE))
    return len(with_earlier), [r for r in new_ids if r in eligible and r not in with_earlier]


def _rank(project: Project, labels: Mapping[int, str], ids: Sequence[int], classifier: str
          ) -> tuple[list[tuple[int, float | None]], tuple[int, int], str | None]:
    """The new records ranked by the model of the final decisions (import order when no
    model can be fitted), the (included, excluded) counts it learnt from, and why not."""
    eligible = set(project.eligible(_STAGE))
    inc = sum(v == "include" for r, v in labels.items() if r in eligible)
    exc = sum(v == "exclude" for r, v in labels.items() if r in eligible)
    if not ids:
        return [], (inc, exc), None
    if inc == 0 or exc == 0:
        why = ("no title/abstract decisions yet" if inc + exc == 0 else
               f"no {'included' if inc == 0 else 'excluded'} record decided yet")
        return [(r, None) for r in ids], (inc, exc), why
    from metareview.screening.ranking import model_ranker

    rank = model_ranker(classifier=classifier)
    source = _FinalDecisions(project, labels)
    return rank(source, _STAGE, "final decisions", list(ids)), (inc, exc), None  # type: ignore[arg-type]


def _describe(project: Project, ranking: Sequence[tuple[int, float | None]],
              search_of: Mapping[int, str]) -> list[RankedRecord]:
    stored = project.records([r for r, _ in ranking])
    out = []
    for n, (rid, score) in enumerate(ranking, 1):
        rec = stored[rid].record
        out.append(RankedRecord(n, rid, score, search_of.get(rid, ""), rec.pmid, rec.doi,
                                rec.year, rec.title, rec.journal))
    return out


def _inert(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP, CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write_ranking(ranked: Sequence[RankedRecord], path: Path) -> None:
    buf = io.StringIO()
    columns = ["rank", "record", "score", "search", "pmid", "doi", "year", "title", "journal"]
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in ranked:
        row = r.to_dict()
        row["score"] = "" if r.score is None else f"{r.score:.6g}"
        row["year"] = "" if r.year is None else r.year
        w.writerow({k: _inert(v) for k, v in row.items()})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    tmp.replace(path)
