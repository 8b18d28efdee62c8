"""A review project on disk: its settings file and its database.

``Project.create(path, name)`` makes a folder holding ``metareview.yaml`` (the name and the
database URL) and, by default, an embedded SQLite database ``review.sqlite``. Every method that
writes does so in one transaction, together with its audit-log row: a file is imported whole or
not at all, and a process killed mid-write loses only the transaction it was in.

Records reach screening through the newest de-duplication run that has not been undone: the
canonical record of each cluster is screened, the others are duplicates. Title/abstract
screening covers records found in databases and registers; records found by other methods
(websites, organisations, citation searching) go straight to full text, as in PRISMA 2020.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session

from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.screening.decisions import (
    STAGES,
    Status,
    Vote,
    check_decision,
    combine,
)
from metareview.screening.source import DBR_KINDS, KINDS, OTHER_KINDS
from metareview.store import db, extraction
from metareview.store import review_data as study_store
from metareview.store.audit import audit as _audit
from metareview.store.audit import now as _now
from metareview.store.models import (
    AuditRow,
    DecisionRow,
    DedupeMemberRow,
    DedupeRunRow,
    FullTextRow,
    ImportRow,
    RecordRow,
    RetrievalRow,
    ReviewerRow,
    ReviewRow,
    StudyLinkRow,
    StudyRow,
)
from metareview.studies import ReviewData, Study, load_folder, write_folder

SETTINGS = "metareview.yaml"
SQLITE_NAME = "review.sqlite"
#: The project folder's subfolder holding full texts, as ``<sha256>.pdf``.
FULLTEXT_DIR = "fulltext"
#: The largest full text accepted, in bytes (a scanned thesis fits, a video does not).
MAX_FULLTEXT_BYTES = 50_000_000
#: Full-text exclusion reasons of a project that has not set its own: the PICO(S) elements
#: plus setting and publication type, as review teams commonly configure them in Covidence.
#: "Full text not retrievable" is deliberately absent: PRISMA 2020 counts reports not
#: retrieved separately from reports excluded (:meth:`Project.set_retrieval`).
DEFAULT_EXCLUSION_REASONS = (
    "wrong population",
    "wrong intervention",
    "wrong comparator",
    "wrong outcomes",
    "wrong study design",
    "wrong setting",
    "wrong publication type",
    "duplicate report",
)
_RECORD_FIELDS = (
    "title", "abstract", "authors", "year", "journal", "volume", "issue", "pages", "doi",
    "pmid", "keywords", "url", "type", "source_key", "line", "label", "extra",
)


def study_id(name: str) -> str:
    """A study id from a name: lower case, runs of other characters as one hyphen
    (``"Alvarez 2023"`` → ``alvarez-2023``)."""
    sid = re.sub(r"[^a-z0-9_]+", "-", name.strip().lower()).strip("-")
    if not sid:
        raise InputError(f"study {name!r}: needs a letter or digit to make an id of")
    return sid



class PasswordInSettingsWarning(UserWarning):
    """``metareview.yaml`` holds a database password (written by an older metareview)."""


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: its id, its import and the record itself."""

    id: int
    import_id: int
    kind: str
    source: str
    record: Record


