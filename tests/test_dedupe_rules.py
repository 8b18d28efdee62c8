"""De-duplication rules that guard against false merges, and the author-cell splitting that
feeds them: pairs that must never merge and pairs that must still merge, with real values."""

from __future__ import annotations

import pytest

from metareview.records.fields import split_authors
from metareview.records.normalize import author_keys
from metareview.records.readers import read_records_text


# ---------------------------------------------------------------------------------------------
# Author cells
@pytest.mark.parametrize(
    ("cell", "authors"),
    [
        # BibTeX's list, as Zotero/JabRef write it into a CSV column
        ("Smith, John and Müller, Hans-Peter", ("Smith, John", "Müller, Hans-Peter")),
        ("Smith, John A. and van der Berg, J. A. and others",
         ("Smith, John A.", "van der Berg, J. A.", "et al.")),
        ("John Smith and Mary Jones", ("John Smith", "Mary Jones")),
        ("J. Smith and M. Jones", ("J. Smith", "M. Jones")),
        ("Smith JA and Doe B", ("Smith JA", "Doe B")),
        ("Smith J, Doe A, et al.", ("Smith J", "Doe A", "et al.")),
        ("Smith et al.", ("Smith", "et al.")),
        # never split: organisations, "and" inside a name, one author
        ("Centers for Disease Control and Prevention",
         ("Centers for Disease Control and Prevention",)),
        ("Barnes and Noble", ("Barnes and Noble",)),
        ("Medical Research Council and Wellcome Trust",
         ("Medical Research Council and Wellcome Trust",)),
        ("Royal College of Physicians and Surgeons", ("Royal College of Physicians and Surgeons",)),
        ("Anderson, K", ("Anderson, K",)),
        ("Sanders, Andrew", ("Sanders, Andrew",)),
        # a semicolon list is split on semicolons only
        ("Smith, J.; Black and Decker Ltd", ("Smith, J.", "Black and Decker Ltd")),
    ],
)
def test_split_authors_forms(cell, authors):
    assert split_authors(cell) == authors


@pytest.mark.parametrize(
    "cell",
    ["Smith, John and Doe, Jane", "Smith J; Doe J", "Smith J, Doe J", "John Smith and Jane Doe",
     "J. Smith and J. Doe"],
)
def test_every_author_form_gives_the_same_keys(cell):
    assert author_keys(split_authors(cell)) == ("smith", "do")
    # also when an importer left the cell whole
    assert author_keys([cell]) == ("smith", "do")


def test_csv_reader_splits_bibtex_author_cell():
    text = ('title,author,year\n'
            '"A trial","Smith, John and Doe, Jane and others",2020\n'
            '"A report","Centers for Disease Control and Prevention",2021\n')
    recs = read_records_text(text, "csv", source="x").records
    assert recs[0].authors == ("Smith, John", "Doe, Jane", "et al.")
    assert recs[1].authors == ("Centers for Disease Control and Prevention",)
