"""A review's study data and its portable form, the review folder.

A review folder holds ``protocol.yaml``, ``studies/*.yaml`` and the CSVs of :data:`DATA_FILES`
(``outcomes.csv``, ``arms.csv``, ``placebo_response.csv``, ``judgements.csv``; a missing CSV is
an empty table). :func:`load_folder` validates everything and :func:`check_review` cross-checks
it against the protocol: bad data raise :class:`~metareview.errors.InputError` with one line
naming the file, the line and the field. :func:`write_folder` writes the canonical form back;
loading what it wrote gives equal data, and writing that again gives the same bytes. YAML
comments are not data and are not kept: a protocol's remarks belong in its ``notes``.

The texts of the protocol's documents live in the folder too (e.g. ``sources/report.txt``,
each pinned by its SHA-256): they are not data, so :func:`write_folder` leaves them alone and a
copy without them (a project's export) still loads; a text that is there but changed does not
(:func:`check_documents`).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from metareview.errors import InputError
from metareview.studies.schema import (
    VOCABULARY_FIELDS,
    ArmRow,
    JudgementRow,
    OutcomeRow,
    PlaceboResponseRow,
    Protocol,
    Study,
)

M = TypeVar("M", bound=BaseModel)

#: The review's tables kept as CSV: attribute of :class:`ReviewData`, file name, row model.
DATA_FILES: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("outcomes", "outcomes.csv", OutcomeRow),
    ("arms", "arms.csv", ArmRow),
    ("placebo_response", "placebo_response.csv", PlaceboResponseRow),
    ("judgements", "judgements.csv", JudgementRow),
)


@dataclass(frozen=True, eq=False)
class ReviewData:
    """One review's study data: protocol, studies, extracted rows and GRADE judgements.

    ``lines`` maps a CSV file name to the line each row came from (for error messages); data
    that did not come from a folder number their rows as a spreadsheet would (header = 1).
    """

    protocol: Protocol
    studies: dict[str, Study]
    outcomes: tuple[OutcomeRow, ...] = ()
    arms: tuple[ArmRow, ...] = ()
    placebo_response: tuple[PlaceboResponseRow, ...] = ()
    judgements: tuple[JudgementRow, ...] = ()
    origin: str = field(default="review", compare=False)
    lines: Mapping[str, Sequence[int]] = field(default_factory=dict, compare=False)

    def study(self, sid: str) -> Study:
        """The study with id ``sid``."""
        return self.studies[sid]

    def line(self, filename: str, index: int) -> int:
        """The line of row ``index`` (0-based) of ``filename``."""
        known = self.lines.get(filename)
        return known[index] if known is not None and index < len(known) else index + 2

    def files(self) -> dict[str, bytes]:
        """The canonical review folder: relative path -> file content."""
        out = {"protocol.yaml": _yaml_bytes(self.protocol)}
        for sid in sorted(self.studies):
            out[f"studies/{sid}.yaml"] = _yaml_bytes(self.studies[sid])
        for attr, name, model in DATA_FILES:
            rows = getattr(self, attr)
            if rows:
                out[name] = _csv_bytes(rows, model)
        return out

    def fingerprint(self) -> str:
        """SHA-256 (first 12 hex) of the canonical folder: equal data, equal fingerprint."""
        h = hashlib.sha256()
        for name, content in sorted(self.files().items()):
            h.update(name.encode())
            h.update(content)
        return h.hexdigest()[:12]

    def summary(self) -> str:
        """One line for people."""
        return (f"{self.protocol.id}: {len(self.studies)} studies, {len(self.outcomes)} outcome "
                f"rows, {len(self.arms)} arm rows, {len(self.placebo_response)} placebo-response "
                f"rows, {len(self.judgements)} GRADE judgements")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values: every model as it would be written."""
        return {
            "protocol": self.protocol.model_dump(mode="json", exclude_unset=True),
            "studies": {k: v.model_dump(mode="json", exclude_unset=True)
                        for k, v in sorted(self.studies.items())},
            **{attr: [r.model_dump(mode="json", exclude_none=True) for r in getattr(self, attr)]
               for attr, _, _ in DATA_FILES},
        }


# ---- writing ----------------------------------------------------------------------------------
def _yaml_bytes(model: BaseModel) -> bytes:
    data = model.model_dump(mode="json", exclude_unset=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).encode()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _csv_bytes(rows: Sequence[BaseModel], model: type[BaseModel]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = list(model.model_fields)
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(getattr(r, c)) for c in columns])
    return buf.getvalue().encode()


def write_folder(data: ReviewData, root: str | Path) -> Path:
    """Write ``data`` as a review folder (canonical form); returns the folder.

    Files of the folder that the data no longer has (a study, an empty table) are removed, so
    the folder holds exactly the data; other files are left alone.
    """
    root = Path(root)
    files = data.files()
    for path in [*root.glob("studies/*.yaml"), *(root / n for _, n, _ in DATA_FILES)]:
        if path.is_file() and path.relative_to(root).as_posix() not in files:
            path.unlink()
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
    return root


