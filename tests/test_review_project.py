"""A review folder and a project database hold the same study data, and the studies step.

Each test runs on SQLite and, when a server is reachable, on PostgreSQL (``db_url`` fixture in
conftest.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.store.project import Project as Review
from metareview.store.review_data import (
    add_rows,
    list_studies,
    read_review_data,
    set_study,
    write_review_data,
)
from metareview.studies import ArmRow, load_folder, write_folder

REVIEWS = sorted(p for p in (Path(__file__).resolve().parents[1] / "reviews").iterdir()
                 if (p / "protocol.yaml").is_file())
FLAGSHIP = next(p for p in REVIEWS if p.name == "ketamine-chronic-pain")


@pytest.fixture
def project(tmp_path, db_url):
    r = Review.create(tmp_path / "rv", "test review", db_url=db_url)
    yield r
    r.close()


@pytest.mark.parametrize("folder", REVIEWS, ids=lambda p: p.name)
def test_folder_round_trips_through_a_project_byte_for_byte(project, folder, tmp_path):
    data = load_folder(folder)
    write_review_data(project.engine, data, actor="ann")
    back = read_review_data(project.engine)
    out = write_folder(back, tmp_path / "out")
    # The committed folders are in canonical form, so every file comes back identical.
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    # The documents' texts (sources/) are not data: the project keeps the data, not the texts.
    committed = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                       if p.is_file() and p.suffix in (".yaml", ".csv")
                       and p.relative_to(folder).parts[0] != "sources")
    assert written == committed
    for name in written:
        assert (out / name).read_bytes() == (folder / name).read_bytes(), name
    assert load_folder(out).to_dict() == data.to_dict()
    assert back.fingerprint() == data.fingerprint()


def test_hand_written_folder_round_trips_to_equal_data(project, tmp_path):
    """A folder as people write it (comments, flow style, columns in another order) comes back
    with equal data; only the comments and the layout are not kept."""
    src = tmp_path / "hand"
    shutil.copytree(FLAGSHIP, src)
    proto = src / "protocol.yaml"
    proto.write_text("# a comment people write\n" + proto.read_text(encoding="utf-8"),
                     encoding="utf-8")
    arms = (src / "arms.csv").read_text(encoding="utf-8").splitlines()
    cols = arms[0].split(",")
    assert cols[0] == "study" and cols[1] == "outcome"
    import csv
    import io

    rows = list(csv.reader(io.StringIO("\n".join(arms))))
    swapped = io.StringIO()
    csv.writer(swapped, lineterminator="\n").writerows([[r[1], r[0], *r[2:]] for r in rows])
    (src / "arms.csv").write_text(swapped.getvalue(), encoding="utf-8")
    data = load_folder(src)
    write_review_data(project.engine, data, actor="ann")
    back = write_folder(read_review_data(project.engine), tmp_path / "back")
    assert load_folder(back).to_dict() == load_folder(FLAGSHIP).to_dict()
    assert "# a comment" not in (back / "protocol.yaml").read_text(encoding="utf-8")


def test_reimport_replaces_data_and_keeps_linked_studies(project):
    data = load_folder(FLAGSHIP)
    write_review_data(project.engine, data, actor="ann")
    project.add_import(_batch(1))
    project.link_study(1, "orhurhu2019", by="ann")
    smaller = type(data)(data.protocol, {k: v for k, v in data.studies.items()
                                         if k != "orhurhu2019"},
                         tuple(r for r in data.outcomes if r.study != "orhurhu2019"),
                         data.arms, data.placebo_response, data.judgements)
    write_review_data(project.engine, smaller, actor="ann")
    entries = {e.id: e for e in list_studies(project.engine, project.studies())}
    assert entries["orhurhu2019"].extracted is False and entries["orhurhu2019"].reports == (1,)
    assert entries["tankha2025"].extracted is True
    assert len(read_review_data(project.engine).studies) == len(data.studies) - 1


def test_rows_are_cross_checked_against_protocol_and_studies(project):
    data = load_folder(FLAGSHIP)
    write_review_data(project.engine, data, actor="ann")
    good = data.arms[0]
    assert add_rows(project.engine, "arms", [good], actor="ann") == 1
    assert len(read_review_data(project.engine).arms) == len(data.arms) + 1
    bad_route = ArmRow.model_validate({**good.model_dump(), "route": "by post"})
    line = len(data.arms) + 3  # after the folder's rows and the good one (header = line 1)
    with pytest.raises(InputError, match=rf"arms.csv line {line}, column route: 'by post' is "
                       "not in"):
        add_rows(project.engine, "arms", [bad_route], actor="ann")
    unknown = ArmRow.model_validate({**good.model_dump(), "study": "nobody2020"})
    with pytest.raises(InputError, match="unknown study 'nobody2020'"):
        add_rows(project.engine, "arms", [unknown], actor="ann")
    assert len(read_review_data(project.engine).arms) == len(data.arms) + 1  # nothing stored


def test_study_extraction_is_validated_then_stored(project):
    data = load_folder(FLAGSHIP)
    write_review_data(project.engine, data, actor="ann")
    st = data.studies["tankha2025"]
    renamed = st.model_copy(update={"id": "tankha2025b", "label": "Tankha 2025 (b)"})
    set_study(project.engine, renamed, actor="ann")
    assert read_review_data(project.engine).studies["tankha2025b"].label == "Tankha 2025 (b)"
    wrong = st.model_copy(update={"id": "x2020", "questions": ["Q9"]})
    with pytest.raises(InputError, match="unknown question 'Q9'"):
        set_study(project.engine, wrong, actor="ann")


def test_no_study_data_is_one_clear_error(project):
    with pytest.raises(InputError, match="no study data yet"):
        read_review_data(project.engine)


def _batch(n: int):
    from metareview.records.model import ImportBatch, Record

    recs = tuple(Record(title=f"Trial {i}", authors=("Doe, J",), year=2001, doi=f"10.1/{i}")
                 for i in range(n))
    return ImportBatch(recs, "PubMed", kind="database", format="ris", filename="p.ris",
                       sha256=f"sha-{n}")
