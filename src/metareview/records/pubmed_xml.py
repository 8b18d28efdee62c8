"""PubMed XML: a ``<PubmedArticleSet>`` as E-utilities ``efetch`` (``retmode=xml``) returns it,
or as PubMed's "Save → XML" writes it.

Read with :mod:`xml.etree.ElementTree` (external DTDs are never fetched; expat refuses
entity-expansion bombs). Fields: pmid ``MedlineCitation/PMID``; title ``ArticleTitle`` (inline
markup such as ``<i>`` flattened; ``VernacularTitle`` when empty); abstract the
``AbstractText`` sections, each ``LABEL: text`` when labelled, one per line; authors
``LastName, ForeName`` (or initials) and ``CollectiveName`` in list order; year
``PubDate/Year``, else the first year of ``MedlineDate``, else ``ArticleDate``; journal
``Journal/Title``; volume, issue; pages ``MedlinePgn`` (else ``StartPage-EndPage``); DOI
``ELocationID[@EIdType='doi']`` else ``ArticleId[@IdType='doi']``; keywords MeSH headings
written as MEDLINE does (``Aspirin/*therapeutic use``) then ``Keyword``; type ``JOUR``;
source key the PMID. ``extra`` keeps ``TA`` (ISO abbreviation), ``IS`` (ISSN), ``LA``
(languages), ``PT`` (publication types), ``PMC`` and ``DP`` (the date as PubMed prints it).
``<PubmedBookArticle>`` records are skipped with a warning.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from metareview.errors import InputError
from metareview.records.fields import (
    Parsed,
    Problems,
    clean_doi,
    clean_pmid,
    normalise_space,
    one_line,
    parse_year,
    shown,
    unique,
)
from metareview.records.model import Record

_ARTICLES = ("PubmedArticle", "PubmedBookArticle")


def _text(el: ET.Element | None) -> str:
    """All text inside ``el`` (inline ``<i>``, ``<sup>`` … flattened), whitespace collapsed."""
    return normalise_space("".join(el.itertext())) if el is not None else ""


def _article_lines(data: bytes) -> list[int]:
    """Line of each top-level article element, in document order (ElementTree keeps none)."""
    lines: list[int] = []
    p = expat.ParserCreate()
    depth = 0

    def start(name: str, attrs: dict) -> None:
        nonlocal depth
        depth += 1
        if depth == 2 and name in _ARTICLES:
            lines.append(p.CurrentLineNumber)

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    p.StartElementHandler = start
    p.EndElementHandler = end
    p.Parse(data, True)
    return lines


def parse_pubmed_xml(data: bytes, *, filename: str, lenient: bool = False) -> Parsed:
    """Parse PubMed XML bytes into records.

    Parameters
    ----------
    data : bytes
        The file (its XML declaration names the encoding).
    filename : str
        Used in messages.
    lenient : bool
        Skip articles without a PMID with a warning instead of raising.

    Raises
    ------
    InputError
        ``export.xml line 3 column 5: not well-formed XML (…)``; a root other than
        ``<PubmedArticleSet>``; an article without a PMID or with an unreadable year (strict);
        a file without articles.
    """
    problems = Problems(filename, lenient)
    try:
        root = ET.fromstring(data)
        lines = _article_lines(data)
    except (ET.ParseError, expat.ExpatError) as exc:
        line, col = (exc.position if isinstance(exc, ET.ParseError) else (exc.lineno, exc.offset))
        reason = str(exc).rsplit(": line", 1)[0].removeprefix("not well-formed ").strip("()")
        raise InputError(
            f"{problems.filename} line {line} column {col + 1}: not well-formed XML "
            f"({one_line(reason)})"
        ) from None
    except (LookupError, ValueError) as exc:
        # The encoding named in the XML declaration (line 1) is unknown to Python, is not a
        # text encoding (LookupError), or is multi-byte, which expat cannot take (ValueError);
        # UnicodeError is a ValueError too.
        raise InputError(f"{problems.filename} line 1: cannot decode the XML in its declared "
                         f"encoding ({one_line(exc, 80)})") from None
    if root.tag != "PubmedArticleSet":
        problems.error(1, f"root element is <{one_line(root.tag, 60)}>, expected "
                       "<PubmedArticleSet> (PubMed XML)")
    records: list[Record] = []
    n = 0
    for el in root:
        if el.tag not in _ARTICLES:
            continue
        line = lines[n] if n < len(lines) else None
        n += 1
        if el.tag == "PubmedBookArticle":
            pmid = _text(el.find("BookDocument/PMID"))
            shown_pmid = pmid if pmid and clean_pmid(pmid) == pmid else shown(pmid) if pmid else "?"
            problems.warn(line, f"PubmedBookArticle (PMID {shown_pmid}) skipped: book records "
                          "are not imported")
            continue
        rec = _article(el, line, problems)
        if rec is not None:
            records.append(rec)
    if n == 0:
        problems.error(None, "no <PubmedArticle> records")
    if not records:
        problems.error(None, "no journal articles (only book records, which are skipped)")
    return Parsed(tuple(records), tuple(problems.warnings), "PubMed")


def _article(el: ET.Element, line: int | None, problems: Problems) -> Record | None:
    mc = el.find("MedlineCitation")
    art = mc.find("Article") if mc is not None else None
    pmid_raw = _text(mc.find("PMID")) if mc is not None else ""
    pmid = clean_pmid(pmid_raw)
    if not pmid:
        what = f"not a PubMed identifier ({shown(pmid_raw)})" if pmid_raw else "no <PMID>"
        problems.problem(line, f"<PubmedArticle> with {what}; skipped")
        return None
    if art is None:
        problems.problem(line, f"<PubmedArticle> PMID {pmid} has no <Article>; skipped")
        return None
    title = _text(art.find("ArticleTitle")) or _text(art.find("VernacularTitle"))
    parts = []
    for ab in art.findall("Abstract/AbstractText"):
        body = _text(ab)
        label = ab.get("Label")
        if body:
            parts.append(f"{label}: {body}" if label else body)
    authors = []
    for au in art.findall("AuthorList/Author"):
        if au.get("ValidYN") == "N":
            continue
        collective = _text(au.find("CollectiveName"))
        last = _text(au.find("LastName"))
        given = _text(au.find("ForeName")) or _text(au.find("Initials"))
        if collective:
            authors.append(collective)
        elif last:
            authors.append(f"{last}, {given}" if given else last)
    journal_el = art.find("Journal")
    issue_el = journal_el.find("JournalIssue") if journal_el is not None else None
    pubdate = issue_el.find("PubDate") if issue_el is not None else None
    year_text = ""
    dp = ""
    if pubdate is not None:
        y = _text(pubdate.find("Year"))
        md = _text(pubdate.find("MedlineDate"))
        year_text = y or md
        dp = md or " ".join(
            t for t in (y, _text(pubdate.find("Month")), _text(pubdate.find("Day"))) if t)
    if not year_text:
        year_text = _text(art.find("ArticleDate/Year"))
    year = parse_year(year_text) if year_text else None
    if year_text and year is None:
        problems.problem(line, f"PMID {pmid}: not a year ({shown(year_text)})")
    pages = _text(art.find("Pagination/MedlinePgn"))
    if not pages:
        sp, ep = _text(art.find("Pagination/StartPage")), _text(art.find("Pagination/EndPage"))
        pages = f"{sp}-{ep}" if sp and ep else sp
    doi = ""
    for loc in art.findall("ELocationID"):
        if loc.get("EIdType") == "doi" and loc.get("ValidYN") != "N":
            doi = clean_doi(_text(loc))
            if doi:
                break
    pmc = ""
    for aid in el.findall("PubmedData/ArticleIdList/ArticleId"):
        kind = aid.get("IdType")
        if kind == "doi" and not doi:
            doi = clean_doi(_text(aid))
        elif kind == "pmc" and not pmc:
            pmc = _text(aid)
    keywords = [_mesh(mh) for mh in mc.findall("MeshHeadingList/MeshHeading")]
    keywords += [_text(k) for k in mc.findall("KeywordList/Keyword")]
    extra = {
        "TA": _text(mc.find("MedlineJournalInfo/MedlineTA")) or _text(
            journal_el.find("ISOAbbreviation") if journal_el is not None else None),
        "IS": _text(journal_el.find("ISSN") if journal_el is not None else None),
        "LA": "\n".join(_text(x) for x in art.findall("Language")),
        "PT": "\n".join(_text(x) for x in art.findall("PublicationTypeList/PublicationType")),
        "PMC": pmc,
        "DP": dp,
    }
    return Record(
        title=title, abstract="\n".join(parts), authors=unique(authors), year=year,
        journal=_text(journal_el.find("Title") if journal_el is not None else None),
        volume=_text(issue_el.find("Volume") if issue_el is not None else None),
        issue=_text(issue_el.find("Issue") if issue_el is not None else None),
        pages=pages, doi=doi, pmid=pmid, keywords=unique(keywords), type="JOUR",
        source_key=pmid, line=line, extra={k: v for k, v in extra.items() if v},
    )


def _mesh(mh: ET.Element) -> str:
    """A MeSH heading as MEDLINE prints it: ``*`` marks a major topic, qualifiers after ``/``."""
    d = mh.find("DescriptorName")
    out = ("*" if d is not None and d.get("MajorTopicYN") == "Y" else "") + _text(d)
    for q in mh.findall("QualifierName"):
        out += "/" + ("*" if q.get("MajorTopicYN") == "Y" else "") + _text(q)
    return out