# ---- reading ----------------------------------------------------------------------------------
def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the YAML node at a pydantic error location (or its nearest parent)."""
    line = node.start_mark.line + 1 if node is not None else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:
                return line
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def _first_error(exc: ValidationError) -> tuple[tuple[Any, ...], str]:
    err = exc.errors()[0]
    return tuple(err["loc"]), err["msg"].removeprefix("Value error, ")


def load_yaml(path: Path, model: type[M]) -> M:
    """Parse and validate one YAML file; errors name the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        why = getattr(exc, "problem", exc)
        raise InputError(f"{path}{where}: not valid YAML ({why})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} line 1: expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, msg = _first_error(exc)
        line = _line_of(node, loc)
        name = ".".join(str(x) for x in loc) or "(top level)"
        raise InputError(f"{path} line {line}, field {name}: {msg}") from None


def _read_csv(path: Path, model: type[M]) -> tuple[tuple[M, ...], tuple[int, ...]]:
    if not path.is_file():
        return (), ()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows, lines = [], []
        unknown = [c for c in (reader.fieldnames or []) if c not in model.model_fields]
        if unknown:
            raise InputError(f"{path} line 1: unknown column {unknown[0]} "
                             f"(expected some of: {', '.join(model.model_fields)})")
        for raw in reader:
            line = reader.line_num
            if None in raw:
                raise InputError(f"{path} line {line}: more cells than the header has columns")
            short = [k for k, v in raw.items() if v is None]
            if short:
                raise InputError(f"{path} line {line}, column {short[0]}: fewer cells than the "
                                 "header has columns")
            cells = {k: (v.strip() if v.strip() != "" else None) for k, v in raw.items()}
            try:
                rows.append(model.model_validate({k: v for k, v in cells.items()
                                                  if v is not None}))
            except ValidationError as exc:
                loc, msg = _first_error(exc)
                col = ".".join(str(x) for x in loc) or "(row)"
                value = cells.get(str(loc[0])) if loc else None
                shown = f" ({value!r})" if value is not None else ""
                raise InputError(f"{path} line {line}, column {col}{shown}: {msg}") from None
            lines.append(line)
    return tuple(rows), tuple(lines)


def load_csv(path: Path, model: type[M]) -> tuple[M, ...]:
    """Parse and validate a CSV, a model per row; empty cells are missing values."""
    return _read_csv(path, model)[0]


def load_folder(root: str | Path) -> ReviewData:
    """Load a review folder and cross-check it (:func:`check_review`).

    Raises
    ------
    InputError
        Naming the file, line and field of the first problem.
    """
    root = Path(root)
    if not (root / "protocol.yaml").is_file():
        raise InputError(f"{root}: no protocol.yaml (is this a review folder?)")
    protocol = load_yaml(root / "protocol.yaml", Protocol)
    studies: dict[str, Study] = {}
    for path in sorted((root / "studies").glob("*.yaml")):
        st = load_yaml(path, Study)
        if st.id != path.stem:
            raise InputError(f"{path} line 1, field id: id {st.id!r} does not match the file name")
        studies[st.id] = st
    tables: dict[str, Any] = {}
    lines: dict[str, tuple[int, ...]] = {}
    for attr, name, model in DATA_FILES:
        tables[attr], lines[name] = _read_csv(root / name, model)
    if protocol.triggers:  # the line of each trigger, for check_review's messages
        node = yaml.compose((root / "protocol.yaml").read_text(encoding="utf-8"))
        lines["protocol.yaml"] = tuple(_line_of(node, ("triggers", i)) or 1
                                       for i in range(len(protocol.triggers)))
    data = ReviewData(protocol, studies, **tables, origin=str(root), lines=lines)
    check_review(data)
    # A copy of the data without its source texts (an export) still loads; a text that is
    # there but differs from the one the numbers were checked against does not.
    changed = check_documents(data, root, require_files=False)
    if changed:
        raise InputError(changed[0])
    return data


def check_documents(data: ReviewData, root: str | Path, *, require_files: bool = True
                    ) -> list[str]:
    """Problems with the protocol's document texts in the review folder at ``root``.

    Each document with a ``file`` must have that file inside the folder (unless
    ``require_files`` is false), and where the protocol records a ``sha256`` the file's bytes
    must hash to it.

    Returns
    -------
    list of str
        One line per problem, naming ``protocol.yaml`` and the document; empty when all is well.
    """
    root = Path(root)
    out: list[str] = []
    for doc in data.protocol.documents:
        if doc.file is None:
            continue
        at = f"{root / 'protocol.yaml'}, document {doc.id}"
        path = root / doc.file
        if not path.is_file():
            if require_files:
                out.append(f"{at}: file {doc.file} is not in the folder")
            continue
        if doc.sha256 is not None:
            got = hashlib.sha256(path.read_bytes()).hexdigest()
            if got != doc.sha256:
                out.append(f"{at}: file {doc.file} has SHA-256 {got}, the protocol records "
                           f"{doc.sha256} (the text changed)")
    return out


def _where(data: ReviewData, name: str) -> str:
    return str(Path(data.origin) / name)


def check_review(data: ReviewData) -> None:
    """Cross-check study data against its protocol.

    Every study's source document is one of the protocol's; every outcome, arm and judgement
    row names a known study and question; each row's ``source`` starts with a document id;
    populations, routes, regimens and windows are values of the protocol's vocabularies (where
    it declares them); arm categories are the protocol's.

    Raises
    ------
    InputError
        Naming the file, line and column of the first problem.
    """
    proto = data.protocol
    docs = {d.id for d in proto.documents}
    questions = {q.id for q in proto.questions}
    for sid, st in data.studies.items():
        where = _where(data, f"studies/{sid}.yaml")
        if st.source.document not in docs:
            raise InputError(f"{where}, field source.document: unknown document "
                             f"{st.source.document!r} (add it to protocol.yaml documents)")
        unknown_q = [q for q in st.questions if q not in questions]
        if unknown_q:
            raise InputError(f"{where}, field questions: unknown question {unknown_q[0]!r} "
                             f"(protocol.yaml questions: {', '.join(sorted(questions))})")
        for col, name, values in (("population", "populations", st.populations),
                                  ("route", "intervention.route", [st.intervention.route]),
                                  ("regimen", "intervention.regimen", [st.intervention.regimen])):
            _check_vocabulary(proto, col, values, f"{where}, field {name}")
    if proto.source_review is not None and proto.source_review not in data.studies:
        raise InputError(f"{_where(data, 'protocol.yaml')}, field source_review: unknown study "
                         f"{proto.source_review!r} (no studies/{proto.source_review}.yaml)")
    _check_triggers(data)
    categories = {c.id for c in proto.arm_categories}
    for attr, name, _ in DATA_FILES:
        for i, row in enumerate(getattr(data, attr)):
            at = f"{_where(data, name)} line {data.line(name, i)}"
            study = getattr(row, "study", None)
            if attr != "placebo_response" and attr != "judgements" and study not in data.studies:
                raise InputError(f"{at}, column study: unknown study {study!r} "
                                 f"(no studies/{study}.yaml)")
            q = getattr(row, "question", None)
            if q is not None and q not in questions:
                raise InputError(f"{at}, column question: unknown question {q!r} "
                                 f"(protocol.yaml questions: {', '.join(sorted(questions))})")
            src = getattr(row, "source", None)
            if src is not None or attr != "judgements":
                doc = src.split()[0] if src and src.split() else ""
                if doc not in docs:
                    raise InputError(f"{at}, column source: must start with a document id of "
                                     f"protocol.yaml ({', '.join(sorted(docs))}), got {src!r}")
            for col in VOCABULARY_FIELDS:
                value = getattr(row, col, None)
                if value is not None:
                    _check_vocabulary(proto, col, [value], f"{at}, column {col}")
            if attr == "arms" and row.category not in categories:
                raise InputError(f"{at}, column category: unknown arm category "
                                 f"{row.category!r} (protocol.yaml arm_categories: "
                                 f"{', '.join(sorted(categories)) or 'none declared'})")


def _check_triggers(data: ReviewData) -> None:
    """Each trigger of the protocol names a question and an outcome the review has: an arm
    category (id or title), an outcome of ``outcomes.csv``, of the PICO, of a MID or of the
    critical outcomes (a typo would make a trigger that never fires)."""
    proto = data.protocol
    if not proto.triggers:
        return
    questions = {q.id for q in proto.questions}
    names = [c.id for c in proto.arm_categories] + [c.title for c in proto.arm_categories]
    names += [r.outcome for r in data.outcomes] + list(proto.pico.outcomes)
    names += [m.outcome for m in proto.mids]
    names += [o for c in proto.critical_outcomes for o in c.outcomes]
    known = {n.strip().lower() for n in names}
    where = _where(data, "protocol.yaml")
    lines = data.lines.get("protocol.yaml")
    for i, t in enumerate(proto.triggers):
        at = (f"{where} line {lines[i]}" if lines is not None and i < len(lines)
              else f"{where}, triggers item {i + 1}")
        if t.question is not None and t.question not in questions:
            raise InputError(f"{at}, field triggers.{i}.question: unknown question "
                             f"{t.question!r} (protocol.yaml questions: "
                             f"{', '.join(sorted(questions))})")
        if t.outcome.strip().lower() not in known:
            shown = sorted({n.strip() for n in names}, key=str.lower)
            raise InputError(f"{at}, field triggers.{i}.outcome: {t.outcome!r} is not an "
                             "outcome of the review (arm categories, outcomes.csv, PICO, MIDs, "
                             f"critical outcomes: {', '.join(shown[:8]) or 'none'}"
                             f"{', ...' if len(shown) > 8 else ''})")


def _check_vocabulary(proto: Protocol, col: str, values: Sequence[str], at: str) -> None:
    allowed = proto.allowed(col)
    if allowed is None:
        return
    for v in values:
        if v not in allowed:
            raise InputError(f"{at}: {v!r} is not in the protocol's {proto.label(col)} "
                             f"vocabulary ({', '.join(allowed)})")