@dataclass(frozen=True)
class DedupeSummary:
    """What a de-duplication run found (``dedupe --json`` prints :meth:`to_dict`)."""

    run_id: int
    records: int
    clusters: int
    duplicates: int
    corrections: int = 0

    def summary(self) -> str:
        """One line for people."""
        kept = (f"; {self.corrections} manual "
                f"{'correction' if self.corrections == 1 else 'corrections'} kept"
                if self.corrections else "")
        return (f"de-duplication run {self.run_id}: {self.records} records, {self.clusters} "
                f"clusters of duplicates, {self.duplicates} duplicates removed{kept}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (``corrections`` only when there were any)."""
        out = {"run": self.run_id, "records": self.records, "clusters": self.clusters,
               "duplicates": self.duplicates}
        if self.corrections:
            out["corrections"] = self.corrections
        return out


@dataclass(frozen=True)
class DedupeCluster:
    """One cluster of duplicate records in a de-duplication run.

    Attributes
    ----------
    run_id : int
        The run the cluster belongs to.
    cluster : int
        The cluster's number; kept through merges, splits and changes of the record kept, so
        a reviewer can follow a cluster while editing.
    record_ids : tuple of int
        Every member, ascending (two or more).
    canonical : int
        The member kept (screened); the others are duplicates.
    candidates : tuple of int
        The members that may be kept (:meth:`Project.set_canonical`): those with screening
        decisions if any has one, else those from a database or register if any, else all.
    """

    run_id: int
    cluster: int
    record_ids: tuple[int, ...]
    canonical: int
    candidates: tuple[int, ...]

    @property
    def duplicates(self) -> tuple[int, ...]:
        """The members that are not kept."""
        return tuple(r for r in self.record_ids if r != self.canonical)

    def summary(self) -> str:
        """One line for people."""
        dups = ", ".join(map(str, self.duplicates))
        return (f"cluster {self.cluster}: record {self.canonical} kept, "
                f"{'duplicate' if len(self.duplicates) == 1 else 'duplicates'} {dups}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"run": self.run_id, "cluster": self.cluster, "records": list(self.record_ids),
                "canonical": self.canonical, "duplicates": list(self.duplicates),
                "candidates": list(self.candidates)}


@dataclass(frozen=True)
class FullText:
    """A full text (PDF) attached to a record; the file is ``fulltext/<sha256>.pdf`` in the
    project folder, and ``filename`` is only the uploader's name for it."""

    id: int
    record_id: int
    filename: str
    sha256: str
    size: int
    uploaded_by: str
    uploaded_at: dt.datetime

    def summary(self) -> str:
        """One line for people."""
        return (f"full text {self.id} of record {self.record_id}: {self.filename} "
                f"({_size(self.size)}), uploaded by {self.uploaded_by} on "
                f"{self.uploaded_at:%Y-%m-%d}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"id": self.id, "record": self.record_id, "filename": self.filename,
                "sha256": self.sha256, "size": self.size, "uploaded_by": self.uploaded_by,
                "uploaded_at": self.uploaded_at.isoformat()}


class Project:
    """A review project: settings plus a SQLAlchemy engine on its database.

    Use :meth:`create` or :meth:`open`; close with :meth:`close` (or a ``with`` block).
    """

    def __init__(self, root: Path, engine: Engine):
        self.root = root
        self.engine = engine
        # canonical() keyed by what it depends on (records only grow; dedupe runs change)
        self._canonical: tuple[tuple[Any, ...], list[tuple[int, str]]] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        name: str | None = None,
        *,
        db_url: str | None = None,
        criteria: str = "",
        reviewers_required: int = 2,
        ta_reasons: bool = False,
        actor: str = "metareview",
    ) -> Project:
        """Create a review folder and its database (SQLite unless ``db_url`` is given).

        A password in ``db_url`` is used to connect now but not stored: ``metareview.yaml``
        gets the URL without it, and :meth:`open` finds it elsewhere. ``ta_reasons`` makes the
        screener offer exclusion reasons at title/abstract too (see :meth:`set_ta_reasons`).

        Raises
        ------
        InputError
            If the folder already holds a review, the database already holds one, or the
            database cannot be reached.
        """
        root = Path(path)
        if (root / SETTINGS).exists():
            raise InputError(f"{root / SETTINGS}: a review already exists here")
        if reviewers_required not in (1, 2):
            raise InputError(f"reviewers per record must be 1 or 2, not {reviewers_required}")
        root.mkdir(parents=True, exist_ok=True)
        url = db_url or db.sqlite_url(root / SQLITE_NAME)
        engine = db.connect(url)
        db.upgrade(engine)
        with db.write_session(engine) as s:
            if s.scalar(select(func.count()).select_from(ReviewRow)):
                raise InputError(f"database {engine.url.render_as_string()} already holds a "
                                 "review; use an empty database")
            s.add(ReviewRow(name=name or root.name, created_at=_now(), criteria=criteria,
                            reviewers_required=reviewers_required, ta_reasons=ta_reasons))
            _audit(s, actor, "init", {"name": name or root.name, "dialect": engine.dialect.name,
                                      "ta_reasons": ta_reasons})
        # the password, if any, stays out of the folder (see :meth:`open` for where it is found)
        settings = {"name": name or root.name,
                    "database": db.strip_password(db_url) if db_url else SQLITE_NAME}
        tmp = root / (SETTINGS + ".tmp")
        tmp.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
        tmp.replace(root / SETTINGS)
        return cls(root, engine)

    @classmethod
    def open(cls, path: str | Path = ".", *, credentials: Sequence[str] = ()) -> Project:
        """Open the review in ``path`` and bring its schema up to date.

        A PostgreSQL URL in ``metareview.yaml`` has no password: it comes from the
        ``METAREVIEW_DATABASE_URL`` environment variable when that names the same database,
        else from libpq (``PGPASSWORD``, ``~/.pgpass`` or a service file). An older settings
        file that holds a password still opens, with a :class:`PasswordInSettingsWarning`.
        ``credentials``: database URLs the caller holds (the web app's own), whose password is
        used for the same database (see :func:`metareview.store.db.resolve_url`).

        Raises
        ------
        InputError
            If there is no review there or its database cannot be reached.
        """
        root = Path(path)
        settings_file = root / SETTINGS
        if not settings_file.exists():
            raise InputError(f"{root}: no review here (no {SETTINGS}); run 'metareview init'")
        try:
            settings = yaml.safe_load(settings_file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise InputError(f"{settings_file}: not valid YAML ({exc})") from None
        url = str(settings.get("database", SQLITE_NAME))
        if "://" not in url:
            url = db.sqlite_url(root / url)
        elif db.has_password(url):
            warnings.warn(f"{settings_file}: the database URL holds a password; remove it "
                          f"and give it as {db.URL_VARIABLE}, PGPASSWORD or in ~/.pgpass",
                          PasswordInSettingsWarning, stacklevel=2)
        engine = db.connect(db.resolve_url(url, credentials))
        db.upgrade(engine)
        return cls(root, engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings --------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """Name, criteria, reviewers per record, whether title/abstract exclusions are asked
        for a reason (``ta_reasons``), the terms highlighted for screeners (``include_terms``,
        ``exclude_terms``), the shared full-text ``exclusion_reasons`` (the defaults,
        :data:`DEFAULT_EXCLUSION_REASONS`, until the project sets its own) and the previous
        review's counts."""
        with Session(self.engine) as s:
            r = s.scalars(select(ReviewRow)).one()
            return {"name": r.name, "criteria": r.criteria,
                    "reviewers_required": r.reviewers_required,
                    "ta_reasons": bool(r.ta_reasons),
                    "include_terms": _lines(r.include_terms),
                    "exclude_terms": _lines(r.exclude_terms),
                    "assignment": r.assignment or "everyone",
                    "exclusion_reasons": (_lines(r.exclusion_reasons)
                                          or list(DEFAULT_EXCLUSION_REASONS)),
                    "previous_studies": r.previous_studies,
                    "previous_reports": r.previous_reports,
                    "database": self.engine.dialect.name}

    # -- imports ---------------------------------------------------------------------------

    def add_import(self, batch: ImportBatch, *, actor: str = "metareview",
                   allow_repeat: bool = False) -> int:
        """Store one imported file's records, all or nothing; returns the import's id.

        Raises
        ------
        InputError
            If the source kind is unknown, or the same file (same bytes) was imported before
            and ``allow_repeat`` is false (then the error's ``parameter`` is
            ``"allow_repeat"``).
        """
        if batch.kind not in KINDS:
            raise InputError(f"{batch.filename}: source kind {batch.kind!r}: expected one of "
                             f"{', '.join(KINDS)}")
        if not batch.records:
            raise InputError(f"{batch.filename}: no records to import")
        with db.write_session(self.engine) as s:
            if batch.sha256 and not allow_repeat:
                prev = s.scalars(select(ImportRow).where(ImportRow.sha256 == batch.sha256)).first()
                if prev is not None:
                    # parameter names what overrides this (a front end words the hint)
                    raise InputError(f"{batch.filename}: already imported (import {prev.id}, "
                                     f"{prev.filename} from {prev.source})",
                                     parameter="allow_repeat")
            row = ImportRow(source=batch.source, kind=batch.kind, format=batch.format,
                            filename=batch.filename, sha256=batch.sha256,
                            searched_on=batch.searched_on, imported_at=_now(),
                            imported_by=actor, n_records=len(batch.records),
                            warnings=list(batch.warnings))
            s.add(row)
            s.flush()
            rows = []
            for pos, rec in enumerate(batch.records):
                d = rec.to_dict()
                rows.append({"import_id": row.id, "position": pos,
                             **{k: d[k] for k in _RECORD_FIELDS}})
            for start in range(0, len(rows), 5000):
                s.execute(insert(RecordRow), rows[start:start + 5000])
            _audit(s, actor, "import", {"import": row.id, **batch.to_dict()})
            return row.id

    def imports(self) -> list[dict[str, Any]]:
        """Every import, oldest first."""
        with Session(self.engine) as s:
            return [{"id": r.id, "source": r.source, "kind": r.kind, "format": r.format,
                     "filename": r.filename, "records": r.n_records,
                     "searched_on": r.searched_on.isoformat() if r.searched_on else None,
                     "imported_at": r.imported_at.isoformat(), "imported_by": r.imported_by}
                    for r in s.scalars(select(ImportRow).order_by(ImportRow.id))]

    def records(self, ids: Iterable[int] | None = None) -> dict[int, StoredRecord]:
        """Stored records by id (all of them, or those in ``ids``), in import order."""
        q = (select(RecordRow, ImportRow.kind, ImportRow.source)
             .join(ImportRow, RecordRow.import_id == ImportRow.id).order_by(RecordRow.id))
        if ids is None:
            queries = [q]
        else:  # in SQL, in chunks (SQLite limits bound parameters)
            wanted = sorted(set(ids))
            queries = [q.where(RecordRow.id.in_(wanted[i:i + 5000]))
                       for i in range(0, len(wanted), 5000)]
        out: dict[int, StoredRecord] = {}
        with Session(self.engine) as s:
            for query in queries:
                for row, kind, source in s.execute(query):
                    rec = Record.from_dict({k: getattr(row, k) for k in _RECORD_FIELDS})
                    out[row.id] = StoredRecord(row.id, row.import_id, kind, source, rec)
        return out

    # -- de-duplication --------------------------------------------------------------------

    def dedupe(self, *, actor: str = "metareview",
               progress: Callable[[int, int], None] | None = None,
               **params: Any) -> DedupeSummary:
        """De-duplicate every stored record and store the clusters as a new run.

        The canonical record of a cluster is the de-duplicator's choice, except that a
        record already screened, and then a record from a database or register, is preferred
        (so no decision is orphaned and PRISMA's left column keeps the record).
        ``params`` go to :func:`metareview.records.dedupe.find_duplicates`.

        The corrections people made to the active run (:meth:`merge_records`,
        :meth:`split_record`, :meth:`set_canonical`) are made again, in their order, on the
        new clusters: a record split off stays out of its cluster, records merged stay
        together, and a record chosen to be kept is kept where the rule above allows.
        """
        from metareview.records.dedupe import find_duplicates, merge, split

        stored = self.records()
        ids = list(stored)
        result = find_duplicates([stored[i].record for i in ids], progress=progress, **params)
        with Session(self.engine) as s:
            corrections = self._corrections(s)
        position = {r: i for i, r in enumerate(ids)}
        chosen: list[int] = []
        for edit, records in corrections:
            at = [position[r] for r in records if r in position]
            if edit == "merge":
                for j in at[1:]:
                    result = merge(result, at[0], j)
            elif edit == "split" and at:
                result = split(result, at[0])
            elif edit == "canonical":
                chosen = [r for r in chosen if r not in records] + list(records)
        with db.write_session(self.engine) as s:
            decided = set(s.scalars(select(DecisionRow.record_id).distinct()))
            run = DedupeRunRow(created_at=_now(), created_by=actor,
                               params={k: repr(v) for k, v in params.items()},
                               n_records=len(ids), n_clusters=0, n_duplicates=0)
            s.add(run)
            s.flush()
            members = []
            n_clusters = n_dup = 0
            for c, (cluster, canon) in enumerate(zip(result.clusters, result.canonical,
                                                     strict=True)):
                if len(cluster) < 2:
                    continue
                rid = [ids[i] for i in cluster]
                canon_id = ids[canon]
                prefer = [r for r in rid if r in decided] or [
                    r for r in rid if stored[r].kind in DBR_KINDS]
                if prefer and canon_id not in prefer:
                    canon_id = prefer[0]
                # the newest choice of a person among this cluster's members, if allowed
                wanted = [r for r in reversed(chosen) if r in rid and (not prefer or r in prefer)]
                if wanted:
                    canon_id = wanted[0]
                n_clusters += 1
                n_dup += len(rid) - 1
                members += [{"run_id": run.id, "record_id": r, "cluster": c,
                             "canonical": r == canon_id} for r in rid]
            if members:
                s.execute(insert(DedupeMemberRow), members)
            run.n_clusters, run.n_duplicates = n_clusters, n_dup
            if corrections:  # kept with the run, so the next re-run makes them again too
                run.params = {**run.params,
                              "corrections": [[e, list(r)] for e, r in corrections]}
            _audit(s, actor, "dedupe", {"run": run.id, "records": len(ids),
                                        "clusters": n_clusters, "duplicates": n_dup,
                                        "corrections": len(corrections)})
            return DedupeSummary(run.id, len(ids), n_clusters, n_dup, len(corrections))

    def _corrections(self, s: Session) -> list[tuple[str, list[int]]]:
        """The people's edits the active run is made of, oldest first, as ``(edit,
        records)``: its chain of edited runs back to the last run of the de-duplicator, and
        the corrections that run made again (an edit undone is not in the chain)."""
        out: list[tuple[str, list[int]]] = []
        run = self._active_run(s)
        while run is not None:
            params = run.params or {}
            if "edit" in params:
                out.append((str(params["edit"]), [int(r) for r in params.get("records", [])]))
                base = params.get("base_run")
                run = s.get(DedupeRunRow, base) if base is not None else None
                continue
            out.extend((str(e), [int(r) for r in recs])
                       for e, recs in reversed(params.get("corrections", [])))
            break
        return out[::-1]

    def undo_dedupe(self, *, actor: str = "metareview") -> int:
        """Undo the newest active de-duplication run (its clusters stay, marked undone).

        Returns the run's id.

        Raises
        ------
        InputError
            If there is no active run.
        """
        with db.write_session(self.engine) as s:
            self._lock_dedupe(s)
            run = self._active_run(s)
            if run is None:
                raise InputError("no de-duplication run to undo")
            run.undone_at, run.undone_by = _now(), actor
            _audit(s, actor, "undo-dedupe", {"run": run.id})
            return run.id

    @staticmethod
    def _active_run(s: Session) -> DedupeRunRow | None:
        return s.scalars(select(DedupeRunRow).where(DedupeRunRow.undone_at.is_(None))
                         .order_by(DedupeRunRow.id.desc())).first()

    def duplicates(self) -> dict[int, int]:
        """Record id → canonical record id, for every duplicate in the active run."""
        with Session(self.engine) as s:
            return self._duplicates_in(s, self._active_run(s))

    @staticmethod
    def _duplicates_in(s: Session, run: DedupeRunRow | None) -> dict[int, int]:
        """:meth:`duplicates` of ``run``, read in the caller's session."""
        if run is None:
            return {}
        rows = s.execute(select(DedupeMemberRow.record_id, DedupeMemberRow.cluster,
                                DedupeMemberRow.canonical)
                         .where(DedupeMemberRow.run_id == run.id)).all()
        canon = {c: r for r, c, is_c in rows if is_c}
        return {r: canon[c] for r, c, is_c in rows if not is_c}

    def dedupe_clusters(self) -> list[DedupeCluster]:
        """The active run's clusters of duplicates (an empty list when there is no active
        run), by cluster number: a cluster keeps its place while it is corrected, and one
        made by a merge comes last."""
        with Session(self.engine) as s:
            run = self._active_run(s)
            if run is None:
                return []
            groups, canon = self._run_clusters(s, run.id)
            decided, kinds = self._keep_rule(s, select(DedupeMemberRow.record_id).where(
                DedupeMemberRow.run_id == run.id))
        out = [DedupeCluster(run.id, c, tuple(sorted(g)), canon[c],
                             tuple(sorted(self._candidates(g, decided, kinds))))
               for c, g in groups.items()]
        return sorted(out, key=lambda c: c.cluster)

    def merge_records(self, record_ids: Iterable[int], *, actor: str) -> DedupeCluster:
        """Make records, and the whole clusters they belong to, one cluster of duplicates.

        A reviewer's correction, stored as a new de-duplication run: the active run with this
        change (``params`` name the edit and the run it started from), so
        :meth:`undo_dedupe` restores the clusters as they were. The record kept follows
        :meth:`dedupe`'s rule (a record with screening decisions, then one from a database or
        register), then a record that was kept before the merge, then the de-duplicator's
        preference (:func:`metareview.records.dedupe.canonical_priority`). Without an active
        run the merge makes the first.

        Returns
        -------
        DedupeCluster
            The cluster that now holds the records.

        Raises
        ------
        InputError
            Fewer than two different records, an unknown record, or records already in one
            cluster; nothing is changed then.
        """
        ids = list(dict.fromkeys(int(r) for r in record_ids))
        if len(ids) < 2:
            raise InputError(f"a merge needs two or more different records, not "
                             f"{', '.join(map(str, ids)) or 'none'}")
        with db.write_session(self.engine) as s:
            base, groups, canon = self._begin_edit(s, ids)
            where = {r: c for c, g in groups.items() for r in g}
            joined = sorted({where[r] for r in ids if r in where})
            if len(joined) == 1 and all(r in where for r in ids):
                raise InputError(f"records {self._listing(ids)} are already one cluster "
                                 f"(cluster {joined[0]})")
            members = sorted(set(ids).union(*(groups[c] for c in joined)))
            # Records not in a cluster were up for screening as well as each cluster's kept
            # record: keeping one of them keeps what reviewers have seen.
            kept_before = {canon[c] for c in joined} | {r for r in ids if r not in where}
            number = joined[0] if joined else max(groups, default=-1) + 1
            for c in joined:
                del groups[c], canon[c]
            groups[number], canon[number] = members, self._choose(s, members, kept_before)
            run_id = self._write_edit(s, base, groups, canon, actor=actor, edit="merge",
                                      detail={"records": ids, "cluster": number})
            return self._cluster_value(s, run_id, number, members, canon[number])

    def split_record(self, record_id: int, *, actor: str) -> DedupeCluster | None:
        """Take a record out of its cluster of duplicates: it is not a duplicate after all.

        Stored as a new run like :meth:`merge_records`. A cluster left with one record
        dissolves; when the record taken out was the one kept, the rest of the cluster keeps
        another by :meth:`dedupe`'s rule.

        Returns
        -------
        DedupeCluster or None
            What is left of the cluster (None when it dissolved).

        Raises
        ------
        InputError
            An unknown record, or one not in a cluster; nothing is changed then.
        """
        with db.write_session(self.engine) as s:
            base, groups, canon = self._begin_edit(s, [record_id])
            number = next((c for c, g in groups.items() if record_id in g), None)
            if number is None:
                raise InputError(f"record {record_id} is not in a cluster of duplicates")
            rest = [r for r in groups[number] if r != record_id]
            if len(rest) < 2:
                del groups[number], canon[number]
            else:
                groups[number] = rest
                if canon[number] == record_id:
                    canon[number] = self._choose(s, rest, set())
            run_id = self._write_edit(s, base, groups, canon, actor=actor, edit="split",
                                      detail={"records": [record_id], "cluster": number})
            if number not in groups:
                return None
            return self._cluster_value(s, run_id, number, rest, canon[number])

    def set_canonical(self, record_id: int, *, actor: str) -> DedupeCluster:
        """Keep this record of its cluster (screen it) and make the others its duplicates.

        Stored as a new run like :meth:`merge_records`. Only a candidate of
        :class:`DedupeCluster` may be kept, so that no screening decision is orphaned.

        Raises
        ------
        InputError
            An unknown record, one not in a cluster or already kept, or one that may not be
            kept; nothing is changed then.
        """
        with db.write_session(self.engine) as s:
            base, groups, canon = self._begin_edit(s, [record_id])
            number = next((c for c, g in groups.items() if record_id in g), None)
            if number is None:
                raise InputError(f"record {record_id} is not in a cluster of duplicates")
            if canon[number] == record_id:
                raise InputError(f"record {record_id} is already the record kept in cluster "
                                 f"{number}")
            decided, kinds = self._keep_rule(s, groups[number])
            allowed = self._candidates(groups[number], decided, kinds)
            if record_id not in allowed:
                many = len(allowed) > 1
                who = f"record{'s' if many else ''} {self._listing(allowed)} of cluster {number}"
                why = (f"{who} {'have' if many else 'has'} screening decisions and it has none"
                       if decided else f"{who} {'come' if many else 'comes'} from a database "
                       "or register and it does not")
                raise InputError(f"record {record_id} cannot be kept: {why}")
            canon[number] = record_id
            run_id = self._write_edit(s, base, groups, canon, actor=actor, edit="canonical",
                                      detail={"records": [record_id], "cluster": number})
            return self._cluster_value(s, run_id, number, groups[number], record_id)

    @staticmethod
    def _listing(ids: Sequence[int]) -> str:
        """Record ids for a message: ``12, 45 and 46``."""
        words = [str(r) for r in ids]
        return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"

    @staticmethod
    def _lock_dedupe(s: Session) -> None:
        """Make edits of the active run wait for each other (PostgreSQL; SQLite's write
        transactions are serial already): an edit copies the active run, so two at once
        would lose one. The review's row is the lock; the active run is read after it."""
        s.scalars(select(ReviewRow.id).with_for_update()).one()

    def _begin_edit(self, s: Session, ids: Sequence[int]
                    ) -> tuple[DedupeRunRow | None, dict[int, list[int]], dict[int, int]]:
        """Lock, check that ``ids`` exist, and read the active run's clusters to edit."""
        self._lock_dedupe(s)
        found = set(s.scalars(select(RecordRow.id).where(RecordRow.id.in_(ids))))
        missing = [r for r in ids if r not in found]
        if missing:
            raise InputError(f"record {missing[0]}: no such record")
        base = self._active_run(s)
        groups, canon = ({}, {}) if base is None else self._run_clusters(s, base.id)
        return base, groups, canon

    @staticmethod
    def _run_clusters(s: Session, run_id: int) -> tuple[dict[int, list[int]], dict[int, int]]:
        """A run's clusters: number → members (ascending), number → the record kept."""
        groups: dict[int, list[int]] = defaultdict(list)
        canon: dict[int, int] = {}
        for r, c, is_c in s.execute(select(DedupeMemberRow.record_id, DedupeMemberRow.cluster,
                                           DedupeMemberRow.canonical)
                                    .where(DedupeMemberRow.run_id == run_id)
                                    .order_by(DedupeMemberRow.record_id)):
            groups[c].append(r)
            if is_c:
                canon[c] = r
        return dict(groups), canon

    @staticmethod
    def _keep_rule(s: Session, ids: Any) -> tuple[set[int], dict[int, str]]:
        """What :meth:`dedupe`'s choice of the record kept reads, for ``ids`` (a list or a
        subquery): which have screening decisions, and each one's kind of source."""
        decided = set(s.scalars(select(DecisionRow.record_id)
                                .where(DecisionRow.record_id.in_(ids)).distinct()))
        kinds = dict(s.execute(select(RecordRow.id, ImportRow.kind)
                               .join(ImportRow, RecordRow.import_id == ImportRow.id)
                               .where(RecordRow.id.in_(ids))).all())
        return decided, kinds

    @staticmethod
    def _candidates(members: Sequence[int], decided: set[int],
                    kinds: Mapping[int, str]) -> list[int]:
        """The members that may be kept: as :meth:`dedupe` prefers them."""
        return ([r for r in members if r in decided]
                or [r for r in members if kinds[r] in DBR_KINDS] or list(members))

    def _choose(self, s: Session, members: Sequence[int], kept_before: set[int]) -> int:
        """The record to keep of a changed cluster: a candidate, one kept before if any, then
        the de-duplicator's preference among them."""
        from metareview.records.dedupe import canonical_priority
        from metareview.records.normalize import match_keys

        decided, kinds = self._keep_rule(s, members)
        cands = sorted(self._candidates(members, decided, kinds))
        rows = s.scalars(select(RecordRow).where(RecordRow.id.in_(cands))
                         .order_by(RecordRow.id)).all()
        recs = [Record.from_dict({k: getattr(row, k) for k in _RECORD_FIELDS}) for row in rows]
        rank = dict(zip(cands, canonical_priority(recs, match_keys(recs)).tolist(),
                        strict=True))
        return min(cands, key=lambda r: (r not in kept_before, rank[r]))

    @staticmethod
    def _write_edit(s: Session, base: DedupeRunRow | None, groups: Mapping[int, list[int]],
                    canon: Mapping[int, int], *, actor: str, edit: str,
                    detail: dict[str, Any]) -> int:
        """Store the edited clusters as a new run, with its audit row; returns its id."""
        n_records = s.scalar(select(func.count()).select_from(RecordRow))
        n_dup = sum(len(g) - 1 for g in groups.values())
        params = {"edit": edit, "base_run": None if base is None else base.id, **detail}
        run = DedupeRunRow(created_at=_now(), created_by=actor, params=params,
                           n_records=n_records, n_clusters=len(groups), n_duplicates=n_dup)
        s.add(run)
        s.flush()
        rows = [{"run_id": run.id, "record_id": r, "cluster": c, "canonical": r == canon[c]}
                for c, g in groups.items() for r in g]
        for start in range(0, len(rows), 5000):
            s.execute(insert(DedupeMemberRow), rows[start:start + 5000])
        _audit(s, actor, f"dedupe-{edit}", {"run": run.id, **params, "clusters": len(groups),
                                            "duplicates": n_dup})
        return run.id

    def _cluster_value(self, s: Session, run_id: int, number: int, members: Sequence[int],
                       canonical: int) -> DedupeCluster:
        decided, kinds = self._keep_rule(s, members)
        return DedupeCluster(run_id, number, tuple(sorted(members)), canonical,
                             tuple(sorted(self._candidates(members, decided, kinds))))

    # -- reviewers and decisions -----------------------------------------------------------

    def _reviewer(self, s: Session, name: str, *, lock: bool = False) -> int:
        """The reviewer's id, adding the reviewer if new (safe when processes race to add).

        With ``lock`` the reviewer's row is locked until the transaction ends (PostgreSQL;
        SQLite's write transactions are serial already): one reviewer's votes then build on
        each other one at a time, so no two rows supersede the same vote.
        """
        name = name.strip()
        if not name:
            raise InputError("reviewer name is empty")
        q = select(ReviewerRow.id).where(ReviewerRow.name == name)
        if lock:
            q = q.with_for_update()
        rid = s.execute(q).scalar()
        if rid is None:  # a racing process may add the same name first: then take theirs
            new = db.insert_new(s, ReviewerRow).values(name=name, created_at=_now())
            s.execute(new)
            rid = s.execute(q).scalar_one()
        return rid

    def _check_record(self, s: Session, record_id: int) -> None:
        if s.get(RecordRow, record_id) is None:
            raise InputError(f"record {record_id}: no such record")

    def decide(self, record_id: int, stage: str, reviewer: str, value: str,
               reason: str | None = None, note: str | None = None) -> int:
        """Store a reviewer's vote; returns the decision's id.

        A changed mind is a new row; the earlier vote stays in the history.

        Raises
        ------
        InputError
            Unknown record, stage or value, a full-text exclusion without a reason, or a
            record that is a duplicate or not (yet) at this stage.
        """
        return self.decide_many([(record_id, value, reason, note)], stage=stage,
                                reviewer=reviewer)[0]

    def decide_many(self, votes: Sequence[tuple[int, str, str | None, str | None]], *,
                    stage: str, reviewer: str) -> list[int]:
        """Store several votes ``(record_id, value, reason, note)`` in one transaction.

        Returns the decisions' ids. All are checked first: one bad vote stores none.
        """
        for _, value, reason, _ in votes:
            check_decision(stage, value, reason)
        ids = []
        with db.write_session(self.engine) as s:
            # checked in the writing transaction: one round of the pool, and nothing can
            # make the record a duplicate between the check and the vote
            eligible = self._eligible_among(stage, [v[0] for v in votes], s)
            for record_id, *_ in votes:
                if record_id not in eligible:
                    raise InputError(f"record {record_id}: not up for {stage} screening "
                                     "(no such record, a duplicate, or not sent on from "
                                     "title/abstract)")
            rid = self._reviewer(s, reviewer, lock=True)
            for record_id, value, reason, note in votes:
                prev = self._current_vote(s, record_id, stage, rid)
                row = DecisionRow(record_id=record_id, stage=stage, reviewer_id=rid,
                                  kind="vote", value=value, reason=reason, note=note,
                                  supersedes=prev.id if prev is not None else None,
                                  created_at=_now())
                s.add(row)
                s.flush()
                _audit(s, reviewer, "decide", {
                    "decision": row.id, "record": record_id, "stage": stage, "value": value,
                    "reason": reason, "previous": prev.value if prev is not None else None})
                ids.append(row.id)
        return ids

    @staticmethod
    def _current_vote(s: Session, record_id: int, stage: str, rid: int) -> DecisionRow | None:
        return s.scalars(
            select(DecisionRow).where(DecisionRow.record_id == record_id,
                                      DecisionRow.stage == stage,
                                      DecisionRow.reviewer_id == rid,
                                      DecisionRow.kind.in_(("vote", "undo")))
            .order_by(DecisionRow.id.desc())).first()

    def undo(self, stage: str, reviewer: str) -> int | None:
        """Undo the reviewer's newest vote at ``stage`` that is not undone yet.

        The undo is a new row restoring the value the reviewer had before that vote. Returns
        the record's id, or None when there is nothing to undo.
        """
        with db.write_session(self.engine) as s:
            rid = self._reviewer(s, reviewer, lock=True)
            rows = s.scalars(select(DecisionRow).where(
                DecisionRow.stage == stage, DecisionRow.reviewer_id == rid,
                DecisionRow.kind.in_(("vote", "undo"))).order_by(DecisionRow.id)).all()
            undone = {r.supersedes for r in rows if r.kind == "undo"}
            votes = [r for r in rows if r.kind == "vote" and r.id not in undone]
            if not votes:
                return None
            target = votes[-1]
            before = [r for r in rows if r.record_id == target.record_id and r.id < target.id]
            restore = before[-1] if before else None
            row = DecisionRow(record_id=target.record_id, stage=stage, reviewer_id=rid,
                              kind="undo", value=restore.value if restore else None,
                              reason=restore.reason if restore else None,
                              supersedes=target.id, created_at=_now())
            s.add(row)
            s.flush()
            _audit(s, reviewer, "undo", {"decision": row.id, "undoes": target.id,
                                         "record": target.record_id, "stage": stage,
                                         "restored": row.value})
            return target.record_id

    def resolve(self, record_id: int, stage: str, resolver: str, value: str,
                reason: str | None = None, note: str | None = None) -> int:
        """Settle a record at ``stage`` whatever the votes say; returns the decision's id."""
        return self.resolve_many([(record_id, value, reason, note)], stage=stage,
                                 resolver=resolver)[0]

    def resolve_many(self, resolutions: Sequence[tuple[int, str, str | None, str | None]], *,
                     stage: str, resolver: str) -> list[int]:
        """Settle several records ``(record_id, value, reason, note)`` in one transaction.

        Returns the decisions' ids. All are checked first: one bad resolution stores none.

        Raises
        ------
        InputError
            Unknown record, stage or value, ``maybe`` (a resolution decides), or a full-text
            exclusion without a reason.
        """
        for _, value, reason, _ in resolutions:
            check_decision(stage, value, reason)
            if value == "maybe":
                raise InputError("a resolution must be include or exclude, not maybe")
        ids = []
        with db.write_session(self.engine) as s:
            for record_id, *_ in resolutions:
                self._check_record(s, record_id)
            rid = self._reviewer(s, resolver)
            for record_id, value, reason, note in resolutions:
                row = DecisionRow(record_id=record_id, stage=stage, reviewer_id=rid,
                                  kind="resolve", value=value, reason=reason, note=note,
                                  created_at=_now())
                s.add(row)
                s.flush()
                _audit(s, resolver, "resolve", {"decision": row.id, "record": record_id,
                                                "stage": stage, "value": value,
                                                "reason": reason})
                ids.append(row.id)
        return ids

    def exclude_by_automation(self, record_ids: Sequence[int], *, tool: str,
                              reason: str) -> int:
        """Mark records ineligible by an automation tool before title/abstract screening.

        PRISMA 2020 counts them as "records marked as ineligible by automation tools".
        Returns how many were marked.
        """
        eligible = self.eligible("title_abstract")
        bad = [r for r in record_ids if r not in eligible]
        if bad:
            raise InputError(f"record {bad[0]}: not up for title/abstract screening")
        with db.write_session(self.engine) as s:
            rid = self._reviewer(s, tool)
            now = _now()
            s.execute(insert(DecisionRow), [
                {"record_id": r, "stage": "title_abstract", "reviewer_id": rid,
                 "kind": "automation", "value": "exclude", "reason": reason,
                 "created_at": now} for r in record_ids])
            _audit(s, tool, "automation", {"records": list(record_ids), "reason": reason})
        return len(record_ids)

    def history(self, record_id: int | None = None) -> list[dict[str, Any]]:
        """Every decision event (the audit trail of screening), oldest first."""
        q = (select(DecisionRow, ReviewerRow.name)
             .join(ReviewerRow, DecisionRow.reviewer_id == ReviewerRow.id)
             .order_by(DecisionRow.id))
        if record_id is not None:
            q = q.where(DecisionRow.record_id == record_id)
        with Session(self.engine) as s:
            return [{"id": d.id, "record": d.record_id, "stage": d.stage, "reviewer": name,
                     "kind": d.kind, "value": d.value, "reason": d.reason, "note": d.note,
                     "supersedes": d.supersedes, "at": d.created_at.isoformat()}
                    for d, name in s.execute(q)]

    def audit_log(self) -> list[dict[str, Any]]:
        """Every write to the review, oldest first."""
        with Session(self.engine) as s:
            return [{"id": a.id, "at": a.at.isoformat(), "actor": a.actor,
                     "action": a.action, "detail": a.detail}
                    for a in s.scalars(select(AuditRow).order_by(AuditRow.id))]

    # -- consistency -----------------------------------------------------------------------

    def check(self) -> list[str]:
        """What is inconsistent in the stored review (an empty list when nothing is).

        Checks the database file (SQLite's ``integrity_check`` and foreign keys), that every
        import holds the records it counted and has its audit row, that every vote, undo and
        resolution has its audit row, and that each reviewer's history for a record and stage
        is one chain: every vote supersedes the row before it, every undo a vote of the chain
        not undone before. A writer killed mid-transaction leaves nothing to report.
        """
        problems: list[str] = []
        with Session(self.engine) as s:
            if self.engine.dialect.name == "sqlite":
                ok = s.execute(text("PRAGMA integrity_check")).scalars().all()
                if ok != ["ok"]:
                    problems += [f"sqlite integrity: {m}" for m in ok]
                problems += [f"sqlite foreign key: {tuple(r)}"
                             for r in s.execute(text("PRAGMA foreign_key_check"))]
            audits: dict[str, set[Any]] = defaultdict(set)
            for action, detail in s.execute(select(AuditRow.action, AuditRow.detail)):
                key = "import" if action == "import" else "decision"
                if isinstance(detail, dict) and key in detail:
                    audits[action].add(detail[key])
            counts = dict(s.execute(select(RecordRow.import_id, func.count())
                                    .group_by(RecordRow.import_id)).all())
            for imp in s.scalars(select(ImportRow).order_by(ImportRow.id)):
                if counts.get(imp.id, 0) != imp.n_records:
                    problems.append(f"import {imp.id}: {counts.get(imp.id, 0)} records stored, "
                                    f"{imp.n_records} counted")
                if imp.id not in audits["import"]:
                    problems.append(f"import {imp.id}: no audit row")
            chains: dict[tuple[int, str, int], list[DecisionRow]] = defaultdict(list)
            for d in s.scalars(select(DecisionRow).order_by(DecisionRow.id)):
                action = {"vote": "decide", "undo": "undo", "resolve": "resolve"}.get(d.kind)
                if action is not None and d.id not in audits[action]:
                    problems.append(f"decision {d.id}: no audit row")
                if d.kind in ("vote", "undo"):
                    chains[(d.record_id, d.stage, d.reviewer_id)].append(d)
        for (record, stage, _), rows in chains.items():
            undone: set[int] = set()
            for i, d in enumerate(rows):
                where = f"decision {d.id} (record {record}, {stage})"
                if d.kind == "vote" and d.supersedes != (rows[i - 1].id if i else None):
                    problems.append(f"{where}: supersedes {d.supersedes}, not the row before "
                                    "it (forked history)")
                elif d.kind == "undo":
                    targets = {r.id for r in rows[:i] if r.kind == "vote"} - undone
                    if d.supersedes not in targets:
                        problems.append(f"{where}: undoes {d.supersedes}, not a vote of this "
                                        "reviewer still standing")
                    undone.add(d.supersedes)
        return problems

    # -- where records stand ---------------------------------------------------------------

    def _events(self, stage: str, ids: Sequence[int] | None = None,
                s: Session | None = None) -> tuple[dict, dict, set[int]]:
        """Current votes, resolutions and automation exclusions at ``stage`` (of ``ids``),
        read in ``s`` when given."""
        q = (select(DecisionRow, ReviewerRow.name)
             .join(ReviewerRow, DecisionRow.reviewer_id == ReviewerRow.id)
             .where(DecisionRow.stage == stage).order_by(DecisionRow.id))
        if ids is not None:
            q = q.where(DecisionRow.record_id.in_(ids))
        votes: dict[int, dict[str, Vote | None]] = defaultdict(dict)
        resolutions: dict[int, Vote] = {}
        automated: set[int] = set()
        with self._reading(s) as s:
            for d, name in s.execute(q):
                if d.kind in ("vote", "undo"):
                    votes[d.record_id][name] = (None if d.value is None
                                                else Vote(name, d.value, d.reason))
                elif d.kind == "resolve":
                    resolutions[d.record_id] = Vote(name, d.value, d.reason)
                elif d.kind == "automation":
                    automated.add(d.record_id)
        return votes, resolutions, automated

    def canonical(self) -> list[tuple[int, str]]:
        """(record id, source kind) of every record that is not a duplicate, in import order.

        Kept between calls while the records and the active de-duplication run stay the
        same (two small queries check that): a screening page asks for it every time, and
        reading 10,000 records took 0.1 s.
        """
        with Session(self.engine) as s:
            return list(self._canonical_in(s))

    @contextmanager
    def _reading(self, s: Session | None) -> Iterator[Session]:
        """``s`` itself when given (left open), else a new session closed afterwards."""
        if s is not None:
            yield s
            return
        with Session(self.engine) as new:
            yield new

    def _canonical_in(self, s: Session) -> list[tuple[int, str]]:
        """:meth:`canonical` checked in the caller's session; the kept list itself is
        returned, not a copy, so the caller must not change it."""
        run = self._active_run(s)
        n, top = s.execute(select(func.count(RecordRow.id), func.max(RecordRow.id))).one()
        key = (n, top, None if run is None else run.id)
        cached = self._canonical
        if cached is not None and cached[0] == key:
            return cached[1]
        # all in the caller's session: a thread that held one pooled connection while asking
        # for a second could wait forever once every thread did the same (20 server threads)
        dup = self._duplicates_in(s, run)
        rows = s.execute(select(RecordRow.id, ImportRow.kind)
                         .join(ImportRow, RecordRow.import_id == ImportRow.id)
                         .order_by(RecordRow.id)).all()
        out = [(r, k) for r, k in rows if r not in dup]
        self._canonical = (key, out)
        return out

    def eligible(self, stage: str) -> list[int]:
        """Record ids up for screening at ``stage``, in import order.

        Title/abstract: canonical database/register records not excluded by automation.
        Full text: those finally included at title/abstract, plus canonical records from
        other methods.
        """
        if stage not in STAGES:
            raise InputError(f"stage {stage!r}: expected one of {', '.join(STAGES)}")
        canonical = self.canonical()
        if stage == "title_abstract":  # only the exclusions by automation matter here
            with Session(self.engine) as s:
                automated = set(s.scalars(select(DecisionRow.record_id).where(
                    DecisionRow.stage == stage, DecisionRow.kind == "automation")))
            return [r for r, k in canonical if k in DBR_KINDS and r not in automated]
        ta = self._status("title_abstract", [r for r, k in canonical if k in DBR_KINDS])
        return [r for r, k in canonical
                if (k in DBR_KINDS and ta[r].final == "include") or k in OTHER_KINDS]

    def _eligible_among(self, stage: str, ids: Sequence[int],
                        s: Session | None = None) -> set[int]:
        """Which of a few ``ids`` are up for ``stage``: :meth:`eligible` without reading the
        whole review (a vote at the keyboard checks one record); read in ``s`` when given."""
        if len(ids) > 500:
            return set(self.eligible(stage))
        ids = sorted(set(ids))
        with self._reading(s) as s:
            kinds = dict(s.execute(select(RecordRow.id, ImportRow.kind)
                                   .join(ImportRow, RecordRow.import_id == ImportRow.id)
                                   .where(RecordRow.id.in_(ids))).all())
            run = self._active_run(s)
            dup = set() if run is None else set(s.scalars(
                select(DedupeMemberRow.record_id).where(
                    DedupeMemberRow.run_id == run.id, DedupeMemberRow.canonical.is_(False),
                    DedupeMemberRow.record_id.in_(ids))))
            canonical = [r for r in ids if r in kinds and r not in dup]
            ta = self._status("title_abstract", [r for r in canonical if kinds[r] in DBR_KINDS],
                              events=self._events("title_abstract", canonical, s), s=s)
        if stage == "title_abstract":
            return {r for r, st in ta.items() if st.state != "automated"}
        return {r for r in canonical if kinds[r] in OTHER_KINDS
                or (r in ta and ta[r].final == "include")}

    def _status(self, stage: str, ids: Sequence[int],
                events: tuple[dict, dict, set[int]] | None = None,
                s: Session | None = None) -> dict[int, Status]:
        votes, resolutions, automated = events or self._events(stage, s=s)
        with self._reading(s) as s:
            required = s.scalar(select(ReviewRow.reviewers_required))
        out = {}
        for r in ids:
            if r in automated:
                out[r] = Status("automated", "exclude", None, ())
                continue
            vs = [v for v in votes.get(r, {}).values() if v is not None]
            out[r] = combine(stage, vs, required=required, resolution=resolutions.get(r))
        return out

    def status(self, stage: str) -> dict[int, Status]:
        """Where every record up for ``stage`` stands (see :func:`screening.decisions.combine`).

        At title/abstract this includes records excluded by automation (state ``automated``).
        """
        if stage == "title_abstract":
            return self._status(stage, [r for r, k in self.canonical() if k in DBR_KINDS])
        return self._status(stage, self.eligible(stage))

    def conflicts(self, stage: str) -> dict[int, Status]:
        """Records whose votes disagree and are not yet resolved."""
        return {r: st for r, st in self.status(stage).items() if st.state == "conflict"}

    def queue(self, stage: str, reviewer: str) -> list[int]:
        """Records still waiting for this reviewer's vote (blinded: others' votes not used).

        A record leaves everyone's queue once it is resolved; otherwise it stays until this
        reviewer has voted, whatever the other reviewer did. With the ``pairs`` assignment
        (:meth:`set_assignment`) it also leaves the queues of everyone else once it has the
        votes it needs.
        """
        # One session for what a screening page needs at title/abstract: each checkout and
        # query is a round trip to the server, and the page asks after every vote.
        eligible: list[int] | None = None
        with Session(self.engine) as s:
            own = self._own_votes(s, stage, reviewer)
            settled = s.execute(select(DecisionRow.record_id, DecisionRow.kind).where(
                DecisionRow.stage == stage,
                DecisionRow.kind.in_(("resolve", "automation")))).all()
            resolved = {r for r, k in settled if k == "resolve"}
            review = s.scalars(select(ReviewRow)).one()
            pairs, required = review.assignment == "pairs", review.reviewers_required
            if stage == "title_abstract":  # as eligible(), in this session
                automated = {r for r, k in settled if k == "automation"}
                eligible = [r for r, k in self._canonical_in(s)
                            if k in DBR_KINDS and r not in automated]
        if pairs:  # a record with the votes it needs leaves the others' queues
            votes, _, _ = self._events(stage)
            resolved |= {r for r, v in votes.items()
                         if sum(x is not None for x in v.values()) >= required}
        if eligible is None:
            eligible = self.eligible(stage)
        return [r for r in eligible if r not in resolved and own.get(r) is None]

    def own_labels(self, stage: str, reviewer: str) -> dict[int, str]:
        """This reviewer's current votes at ``stage`` (what the ranking model may learn from)."""
        with Session(self.engine) as s:
            own = self._own_votes(s, stage, reviewer)
        return {r: v for r, v in own.items() if v is not None}

    @staticmethod
    def _own_votes(s: Session, stage: str, reviewer: str) -> dict[int, str | None]:
        """Record → this reviewer's current vote at ``stage`` (None: undone), from their own
        rows only (the newest vote or undo per record counts, as in :meth:`_events`)."""
        rows = s.execute(select(DecisionRow.record_id, DecisionRow.value)
                         .join(ReviewerRow, DecisionRow.reviewer_id == ReviewerRow.id)
                         .where(DecisionRow.stage == stage, ReviewerRow.name == reviewer,
                                DecisionRow.kind.in_(("vote", "undo")))
                         .order_by(DecisionRow.id))
        return dict(rows.all())

    def screening_order(self, stage: str, reviewer: str, *,
                        own: Mapping[int, str] | None = None) -> list[tuple[int, str]]:
        """This reviewer's screened records at ``stage`` in the order first voted on, with the
        current vote: the sequence the stopping rules read.

        A record undone and decided again keeps its first place (it was read then); one whose
        vote was undone and not given again is left out, and so are records that are no
        longer up for the stage (a later de-duplication made them duplicates).

        Parameters
        ----------
        own : mapping of int to str, optional
            The reviewer's current votes on the records up for the stage, when the caller
            already holds them (the screener does): saves reading votes and records again.
        """
        if own is None:
            eligible = set(self.eligible(stage))
            own = {r: v for r, v in self.own_labels(stage, reviewer).items() if r in eligible}
        q = (select(DecisionRow.record_id)
             .join(ReviewerRow, DecisionRow.reviewer_id == ReviewerRow.id)
             .where(DecisionRow.stage == stage, ReviewerRow.name == reviewer,
                    DecisionRow.kind == "vote")
             .order_by(DecisionRow.id))
        with Session(self.engine) as s:
            first = dict.fromkeys(r for (r,) in s.execute(q))  # insertion order = first vote
        return [(r, own[r]) for r in first if r in own]

    # -- full texts and studies ------------------------------------------------------------

    def set_retrieval(self, record_id: int, retrieved: bool, *, by: str,
                      note: str | None = None) -> None:
        """Record whether the full text of a report was obtained (newest entry counts)."""
        with db.write_session(self.engine) as s:
            self._check_record(s, record_id)
            self._add_retrieval(s, record_id, retrieved, by=by, note=note)

    @staticmethod
    def _add_retrieval(s: Session, record_id: int, retrieved: bool, *, by: str,
                       note: str | None = None) -> None:
        s.add(RetrievalRow(record_id=record_id, retrieved=retrieved, by=by, note=note,
                           created_at=_now()))
        _audit(s, by, "retrieval", {"record": record_id, "retrieved": retrieved})

    def attach_fulltext(self, record_id: int, data: bytes, filename: str, *,
                        actor: str) -> int:
        """Attach a PDF to a record; returns the attachment's id.

        The bytes go to ``fulltext/<sha256>.pdf`` in the project folder (written to a
        temporary file, then renamed: never half a file), so identical files are kept once.
        The same file attached to the same record again returns the first attachment's id.
        The record's full text counts as retrieved from then on (:meth:`set_retrieval`).
        ``filename`` is kept for display only; it never names a path.

        Raises
        ------
        InputError
            An unknown record, or bytes that are empty, larger than
            :data:`MAX_FULLTEXT_BYTES` or not a PDF (they must start with ``%PDF-``).
            Nothing is stored then.
        """
        name = _display_name(filename)
        _check_pdf(data, name)
        digest = hashlib.sha256(data).hexdigest()
        with Session(self.engine) as s:  # before the file is written: no orphan for a typo
            self._check_record(s, record_id)
        self._store_pdf(digest, data)
        # The file is in place before its row commits, so a row never names a missing file;
        # a crash in between leaves at most an unreferenced file.
        with db.write_session(self.engine) as s:
            self._check_record(s, record_id)
            same = s.scalars(select(FullTextRow.id).where(
                FullTextRow.record_id == record_id, FullTextRow.sha256 == digest,
                FullTextRow.removed_at.is_(None))).first()
            if same is not None:
                return same
            row = FullTextRow(record_id=record_id, filename=name, sha256=digest,
                              size=len(data), uploaded_by=actor, uploaded_at=_now())
            s.add(row)
            s.flush()
            _audit(s, actor, "fulltext", {"fulltext": row.id, "record": record_id,
                                          "filename": name, "sha256": digest,
                                          "size": len(data)})
            retrieved = s.scalars(select(RetrievalRow.retrieved)
                                  .where(RetrievalRow.record_id == record_id)
                                  .order_by(RetrievalRow.id.desc())).first()
            if not retrieved:
                self._add_retrieval(s, record_id, True, by=actor)
            return row.id

    def _store_pdf(self, digest: str, data: bytes) -> Path:
        folder = self.root / FULLTEXT_DIR
        folder.mkdir(exist_ok=True)
        path = folder / f"{digest}.pdf"
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest:
            return path
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)  # atomic: a reader sees no file or the whole file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def fulltexts(self, record_id: int | None = None) -> list[FullText]:
        """The attached full texts (of one record, or all), oldest first; removed ones left
        out."""
        q = (select(FullTextRow).where(FullTextRow.removed_at.is_(None))
             .order_by(FullTextRow.id))
        if record_id is not None:
            q = q.where(FullTextRow.record_id == record_id)
        with Session(self.engine) as s:
            return [_fulltext(r) for r in s.scalars(q)]

    def fulltext_file(self, fulltext_id: int) -> tuple[FullText, Path]:
        """An attached full text of this project and the path of its PDF.

        Raises
        ------
        InputError
            No such attachment in this project (or it was removed), or its file is missing
            from the project folder.
        """
        with Session(self.engine) as s:
            row = s.get(FullTextRow, fulltext_id)
            if row is None or row.removed_at is not None:
                raise InputError(f"full text {fulltext_id}: no such file in this project")
            ft = _fulltext(row)
        if not re.fullmatch(r"[0-9a-f]{64}", ft.sha256):  # a path from the database only
            raise InputError(f"full text {fulltext_id}: stored hash is malformed")
        path = self.root / FULLTEXT_DIR / f"{ft.sha256}.pdf"
        if not path.is_file():
            raise InputError(f"full text {fulltext_id} ({ft.filename}): the file is missing "
                             f"from {path.parent}")
        return ft, path

    def remove_fulltext(self, fulltext_id: int, *, actor: str) -> None:
        """Take an attachment off its record (a wrong PDF); its row stays, marked removed,
        and so does the file (another record may hold the same bytes).

        Raises
        ------
        InputError
            No such attachment, or it was removed already.
        """
        with db.write_session(self.engine) as s:
            row = s.get(FullTextRow, fulltext_id)
            if row is None or row.removed_at is not None:
                raise InputError(f"full text {fulltext_id}: no such file in this project")
            row.removed_at, row.removed_by = _now(), actor
            _audit(s, actor, "fulltext-removed", {"fulltext": row.id,
                                                  "record": row.record_id})

    def link_study(self, record_id: int, study: str, *, by: str,
                   label: str | None = None) -> str:
        """Say which study a report belongs to; returns the study's id.

        Several reports of one study are one study. ``study`` is an existing study's id, or
        names a new one: a new study's id is ``study`` made into an id (``"Alvarez 2023"``
        becomes ``alvarez-2023``) and its label is ``label``, else ``study`` as given. The
        new study awaits extraction (its description and rows come later).
        """
        with db.write_session(self.engine) as s:
            self._check_record(s, record_id)
            sid = study if s.get(StudyRow, study) is not None else study_id(study)
            study_store.add_study(s, sid, label or study, actor=by)
            s.add(StudyLinkRow(record_id=record_id, study=sid, by=by, created_at=_now()))
            _audit(s, by, "link-study", {"record": record_id, "study": sid})
        return sid

    # -- study data (the studies layer's ReviewData, kept in the database) ------------------

    def import_review(self, data: ReviewData, *, actor: str = "metareview") -> dict[str, int]:
        """Replace the project's study data with a review's (a loaded review folder).

        Studies that reports are linked to but that ``data`` lacks stay, awaiting extraction.
        Returns counts of what was written.
        """
        return study_store.write_review_data(self.engine, data, actor=actor)

    def review_data(self) -> ReviewData:
        """The project's study data: protocol, extracted studies, rows, GRADE judgements."""
        return study_store.read_review_data(self.engine, origin=str(self.root))

    def export_review(self, folder: str | Path) -> Path:
        """Write the project's study data as a review folder; returns the folder."""
        return write_folder(self.review_data(), folder)

    def study_entries(self) -> list[study_store.StudyEntry]:
        """Every study with its reports (linked records), extraction state and row count."""
        return study_store.list_studies(self.engine, self.studies())

    def extract_study(self, study: Study, *, actor: str) -> None:
        """Store a study's extracted description, checked against the protocol."""
        study_store.set_study(self.engine, study, actor=actor)

    def add_study_rows(self, table: str, rows: Sequence[Any], *, actor: str) -> int:
        """Append extracted rows to ``outcomes``, ``arms``, ``placebo_response`` or
        ``judgements``, checked against the protocol and the studies; returns the count."""
        return study_store.add_rows(self.engine, table, rows, actor=actor)

    # -- data extraction: two blind extractors, consensus (store.extraction) -----------------

    def extraction_form(self) -> extraction.ExtractionForm:
        """The extraction form the project's protocol calls for."""
        return extraction.extraction_form(self.review_data().protocol)

    def save_extraction(self, study: str, extractor: str,
                        values: Mapping[str, extraction.ValueInput]) -> int:
        """Store an extractor's values for a study; returns how many changed."""
        return extraction.save_values(self.engine, self.extraction_form(), study, extractor,
                                      values)

    def submit_extraction(self, study: str, extractor: str) -> None:
        """An extractor hands in their extraction of a study."""
        extraction.submit(self.engine, study, extractor)

    def reopen_extraction(self, study: str, extractor: str) -> None:
        """An extractor takes back their submission (while the other has not submitted)."""
        extraction.reopen(self.engine, study, extractor)

    def extraction_state(self, study: str) -> extraction.ExtractionState:
        """Where a study's extraction stands (names and counts, never values)."""
        return extraction.extraction_state(self.engine, study)

    def extraction_states(self) -> dict[str, extraction.ExtractionState]:
        """The extraction state of every study that has one."""
        return extraction.extraction_states(self.engine)

    def extraction_values(self, study: str, extractor: str) -> dict[str, extraction.StoredValue]:
        """An extractor's own current values for a study (blind: never another's)."""
        return extraction.own_values(self.engine, study, extractor)

    def compare_extraction(self, study: str) -> extraction.Comparison:
        """Both extractions of a study field by field (once both have submitted)."""
        return extraction.compare(self.engine, self.extraction_form(), study)

    def resolve_extraction(self, study: str, field: str, *, by: str, choice: str,
                           entered: extraction.ValueInput | None = None,
                           reason: str | None = None) -> extraction.StoredValue:
        """Settle one field: extractor A's value, B's, or one typed with a reason."""
        return extraction.resolve(self.engine, self.extraction_form(), study, field, by=by,
                                  choice=choice, entered=entered, reason=reason)

    def extraction_history(self, study: str, field: str, *,
                           viewer: str) -> list[extraction.StoredValue]:
        """Every value a field has had (only ``viewer``'s own until both have submitted)."""
        return extraction.history(self.engine, study, field, viewer=viewer)

    def apply_extraction(self, study: str, *, by: str,
                         effects: Mapping[str, Sequence[extraction.DerivedEffect]] | None = None
                         ) -> extraction.ExtractedData:
        """Write a study's agreed extraction into the study data, through
        :meth:`extract_study` and :meth:`add_study_rows` (their checks), all checked together
        first; ``effects``: what its continuous results give
        (:func:`metareview.effects.extraction.derived_effects` of the agreed values)."""
        data = extraction.prepare_apply(self.engine, self.extraction_form(), study, by=by,
                                        effects=effects)
        self.extract_study(data.study, actor=by)
        if data.arms:
            self.add_study_rows("arms", data.arms, actor=by)
        if data.outcomes:
            self.add_study_rows("outcomes", data.outcomes, actor=by)
        extraction.mark_applied(self.engine, study, data, by=by)
        return data

    def set_previous(self, studies: int | None, reports: int | None, *, actor: str) -> None:
        """Studies and reports included in the previous version (an updated review)."""
        with db.write_session(self.engine) as s:
            r = s.scalars(select(ReviewRow)).one()
            r.previous_studies, r.previous_reports = studies, reports
            _audit(s, actor, "previous", {"studies": studies, "reports": reports})

    def set_ta_reasons(self, ask: bool, *, actor: str) -> None:
        """Whether the screener offers exclusion reasons at title/abstract too.

        Off by default: at title/abstract an exclusion is stored without a reason, as in
        Covidence and Rayyan. On, the reasons are offered after the vote is stored, and any
        answer that is not a reason's number goes on as the next key (a reason never holds a
        vote back). Full-text exclusions always need a reason.
        """
        with db.write_session(self.engine) as s:
            s.scalars(select(ReviewRow)).one().ta_reasons = bool(ask)
            _audit(s, actor, "ta-reasons", {"ta_reasons": bool(ask)})

    def set_criteria(self, criteria: str, *, actor: str) -> None:
        """The inclusion criteria shown to screeners."""
        with db.write_session(self.engine) as s:
            s.scalars(select(ReviewRow)).one().criteria = criteria
            _audit(s, actor, "criteria", {"criteria": criteria})

    def set_assignment(self, mode: str, *, actor: str) -> None:
        """Who screens each record: ``"everyone"``, or ``"pairs"`` (a record leaves the other
        reviewers' queues once it has the votes it needs: two in dual screening).

        Raises
        ------
        InputError
            Another mode.
        """
        self.configure(assignment=mode, actor=actor)

    def configure(self, *, actor: str, criteria: str | None = None,
                  include_terms: Sequence[str] | None = None,
                  exclude_terms: Sequence[str] | None = None,
                  assignment: str | None = None,
                  exclusion_reasons: Sequence[str] | None = None) -> None:
        """Change the screening settings given (None: unchanged), all or none of them.

        Terms are highlighted in records for screeners (see
        :func:`metareview.screening.highlight.segments`): blank lines are dropped, a repeated
        term (in any case) is kept once, and each is one line of at most 200 characters.
        ``assignment``: ``"everyone"`` or ``"pairs"`` (see :meth:`set_assignment`).
        ``exclusion_reasons``: the list full-text reviewers choose from, cleaned as terms are;
        at least one.

        Raises
        ------
        InputError
            A term or reason too long or holding a line break, no reason left, or another
            assignment; nothing is changed then.
        """
        if assignment is not None and assignment not in ("everyone", "pairs"):
            raise InputError(f"assignment {assignment!r}: 'everyone' or 'pairs'")
        terms = {k: _clean_terms(v) for k, v in (("include", include_terms),
                                                  ("exclude", exclude_terms)) if v is not None}
        reasons = (None if exclusion_reasons is None
                   else _clean_terms(exclusion_reasons, what="exclusion reason"))
        if reasons is not None and not reasons:
            raise InputError("exclusion reasons: keep at least one (a full-text exclusion "
                             "needs a reason)")
        with db.write_session(self.engine) as s:
            row = s.scalars(select(ReviewRow)).one()
            if criteria is not None and criteria != row.criteria:
                row.criteria = criteria
                _audit(s, actor, "criteria", {"criteria": criteria})
            if terms:
                row.include_terms = "\n".join(terms.get("include", _lines(row.include_terms)))
                row.exclude_terms = "\n".join(terms.get("exclude", _lines(row.exclude_terms)))
                _audit(s, actor, "terms", {"include": _lines(row.include_terms),
                                           "exclude": _lines(row.exclude_terms)})
            if assignment is not None and assignment != row.assignment:
                row.assignment = assignment
                _audit(s, actor, "assignment", {"mode": assignment})
            if reasons is not None and reasons != _lines(row.exclusion_reasons):
                row.exclusion_reasons = "\n".join(reasons)
                _audit(s, actor, "exclusion-reasons", {"reasons": reasons})

    def _latest(self, row_type: type, field: str) -> dict[int, Any]:
        with Session(self.engine) as s:
            rows = s.execute(select(row_type.record_id, getattr(row_type, field))
                             .order_by(row_type.id)).all()
        return dict(rows)

    def retrieval(self) -> dict[int, bool]:
        """Record id → whether its full text was obtained (only records with an entry)."""
        return self._latest(RetrievalRow, "retrieved")

    def studies(self) -> dict[int, str]:
        """Record id → study it belongs to (only linked records)."""
        return self._latest(StudyLinkRow, "study")



def load_review_data(path: str | Path) -> ReviewData:
    """A review's study data from a project folder (its database) or a review folder.

    Raises
    ------
    InputError
        If ``path`` is neither, or its data do not validate.
    """
    root = Path(path)
    if (root / SETTINGS).is_file():
        with Project.open(root) as project:
            return project.review_data()
    return load_folder(root)


def _lines(text: str | None) -> list[str]:
    """The non-empty lines of a stored list."""
    return [t for t in (text or "").split("\n") if t]


def _clean_terms(terms: Sequence[str], *, what: str = "highlight term") -> list[str]:
    """Highlight terms (or exclusion reasons) as stored: stripped, blank ones dropped, each
    once (in any case).

    Raises
    ------
    InputError
        A term longer than 200 characters or holding a line break.
    """
    kept: list[str] = []
    seen: set[str] = set()
    for t in terms:
        t = t.strip()
        if not t:
            continue
        if len(t) > 200 or "\n" in t or "\r" in t:
            raise InputError(f"{what} {t[:40]!r}: one line of at most 200 characters")
        if t.lower() not in seen:
            seen.add(t.lower())
            kept.append(t)
    return kept


def _fulltext(row: FullTextRow) -> FullText:
    return FullText(row.id, row.record_id, row.filename, row.sha256, row.size,
                    row.uploaded_by, row.uploaded_at)


def _size(n: int) -> str:
    """A file size for people: bytes, kB or MB."""
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1000:.0f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _display_name(filename: str) -> str:
    """The uploader's file name as shown: its last path part, without control characters,
    at most 255 characters (it never names a path here)."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:255] or "full text.pdf"


#: What a file that is not a PDF often is, by its first bytes (for a message that helps).
_NOT_PDF = ((b"PK\x03\x04", "a ZIP archive (or a Word/OpenDocument file)"),
            (b"\xd0\xcf\x11\xe0", "an old Microsoft Office document"),
            (b"<", "an HTML or XML page (a publisher's sign-in page saved as .pdf?)"),
            (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
            (b"{\\rtf", "an RTF document"))


def _check_pdf(data: bytes, name: str) -> None:
    """Refuse what is not a PDF of an acceptable size.

    Raises
    ------
    InputError
        Empty, over :data:`MAX_FULLTEXT_BYTES`, or not starting with ``%PDF-``.
    """
    if not data:
        raise InputError(f"{name}: the file is empty")
    if len(data) > MAX_FULLTEXT_BYTES:
        raise InputError(f"{name}: larger than {_size(MAX_FULLTEXT_BYTES)}, the most a full "
                         "text may be")
    if not data.startswith(b"%PDF-"):
        head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        kind = next((k for magic, k in _NOT_PDF if head.startswith(magic.lower())), None)
        raise InputError(f"{name}: not a PDF" + (f"; it looks like {kind}" if kind else
                                                 " (a PDF starts with %PDF-)"))
