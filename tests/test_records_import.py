"""Importing search results: RIS, MEDLINE (.nbib), PubMed XML, BibTeX, CSV/TSV/XLSX.

Fixtures are hand-written files in each database's export format (tests/data/records/README.md).
Expected values are read off the fixture text by hand (line numbers with ``grep -n``), and
cross-checked where an independent reader exists: rispy (which ASReview uses) for RIS, and the
same citation in MEDLINE and XML form for the two PubMed readers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
import rispy
from hypothesis import given
from hypothesis import strategies as st

from metareview.errors import InputError
from metareview.records.bibtex import bibtex_name, latex_to_text, split_names
from metareview.records.fields import (
    clean_doi,
    clean_pmid,
    expand_pages,
    join_pages,
    parse_year,
    split_authors,
    split_pages,
)
from metareview.records.readers import (
    FORMATS,
    detect_format,
    read_records,
    read_records_bytes,
    read_records_text,
)

DATA = Path(__file__).parent / "data" / "records"


def ris(text: str, **kw):
    return read_records_text(text, "ris", filename="t.ris", **kw)


# ----------------------------------------------------------------------------- field cleaners


@pytest.mark.parametrize(
    ("raw", "doi"),
    [
        ("10.5555/ABC.123", "10.5555/abc.123"),
        ("https://doi.org/10.5555/abc", "10.5555/abc"),
        ("http://dx.doi.org/10.1186/s12919-018-0099-8", "10.1186/s12919-018-0099-8"),
        ("doi: 10.1016/S0140-6736(20)30183-5.", "10.1016/s0140-6736(20)30183-5"),
        ("10.5555/pain.2021.0412 [doi]", "10.5555/pain.2021.0412"),
        ("https://doi.org/10.5555%2Fj.bja.2022", "10.5555/j.bja.2022"),
        ("(see 10.5555/xyz)", "10.5555/xyz"),
        ("n/a", ""),
        ("", ""),
    ],
)
def test_clean_doi(raw, doi):
    assert clean_doi(raw) == doi


@pytest.mark.parametrize(
    ("raw", "pmid"),
    [("12345678", "12345678"), ("PMID: 12345678", "12345678"), ("pmid:1", "1"),
     ("12345678 [pmid]", "12345678"), ("31234567.0", "31234567"),
     ("621381829", ""),  # nine digits: an Embase accession number, not a PMID
     ("L2011234567", ""), ("", "")],
)
def test_clean_pmid(raw, pmid):
    assert clean_pmid(raw) == pmid


@pytest.mark.parametrize(
    ("raw", "year"),
    [("2020", 2020), ("2020//", 2020), ("2020/03/15/", 2020), ("2021 Apr 1", 2021),
     ("1998 Dec-1999 Jan", 1998), ("15.03.2020", 2020), (2019, 2019), (2019.0, 2019),
     (dt.date(2017, 5, 1), 2017), ("20x1", None), ("n.d.", None), ("12345", None),
     (20.5, None), (None, None)],
)
def test_parse_year(raw, year):
    assert parse_year(raw) == year


@pytest.mark.parametrize(
    ("raw", "expanded"),
    [("123-9", "123-129"), ("1121-9", "1121-1129"), ("e123-9", "e123-e129"),
     ("999-1003", "999-1003"), ("12-19", "12-19"), ("S12-S15", "S12-S15"), ("A112", "A112")],
)
def test_expand_pages(raw, expanded):
    assert expand_pages(raw) == expanded


@given(st.text(alphabet="0123456789eS- ,–", max_size=12).map(str.strip))
def test_split_pages_inverts_join_pages(pages):
    assert join_pages(*split_pages(pages)) == pages


@pytest.mark.parametrize(
    ("raw", "authors"),
    [("Smith, J.; Doe, A.", ("Smith, J.", "Doe, A.")),
     ("Smith J, Doe AB", ("Smith J", "Doe AB")),
     ("Haddad S., Fernández M.J., Ødegaard K.", ("Haddad S.", "Fernández M.J.", "Ødegaard K.")),
     ("Smith, John", ("Smith, John",)),
     ("World Health Organization", ("World Health Organization",)),
     ("  ", ())],
)
def test_split_authors(raw, authors):
    assert split_authors(raw) == authors


# ----------------------------------------------------------------------------- RIS


def test_embase_com_ris():
    path = DATA / "embase_com.ris"
    b = read_records(path, searched_on="2024-03-18")
    assert (b.source, b.kind, b.format, b.filename) == ("Embase", "database", "ris",
                                                         "embase_com.ris")
    assert b.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert b.searched_on == dt.date(2024, 3, 18)
    assert b.warnings == ()
    r1, r2 = b.records
    assert r1.title == ("Ketamine versus lidocaine infusion for refractory chronic pain: "
                        "a randomised trial")
    assert r1.authors == ("Schmidt A.", "Dubois C.", "Çelik E.")
    assert r1.year == 2021  # Y1  - 2021//
    assert r1.journal == "Journal of Pain Research"
    assert (r1.volume, r1.issue, r1.pages) == ("14", "2", "455-467")
    assert r1.doi == "10.5555/jpr.s291234"  # http://dx.doi.org/ prefix gone, lower case
    assert r1.abstract.startswith("Background: Intravenous ketamine and lidocaine")
    assert r1.abstract.endswith("Conclusion: Neither infusion was superior.")
    assert r1.keywords == ("ketamine", "lidocaine", "chronic pain",
                           "randomized controlled trial")
    assert (r1.type, r1.source_key, r1.line, r1.label, r1.pmid) == (
        "JOUR", "2011234567", 1, None, "")
    assert r1.extra["DB"] == "Embase\nMedline"
    assert r1.extra["JA"] == "J. Pain Res."
    assert r1.extra["U2"] == "L2011234567"
    assert r1.extra["M3"] == "Article"
    assert r1.extra["C5"] == "90000004"
    assert "T1" not in r1.extra and "N2" not in r1.extra and "Y1" not in r1.extra
    # A1 and AU merged in file order, the repeated name once
    assert r2.authors == ("Van den Berg L.", "Okafor N.")
    assert (r2.year, r2.issue, r2.pages, r2.doi, r2.line) == (2020, "Supplement 1", "A112", "",
                                                               33)


def test_ris_agrees_with_rispy():
    # rispy is the RIS reader ASReview uses: an independent reading of the same file.
    path = DATA / "embase_com.ris"
    ours = read_records(path).records
    theirs = rispy.loads(path.read_text(encoding="utf-8"))
    assert len(ours) == len(theirs) == 2
    for r, t in zip(ours, theirs, strict=True):
        assert r.title == t["primary_title"]
        assert r.abstract == t["notes_abstract"]
        assert r.keywords == tuple(t["keywords"])
        assert r.doi == clean_doi(t.get("doi", ""))
        assert r.journal == t["alternate_title3"]  # JF
        assert r.authors == tuple(dict.fromkeys(t["first_authors"] + t.get("authors", [])))


def test_scopus_ris_with_bom_and_crlf():
    b = read_records(DATA / "scopus.ris")
    assert b.source == "Scopus"
    r1, r2 = b.records
    assert r1.type == "JOUR"  # the BOM did not hide the first tag
    assert r1.authors == ("Haddad, S.", "Fernández, M.J.", "Ødegaard, K.")
    assert r1.journal == "British Journal of Anaesthesia"
    assert r1.extra["J2"] == "Br. J. Anaesth."
    assert r1.extra["C2"] == "90000005"
    # two N1 notes, the second wrapped onto a continuation line; no '\r' survives
    assert r1.extra["N1"] == (
        "Export Date: 18 March 2024; Cited By: 7\n"
        "References: Schug, S.A., Lavand'homme, P., Barke, A., (2019) Pain, 160, pp. 45-52;\n"
        "Glare, P., Aubrey, K.R., Myles, P.S., (2019) Lancet, 393, pp. 1537-1546"
    )
    assert r1.url.startswith("https://www.scopus.com/inward/record.uri?eid=2-s2.0-85137000001")
    assert (r2.line, r2.title, r2.pages) == (
        31, "Perioperative esketamine and persistent pain after breast surgery", "310-318")


def test_ovid_stray_lines_strict_names_the_first_line():
    with pytest.raises(InputError) as e:
        read_records(DATA / "embase_ovid_stray.ris")
    assert str(e.value).startswith(
        "embase_ovid_stray.ris line 1: text before the first record ('Database: Embase")


def test_ovid_stray_lines_lenient_recovers_with_warnings():
    b = read_records(DATA / "embase_ovid_stray.ris", lenient=True)
    assert [r.line for r in b.records] == [4, 25, 35]
    w = b.warnings
    assert len(w) == 4
    assert w[0].startswith("embase_ovid_stray.ris line 1: text before the first record")
    assert w[0].endswith("skipped it and the next 1 (to line 2)")
    assert w[1] == "embase_ovid_stray.ris line 14: blank line inside the record started at line 4"
    assert w[2] == ("embase_ovid_stray.ris line 35: 'TY  -' before the record started at line 25"
                    " was closed (missing 'ER  -')")
    assert w[3].startswith("embase_ovid_stray.ris line 43: text outside a record ('<3. >')")
    r1, r2, r3 = b.records
    assert r1.abstract == (
        "Background: Chronic pain and depression often co-occur.\n"
        "Methods: Twenty-four adults received three ketamine sessions with psychotherapy.\n"
        "Results: Pain interference fell by 30% at 12 weeks.")
    assert r1.keywords == ("ketamine", "depression")  # after the blank line, same record
    assert r1.url.startswith("http://ovidsp.ovid.com/")
    assert (r2.title, r2.pages, r2.source_key) == (
        "Ketamine for phantom limb pain: a case series", "101-104", "643111333")
    assert (r3.title, r3.year, r3.journal) == (
        "Topical ketamine cream in diabetic neuropathy", 2024, "Pain Medicine")
    assert b.source == "Embase"


def test_tag_outside_record():
    with pytest.raises(InputError, match=r"^broken_no_ty\.ris line 6: tag 'AU' outside a record "
                                         r"\(missing 'TY  -'\?\)$"):
        read_records(DATA / "broken_no_ty.ris")
    b = read_records(DATA / "broken_no_ty.ris", lenient=True, source="CINAHL")
    assert [r.title for r in b.records] == ["Ketamine and sleep"]
    assert b.warnings == ("broken_no_ty.ris line 6: tag 'AU' outside a record (missing 'TY  -'?)"
                          "; skipped it and the next 2 (to line 8)",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("TY  - JOUR\nTI  - A\nTY  - JOUR\nTI  - B\nER  - \n",
         "t.ris line 3: 'TY  -' before the record started at line 1 was closed (missing 'ER  -')"),
        ("TY  - JOUR\nTI  - A\n\nPY  - 2020\nER  - \n",
         "t.ris line 3: blank line inside the record started at line 1"),
        ("TY  - JOUR\nTI  - A\nER  - \nER  - \n", "t.ris line 4: 'ER  -' outside a record"),
        ("TY  - JOUR\nTI  - A\nER  - \nstray words\n",
         "t.ris line 4: text outside a record ('stray words'); a record starts with 'TY  - '"),
        ("TY  - JOUR\nTI  - A\nPY  - 2020\n",
         "t.ris line 1: the file ends inside this record (missing 'ER  -')"),
        ("TY  - JOUR\nTI  - A\nPY  - 20x1\nER  - \n", "t.ris line 3: tag PY: not a year ('20x1')"),
        ("TY  - JOUR\nTI  - A\nDO  - n/a\nER  - \n", "t.ris line 3: tag DO: not a DOI ('n/a')"),
        ("TY  - JOUR\nN1  - ASReview_relevant\nN1  - metareview: exclude\nER  - \n",
         "t.ris line 3: N1 notes give conflicting screening labels (exclude, include)"),
    ],
)
def test_ris_structure_errors_name_the_line(text, message):
    with pytest.raises(InputError) as e:
        ris(text)
    assert str(e.value) == message
    b = ris(text, lenient=True, source="x")
    assert len(b.warnings) == 1 and b.warnings[0].startswith(message)
    assert len(b.records) >= 1


def test_lenient_keeps_unreadable_values_in_extra():
    b = ris("TY  - JOUR\nTI  - A\nPY  - In press\nDO  - n/a\nER  - \n", lenient=True, source="x")
    (r,) = b.records
    assert (r.year, r.doi) == (None, "")
    assert r.extra == {"PY": "In press", "DO": "n/a"}


def test_error_at_the_end_means_nothing_is_imported():
    good = "".join(f"TY  - JOUR\nTI  - Record {i}\nER  - \n\n" for i in range(500))
    with pytest.raises(InputError, match=r"^t\.ris line 2001: tag 'TI' outside a record"):
        ris(good + "TI  - orphan\n")


def test_empty_and_recordless_files():
    with pytest.raises(InputError, match=r"^empty\.ris: the file is empty$"):
        read_records(DATA / "empty.ris")
    with pytest.raises(InputError, match="the file is empty"):
        read_records_bytes(b"\n \r\n", filename="blank.ris")
    with pytest.raises(InputError, match=r"^t\.ris: no RIS records"):
        ris("Database: Embase\n", lenient=True)


def test_latin1_fallback_with_warning():
    data = ("TY  - JOUR\nTI  - Ketamin bei Schmerz \x96 eine Studie\nAU  - M\xfcller, J\xfcrgen\n"
            "ER  - \n").encode("latin-1")
    b = read_records_bytes(data, filename="old.ris", source="Ovid")
    (r,) = b.records
    assert r.authors == ("Müller, Jürgen",)
    assert r.title == "Ketamin bei Schmerz – eine Studie"  # 0x96 is an en dash in cp1252
    assert b.warnings == ("old.ris line 2: not UTF-8 text; read the file as Windows-1252 "
                          "(Latin-1)",)


def test_utf16_with_bom():
    data = "TY  - JOUR\r\nTI  - Ketamin – Ødem\r\nER  - \r\n".encode("utf-16")
    (r,) = read_records_bytes(data, filename="endnote.ris", source="x").records
    assert r.title == "Ketamin – Ødem"


def test_asreview_labels_in_ris():
    b = read_records(DATA / "asreview_labelled.ris")
    assert [r.label for r in b.records] == ["include", "exclude", None]
    # ASReview's label words leave the notes; the reviewer's own note stays
    assert [dict(r.extra) for r in b.records] == [{}, {"N1": "Screened twice"}, {}]


def test_pmid_from_ris():
    r1, r2, r3 = ris(
        "TY  - JOUR\nAN  - PMID:90000007\nAN  - L2011234567\nER  - \n"
        "TY  - JOUR\nDB  - Ovid MEDLINE(R) ALL\nID  - 90000008\nER  - \n"
        "TY  - JOUR\nDB  - Embase\nDB  - Medline\nAN  - 90000009\nER  - \n",
        source="x",
    ).records
    assert (r1.pmid, r1.extra["AN"]) == ("90000007", "L2011234567")
    assert (r2.pmid, r2.source_key) == ("90000008", "90000008")
    assert r3.pmid == ""  # an Embase record's accession number is not taken for a PMID


# ----------------------------------------------------------------------------- MEDLINE / nbib


def test_pubmed_nbib():
    b = read_records(DATA / "pubmed.nbib")
    assert (b.source, b.format, b.warnings) == ("PubMed", "nbib", ())
    r1, r2, r3 = b.records
    assert [r.line for r in b.records] == [2, 57, 90]
    assert r1.pmid == r1.source_key == "90000001"
    assert r1.title == ("Low-dose ketamine infusion for chronic neuropathic pain: a randomized, "
                        "placebo-controlled crossover trial.")
    assert r1.abstract.startswith("BACKGROUND: Ketamine, an N-methyl-D-aspartate receptor "
                                  "antagonist, is used off label for refractory neuropathic "
                                  "pain. METHODS:")
    assert r1.authors == ("Sørensen, Mette", "García-López, José", "O'Neill, Aoife")
    assert (r1.year, r1.journal, r1.volume, r1.issue, r1.pages) == (
        2021, "Pain", "162", "4", "1121-9")
    assert r1.doi == "10.5555/pain.2021.0412"
    assert r1.keywords == ("Adult", "Chronic Pain/*drug therapy", "Cross-Over Studies", "Humans",
                           "Ketamine/*administration & dosage/adverse effects",
                           "Neuralgia/*drug therapy", "NMDA antagonist", "neuropathic pain")
    assert r1.extra["AU"] == "Sørensen M\nGarcía-López J\nO'Neill A"
    assert r1.extra["PT"] == "Journal Article\nRandomized Controlled Trial"
    assert r1.extra["DP"] == "2021 Apr 1"
    assert r1.extra["IS"] == "1872-6623 (Electronic)\n0304-3959 (Linking)"
    assert r2.authors == ("Nakamura, Kenji", "Müller, Jürgen",
                          "Ketamine in Palliative Care Study Group")
    assert (r2.year, r2.doi, r2.journal) == (2019, "10.5555/pm.2019.101",
                                             "Pain medicine (Malden, Mass.)")
    assert (r3.abstract, r3.volume, r3.year, r3.doi) == ("", "", 2024, "10.5555/ejp.2024.0077")
    assert r3.keywords == ("esketamine", "postoperative pain")


def test_nbib_bad_line():
    with pytest.raises(InputError) as e:
        read_records(DATA / "broken_line.nbib")
    assert str(e.value).startswith("broken_line.nbib line 7: not a MEDLINE line ('Title: "
                                   "continued without the six-space i')")
    b = read_records(DATA / "broken_line.nbib", lenient=True)
    assert [r.pmid for r in b.records] == ["90000010", "90000011"]
    assert len(b.warnings) == 1 and b.warnings[0].startswith("broken_line.nbib line 7:")


def test_nbib_missing_blank_line_between_records():
    text = "PMID- 90000020\nTI  - One\nPMID- 90000021\nTI  - Two\n"
    with pytest.raises(InputError, match=r"^x\.nbib line 3: 'PMID-' inside the record started "
                                         r"at line 1 \(missing blank line"):
        read_records_text(text, "nbib", filename="x.nbib")
    b = read_records_text(text, "medline", filename="x.nbib", lenient=True)
    assert [(r.pmid, r.title) for r in b.records] == [("90000020", "One"), ("90000021", "Two")]


def test_nbib_bad_year_names_its_line():
    with pytest.raises(InputError, match=r"^x\.nbib line 3: DP: not a year \('Spring'\)$"):
        read_records_text("PMID- 90000030\nTI  - T\nDP  - Spring\n", "nbib", filename="x.nbib")


# ----------------------------------------------------------------------------- PubMed XML


def test_pubmed_xml():
    b = read_records(DATA / "pubmed.xml")
    assert (b.source, b.format) == ("PubMed", "pubmed-xml")
    assert b.warnings == ("pubmed.xml line 119: PubmedBookArticle (PMID 90000099) skipped: book "
                          "records are not imported",)
    r1, r2 = b.records
    assert (r1.line, r2.line) == (4, 78)
    assert r1.title == ("Low-dose ketamine infusion for chronic neuropathic pain: a randomized, "
                        "placebo-controlled crossover trial.")  # <i> flattened
    assert r1.abstract.split("\n") == [
        "BACKGROUND: Ketamine, an N-methyl-D-aspartate receptor antagonist, is used off label "
        "for refractory neuropathic pain.",
        "METHODS: Forty adults received ketamine 0.5 mg/kg or saline over 4 hours in random "
        "order.",
        "RESULTS: Pain intensity fell by 1.8 points more after ketamine (95% CI 1.1 to 2.5; "
        "P < 0.001).",
        "CONCLUSIONS: A single low-dose infusion gave short-lived relief.",
    ]
    assert r1.doi == "10.5555/pain.2021.0412"  # ELocationID
    assert r1.keywords == ("Adult", "Chronic Pain/*drug therapy",
                           "Ketamine/*administration & dosage/adverse effects",
                           "NMDA antagonist", "neuropathic pain")
    assert r1.extra["TA"] == "Pain" and r1.extra["LA"] == "eng"
    # MedlineDate year, CollectiveName in its place, initials when no ForeName, DOI from the
    # ArticleIdList
    assert r2.year == 2019 and r2.extra["DP"] == "2019 Nov-Dec"
    assert r2.authors == ("Nakamura, Kenji", "Ketamine in Palliative Care Study Group",
                          "Müller, J")
    assert r2.doi == "10.5555/pm.2019.101"
    assert r2.extra["PMC"] == "PMC9000002"
    assert r2.keywords == ("*Ketamine/therapeutic use",)


def test_nbib_and_xml_of_the_same_citation_agree():
    nbib = {r.pmid: r for r in read_records(DATA / "pubmed.nbib").records}
    for x in read_records(DATA / "pubmed.xml").records:
        m = nbib[x.pmid]
        assert (x.title, x.year, x.journal, x.volume, x.issue, x.pages, x.doi) == (
            m.title, m.year, m.journal, m.volume, m.issue, m.pages, m.doi)
        assert set(x.keywords) <= set(m.keywords)
        # MEDLINE joins abstract sections into one paragraph, XML keeps them as lines
        assert x.abstract.replace("\n", " ") == m.abstract


def test_xml_errors():
    with pytest.raises(InputError, match=r"^broken\.xml line 4 column 43: not well-formed XML "
                                         r"\(mismatched tag\)$"):
        read_records(DATA / "broken.xml")
    with pytest.raises(InputError, match=r"root element is <eFetchResult>, expected "
                                         r"<PubmedArticleSet>"):
        read_records_text("<eFetchResult><ERROR>bad id</ERROR></eFetchResult>", "xml",
                          filename="e.xml")
    with pytest.raises(InputError, match="no <PubmedArticle> records"):
        read_records_text("<PubmedArticleSet></PubmedArticleSet>", "xml", filename="e.xml")
    with pytest.raises(InputError, match=r"^e\.xml line 2: <PubmedArticle> with no <PMID>"):
        read_records_text("<PubmedArticleSet>\n<PubmedArticle><MedlineCitation/></PubmedArticle>"
                          "</PubmedArticleSet>", "xml", filename="e.xml")


# ----------------------------------------------------------------------------- BibTeX


def test_zotero_bibtex():
    b = read_records(DATA / "zotero.bib", source="Zotero library")
    assert (b.source, b.format, b.warnings) == ("Zotero library", "bibtex", ())
    r1, r2, r3 = b.records
    assert [r.line for r in b.records] == [5, 25, 37]
    assert r1.source_key == "sorensen_low-dose_2021"
    assert r1.title == ("Low-dose Ketamine infusion for chronic neuropathic pain: a randomized, "
                        "placebo-controlled crossover trial")
    assert r1.authors == ("Sørensen, Mette", "García-López, José", "O'Neill, Aoife")
    assert (r1.journal, r1.year, r1.volume, r1.issue, r1.pages) == (
        "Pain", 2021, "162", "4", "1121-1129")  # @string macro; pages '--' as '-'
    assert (r1.doi, r1.pmid, r1.type) == ("10.5555/pain.2021.0412", "90000001", "JOUR")
    assert r1.abstract == ("Ketamine is used off label for refractory neuropathic pain.\n"
                           "Forty adults received ketamine 0.5 mg/kg or saline; pain fell by "
                           "1.8 points (95% CI 1.1–2.5).")
    assert r1.keywords == ("Chronic Pain", "Ketamine", "Neuralgia")
    assert r1.extra == {"issn": "0304-3959", "language": "en", "month": "April",
                        "entrytype": "article"}
    assert r2.title == "Oral ketamine for cancer-related pain: a Übersicht of München data"
    assert r2.authors == ("Müller, Jürgen", "Nakamura, Kenji",
                          "Ketamine in Palliative Care Study Group")
    assert r2.year == 2019  # a bare number
    assert r2.extra["month"] == "November–December"  # nov # "--" # dec
    assert r2.extra["note"] == "Erratum in: Pain Med. 2020;21(1):200. Çelik's comment & reply"
    assert r3.type == "CPAPER"
    assert r3.title == ("Esketamine and pain catastrophising: a pilot study of Århus and Łódź "
                        "patients")
    assert r3.journal == "European Journal of Pain Congress Abstracts"  # macro # "…" # {…}
    assert r3.authors == ("Kowalski, Piotr", "van Beethoven, Ludwig", "Straßer, Anna")
    assert r3.doi == "10.5555/ejp.2023.c17"
    assert r3.keywords == ("esketamine", "catastrophising")


@pytest.mark.parametrize(
    ("latex", "text"),
    [
        (r'Sm{\"o}rgrav', "Smörgrav"), (r"\"{o}", "ö"), (r"\"o", "ö"), (r"\'e", "é"),
        (r"{\c c}", "ç"), (r"\c{C}", "Ç"), (r"\'{\i}", "í"), (r"{\ss}", "ß"), (r"\ss{}", "ß"),
        (r"{\aa}", "å"), (r"{\AA}", "Å"), (r"{\o}", "ø"), (r"\L{}", "Ł"), (r"\v{s}", "š"),
        (r"\H{o}", "ő"), (r"\k{a}", "ą"), (r"\~n", "ñ"), (r"\^o", "ô"), (r"\`a", "à"),
        (r"\=a", "ā"), (r"\.z", "ż"), (r"\u{g}", "ğ"), (r"\r{u}", "ů"),
        ("1--2", "1–2"), ("a---b", "a—b"), (r"R\&D", "R&D"), (r"50\%", "50%"), (r"\_x", "_x"),
        ("{Ketamine} for {CRPS}", "Ketamine for CRPS"), ("a~b", "a b"),
        ("``quoted''", "“quoted”"), (r"$\beta$-blocker", "β-blocker"), (r"\textit{in vivo}",
                                                                         "in vivo"),
        (r"\emph{a} \textbf{b}", "a b"), ("two\n   lines", "two lines"), (r"\LaTeX{}", "LaTeX"),
    ],
)
def test_latex_to_text(latex, text):
    assert latex_to_text(latex) == text


@pytest.mark.parametrize(
    ("names", "out"),
    [
        ("Smith, John and Jane Doe", ["Smith, John", "Doe, Jane"]),
        ("Ludwig van Beethoven", ["van Beethoven, Ludwig"]),
        ("de la Cruz, Maria", ["de la Cruz, Maria"]),
        ("Smith, Jr, John", ["Smith, John, Jr"]),
        ("{Barnes and Noble} and Plato", ["Barnes and Noble", "Plato"]),
        (r"M{\"u}ller, J{\"u}rgen", ["Müller, Jürgen"]),
        ("Charles Louis de la Vall{\\'e}e Poussin", ["de la Vallée Poussin, Charles Louis"]),
    ],
)
def test_bibtex_names(names, out):
    assert [bibtex_name(n) for n in split_names(names)] == out


def test_bibtex_unbalanced_braces():
    with pytest.raises(InputError) as e:
        read_records(DATA / "broken_unbalanced.bib")
    assert str(e.value) == ("broken_unbalanced.bib line 7: unbalanced braces in field 'title' of "
                            "entry 'smith2020' (its value runs on to line 11)")
    b = read_records(DATA / "broken_unbalanced.bib", lenient=True, source="x")
    assert [r.source_key for r in b.records] == ["ok2020", "jones2021"]
    assert b.warnings[0] == str(e.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@article{a,\n  title {T},\n}\n", "b.bib line 2: expected '=' after field 'title' in "
                                           "entry 'a'"),
        ("@article{a,\n  journal = pj,\n}\n", "b.bib line 2: undefined macro 'pj' in field "
                                              "'journal' of entry 'a'"),
        ("@article{a,\n  title = {T}\n  year = 2020\n}\n", "b.bib line 3: expected ',' or '}' "
                                                           "after field 'title' in entry 'a' "
                                                           "(missing comma?)"),
        ("@article{a,\n  title = {T},\n", "b.bib line 1: entry 'a' is not closed (missing '}' "
                                          "before the end of the file)"),
        ("@article{a,\n  title = {T\n", "b.bib line 2: unbalanced braces in field 'title' of "
                                        "entry 'a' (the file ends inside it)"),
        ("@article{a,\n  title = {T},\n  year = {20x1},\n}\n", "b.bib line 1: entry 'a': not a "
                                                               "year ('20x1')"),
    ],
)
def test_bibtex_errors(text, message):
    with pytest.raises(InputError) as e:
        read_records_text(text, "bibtex", filename="b.bib")
    assert str(e.value) == message


def test_bibtex_comments_preamble_and_parentheses():
    text = ("This line is a comment; so is mail@example.org.\n"
            "@preamble{\"\\newcommand{\\noopsort}[1]{}\"}\n"
            "@comment{ @article{ignored, title={No}} }\n"
            "@book(key1, title = \"Pain {and} Ketamine\", year = 1999)\n")
    (r,) = read_records_text(text, "bib", filename="c.bib", source="x").records
    assert (r.title, r.year, r.type, r.source_key, r.line) == ("Pain and Ketamine", 1999, "BOOK",
                                                               "key1", 4)


# ----------------------------------------------------------------------------- spreadsheets


def test_scopus_csv():
    b = read_records(DATA / "scopus.csv")
    assert (b.source, b.format, b.warnings) == ("Scopus", "csv", ())
    r1, r2, r3 = b.records
    assert [r.line for r in b.records] == [2, 3, 4]  # the header is row 1
    assert (r2.authors, r2.keywords, r2.pmid) == (("Nguyen T.H.",), (), "")
    assert r1.authors == ("Haddad S.", "Fernández M.J.", "Ødegaard K.")
    assert r1.journal == "British Journal of Anaesthesia"  # Source title
    assert (r1.year, r1.volume, r1.issue, r1.pages) == (2022, "129", "5", "701-712")
    assert (r1.doi, r1.pmid, r1.type) == ("10.5555/j.bja.2022.07.021", "90000005", "Review")
    assert r1.abstract == ("Background: Chronic post-surgical pain affects one in ten patients.\n"
                           "Results: Ketamine reduced the risk of chronic pain at 3 months.")
    assert r1.keywords == ("chronic post-surgical pain", "ketamine", "meta-analysis")
    assert r1.extra["EID"] == "2-s2.0-85137000001"
    assert r1.extra["Index Keywords"] == "Analgesics; Ketamine; Pain, Postoperative"
    assert "Page start" not in r1.extra
    assert (r3.pages, r3.doi, r3.extra["Art. No."]) == ("", "", "e101")


def test_web_of_science_tab_delimited():
    # 'Tab delimited (Win, UTF-8)': BOM, CRLF, a trailing tab on every line, .txt extension
    b = read_records(DATA / "wos_savedrecs.txt")
    assert (b.source, b.format, b.warnings) == ("Web of Science", "tsv", ())
    r1, r2 = b.records
    assert r1.authors == ("Haddad, S", "Fernandez, MJ", "Odegaard, K")
    assert (r1.title, r1.journal, r1.year, r1.pages) == (
        "Ketamine infusions for chronic post-surgical pain: a systematic review and "
        "meta-analysis", "BRITISH JOURNAL OF ANAESTHESIA", 2022, "701-712")
    assert (r1.doi, r1.pmid, r1.source_key, r1.type) == (
        "10.5555/j.bja.2022.07.021", "90000005", "WOS:000900000000001", "Review")
    assert r1.keywords == ("chronic post-surgical pain", "ketamine", "meta-analysis")
    assert r1.extra["ID"] == "PERIOPERATIVE KETAMINE; ANALGESIA"  # Keywords Plus, not an id
    assert (r2.pages, r2.extra["AR"], r2.line) == ("", "e101", 3)


def test_asreview_csv_labels():
    b = read_records(DATA / "asreview_labelled.csv", source="ASReview")
    assert [(r.source_key, r.label) for r in b.records] == [
        ("1", "include"), ("2", "exclude"), ("3", None)]
    assert b.records[0].keywords == ("fibromyalgia", "ketamine")


def test_csv_bad_year_names_row_and_column():
    with pytest.raises(InputError) as e:
        read_records(DATA / "broken_year.csv")
    assert str(e.value) == "broken_year.csv row 7, column Year: not a year ('20x1')"
    b = read_records(DATA / "broken_year.csv", lenient=True, source="x")
    assert len(b.records) == 7
    r = b.records[5]
    assert (r.line, r.year, r.extra) == (7, None, {"Year": "20x1"})


def test_csv_mapping_and_its_errors(tmp_path):
    p = tmp_path / "list.csv"
    p.write_text("Paper name;Writers;When;Verdict\nKetamine in CRPS;\"Ito Y; Silva A\";2019;yes\n"
                 "Ketamine in dogs;Brown T;2018;no\n", encoding="utf-8")
    m = {"title": "paper name", "authors": "Writers", "year": "When", "label": "Verdict"}
    b = read_records(p, mapping=m, source="x")
    assert [(r.title, r.authors, r.year, r.label) for r in b.records] == [
        ("Ketamine in CRPS", ("Ito Y", "Silva A"), 2019, "include"),
        ("Ketamine in dogs", ("Brown T",), 2018, "exclude")]
    with pytest.raises(InputError, match=r"mapping title=Name: no column 'Name' \(columns: "
                                         r"Paper name, Writers, When, Verdict\)"):
        read_records(p, mapping={"title": "Name"})
    with pytest.raises(InputError, match="mapping headline=Paper name: unknown field"):
        read_records(p, mapping={"headline": "Paper name"})
    with pytest.raises(InputError, match=r"no column for title, abstract, DOI or PMID"):
        read_records(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Title,Year\n", "t.csv: no records (only a header row)"),
        ("Title,Title\nA,B\n", "t.csv row 1: column name 'Title' appears more than once"),
        ("Title,Year\nA,2020\nB,2021,extra\n", "t.csv row 3: 3 cells but the header has 2"),
        ("Title,label_included\nA,perhaps\n",
         "t.csv row 2, column label_included: not a label (expected 1/0, include/exclude or "
         "blank) ('perhaps')"),
        ("Title,DOI\nA,not-a-doi\n", "t.csv row 2, column DOI: not a DOI ('not-a-doi')"),
    ],
)
def test_csv_errors(text, message):
    with pytest.raises(InputError) as e:
        read_records_text(text, "csv", filename="t.csv")
    assert str(e.value) == message


def test_tsv_and_semicolon_csv_and_trailing_empty_cells():
    b = read_records_text("TI\tAU\tPY\tDI\nKetamine\tSmith J, Doe A\t2020\t10.5555/x\n", "tsv",
                          source="Web of Science")
    (r,) = b.records
    assert (r.title, r.authors, r.year, r.doi) == ("Ketamine", ("Smith J", "Doe A"), 2020,
                                                   "10.5555/x")
    (r,) = read_records_text("Title;Year;;\nA;2020;;\n", "csv", source="x").records
    assert (r.title, r.year) == ("A", 2020)


def test_xlsx(tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Title", "Authors", "Year", "PMID", "DOI", "included", "Added"])
    ws.append(["Ketamine for CRPS", "Ito, Y.; Silva, A.", 2019, 90000040, "10.5555/crps", 1,
               dt.datetime(2024, 3, 1)])
    ws.append(["Ketamine in dogs", "Brown, T.", 2018.0, None, None, 0, None])
    ws.append([None] * 7)
    ws.append(["Ketamine and sleep", None, "2020", "", "", None, None])
    p = tmp_path / "refs.xlsx"
    wb.save(p)
    b = read_records(p, source="Hand search", kind="other")
    assert (b.format, b.kind, b.sha256) == ("xlsx", "other",
                                            hashlib.sha256(p.read_bytes()).hexdigest())
    r1, r2, r3 = b.records
    assert (r1.title, r1.authors, r1.year, r1.pmid, r1.doi, r1.label, r1.line) == (
        "Ketamine for CRPS", ("Ito, Y.", "Silva, A."), 2019, "90000040", "10.5555/crps",
        "include", 2)
    assert r1.extra == {"Added": "2024-03-01"}
    assert (r2.year, r2.pmid, r2.label) == (2018, "", "exclude")
    assert (r3.title, r3.year, r3.label, r3.line) == ("Ketamine and sleep", 2020, None, 5)
    with pytest.raises(InputError, match=r"^broken\.xlsx: not an XLSX workbook"):
        read_records_bytes(b"PK\x03\x04 not really", filename="broken.xlsx")


# ----------------------------------------------------------------------------- the dispatcher


@pytest.mark.parametrize(
    ("name", "data", "fmt"),
    [
        ("export.txt", b"\r\nTY  - JOUR\r\n", "ris"),
        ("export.txt", b"\xef\xbb\xbfTY  - JOUR\n", "ris"),
        ("pubmed-ketamine-set.txt", b"\nPMID- 1\nTI  - x\n", "nbib"),
        ("refs.txt", b"% comment\n@Article{a, title={x}}\n", "bibtex"),
        ("efetch", b'<?xml version="1.0" ?>\n<PubmedArticleSet/>', "pubmed-xml"),
        ("savedrecs.txt", b"PT\tAU\tTI\tSO\nJ\tDoe\tx\ty\n", "tsv"),
        ("export.ris", b"anything", "ris"),
        ("a.NBIB", b"", "nbib"),
        ("sheet", b"PK\x03\x04...", "xlsx"),
        ("endnote.txt", "TY  - JOUR\r\n".encode("utf-16"), "ris"),
        ("excel-unicode.txt", "Title\tAuthors\tYear\r\n".encode("utf-16"), "tsv"),
    ],
)
def test_detect_format(name, data, fmt):
    assert detect_format(name, data) == fmt
    assert fmt in FORMATS


def test_detect_format_failures():
    with pytest.raises(InputError, match=r"^notes\.txt: cannot tell the format"):
        detect_format("notes.txt", b"just some words\n")
    with pytest.raises(InputError, match=r"old Excel \.xls workbooks are not read"):
        detect_format("old.xls", b"")


def test_reader_arguments(tmp_path):
    with pytest.raises(InputError, match=r"missing\.ris: no such file"):
        read_records(tmp_path / "missing.ris")
    p = DATA / "embase_com.ris"
    with pytest.raises(InputError, match=r"kind 'databse' is not one of database, register"):
        read_records(p, kind="databse")
    with pytest.raises(InputError, match=r"searched_on '18/03/2024': expected a date"):
        read_records(p, searched_on="18/03/2024")
    with pytest.raises(InputError, match=r"unknown format 'endnote'"):
        read_records(p, format="endnote")
    with pytest.raises(InputError, match="a column mapping applies to csv, tsv and xlsx"):
        read_records(p, mapping={"title": "T1"})
    b = read_records(p, source="Embase.com", kind="database", searched_on=dt.date(2024, 3, 1))
    assert (b.source, b.searched_on) == ("Embase.com", dt.date(2024, 3, 1))
    txt = tmp_path / "results.txt"
    txt.write_bytes(p.read_bytes())
    assert read_records(txt).format == "ris"
    b = read_records_text("TY  - JOUR\nTI  - A\nER  - \n", "ris")
    assert b.source == "unknown"
    assert b.warnings == ("<text>: the source database was not given and the file does not "
                          "name it; recorded as 'unknown'",)
    assert b.to_dict()["imported"] == 1


def test_covidence_published_year_is_the_year():
    """Covidence's CSV of references names the year 'Published Year' (tests/data/covidence)."""
    from metareview.records.readers import read_records

    recs = read_records(Path(__file__).parent / "data" / "covidence" / "references.csv").records
    assert recs and all(r.year is not None for r in recs)
