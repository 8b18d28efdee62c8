"""De-duplication rules that guard against false merges, and the author-cell splitting that
feeds them: pairs that must never merge and pairs that must still merge, with real values."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metareview.records.dedupe import compare, find_duplicates
from metareview.records.fields import split_authors
from metareview.records.model import Record
from metareview.records.normalize import (
    author_keys,
    document_kind,
    normalize_title,
    title_is_informative,
)
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


# ---------------------------------------------------------------------------------------------
# Pair decisions. Records are written the way databases export them; the expected verdicts
# follow from the rules (a false merge deletes a study, so an item whose title recurs needs
# pages, an identifier or its issue to be called the same).
ED = Record(title="Editor's Comments", authors=("Straub, Detmar W.",), year=2009,
            journal="MIS Quarterly", volume="33", issue="1")


def _dup(a: Record, b: Record) -> bool:
    return compare(a, b).duplicate


@pytest.mark.parametrize(
    "other",
    [
        replace(ED, issue="2"),  # next issue, same volume and editor, no pages
        replace(ED, issue="", title="Editor's comments."),  # issue not exported
        replace(ED, issue="4", year=2010, volume="34"),
        replace(ED, issue="2", pages="iii-iv"),
        replace(ED, issue="2", authors=()),
    ],
)
def test_repeated_editorial_items_never_merge(other):
    assert not _dup(ED, other)
    assert find_duplicates([ED, other]).n_clusters == 0


@pytest.mark.parametrize(
    "title",
    ["Letter from the editor", "In this issue", "Book reviews", "News", "Erratum",
     "Thank you to our reviewers", "Editorial", "From the Editor"],
)
def test_series_headings_in_different_issues_stay_apart(title):
    a = replace(ED, title=title)
    b = replace(ED, title=title, issue="3")
    assert compare(a, b).veto is not None
    assert not _dup(a, b)


def test_series_item_merges_when_the_data_say_it_is_one():
    # the same column from two databases: same volume, issue and editor
    assert _dup(ED, replace(ED, authors=("Straub DW",), journal="MIS Q"))
    # same first page
    a, b = replace(ED, issue="", pages="iii-v"), replace(ED, issue="1", pages="iii")
    assert _dup(a, b)
    # same DOI
    c = replace(ED, issue="2", doi="10.2307/20650269")
    d = replace(ED, issue="", doi="https://doi.org/10.2307/20650269")
    assert compare(c, d).reason == "doi"


ARTICLE = Record(
    title="The effect of minimum wages on employment: evidence from a border discontinuity",
    authors=("Dube, Arindrajit", "Lester, T. William", "Reich, Michael"), year=2010,
    journal="The Review of Economics and Statistics", volume="92", issue="4",
    pages="945-964", doi="10.1162/rest_a_00039",
    abstract="We generalize a local case study approach by comparing all contiguous county "
             "pairs in the United States that straddle a state border and find no adverse "
             "employment effects.", type="JOUR")


@pytest.mark.parametrize(
    "grey",
    [
        # a working paper with the article's title, authors and abstract
        replace(ARTICLE, journal="IZA Discussion Papers", volume="", issue="4983", pages="",
                doi="", year=2010, type="RPRT"),
        replace(ARTICLE, journal="NBER Working Paper Series", volume="", issue="w15041",
                pages="", doi="", year=2009, type="JOUR"),
        replace(ARTICLE, journal="Institute for Research on Labor and Employment",
                volume="", issue="", pages="", doi="", year=2010, type="RPRT"),
        # a meeting abstract: in a supplement, or in proceedings
        replace(ARTICLE, volume="92", issue="Suppl 1", pages="S12", doi="", type="JOUR"),
        replace(ARTICLE, journal="Proceedings of the Annual Meeting of the Labor Society",
                volume="", issue="", pages="45", doi="", type="CONF"),
        replace(ARTICLE, journal="", volume="", issue="", pages="", doi="", type="ABST"),
        replace(ARTICLE, journal="", volume="", issue="", pages="", doi="", type="THES"),
    ],
)
def test_working_paper_or_abstract_never_merges_with_the_article(grey):
    ev = compare(ARTICLE, grey)
    assert not ev.duplicate
    assert ev.veto == ("different kinds of document (article, abstract, report, thesis, "
                       "book)")
    assert find_duplicates([ARTICLE, grey]).n_clusters == 0


def test_working_paper_with_the_article_doi_merges():
    wp = replace(ARTICLE, journal="NBER Working Paper Series", volume="", issue="w15041",
                 pages="", type="RPRT")
    assert compare(ARTICLE, wp).reason == "doi"


@pytest.mark.parametrize(
    ("journal", "kind"),
    [("NBER Working Paper Series", 3), ("IZA Discussion Papers", 3),
     ("World Bank Policy Research Working Paper", 3), ("Abstracts of the Stress Congress", 2),
     ("Annual Meeting of the Society for Neuroscience", 2),
     ("Proceedings of the National Academy of Sciences", 1), ("Mayo Clinic Proceedings", 1),
     ("Abstract and Applied Analysis", 1), ("Conference Papers in Science", 2),
     ("", 0)],
)
def test_document_kind_from_the_source(journal, kind):
    assert document_kind(Record(title="x", journal=journal)) == kind


@pytest.mark.parametrize(
    ("rtype", "kind"),
    [("JOUR", 1), ("RPRT", 3), ("ABST", 2), ("CPAPER", 2), ("Conference Abstract", 2),
     ("Meeting Abstract", 2), ("THES", 4), ("CHAP", 5), ("Journal Article", 1), ("", 0)],
)
def test_document_kind_from_the_type(rtype, kind):
    assert document_kind(Record(title="x", type=rtype)) == kind


# Non-Latin titles: kept as they are (no transliteration), never emptied into a key that
# matches everything.
CJK_A = "慢性阻塞性肺疾病患者肺康复训练的随机对照研究"
CJK_B = "老年高血压患者家庭血压监测依从性的横断面调查"
RU_A = "Эффективность физической реабилитации при хронической обструктивной болезни лёгких"
RU_B = "Распространённость артериальной гипертензии среди пожилых пациентов в Москве"
BASE_NL = Record(authors=("Wang, Li", "Zhang, Wei"), year=2019, journal="Zhonghua Yi Xue Za Zhi",
                 volume="99")


@pytest.mark.parametrize(
    ("t1", "t2", "pages"),
    [(CJK_A, CJK_B, ("", "")), (CJK_A, CJK_B, ("901-905", "933-937")),
     (RU_A, RU_B, ("", "")), ("Αποτελεσματικότητα της φυσικής αποκατάστασης",
                              "Επιπολασμός της αρτηριακής υπέρτασης στους ηλικιωμένους",
                              ("", "")),
     ("فعالية إعادة التأهيل البدني لدى مرضى الانسداد الرئوي المزمن",
      "انتشار ارتفاع ضغط الدم بين المرضى المسنين", ("", "")),
     ("????????", "??????????", ("", "")),  # titles lost to a wrong encoding
     ("", "", ("", "")), ("Ab", "Ab", ("", ""))],
)
def test_distinct_non_latin_or_empty_titles_never_merge(t1, t2, pages):
    a = replace(BASE_NL, title=t1, pages=pages[0])
    b = replace(BASE_NL, title=t2, pages=pages[1])
    assert not _dup(a, b)
    assert find_duplicates([a, b]).n_clusters == 0


@pytest.mark.parametrize("title", [CJK_A, RU_A])
def test_same_non_latin_title_from_two_databases_merges(title):
    a = replace(BASE_NL, title=title, pages="901-905")
    b = replace(BASE_NL, title=title + ".", authors=("Wang L", "Zhang W"), pages="901-5",
                journal="Zhonghua yi xue za zhi")
    assert _dup(a, b)


def test_cjk_title_counts_as_informative():
    assert normalize_title(CJK_A) == CJK_A
    assert title_is_informative(normalize_title(CJK_A), [CJK_A])
    assert not title_is_informative("慢性病", ["慢性病"])


# Truncated titles
FULL = Record(
    title="Identification of further diversity among posaviruses in swine faeces: Part 2",
    authors=("Hendriks, M. S.", "Park, M. J."), year=2003, journal="Journal of Virology",
    volume="95", issue="5", pages="234-247", type="JOUR")


@pytest.mark.parametrize("cut", [50, 64, 72])
def test_truncated_title_still_matches_its_full_form(cut):
    short = replace(FULL, title=FULL.title[:cut] + "...", authors=("Hendriks MS", "Park MJ"),
                    journal="J Virol", pages="234-47")
    ev = compare(FULL, short)
    assert ev.duplicate and ev.veto is None
    assert find_duplicates([FULL, short]).n_clusters == 1


def test_truncation_that_hides_a_number_needs_the_pages():
    part1 = replace(FULL, title=FULL.title.replace("Part 2", "Part 1"), pages="220-233")
    cut = replace(FULL, title=FULL.title[:64], pages="")
    # the cut Part 2 without pages cannot be told from Part 1: not merged with either on
    # the title; with its pages it joins Part 2 and never Part 1
    assert not _dup(part1, cut)
    with_pages = replace(cut, pages="234-47")
    assert _dup(FULL, with_pages)
    assert not _dup(part1, with_pages)
    res = find_duplicates([part1, FULL, with_pages])
    assert res.clusters == ((1, 2),)


def test_short_title_that_is_the_start_of_a_longer_one_does_not_merge_on_that_alone():
    main = replace(FULL, title="Identification of further diversity among posaviruses",
                   authors=("Hendriks, M. S.", "Jones, A."), year=2004, volume="96",
                   pages="1001-1010")
    assert not _dup(FULL, main)


# Author forms: every common way of writing one list gives one verdict.
@pytest.mark.parametrize(
    "authors",
    [("Hendriks, M. S. and Park, M. J.",), ("Hendriks MS", "Park MJ"),
     ("Hendriks, Maarten S.", "Park, Min-jun"), ("M. S. Hendriks", "M. J. Park"),
     ("Hendriks M.S.", "Park M.J."), ("Hendriks MS", "et al."),
     ("Hendriks, Maarten S. and Park, Min-jun and others",)],
)
def test_author_forms_match(authors):
    other = replace(FULL, authors=authors, journal="J Virol", pages="234-47")
    ev = compare(FULL, other)
    assert ev.duplicate, ev


# ---------------------------------------------------------------------------------------------
# Invariants over a pool of hard cases
POOL = [
    ED, replace(ED, issue="2"), replace(ED, authors=("Straub DW",), journal="MIS Q"),
    ARTICLE,
    replace(ARTICLE, journal="NBER Working Paper Series", volume="", issue="w15041",
            pages="", doi="", year=2009, type="RPRT"),
    replace(ARTICLE, volume="92", issue="Suppl 1", pages="S12", doi="", type="ABST"),
    replace(ARTICLE, title=ARTICLE.title.upper(), doi="", authors=("Dube A", "Lester TW")),
    FULL, replace(FULL, title=FULL.title[:60], pages="234-47"),
    replace(FULL, title=FULL.title.replace("Part 2", "Part 1"), pages="220-233"),
    replace(BASE_NL, title=CJK_A, pages="901-905"), replace(BASE_NL, title=CJK_A + "。",
                                                             pages="901-5"),
    replace(BASE_NL, title=CJK_B), replace(BASE_NL, title="????"),
    replace(BASE_NL, title=RU_A, authors=("Ivanov, I. I.",)),
]
POOL_TRUTH = {frozenset({0, 2}), frozenset({3, 6}), frozenset({7, 8}), frozenset({10, 11})}


def _partition(records: list[Record], ids: list[int]) -> set[frozenset[int]]:
    res = find_duplicates(records)
    return {frozenset(ids[k] for k in c) for c in res.clusters}


def test_pool_clusters_are_the_true_ones():
    assert _partition(POOL, list(range(len(POOL)))) == POOL_TRUTH


@settings(max_examples=40, deadline=None)
@given(st.permutations(list(range(len(POOL)))))
def test_pool_partition_does_not_depend_on_record_order(perm):
    assert _partition([POOL[k] for k in perm], perm) == POOL_TRUTH


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=10)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, len(POOL) - 1), min_size=1, max_size=len(POOL), unique=True),
       st.lists(_WORDS, min_size=0, max_size=8), st.integers(0, 20))
def test_an_unrelated_record_changes_no_other_cluster(subset, words, at):
    recs = [POOL[k] for k in subset]
    before = _partition(recs, subset)
    stranger = Record(title=" ".join(words), authors=("Quixote, Q.",), year=1950,
                      journal="Unrelated Letters", volume="1", pages="1-2")
    at = min(at, len(recs))
    recs2 = [*recs[:at], stranger, *recs[at:]]
    ids2 = [*subset[:at], -1, *subset[at:]]
    after = _partition(recs2, ids2)
    assert {c for c in after if -1 not in c} == before
    assert not any(-1 in c for c in after)


def test_generated_hard_negatives_are_never_merged():
    # The tuning seed of the benchmark's generator, small: every new hard-negative kind
    # occurs, and no predicted cluster joins two different articles.
    lab = pytest.importorskip("bench.dedupe_labelled")
    if not lab.DATA_DIR.is_dir():
        pytest.skip(f"screening datasets not found at {lab.DATA_DIR}")
    ls = lab.build(1200, seed=1)
    kinds = set(ls.entity_kind)
    for k in ("series", "working-paper", "conference-abstract", "non-latin", "prefix"):
        assert f"hard:{k}" in kinds
    res = find_duplicates(ls.records)
    for c in res.clusters:
        assert len({int(ls.entity[x]) for x in c}) == 1, [ls.records[x].title for x in c]
    ev = ls.evaluate(res.representative())
    assert ev["FP"] == 0 and ev["sensitivity"] > 0.97


def test_review_and_update_never_merge_through_a_copy_without_year():
    # A Cochrane review keeps its number and title through updates (CD012345 as the page).
    review = Record(title="Exercise for depression", authors=("Cooney, G. M.",), year=2013,
                    journal="Cochrane Database Syst Rev", volume="9", pages="CD004366")
    update = replace(review, year=2019, volume="3")
    undated = replace(update, year=None, volume="")
    assert compare(review, undated).veto == ("versions of one review (same review number) "
                                             "and a year missing")
    assert not _dup(update, undated)
    assert find_duplicates([review, undated]).n_clusters == 0
    # the same version from two databases still merges
    assert _dup(update, replace(update, authors=("Cooney GM",), pages="CD004366"))


def test_review_versions_a_year_apart_stay_apart():
    # The Cochrane Database is online only: no e-pub year before a print year, so a copy a
    # year off is another version (issue 13: a review's update one year later, exported
    # without its volume and pages, was merged with the review).
    review = Record(title="Exercise for depression in adults with chronic illness",
                    authors=("Cooney, G. M.", "Dwan, K."), year=2013,
                    journal="Cochrane Database Syst Rev", volume="9", pages="CD004366")
    update_bare = replace(review, year=2014, volume="", pages="",
                          journal="The Cochrane Database of Systematic Reviews")
    ev = compare(review, update_bare)
    assert ev.veto == "versions of one review (same review number) in different years"
    assert ev.score == pytest.approx(10.0)  # it would pass on the score alone
    assert find_duplicates([review, update_bare]).n_clusters == 0
    # an ordinary journal article a year off (e-pub and print) still merges
    article = replace(review, journal="J Affect Disord", pages="123-9")
    assert _dup(article, replace(article, year=2014, volume="", pages=""))
    # the same version from another database still merges
    assert _dup(review, replace(review, authors=("Cooney GM", "Dwan K"), volume=""))


# A meeting abstract in a journal supplement, the article it became, and two bare exports
# (no pages, no issue) a year before the article: one of the abstract, one of the article.
_ART = Record(title="Neighbourhood collective efficacy and violent crime in young adults",
              authors=("Yoshida, A. Y.", "Kaczmarek, L.", "Mercier, C.", "Richard, N."),
              year=1998, journal="J Child Psychol Psychiatry", volume="39", issue="5",
              pages="185-96", type="JOUR",
              abstract="It is hypothesized that collective efficacy, defined as social cohesion "
                       "among neighbors combined with their willingness to intervene on behalf "
                       "of the common good, is linked to reduced violence.")
_ABST = replace(_ART, year=1997, volume="38", issue="Suppl 2", pages="S37")


def test_bare_copy_that_matches_a_meeting_abstract_as_well_is_not_merged():
    bare_abst = replace(_ABST, volume="", issue="", pages="")
    # it resembles the abstract (same year, vetoed by kind alone) more than the article
    assert compare(bare_abst, _ABST).veto.startswith("different kinds of document")
    assert compare(bare_abst, _ABST).score > compare(bare_abst, _ART).score
    assert _dup(bare_abst, _ART)  # on the pair alone it would merge
    res = find_duplicates([_ART, _ABST, bare_abst])
    assert res.n_clusters == 0
    # with an identifier shared with the article it is the article's copy after all
    res = find_duplicates([replace(_ART, pmid="9123456"), _ABST,
                           replace(bare_abst, pmid="9123456")])
    assert res.clusters == ((0, 2),)


def test_bare_e_pub_copy_of_an_article_still_merges():
    epub = replace(_ART, year=1997, volume="", issue="", pages="")
    # no meeting abstract among the records: nothing to confuse it with
    assert find_duplicates([_ART, epub]).clusters == ((0, 1),)
    # with the abstract in a meeting's proceedings it resembles the article more and merges
    conf = replace(_ABST, journal="Biennial Meeting of the Society for Research in Child "
                   "Development", volume="", issue="", pages="112", type="CONF")
    assert compare(epub, _ART).score == pytest.approx(12.0)
    assert compare(epub, conf).score == pytest.approx(11.5)
    assert find_duplicates([_ART, conf, epub]).clusters == ((0, 2),)
    # in the journal's supplement the same year, the two placements are equally good: alone
    assert compare(epub, _ABST).score == pytest.approx(13.5)
    assert find_duplicates([_ART, _ABST, epub]).n_clusters == 0


def test_record_tied_between_two_records_that_must_stay_apart_is_left_alone():
    # A preprint matches a review and its update (same title and number, two years apart)
    # with the same score: nothing says which version it became.
    review = Record(title="Vasopressin and renal sodium excretion during potassium loading",
                    authors=("Wilson, Helen", "Cetin, Gokhan", "Nicolo, Francesca"),
                    year=2017, journal="Cochrane Database Syst Rev", volume="2",
                    pages="CD014379")
    update = replace(review, year=2019, volume="11")
    pre = replace(review, journal="bioRxiv", volume="", pages="", type="UNPB",
                  doi="10.1101/2017.04.27.631080")
    assert compare(pre, review).score == compare(pre, update).score
    assert _dup(pre, review) and _dup(pre, update)
    assert find_duplicates([review, update, pre]).n_clusters == 0
    # without the update, the preprint and the review are one work
    assert find_duplicates([review, pre]).clusters == ((0, 1),)
