"""Load a review project from its folder, validating everything and locating every error.

A review folder holds ``protocol.yaml``, ``studies/*.yaml`` and the CSVs ``outcomes.csv``,
``arms.csv`` and ``placebo_response.csv``. Bad data raise :class:`~metareview.errors.InputError`
with one line naming the file, the line and the field.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from metareview.errors import InputError
from metareview.review.schema import ArmRow, OutcomeRow, PlaceboResponseRow, Protocol, Study

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, eq=False)
class Review:
    """A loaded, validated review project."""

    root: Path
    protocol: Protocol
    studies: dict[str, Study]
    outcomes: tuple[OutcomeRow, ...]
    arms: tuple[ArmRow, ...]
    placebo_response: tuple[PlaceboResponseRow, ...]

    def study(self, sid: str) -> Study:
        """The study with id ``sid``."""
        return self.studies[sid]


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
        field = ".".join(str(x) for x in loc) or "(top level)"
        raise InputError(f"{path} line {line}, field {field}: {msg}") from None


def load_csv(path: Path, model: type[M]) -> tuple[M, ...]:
    """Parse and validate a CSV, a model per row; empty cells are missing values."""
    if not path.is_file():
        return ()
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = []
        fields = set(model.model_fields)
        unknown = [c for c in (reader.fieldnames or []) if c not in fields]
        if unknown:
            raise InputError(f"{path} line 1: unknown column {unknown[0]} "
                             f"(expected some of: {', '.join(model.model_fields)})")
        for raw in reader:
            line = reader.line_num
            if None in raw:
                raise InputError(f"{path} line {line}: more cells than the header has columns")
            data = {k: (v.strip() if v.strip() != "" else None) for k, v in raw.items()}
            try:
                rows.append(model.model_validate({k: v for k, v in data.items() if v is not None}))
            except ValidationError as exc:
                loc, msg = _first_error(exc)
                col = ".".join(str(x) for x in loc) or "(row)"
                value = data.get(str(loc[0])) if loc else None
                shown = f" ({value!r})" if value is not None else ""
                raise InputError(f"{path} line {line}, column {col}{shown}: {msg}") from None
    return tuple(rows)


def load_review(root: str | Path) -> Review:
    """Load and cross-check a review folder.

    Beyond each file's schema it checks that every study id is unique and matches its file
    name, that every outcome, arm and placebo row names a known study (placebo rows may cite
    a document instead), and that each ``source`` starts with a document id of the protocol.
    """
    root = Path(root)
    if not (root / "protocol.yaml").is_file():
        raise InputError(f"{root}: no protocol.yaml (is this a review folder?)")
    protocol = load_yaml(root / "protocol.yaml", Protocol)
    docs = {d.id for d in protocol.documents}
    studies: dict[str, Study] = {}
    for path in sorted((root / "studies").glob("*.yaml")):
        st = load_yaml(path, Study)
        if st.id != path.stem:
            raise InputError(f"{path} line 1, field id: id {st.id!r} does not match the file name")
        if st.source.document not in docs:
            raise InputError(f"{path}, field source.document: unknown document "
                             f"{st.source.document!r} (add it to protocol.yaml documents)")
        studies[st.id] = st
    outcomes = load_csv(root / "outcomes.csv", OutcomeRow)
    arms = load_csv(root / "arms.csv", ArmRow)
    placebo = load_csv(root / "placebo_response.csv", PlaceboResponseRow)
    for name, rows, need_study in (("outcomes.csv", outcomes, True), ("arms.csv", arms, True),
                                   ("placebo_response.csv", placebo, False)):
        for i, row in enumerate(rows, start=2):
            if need_study and row.study not in studies:
                raise InputError(f"{root / name} line {i}, column study: unknown study "
                                 f"{row.study!r} (no studies/{row.study}.yaml)")
            doc = row.source.split()[0] if row.source.split() else ""
            if doc not in docs:
                raise InputError(f"{root / name} line {i}, column source: must start with a "
                                 f"document id of protocol.yaml ({', '.join(sorted(docs))}), "
                                 f"got {row.source!r}")
    return Review(root, protocol, studies, outcomes, arms, placebo)
