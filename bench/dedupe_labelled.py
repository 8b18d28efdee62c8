"""A labelled de-duplication set: real titles and abstracts, exported the way databases differ.

Base records
    Titles and abstracts are real: the screening datasets in ``shared/data/screening`` (van de
    Schoot et al. 2017; Kwok et al. 2020; Nagtegaal et al. 2019; Bannach-Brown et al. 2019;
    Cohen et al. 2006; Kitchenham et al. 2010; CC-BY 4.0 / CC0 / open, see that folder's
    README). Those files carry no bibliographic metadata, so authors, year, journal, volume,
    issue, pages, DOI and PMID are synthesised: surnames and given names from several languages
    (with their diacritics), real journals with their full and NLM-abbreviated names, a volume
    that follows from journal and year, DOIs and PMIDs that are unique but do not resolve. Base
    titles that are already the same or nearly the same (Indel similarity ≥ 0.9 after folding
    case and punctuation) are dropped first, so no two bases are, unknown to us, one article.

Duplicates
    Each base (an *entity*) is exported 1–4 times, each time in the style of a database
    (PubMed/MEDLINE, Embase, Web of Science, Scopus, PsycINFO, CENTRAL, CINAHL: author form,
    journal form, page form, which identifiers it carries), and later exports get 0–3 further
    variations drawn from :data:`VARIATIONS`: title truncated at 50–128 characters (mid-word,
    sometimes with ``...``), the authors as one BibTeX cell (``Surname, Given and …``) read back
    by the tabular importer, case, punctuation, diacritics (``Müller`` →
    ``Muller`` / ``Mueller``), HTML markup, British/American spelling, journal abbreviated or
    full, missing DOI / abstract / pages / PMID / authors / year, page form ``123-9``, author
    list truncated with "et al." or given names as initials, the first author's given name and
    surname swapped, the e-pub year (one before print, often without volume and pages),
    PubMed's translated title (``[Title]. [Article in German]``), trailing period, a one-letter
    typo, Greek letters spelled out. About a third of bases from 2014 on also get a
    **preprint** export (medRxiv / bioRxiv / Research Square / SSRN DOI and name, a year earlier
    or the same, no volume, pages or PMID, full given names; 60 % get one word of the title
    changed, 30 % lose the subtitle, 30 % with four or more authors lose the last one; the last
    abstract sentence is missing); it is labelled a duplicate of the article
    (``preprints="merge"``; :meth:`LabelledSet.preprints_apart` gives the other labelling).

Hard negatives (labelled *not* duplicates; each is its own entity, sometimes exported twice)
    ``part``: *Part I* / *Part II* of one report, same authors, journal and year.
    ``protocol``: the trial's protocol, same authors, a year or three earlier.
    ``erratum``: "Erratum: <title>" / "Correction to: <title>" in the same journal.
    ``same-authors``: same authors, year and journal, another real title.
    ``update``: a Cochrane review and its update (same title and review number, years apart).
    ``numbers``: the same title with one number changed (12-week / 24-week).
    ``same-title``: the same title by other authors in another journal (same year, one or
    several years apart).
    ``generic``: short generic titles ("Editorial", "Reply") by different authors.
    ``series``: an item a journal repeats under one heading ("Editor's Comments", "Letter from
    the editor", "In this issue", "Book reviews", "Erratum") by the same editor in another
    issue of the same journal and volume (or the next year), mostly without pages or DOI.
    ``working-paper``: the working / discussion paper or technical report (RIS ``RPRT``, an
    NBER / IZA / CEPR … series, a paper number, sometimes an NBER DOI) with the article's
    title, authors and abstract, up to two years earlier.
    ``conference-abstract``: the meeting abstract (``ABST`` in a journal supplement, or
    ``CONF`` / ``CPAPER`` in proceedings) with the article's title and authors.
    ``non-latin``: two articles titled in one non-Latin script (CJK, Cyrillic, Greek, Arabic;
    made by :func:`to_script`), same journal, year and first author.
    ``prefix``: a different work whose whole title is this one's main title (the part before
    the colon).
    These follow the rule that a false merge deletes a study: an abstract or working paper and
    the article are two records unless the data (a shared DOI) say they are one.

Use ``build(n_entities, seed)``; the accuracy benchmark builds its tuning set with seed 1 and
reports on seed 2 (:data:`DEFAULT`). A third set, seed 29 with the generator configuration
:data:`HELD_OUT`, was fixed before any result on it was looked at and is never tuned on: it
changes the mix (more exports per article, more variations per export, a larger share of hard
negatives, 0.28 of base entities against 0.24, twice the generic titles, more preprints) so
that a rule fitted to the default mix shows it.

``recombine=True`` allows more entities than there are real titles by
joining the first half of one real title to the second half of another (for the 100,000-record
speed set only; such entities are flagged).

    .venv/bin/python bench/dedupe_labelled.py [N_ENTITIES] [SEED]   # prints a sample
"""

from __future__ import annotations

import os
import random
import re
import sys
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from rapidfuzz.distance import Indel

from metareview.records.fields import split_authors
from metareview.records.model import Record

DATA_DIR = Path(os.environ.get(
    "METAREVIEW_SCREENING_DATA",
    Path(__file__).resolve().parents[2] / "shared" / "data" / "screening",
))

# ---------------------------------------------------------------------------------------------
# Names (common surnames and given names of each language, with their diacritics)
SURNAMES = {
    "de": "Müller Schmidt Schneider Fischer Weiß Meyer Wagner Becker Schulz Hoffmann Schäfer "
          "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger "
          "Hartmann Lange Werner Krause Lehmann Köhler Herrmann König Walter Huber Kaiser Fuchs "
          "Möller Jung Hahn Vogel Günther Winkler Böhm Krämer Jäger Groß Kühn Dietrich Pfeiffer "
          "Blümel Gößling Bäcker Löffler Schütz Brückner Häusler Strauß",
    "es": "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Jiménez Ruiz "
          "Hernández Díaz Moreno Muñoz Álvarez Romero Gutiérrez Navarro Domínguez Vázquez "
          "Ramírez Suárez Núñez Méndez Márquez Peña Benítez Ibáñez Durán Sáez Román Cortés "
          "García-López Fernández-Ruiz Castillo Ortega Delgado",
    "pt": "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Sousa Gonçalves Gomes "
          "Lopes Marques Alves Almeida Ribeiro Carvalho Teixeira Simões Magalhães Araújo "
          "Conceição Guimarães Brandão Antunes",
    "fr": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Laurent "
          "Lefèvre Michel Bertrand Roux Fournier Girard André Mercier Dupont Lambert Bonnet "
          "François Rousseau Guérin Gérard Noël Clément Benoît Prévost Rémy Carré Barré Lemaître",
    "nordic": "Hansen Johansen Olsen Larsen Andersen Pedersen Nilsen Jensen Jørgensen Sørensen "
              "Halvorsen Nygård Sæther Rønning Næss Strøm Ødegård Bøe Andersson Johansson "
              "Karlsson Nilsson Eriksson Larsson Jönsson Lindström Sjöberg Engström Håkansson "
              "Björk Löfgren Söderberg Mårtensson Åberg Øvrebø",
    "pl": "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński "
          "Szymański Woźniak Dąbrowski Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski "
          "Krawczyk Kaczmarek Piotrowski Grabowski Zając Pawłowski Król Wróbel Stępień Górski",
    "cs": "Novák Svoboda Novotný Dvořák Černý Procházka Kučera Veselý Horák Němec Pospíšil "
          "Pokorný Hájek Král Jelínek Růžička Beneš Sedláček Doležal Kříž Kovář Šimek Štěpánek",
    "tr": "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan "
          "Kılıç Çetin Koç Özkan Şimşek",
    "hu": "Nagy Kovács Tóth Szabó Horváth Varga Kiss Molnár Németh Farkas Balogh Takács Juhász "
          "Mészáros Oláh Rácz",
    "ro": "Popescu Ionescu Popa Stan Dumitru Stoica Gheorghe Matei Ciobanu Rusu Munteanu "
          "Ștefănescu Țurcanu Dumitrescu",
    "en": "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Moore Jackson "
          "White Harris Thompson Clark Lewis Robinson Walker Young Allen King Wright Scott Hill "
          "Green Adams Baker Nelson Mitchell Campbell Roberts Carter Phillips Evans Turner "
          "Parker Collins Edwards Stewart Morris Murphy Cook Rogers Morgan Cooper Reed Bailey "
          "Bell Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price "
          "O'Brien O'Connor McDonald MacLeod Fitzgerald Sullivan Kennedy Lynch Quinn Byrne "
          "Ryan O'Neill Doyle McCarthy Gallagher Walsh Burke",
    "nl": "de Jong Jansen de Vries van den Berg van Dijk Bakker Janssen Visser Smit Meijer "
          "de Boer Mulder de Groot Bos Vos Hendriks van Leeuwen Dekker Brouwer de Wit Dijkstra "
          "van der Meer van der Linden de Haan Vermeulen van den Heuvel Hoekstra",
    "zh": "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo He Lin Gao Luo "
          "Zheng Liang Xie Song Tang Han Feng Deng Cao Peng Zeng Xiao Tian Dong Pan Yuan Cai "
          "Jiang Yu Du Ye Cheng Wei Su Ding Ren Lu Yao Shen Zhong Cui Tan Fan Liao Shi Jin",
    "ko": "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim",
    "ja": "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida "
          "Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Saito",
    "vi": "Nguyen Tran Le Pham Hoang Phan Vu Dang Bui Do",
    "in": "Patel Sharma Singh Kumar Gupta Shah Reddy Rao Iyer Nair Menon Das Bose Banerjee "
          "Chatterjee Mukherjee Jain Agarwal Mehta Joshi Desai Kulkarni Pillai Verma Mishra",
    "it": "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo "
          "Conti De Luca Mancini Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro "
          "Caruso D'Angelo Nicolò Forlì",
    "el": "Papadopoulos Georgiou Dimitriou Nikolaou Konstantinou Ioannou Christodoulou Pappas "
          "Vlachos Oikonomou",
}
# Dutch names are multi-word: split on capitalised starts, keep particles with their name.
_NL_PARTICLES = ("de", "van", "der", "den")

GIVEN = {
    "de": "Hans Jürgen Anja Sören Jörg Käthe Uwe Birgit Matthias Sabine Günter Björn",
    "es": "José María Jesús Ángel Inés Begoña Raúl Sofía Andrés Lucía Iñaki Ramón",
    "pt": "João Conceição Luís Inês António Gonçalo Joana Célia",
    "fr": "François Hélène Jérôme Stéphane Cécile Noël Anaïs Loïc Frédéric Amélie",
    "nordic": "Søren Bjørn Åsa Håkan Øystein Märta Anders Ingrid Kjell Sigrún",
    "pl": "Łukasz Paweł Małgorzata Grzegorz Wojciech Agnieszka Michał Józef",
    "cs": "Jiří Tomáš Lucie Petr Jaroslav Zdeněk Kateřina",
    "tr": "Çağrı Gökhan Şule İbrahim Ayşe Müge Oğuz",
    "hu": "László Zoltán Katalin Gábor Ágnes Péter",
    "ro": "Ștefan Ioana Mihai Andreea Răzvan",
    "en": "John Mary David Sarah Michael Emma James Laura Robert Claire Peter Helen",
    "nl": "Jan Pieter Maarten Anouk Sanne Joost",
    "zh": "Wei Xiaoming Jing Yan Hui Lei Xin Ying Jun",
    "ko": "Min-jun Seo-yeon Ji-ho Hye-jin",
    "ja": "Hiroshi Yuki Takeshi Akiko Kenji Naoko",
    "vi": "Minh Thi Anh Hoa Thanh",
    "in": "Rajesh Priya Anil Sunita Vikram Lakshmi",
    "it": "Giuseppe Francesca Marco Giulia Niccolò Lucia",
    "el": "Georgios Eleni Nikolaos Maria Dimitrios",
}
LANG_WEIGHTS = {"en": 20, "de": 8, "es": 7, "pt": 4, "fr": 6, "nordic": 6, "pl": 4, "cs": 3,
                "tr": 3, "hu": 2, "ro": 2, "nl": 5, "zh": 14, "ko": 4, "ja": 5, "vi": 2,
                "in": 5, "it": 6, "el": 2}


def _surnames(lang: str) -> list[str]:
    text = SURNAMES[lang]
    if lang != "nl":
        return text.split()
    out, cur = [], []
    for w in text.split():
        cur.append(w)
        if w not in _NL_PARTICLES:
            out.append(" ".join(cur))
            cur = []
    return out


# ---------------------------------------------------------------------------------------------
# Journals: (full name as the publisher gives it, NLM abbreviation), by subject.
JOURNALS = {
    "medicine": [
        ("The New England Journal of Medicine", "N Engl J Med"), ("The Lancet", "Lancet"),
        ("JAMA", "JAMA"), ("BMJ (Clinical research ed.)", "BMJ"),
        ("Annals of Internal Medicine", "Ann Intern Med"), ("PLoS ONE", "PLoS One"),
        ("BMJ Open", "BMJ Open"), ("Journal of Pain Research", "J Pain Res"),
        ("European Journal of Pain", "Eur J Pain"),
        ("Journal of the American College of Cardiology", "J Am Coll Cardiol"),
        ("Circulation", "Circulation"), ("European Heart Journal", "Eur Heart J"),
        ("American Journal of Cardiology", "Am J Cardiol"), ("Hypertension", "Hypertension"),
        ("Journal of Hypertension", "J Hypertens"),
        ("American Journal of Hypertension", "Am J Hypertens"),
        ("Diabetes Care", "Diabetes Care"), ("Kidney International", "Kidney Int"),
        ("Nephrology, Dialysis, Transplantation", "Nephrol Dial Transplant"),
        ("Journal of the American Society of Nephrology", "J Am Soc Nephrol"),
        ("Neurology", "Neurology"), ("Headache", "Headache"), ("Cephalalgia", "Cephalalgia"),
        ("Journal of Neurology, Neurosurgery, and Psychiatry", "J Neurol Neurosurg Psychiatry"),
        ("Schizophrenia Research", "Schizophr Res"), ("Schizophrenia Bulletin", "Schizophr Bull"),
        ("The British Journal of Psychiatry", "Br J Psychiatry"),
        ("Archives of General Psychiatry", "Arch Gen Psychiatry"),
        ("Journal of Clinical Psychopharmacology", "J Clin Psychopharmacol"),
        ("The Journal of Clinical Psychiatry", "J Clin Psychiatry"),
        ("The American Journal of Psychiatry", "Am J Psychiatry"),
        ("Journal of the American Academy of Child and Adolescent Psychiatry",
         "J Am Acad Child Adolesc Psychiatry"),
        ("Pediatrics", "Pediatrics"), ("The Journal of Pediatrics", "J Pediatr"),
        ("The Journal of Urology", "J Urol"), ("European Urology", "Eur Urol"),
        ("Neurourology and Urodynamics", "Neurourol Urodyn"),
        ("International Urogynecology Journal", "Int Urogynecol J"),
        ("Obstetrics and Gynecology", "Obstet Gynecol"),
        ("Arthritis and Rheumatism", "Arthritis Rheum"),
        ("Annals of the Rheumatic Diseases", "Ann Rheum Dis"),
        ("The Journal of Rheumatology", "J Rheumatol"),
        ("Rheumatology (Oxford, England)", "Rheumatology (Oxford)"),
        ("Gastroenterology", "Gastroenterology"), ("Gut", "Gut"),
        ("Alimentary Pharmacology and Therapeutics", "Aliment Pharmacol Ther"),
        ("Clinical Pharmacology and Therapeutics", "Clin Pharmacol Ther"),
        ("British Journal of Clinical Pharmacology", "Br J Clin Pharmacol"),
        ("European Journal of Clinical Pharmacology", "Eur J Clin Pharmacol"),
        ("Clinical Therapeutics", "Clin Ther"),
        ("Current Medical Research and Opinion", "Curr Med Res Opin"),
        ("Journal of Thrombosis and Haemostasis", "J Thromb Haemost"),
        ("Thrombosis Research", "Thromb Res"), ("Chest", "Chest"),
        ("Critical Care Medicine", "Crit Care Med"),
        ("Anesthesia and Analgesia", "Anesth Analg"),
        ("British Journal of Anaesthesia", "Br J Anaesth"),
        ("Paediatric Anaesthesia", "Paediatr Anaesth"),
        ("Acta Anaesthesiologica Scandinavica", "Acta Anaesthesiol Scand"),
        ("Revista Española de Cardiología", "Rev Esp Cardiol"),
        ("Deutsche Medizinische Wochenschrift", "Dtsch Med Wochenschr"),
        ("Presse Médicale", "Presse Med"), ("Medicina Clínica", "Med Clin (Barc)"),
        ("Ugeskrift for Læger", "Ugeskr Laeger"),
        ("Tidsskrift for den Norske Lægeforening", "Tidsskr Nor Laegeforen"),
        ("Läkartidningen", "Lakartidningen"),
    ],
    "neuro": [
        ("Journal of Neuroscience", "J Neurosci"),
        ("Behavioural Brain Research", "Behav Brain Res"),
        ("Neuropsychopharmacology", "Neuropsychopharmacology"),
        ("Psychopharmacology", "Psychopharmacology (Berl)"),
        ("Journal of Affective Disorders", "J Affect Disord"),
        ("Proceedings of the National Academy of Sciences of the United States of America",
         "Proc Natl Acad Sci U S A"),
        ("The Journal of Biological Chemistry", "J Biol Chem"),
        ("The Biochemical Journal", "Biochem J"), ("Der Nervenarzt", "Nervenarzt"),
        ("Revue Neurologique", "Rev Neurol (Paris)"),
    ],
    "virology": [
        ("Journal of Virology", "J Virol"), ("Viruses", "Viruses"),
        ("The Journal of Infectious Diseases", "J Infect Dis"),
        ("Clinical Infectious Diseases", "Clin Infect Dis"),
        ("Journal of Veterinary Pharmacology and Therapeutics", "J Vet Pharmacol Ther"),
    ],
    "psychology": [
        ("Journal of Traumatic Stress", "J Trauma Stress"),
        ("Depression and Anxiety", "Depress Anxiety"),
        ("Psychological Medicine", "Psychol Med"),
        ("Journal of Consulting and Clinical Psychology", "J Consult Clin Psychol"),
        ("Structural Equation Modeling", "Struct Equ Modeling"),
        ("Journal of Child Psychology and Psychiatry", "J Child Psychol Psychiatry"),
    ],
    "public": [
        ("Journal of Behavioral Public Administration", "J Behav Public Adm"),
        ("Public Administration Review", "Public Adm Rev"),
    ],
    "software": [
        ("Information and Software Technology", "Inf Softw Technol"),
        ("Journal of Systems and Software", "J Syst Softw"),
        ("IEEE Transactions on Software Engineering", "IEEE Trans Softw Eng"),
        ("Empirical Software Engineering", "Empir Softw Eng"),
    ],
}
PROTOCOL_JOURNALS = [("Trials", "Trials"), ("BMJ Open", "BMJ Open"),
                     ("JMIR Research Protocols", "JMIR Res Protoc"),
                     ("Systematic Reviews", "Syst Rev")]
COCHRANE = ("The Cochrane Database of Systematic Reviews", "Cochrane Database Syst Rev")
ARTICLE_NUMBER_JOURNALS = {"PLoS ONE", "BMJ Open", "Viruses"}
PREPRINT_SERVERS = [("medRxiv", "10.1101/"), ("bioRxiv", "10.1101/"),
                    ("Research Square", "10.21203/rs.3.rs-"),
                    ("SSRN Electronic Journal", "10.2139/ssrn.")]

# dataset: (subject, first year, last year, PMIDs likely)
DATASETS = {
    "van_de_Schoot_2017": ("psychology", 1995, 2016, True),
    "Kwok_2020": ("virology", 1995, 2019, True),
    "Nagtegaal_2019": ("public", 1995, 2018, False),
    "Bannach-Brown_2019": ("neuro", 1990, 2018, True),
    "Kitchenham_2010": ("software", 1995, 2009, False),
}
_COHEN = ("medicine", 1980, 2004, True)

GENERIC_TITLES = ["Editorial", "Introduction", "Letter to the editor", "Reply", "Preface",
                  "In this issue", "Foreword", "Commentary", "Response", "Book review",
                  "Conference report", "Obituary", "Editor's note", "News", "Guest editorial"]

# ---------------------------------------------------------------------------------------------
# Real titles
_SIMPLE = re.compile(r"[^a-z0-9]+")


def _simple(title: str) -> str:
    return _SIMPLE.sub(" ", title.lower()).strip()


@cache
def load_bases() -> tuple[tuple[str, str, str], ...]:
    """Real ``(title, abstract, dataset)`` triples, near-duplicate titles removed.

    Files are read in name order and rows in file order; a title whose simple form (lower case,
    letters and digits) equals or is within Indel similarity 0.9 of an earlier one is dropped.
    """
    if not DATA_DIR.is_dir():
        raise FileNotFoundError(f"screening datasets not found in {DATA_DIR} "
                                "(set METAREVIEW_SCREENING_DATA)")
    rows: list[tuple[str, str, str]] = []
    for f in sorted(DATA_DIR.glob("*.csv")):
        df = pd.read_csv(f, usecols=["title", "abstract"], dtype=str, keep_default_na=False)
        for t, a in zip(df["title"], df["abstract"], strict=True):
            t = " ".join(t.split())
            if len(t) >= 15:
                rows.append((t, " ".join(a.split()), f.stem))
    seen: dict[str, int] = {}
    heads: dict[str, list[str]] = {}
    out = []
    for t, a, d in rows:
        s = _simple(t)
        if s in seen:
            continue
        sq = s.replace(" ", "")
        near = False
        for key in (f"h{sq[:16]}", f"t{sq[-16:]}"):
            for other in heads.get(key, ()):
                if Indel.normalized_similarity(sq, other) >= 0.9:
                    near = True
                    break
            if near:
                break
        if near:
            continue
        seen[s] = len(out)
        heads.setdefault(f"h{sq[:16]}", []).append(sq)
        heads.setdefault(f"t{sq[-16:]}", []).append(sq)
        out.append((t, a, d))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Generator configurations
@dataclass(frozen=True)
class Config:
    """Rates of the generator: how many exports, variations and hard negatives.

    Attributes
    ----------
    name : str
    exports : tuple of float
        Weights of exporting an ordinary article 1, 2, 3 or 4 times.
    variations : tuple of float
        Weights of 0, 1, 2 or 3 variations on each later export.
    hard_share : float
        Share of base entities that get a hard-negative sibling (spread evenly over the kinds).
    generic_share : float
        Share of base entities turned into a generic short-title item.
    preprint_share : float
        Share of articles from 2014 on that also get a preprint export.
    """

    name: str = "default"
    exports: tuple[float, float, float, float] = (0.55, 0.28, 0.12, 0.05)
    variations: tuple[float, float, float, float] = (0.25, 0.4, 0.25, 0.1)
    hard_share: float = 0.24
    generic_share: float = 0.02
    preprint_share: float = 0.35


#: The tuning (seed 1) and test (seed 2) sets.
DEFAULT = Config()
#: The held-out set (seed 29), written down before it was first generated.
HELD_OUT = Config(name="held-out", exports=(0.35, 0.35, 0.2, 0.1),
                  variations=(0.1, 0.3, 0.35, 0.25), hard_share=0.28, generic_share=0.04,
                  preprint_share=0.5)
HELD_OUT_SEED = 29


# ---------------------------------------------------------------------------------------------
# Entities and their exports
@dataclass
class Entity:
    """One article: what every export of it derives from."""

    title: str
    abstract: str
    authors: list[tuple[str, str]]  # (surname, given names)
    year: int
    journal: tuple[str, str]  # (full, abbreviation)
    volume: str
    issue: str
    first_page: str
    last_page: str
    doi: str
    pmid: str
    subject: str
    kind: str = "article"  # or a hard-negative kind, 'generic', 'recombined'
    type: str = "JOUR"  # RIS type of every export


@dataclass(frozen=True)
class LabelledSet:
    """Records with their true entity, how each was made, and which entity a hard negative
    imitates."""

    records: tuple[Record, ...]
    entity: np.ndarray  # entity id per record; equal ids are duplicates
    kind: tuple[str, ...]  # 'first', 'copy' (a later export) or 'preprint'
    entity_kind: tuple[str, ...]  # 'article', 'recombined', 'generic' or 'hard:<kind>'
    variations: tuple[tuple[str, ...], ...]  # style and variations of each export
    imitates: np.ndarray  # for hard negatives: the entity id they resemble, else -1
    seed: int

    def __len__(self) -> int:
        return len(self.records)

    def evaluate(self, representative: np.ndarray,
                 candidates: np.ndarray | None = None) -> dict[str, object]:
        """Accuracy of a de-duplication, given the record kept in place of each record.

        Record level, as ASySD (Hair et al. 2023) and bib-dedupe count: a record of an entity
        with no duplicates is a true negative when kept and a false positive when removed; for
        an entity of *s* records of which *k* are kept, *s − k* are true positives, *k − 1*
        false negatives, and one true negative (or, when *k* = 0, a false positive).
        Pair level: predicted pairs are all pairs inside a predicted cluster; sensitivity and
        precision over pairs; specificity over the hard-negative pairs and over the
        non-duplicate pairs among ``candidates`` (encoded ``i * n + j``), the pairs a blocking
        step finds similar enough to compare (over all pairs it is trivially near 1).
        """
        n = len(self.records)
        rep = np.asarray(representative)
        kept = rep == np.arange(n)
        tp = fp = tn = fn = 0
        by_e: dict[int, list[int]] = {}
        for k, e in enumerate(self.entity.tolist()):
            by_e.setdefault(e, []).append(k)
        for ks in by_e.values():
            nk = int(kept[ks].sum())
            if len(ks) == 1:
                tn += nk
                fp += 1 - nk
            elif nk == 0:
                fp += 1
                tp += len(ks) - 1
            else:
                tn += 1
                fn += nk - 1
                tp += len(ks) - nk
        truth = self.true_pairs()
        pred = _pairs_of(rep)
        tp_pairs = int(np.isin(pred, truth).sum())
        hard = self.hard_pairs()
        out: dict[str, object] = {
            "records": n, "entities": len(by_e), "true_duplicates": int(n - len(by_e)),
            "removed": int((~kept).sum()),
            "TP": tp, "FP": fp, "TN": tn, "FN": fn,
            "sensitivity": tp / (tp + fn) if tp + fn else float("nan"),
            "specificity": tn / (tn + fp) if tn + fp else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "true_pairs": len(truth), "predicted_pairs": len(pred),
            "pair_sensitivity": tp_pairs / len(truth) if len(truth) else float("nan"),
            "pair_precision": tp_pairs / len(pred) if len(pred) else float("nan"),
            "hard_pairs": len(hard),
            "hard_pairs_merged": int(np.isin(hard, pred).sum()),
        }
        out["f1"] = 2 * out["precision"] * out["sensitivity"] / (  # type: ignore[operator]
            out["precision"] + out["sensitivity"])  # type: ignore[operator]
        out["hard_specificity"] = 1 - out["hard_pairs_merged"] / max(len(hard), 1)  # type: ignore[operator]
        if candidates is not None:
            neg = candidates[~np.isin(candidates, truth)]
            neg = np.union1d(neg, pred[~np.isin(pred, truth)])
            out["candidate_negatives"] = len(neg)
            out["candidate_specificity"] = 1 - (len(pred) - tp_pairs) / max(len(neg), 1)
        # By variation: is each later export clustered with its entity's first export?
        first = {}
        for k in range(n):
            if self.kind[k] == "first":
                first[int(self.entity[k])] = k
        var_hit: dict[str, list[int]] = {}
        for k in range(n):
            if self.kind[k] == "first":
                continue
            f = first[int(self.entity[k])]
            hit = int(rep[k] == rep[f])
            for v in self.variations[k]:
                var_hit.setdefault(v, [0, 0])
                var_hit[v][0] += hit
                var_hit[v][1] += 1
            var_hit.setdefault("all exports", [0, 0])
            var_hit["all exports"][0] += hit
            var_hit["all exports"][1] += 1
        out["by_variation"] = {v: (h, t) for v, (h, t) in sorted(var_hit.items())}
        # Hard negatives: is each kept apart from every record of the entity it imitates?
        hard_ok: dict[str, list[int]] = {}
        for k in np.flatnonzero(self.imitates >= 0).tolist():
            others = by_e[int(self.imitates[k])]
            ok = int(all(rep[o] != rep[k] for o in others))
            kind = self.entity_kind[k].removeprefix("hard:")
            hard_ok.setdefault(kind, [0, 0])
            hard_ok[kind][0] += ok
            hard_ok[kind][1] += 1
        # Generic titles: distinct generic entities kept apart.
        gen = [k for k in range(n) if self.entity_kind[k] == "generic"]
        bad = sum(1 for k in gen for o in gen if k < o and rep[k] == rep[o]
                  and self.entity[k] != self.entity[o])
        hard_ok["generic (pairs)"] = [len(gen) * (len(gen) - 1) // 2 - bad,
                                      len(gen) * (len(gen) - 1) // 2]
        out["hard_negatives"] = {k: (a, b) for k, (a, b) in sorted(hard_ok.items())}
        return out

    def head(self, n: int) -> LabelledSet:
        """The first ``n`` records (an entity whose first export is cut off gets its earliest
        remaining record as first)."""
        kind = list(self.kind[:n])
        have = {int(self.entity[k]) for k in range(n) if kind[k] == "first"}
        for k in range(n):
            e = int(self.entity[k])
            if e not in have:
                kind[k] = "first"
                have.add(e)
        imit = self.imitates[:n].copy()
        present = set(self.entity[:n].tolist())
        imit[~np.isin(imit, list(present))] = -1
        return LabelledSet(records=self.records[:n], entity=self.entity[:n], kind=tuple(kind),
                           entity_kind=self.entity_kind[:n], variations=self.variations[:n],
                           imitates=imit, seed=self.seed)

    def preprints_apart(self) -> LabelledSet:
        """The same records labelled with every preprint as its own article (the truth for
        ``preprints="keep"``)."""
        ent = self.entity.copy()
        nxt = int(ent.max()) + 1 if len(ent) else 0
        for k in range(len(ent)):
            if self.kind[k] == "preprint":
                ent[k] = nxt
                nxt += 1
        kind = tuple("first" if k == "preprint" else k for k in self.kind)
        return LabelledSet(records=self.records, entity=ent, kind=kind,
                           entity_kind=self.entity_kind, variations=self.variations,
                           imitates=self.imitates, seed=self.seed)

    def true_pairs(self) -> np.ndarray:
        """Encoded pairs ``i * n + j`` (``i < j``) of records of the same entity."""
        return _pairs_of(self.entity)

    def hard_pairs(self) -> np.ndarray:
        """Encoded pairs of a hard negative's records with the records it imitates."""
        n = len(self.records)
        by_entity: dict[int, list[int]] = {}
        for k, e in enumerate(self.entity.tolist()):
            by_entity.setdefault(e, []).append(k)
        out = []
        for k in np.flatnonzero(self.imitates >= 0).tolist():
            for o in by_entity.get(int(self.imitates[k]), ()):
                out.append(min(k, o) * n + max(k, o))
        return np.unique(np.array(out, dtype=np.int64))


def _pairs_of(labels: np.ndarray) -> np.ndarray:
    n = len(labels)
    order = np.argsort(labels, kind="stable")
    lab = labels[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    ends = np.r_[starts[1:], n]
    out = []
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if e - s >= 2:
            idx = np.sort(order[s:e])
            a, b = np.triu_indices(e - s, 1)
            out.append(idx[a] * n + idx[b])
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def _strip_accents(s: str) -> str:
    s = s.translate(str.maketrans({"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss",
                                   "æ": "ae", "Æ": "AE", "ı": "i", "đ": "d"}))
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def _transliterate(s: str) -> str:
    """German-style transliteration (``ü`` → ``ue``), then other accents stripped."""
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("Ä", "Ae"), ("Ö", "Oe"),
                 ("Ü", "Ue"), ("å", "aa"), ("Å", "Aa"), ("ø", "oe"), ("Ø", "Oe")):
        s = s.replace(a, b)
    return _strip_accents(s)


def _initials(given: str, dots: bool, spaced: bool = False) -> str:
    parts = [p for p in re.split(r"[\s\-]+", given) if p]
    ini = [p[0].upper() for p in parts]
    if dots:
        return (" " if spaced else "").join(f"{c}." for c in ini)
    return "".join(ini)


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.used_dois: set[str] = set()
        self.used_pmids: set[str] = set()
        self.langs = list(LANG_WEIGHTS)
        self.weights = [LANG_WEIGHTS[k] for k in self.langs]
        self.surnames = {k: _surnames(k) for k in SURNAMES}
        self.given = {k: GIVEN[k].split() for k in GIVEN}
        self.registrant: dict[str, int] = {}
        self.founded: dict[str, int] = {}

    # -- metadata -----------------------------------------------------------------------
    def person(self) -> tuple[str, str]:
        r = self.rng
        lang = r.choices(self.langs, self.weights)[0]
        sur = r.choice(self.surnames[lang])
        given = r.choice(self.given[lang])
        if r.random() < 0.35:
            given += " " + r.choice(self.given[lang])
        return sur, given

    def authors(self) -> list[tuple[str, str]]:
        n = self.rng.choice([1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 8, 9, 10, 12])
        return [self.person() for _ in range(n)]

    def doi(self, journal: str, year: int) -> str:
        r = self.rng
        if journal not in self.registrant:
            self.registrant[journal] = r.randint(1000, 9999)
        code = "".join(w[0] for w in journal.lower().split() if w[0].isalpha())[:6]
        while True:
            d = f"10.{self.registrant[journal]}/{code}.{year}.{r.randint(1, 99999):05d}"
            if d not in self.used_dois:
                self.used_dois.add(d)
                return d

    def pmid(self) -> str:
        while True:
            p = str(self.rng.randint(1_000_000, 39_999_999))
            if p not in self.used_pmids:
                self.used_pmids.add(p)
                return p

    def volume(self, journal: str, year: int) -> str:
        if journal not in self.founded:
            self.founded[journal] = self.rng.randint(1900, 2005)
        return str(max(1, year - self.founded[journal] + 1))

    def pages(self, journal: str) -> tuple[str, str]:
        r = self.rng
        if journal in ARTICLE_NUMBER_JOURNALS:
            return f"e{r.randint(1000, 9999999):07d}", ""
        start = r.randint(1, 2400)
        return str(start), str(start + r.randint(1, 14))

    def entity(self, title: str, abstract: str, dataset: str, kind: str = "article") -> Entity:
        r = self.rng
        subject, y0, y1, medline = DATASETS.get(dataset, _COHEN)
        year = r.randint(y0, y1)
        journal = r.choice(JOURNALS[subject])
        first, last = self.pages(journal[0])
        has_doi = r.random() < (0.9 if year >= 2000 else 0.45)
        has_pmid = r.random() < (0.85 if medline else 0.08)
        return Entity(
            title=title, abstract=abstract, authors=self.authors(), year=year, journal=journal,
            volume=self.volume(journal[0], year), issue=str(r.randint(1, 12)),
            first_page=first, last_page=last,
            doi=self.doi(journal[0], year) if has_doi else "",
            pmid=self.pmid() if has_pmid else "", subject=subject, kind=kind,
        )

    # -- exports --------------------------------------------------------------------------
    def render(self, e: Entity, style: str) -> dict:
        """One database's export of an entity, as Record fields."""
        r = self.rng
        title = e.title
        sur_given = e.authors
        if style == "pubmed":
            authors = [f"{_strip_accents(s)} {_initials(g, dots=False)}" for s, g in sur_given]
            journal = e.journal[1]
            pages = _short_pages(e.first_page, e.last_page)
            pmid = e.pmid
            doi = e.doi if r.random() < 0.85 else ""
            if not title.endswith((".", "?", "!")):
                title += "."
        elif style in ("embase", "scopus"):
            authors = [f"{s} {_initials(g, dots=True)}" for s, g in sur_given]
            journal = e.journal[0] if r.random() < 0.5 else e.journal[0].capitalize()
            pages = _full_pages(e.first_page, e.last_page)
            pmid = e.pmid if r.random() < (0.6 if style == "embase" else 0.4) else ""
            doi = e.doi if r.random() < 0.95 else ""
        elif style == "wos":
            strip = r.random() < 0.5
            authors = [f"{_strip_accents(s) if strip else s}, {_initials(g, dots=False)}"
                       for s, g in sur_given]
            journal = _strip_accents(e.journal[0]).upper()
            pages = _full_pages(e.first_page, e.last_page)
            pmid = e.pmid if r.random() < 0.2 else ""
            doi = e.doi if r.random() < 0.95 else ""
            if e.year < 2005 and r.random() < 0.5:
                title = title.upper()
        elif style == "psycinfo":
            authors = [f"{s}, {g}" for s, g in sur_given]
            journal = e.journal[0]
            pages = _full_pages(e.first_page, e.last_page)
            pmid = ""
            doi = e.doi if r.random() < 0.9 else ""
        elif style == "cinahl":
            # CINAHL: "Surname, Given M" with the middle name an initial, the full journal
            # name, titles often in title case, PMIDs only for MEDLINE-indexed journals.
            authors = [f"{s}, {_cinahl_given(g)}" for s, g in sur_given]
            journal = e.journal[0]
            pages = _full_pages(e.first_page, e.last_page)
            pmid = e.pmid if r.random() < 0.3 else ""
            doi = e.doi if r.random() < 0.85 else ""
            if r.random() < 0.3 and title.isascii():
                title = title.title()
        else:  # central
            authors = [f"{s} {_initials(g, dots=False)}" for s, g in sur_given]
            journal = e.journal[0] if r.random() < 0.5 else e.journal[1]
            pages = _short_pages(e.first_page, e.last_page)
            pmid = e.pmid if r.random() < 0.7 else ""
            doi = e.doi if r.random() < 0.6 else ""
        return {"title": title, "abstract": e.abstract, "authors": authors, "year": e.year,
                "journal": journal, "volume": e.volume, "issue": e.issue, "pages": pages,
                "doi": doi, "pmid": pmid, "type": e.type}


def _cinahl_given(given: str) -> str:
    parts = given.split()
    return " ".join([parts[0], *(f"{p[0]}" for p in parts[1:])]) if parts else given


def _full_pages(first: str, last: str) -> str:
    return f"{first}-{last}" if last else first


def _short_pages(first: str, last: str) -> str:
    """MEDLINE page form: ``123-129`` → ``123-9``."""
    if not last or not (first.isdigit() and last.isdigit()) or len(first) != len(last):
        return _full_pages(first, last)
    k = 0
    while k < len(first) - 1 and first[k] == last[k]:
        k += 1
    return f"{first}-{last[k:]}"


# ---------------------------------------------------------------------------------------------
# Variations of one export
_UK_US = [("randomised", "randomized"), ("randomisation", "randomization"),
          ("behaviour", "behavior"), ("behavioural", "behavioral"), ("paediatric", "pediatric"),
          ("tumour", "tumor"), ("anaemia", "anemia"), ("haemorrhage", "hemorrhage"),
          ("oesophageal", "esophageal"), ("oestrogen", "estrogen"), ("colour", "color"),
          ("centre", "center"), ("analysed", "analyzed"), ("analyse", "analyze"),
          ("organisation", "organization"), ("hospitalisation", "hospitalization"),
          ("modelling", "modeling"), ("labelled", "labeled"), ("foetal", "fetal"),
          ("anaesthesia", "anesthesia"), ("gynaecology", "gynecology"),
          ("orthopaedic", "orthopedic"), ("diarrhoea", "diarrhea"), ("oedema", "edema"),
          ("leukaemia", "leukemia"), ("programme", "program"), ("characterised",
                                                                 "characterized"),
          ("utilisation", "utilization"), ("optimisation", "optimization"),
          ("haematological", "hematological"), ("ischaemic", "ischemic"),
          ("favourable", "favorable"), ("minimise", "minimize"), ("recognised", "recognized")]
_GREEK_WORDS = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "kappa": "κ",
                "mu": "μ", "omega": "ω", "theta": "θ", "tau": "τ"}
_LANGUAGES = ["German", "French", "Spanish", "Italian", "Chinese", "Japanese", "Polish",
              "Portuguese", "Russian", "Dutch", "Danish", "Norwegian", "Swedish", "Czech",
              "Hungarian", "Turkish"]
VARIATIONS = ("case", "punctuation", "diacritics", "html", "spelling", "journal-form",
              "no-doi", "no-abstract", "no-pages", "short-pages", "et-al", "initials",
              "year-off-by-one", "translated", "trailing-period", "typo", "greek", "no-pmid",
              "name-order", "no-authors", "no-year", "truncated", "bibtex-authors")


def _applicable(v: str, f: dict) -> bool:
    t = f["title"]
    if v == "diacritics":
        return not all(a.isascii() for a in f["authors"]) or not t.isascii()
    if v == "spelling":
        low = t.lower()
        return any(re.search(rf"\b{a}|\b{b}", low) for a, b in _UK_US)
    if v == "greek":
        return bool(re.search(r"\b(?:" + "|".join(_GREEK_WORDS) + r")\b", t, re.I)) or any(
            g in t for g in _GREEK_WORDS.values())
    if v == "no-doi":
        return bool(f["doi"])
    if v == "no-pmid":
        return bool(f["pmid"])
    if v == "no-abstract":
        return bool(f["abstract"])
    if v in ("no-pages", "short-pages"):
        return bool(f["pages"])
    if v in ("et-al", "initials"):
        return len(f["authors"]) >= 2 or v == "initials"
    if v == "translated":
        return not t.startswith("[")
    if v == "name-order":
        return bool(e_authors_ok(f))
    if v == "no-authors":
        return bool(f["authors"])
    if v == "no-year":
        return f["year"] is not None
    if v == "truncated":
        return len(t) >= 60
    if v == "bibtex-authors":
        return len(f["authors"]) >= 2
    if v == "punctuation":
        return bool(re.search(r"[-:,;'\"()]| and ", t))
    if v == "html":
        return len(t.split()) >= 3
    return True


def e_authors_ok(f: dict) -> bool:
    """Whether the first author is in "Surname, Given" or "Surname AB" form (so it can be
    reversed)."""
    return bool(f["authors"]) and f["authors"][0] != "et al."


def _apply(v: str, f: dict, rng: random.Random, e: Entity) -> None:
    t = f["title"]
    if v == "case":
        f["title"] = rng.choice([t.upper(), t.lower(), t[:1].upper() + t[1:].lower(),
                                 t.title()])
    elif v == "punctuation":
        ops = [lambda s: s.replace("-", " "), lambda s: s.replace(": ", " - "),
               lambda s: s.replace(": ", ". "), lambda s: s.replace(",", ""),
               lambda s: s.replace("'", "’").replace('"', "“"),
               lambda s: re.sub(r"\(([^)]*)\)", r"\1", s), lambda s: s.replace(" and ", " & "),
               lambda s: s.replace(";", ",")]
        for op in rng.sample(ops, len(ops)):
            new = op(t)
            if new != t:
                f["title"] = new
                break
    elif v == "diacritics":
        conv = _transliterate if rng.random() < 0.4 else _strip_accents
        f["authors"] = [conv(a) for a in f["authors"]]
        f["title"] = _strip_accents(t)
    elif v == "html":
        words = t.split()
        k = rng.randrange(len(words))
        op = rng.choice(["i", "sup", "amp", "b"])
        if op == "amp" and " and " in t:
            f["title"] = t.replace(" and ", " &amp; ", 1)
        elif op == "sup" and re.search(r"\d", t):
            f["title"] = re.sub(r"(\d+)", r"<sup>\1</sup>", t, count=1)
        else:
            tag = "b" if op == "b" else "i"
            words[k] = f"<{tag}>{words[k]}</{tag}>"
            f["title"] = " ".join(words)
    elif v == "spelling":
        low = t.lower()
        for a, b in rng.sample(_UK_US, len(_UK_US)):
            src, dst = (a, b) if re.search(rf"\b{a}", low) else (b, a)
            if re.search(rf"\b{src}", low):
                f["title"] = re.sub(rf"\b{src}", dst, t, flags=re.I)
                break
    elif v == "journal-form":
        full, abbr = e.journal
        f["journal"] = abbr if f["journal"].lower() != abbr.lower() else full
    elif v == "no-doi":
        f["doi"] = ""
    elif v == "no-pmid":
        f["pmid"] = ""
    elif v == "no-abstract":
        f["abstract"] = ""
    elif v == "no-pages":
        f["pages"] = ""
        if rng.random() < 0.5:
            f["volume"] = f["issue"] = ""
    elif v == "short-pages":
        f["pages"] = _short_pages(e.first_page, e.last_page)
    elif v == "et-al":
        keep = rng.choice([1, 3, 6])
        if len(f["authors"]) > keep:
            f["authors"] = [*f["authors"][:keep], "et al."]
        else:
            f["authors"] = f["authors"][:1]
    elif v == "initials":
        f["authors"] = [f"{s}, {_initials(g, dots=True, spaced=True)}" for s, g in e.authors]
    elif v == "year-off-by-one":
        # The e-pub year: always the year before print, so exports differ by one at most.
        f["year"] = e.year - 1
        if rng.random() < 0.5:  # e-pub ahead of print: no volume or pages yet
            f["volume"] = f["issue"] = f["pages"] = ""
    elif v == "translated":
        lang = rng.choice(_LANGUAGES)
        core = t.rstrip(".")
        f["title"] = rng.choice([f"[{core}].", f"{core}. [Article in {lang}]",
                                 f"[{core}]. [Article in {lang}]"])
    elif v == "trailing-period":
        f["title"] = t[:-1] if t.endswith(".") else t + "."
    elif v == "typo":
        words = [k for k, w in enumerate(t.split()) if len(w) >= 6 and w.isalpha()]
        if words:
            ws = t.split()
            k = rng.choice(words)
            w = ws[k]
            p = rng.randrange(1, len(w) - 1)
            ws[k] = rng.choice([w[:p] + w[p + 1:], w[:p] + w[p + 1] + w[p] + w[p + 2:]])
            f["title"] = " ".join(ws)
    elif v == "name-order":
        # Given name and surname of the first author swapped, as exports of East Asian names
        # often have them: "Wang, Jing" becomes "Jing, Wang".
        if e.authors:
            sur, given = e.authors[0]
            f["authors"] = [f"{given.split()[0]}, {sur}", *f["authors"][1:]]
    elif v == "no-authors":
        f["authors"] = []
    elif v == "truncated":
        # Some databases cut long titles at a fixed length (mid-word), some mark the cut.
        n = rng.choice([50, 64, 80, 100, 128])
        if len(t) <= n + 5:
            n = int(len(t) * 0.7)
        f["title"] = t[:n].rstrip() + rng.choice(["", "", "...", " …"])
    elif v == "bibtex-authors":
        # A reference manager's CSV: the whole BibTeX name list in one cell, read back by the
        # tabular importer's own splitting rule.
        cell = " and ".join(f"{s}, {g}" for s, g in e.authors)
        if rng.random() < 0.3 and len(e.authors) > 3:
            cell = " and ".join(f"{s}, {g}" for s, g in e.authors[:3]) + " and others"
        f["authors"] = list(split_authors(cell))
    elif v == "no-year":
        f["year"] = None
    elif v == "greek":
        if any(g in t for g in _GREEK_WORDS.values()):
            for word, g in _GREEK_WORDS.items():
                t = t.replace(g, word)
        else:
            for word, g in _GREEK_WORDS.items():
                t = re.sub(rf"\b{word}\b", g, t, flags=re.I)
        f["title"] = t


def _record(f: dict, key: str) -> Record:
    return Record(
        title=f["title"], abstract=f["abstract"], authors=tuple(f["authors"]), year=f["year"],
        journal=f["journal"], volume=f["volume"], issue=f["issue"], pages=f["pages"],
        doi=f["doi"].lower(), pmid=f["pmid"], type=f.get("type", "JOUR"), source_key=key,
    )


_STYLES = ("pubmed", "embase", "wos", "scopus", "psycinfo", "central", "cinahl")
_EDITS = [("effect", "impact"), ("effects", "impact"), ("patients", "people"),
          ("efficacy", "effectiveness"), ("evaluation", "assessment"), ("study", "analysis"),
          ("among", "in"), ("treatment", "therapy"), ("using", "with")]


def _preprint(b: _Builder, e: Entity) -> tuple[dict, tuple[str, ...]]:
    """The preprint of an entity: server DOI and name, earlier or same year, edited title."""
    r = b.rng
    name, prefix = r.choice(PREPRINT_SERVERS)
    year = e.year - r.choice([0, 1, 1])
    if prefix == "10.1101/":
        doi = (f"10.1101/{year}.{r.randint(1, 12):02d}.{r.randint(1, 28):02d}."
               f"{r.randint(1, 99999999):08d}")
    elif prefix.startswith("10.21203"):
        doi = f"{prefix}{r.randint(10000, 999999)}/v{r.randint(1, 3)}"
    else:
        doi = f"{prefix}{r.randint(1000000, 4999999)}"
    title = e.title.rstrip(".")
    edits = []
    low = title.lower()
    cands = [(a, c) for a, c in _EDITS if re.search(rf"\b{a}\b", low)]
    if cands and r.random() < 0.6:
        a, c = r.choice(cands)
        title = re.sub(rf"\b{a}\b", c, title, count=1, flags=re.I)
        edits.append("word-changed")
    if ": " in title and r.random() < 0.3:
        title = title.split(": ")[0]
        edits.append("subtitle-dropped")
    abstract = e.abstract
    sentences = re.split(r"(?<=\.)\s+", abstract)
    if len(sentences) > 2:
        abstract = " ".join(sentences[:-1])
    authors = [f"{s}, {g}" for s, g in e.authors]
    if len(authors) > 3 and r.random() < 0.3:
        authors = authors[:-1]
        edits.append("last-author-missing")
    f = {"title": title, "abstract": abstract, "authors": authors, "year": year,
         "journal": name, "volume": "", "issue": "", "pages": "", "doi": doi, "pmid": "",
         "type": "UNPB"}
    return f, ("preprint", *edits)


# ---------------------------------------------------------------------------------------------
# Hard negatives
HARD_KINDS = ("part", "protocol", "erratum", "same-authors", "update", "numbers", "same-title",
              "series", "working-paper", "conference-abstract", "non-latin", "prefix")
# Items a journal repeats under one title, issue after issue.
SERIES_TITLES = ["Editor's Comments", "Editor's comments", "Letter from the editor",
                 "From the editor", "Editorial", "In this issue", "Book reviews", "Book review",
                 "News", "Comments", "Correction", "Erratum", "Errata", "Editor's note",
                 "Reviewers", "Thank you to our reviewers", "Announcements",
                 "Letter from the Editor-in-Chief", "Introduction to the special issue"]
WORKING_PAPER_SERIES = ["NBER Working Paper Series", "IZA Discussion Papers",
                        "CEPR Discussion Paper", "World Bank Policy Research Working Paper",
                        "Technical Report", "RAND Working Papers", "CESifo Working Paper Series"]
CONFERENCES = ["Proceedings of the Annual Meeting of the {s} Society",
               "Abstracts of the {s} Congress", "{s} Conference Proceedings",
               "Annual Scientific Meeting of the {s} Association: Abstracts"]
SCRIPTS = ("cjk", "cyrillic", "greek", "arabic")
_SCRIPT_LETTERS = {
    "cyrillic": "абцдефгхийклмнопярстужвьыз",
    "greek": "αβψδεφγηιξκλμνοπ;ρστθωςχυζ",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنه",
}


def to_script(title: str, script: str) -> str:
    """A title written in another script: letter for letter (Cyrillic, Greek, Arabic) or
    each word as two CJK characters chosen by a hash of the word. Different titles stay
    different; nothing of the Latin original is left for a matcher to use."""
    if script == "cjk":
        out = []
        for w in re.findall(r"[A-Za-z]+|\d+", title):
            if w.isdigit():
                out.append(w)
                continue
            h = zlib.crc32(w.lower().encode())
            out.append(chr(0x4E00 + h % 20000) + chr(0x4E00 + (h >> 15) % 20000))
        return "".join(out)
    table = _SCRIPT_LETTERS[script]
    return "".join(table[ord(c) - 97] if "a" <= c <= "z" else c
                   for c in _strip_accents(title).lower())


def _hard(b: _Builder, e: Entity, kind: str, other_title: tuple[str, str]) -> Entity | None:
    """A different article that resembles ``e`` (``e`` may be changed to its *Part I*)."""
    r = b.rng
    s = Entity(**{**e.__dict__})
    s.kind = f"hard:{kind}"
    s.doi = b.doi(e.journal[0], e.year) if e.doi else ""
    s.pmid = b.pmid() if e.pmid else ""
    if kind == "part":
        core = e.title.rstrip(".")
        style = r.choice([("Part I", "Part II"), ("Part 1", "Part 2"), ("I", "II")])
        e.title = f"{core}: {style[0]}" if style[0] != "I" else f"{core}. {style[0]}"
        s.title = f"{core}: {style[1]}" if style[1] != "II" else f"{core}. {style[1]}"
        if e.last_page and e.first_page.isdigit():
            start = int(e.last_page) + 1
            s.first_page, s.last_page = str(start), str(start + r.randint(2, 12))
        s.abstract = other_title[1]
    elif kind == "protocol":
        core = e.title.rstrip(".")
        s.title = r.choice([f"{core}: study protocol for a randomised controlled trial",
                            f"Protocol for {core[:1].lower() + core[1:]}",
                            f"{core}: a study protocol"])
        s.year = e.year - r.randint(1, 3)
        s.journal = r.choice(PROTOCOL_JOURNALS)
        s.volume = b.volume(s.journal[0], s.year)
        s.first_page, s.last_page = str(r.randint(1, 900)), ""
        s.doi = b.doi(s.journal[0], s.year) if r.random() < 0.8 else ""
        s.abstract = other_title[1]
    elif kind == "erratum":
        core = e.title.rstrip(".")
        s.title = r.choice([f"Erratum: {core}", f"Correction to: {core}",
                            f'Corrigendum to "{core}"', f"{core} (Erratum)"])
        s.year = e.year + r.choice([0, 0, 1])
        s.volume = b.volume(e.journal[0], s.year)
        s.first_page = str(r.randint(1, 2400))
        s.last_page = ""
        s.abstract = ""
        if r.random() < 0.5:
            s.authors = []
    elif kind == "same-authors":
        s.title, s.abstract = other_title
        s.first_page, s.last_page = b.pages(e.journal[0])
    elif kind == "update":
        while True:  # review numbers are unique
            cd = f"CD{r.randint(1000, 15000):06d}"
            if cd not in b.used_dois:
                b.used_dois.add(cd)
                break
        e.journal = s.journal = COCHRANE
        e.first_page, e.last_page = cd, ""
        s.first_page, s.last_page = cd, ""
        e.volume, e.issue = str(r.randint(1, 12)), ""
        s.volume, s.issue = str(r.randint(1, 12)), ""
        s.year = e.year + r.randint(2, 7)
        k = r.randint(1, 3)
        keep_doi = r.random() < 0.5
        e.doi = f"10.1002/14651858.{cd}.pub{k}".lower() if keep_doi else ""
        s.doi = f"10.1002/14651858.{cd}.pub{k + 1}".lower() if keep_doi else ""
        s.authors = list(e.authors)
        if len(s.authors) > 2 and r.random() < 0.5:
            s.authors = [*s.authors[:-1], b.person()]
    elif kind == "numbers":
        nums = list(re.finditer(r"\d+", e.title))
        if not nums:
            return None
        m = r.choice(nums)
        old = int(m.group())
        new = old + r.choice([1, 2, old or 1]) if old < 1000 else old + 1
        s.title = e.title[:m.start()] + str(new) + e.title[m.end():]
        s.year = e.year + r.randint(1, 3)
        s.volume = b.volume(e.journal[0], s.year)
        s.first_page, s.last_page = b.pages(e.journal[0])
        s.abstract = other_title[1]
    elif kind == "series":
        # The same heading by the same editor in another issue of the same journal: no
        # abstract, often no pages or DOI.
        title = r.choice(SERIES_TITLES)
        e.title = s.title = title
        e.abstract = s.abstract = ""
        editor = b.person()
        e.authors = [editor] if r.random() < 0.8 else []
        s.authors = list(e.authors)
        s.year = e.year + r.choice([0, 0, 0, 1])
        s.volume = b.volume(e.journal[0], s.year)
        s.issue = str(int(e.issue) % 12 + 1)
        if r.random() < 0.7:
            e.first_page = e.last_page = ""
        s.first_page, s.last_page = ("", "") if r.random() < 0.7 else b.pages(e.journal[0])
        if r.random() < 0.5:
            e.doi = s.doi = ""
    elif kind == "working-paper":
        # The working paper the article grew from: same title, authors and often abstract.
        series = r.choice(WORKING_PAPER_SERIES)
        s.journal = (series, series)
        s.type = "RPRT"
        s.year = e.year - r.choice([0, 1, 1, 2])
        num = r.randint(1000, 30000)
        s.volume, s.issue = "", str(num)
        s.first_page = s.last_page = ""
        s.pmid = ""
        s.doi = f"10.3386/w{num}" if series.startswith("NBER") and r.random() < 0.7 else ""
        if r.random() < 0.3:
            s.abstract = " ".join(re.split(r"(?<=\.)\s+", e.abstract)[:-1]) or e.abstract
        return s
    elif kind == "conference-abstract":
        # The abstract presented at a meeting before the article: same title and authors.
        s.year = e.year - r.choice([0, 1, 1])
        s.pmid = ""
        s.abstract = " ".join(re.split(r"(?<=\.)\s+", e.abstract)[:2])
        if len(s.authors) > 3 and r.random() < 0.5:
            s.authors = s.authors[:-1]
        if r.random() < 0.5:  # in a supplement of the journal
            s.volume = b.volume(e.journal[0], s.year)
            s.issue = f"Suppl {r.randint(1, 3)}"
            s.first_page, s.last_page = f"S{r.randint(1, 900)}", ""
            s.type = r.choice(["ABST", "JOUR"])
        else:  # in the meeting's proceedings
            word = e.journal[0].split()[-1]
            name = r.choice(CONFERENCES).format(s=word)
            s.journal = (name, name)
            s.volume = s.issue = ""
            s.first_page, s.last_page = str(r.randint(1, 400)), ""
            s.type = r.choice(["CONF", "CPAPER"])
        s.doi = b.doi(s.journal[0], s.year) if r.random() < 0.3 else ""
        return s
    elif kind == "non-latin":
        # Two articles with titles in one non-Latin script, same journal, year and first
        # author: nothing in the titles may be lost on the way to the key.
        script = r.choice(SCRIPTS)
        e.title = to_script(e.title, script)
        s.title = to_script(other_title[0], script)
        s.abstract = other_title[1] if r.random() < 0.3 else ""
        e.abstract = e.abstract if r.random() < 0.3 else ""
        s.authors = [e.authors[0], *b.authors()[1:]]
        if r.random() < 0.5:
            e.first_page = e.last_page = ""
            s.first_page = s.last_page = ""
        else:
            s.first_page, s.last_page = b.pages(e.journal[0])
        if r.random() < 0.5:
            e.doi = s.doi = ""
    elif kind == "prefix":
        # A different work whose whole title is the start of this one's (its main title).
        if ": " not in e.title:
            return None
        main = e.title.split(": ")[0]
        if len(main) < 20 or len(main.split()) < 3:
            return None
        s.title, s.abstract = main, other_title[1]
        s.authors = [e.authors[0], *b.authors()[1:]] if r.random() < 0.5 else b.authors()
        s.year = e.year + r.choice([0, 1, 2, -1])
        if r.random() < 0.5:
            s.journal = r.choice(JOURNALS[e.subject])
        s.volume = b.volume(s.journal[0], s.year)
        s.first_page, s.last_page = b.pages(s.journal[0])
    elif kind == "same-title":
        other = b.entity(e.title, other_title[1], "")
        other.year = e.year + r.choice([0, 0, 1, -1, r.randint(2, 8), -r.randint(2, 8)])
        other.volume = b.volume(other.journal[0], other.year)
        other.kind = s.kind
        return other
    if s.doi and not s.doi.startswith("10.1002/14651858"):
        s.doi = b.doi(s.journal[0], s.year)
    return s


# ---------------------------------------------------------------------------------------------
# The set
def _entities(b: _Builder, n: int, recombine: bool,
              cfg: Config = DEFAULT) -> Iterator[tuple[Entity, int]]:
    """Entities with the id of the entity they imitate (-1 for ordinary ones)."""
    pool = list(load_bases())
    b.rng.shuffle(pool)
    spares = pool[n:] if n < len(pool) else []
    made = 0
    k = 0
    next_id = 0
    while made < n:
        if k < len(pool):
            t, a, d = pool[k]
            kind = "article"
        elif recombine:
            (t1, a1, d1), (t2, _, _) = b.rng.sample(pool, 2)
            w1, w2 = t1.split(), t2.split()
            t = " ".join(w1[: max(1, len(w1) // 2)] + w2[len(w2) // 2:])
            a, d, kind = a1, d1, "recombined"
        else:
            raise ValueError(f"only {len(pool)} real titles; pass recombine=True for more")
        k += 1
        e = b.entity(t, a, d, kind)
        r = b.rng.random()
        hard_kind = None
        if r < cfg.hard_share:
            hard_kind = HARD_KINDS[min(int(r / cfg.hard_share * len(HARD_KINDS)),
                                       len(HARD_KINDS) - 1)]
        elif r < cfg.hard_share + cfg.generic_share:
            # Generic short titles: one ordinary entity becomes an editorial-like item.
            e.title = b.rng.choice(GENERIC_TITLES)
            e.abstract = ""
            e.kind = "generic"
        sibling = None
        if hard_kind is not None:
            spare = spares.pop() if spares else b.rng.choice(pool)
            sibling = _hard(b, e, hard_kind, (spare[0], spare[1]))
        eid = next_id
        next_id += 1
        yield e, -1
        made += 1
        if sibling is not None:
            next_id += 1
            yield sibling, eid
            made += 1


def build(n_entities: int, seed: int, *, recombine: bool = False,
          max_records: int | None = None, config: Config = DEFAULT) -> LabelledSet:
    """Build a labelled set of about ``1.7 × n_entities`` records (see the module docstring).

    ``max_records`` stops adding entities once that many records exist and truncates to it;
    ``config`` sets the rates (:data:`DEFAULT`, :data:`HELD_OUT`).
    """
    cfg = config
    b = _Builder(seed)
    r = b.rng
    recs: list[Record] = []
    ent: list[int] = []
    kinds: list[str] = []
    ekinds: list[str] = []
    varis: list[tuple[str, ...]] = []
    imit: list[int] = []
    for eid, (e, imitates) in enumerate(_entities(b, n_entities, recombine, cfg)):
        n_exports = r.choices([1, 2, 3, 4], cfg.exports)[0]
        if imitates >= 0 or e.kind == "generic":
            n_exports = r.choices([1, 2], [0.7, 0.3])[0]
        styles = r.sample(_STYLES, n_exports)
        for x, style in enumerate(styles):
            f = b.render(e, style)
            applied: list[str] = [style]
            if not e.title.isascii():
                applied.append("non-latin-title")
            if x > 0:
                k = r.choices([0, 1, 2, 3], cfg.variations)[0]
                opts = [v for v in VARIATIONS if _applicable(v, f)]
                for v in r.sample(opts, min(k, len(opts))):
                    _apply(v, f, r, e)
                    applied.append(v)
            recs.append(_record(f, f"E{eid}-{x}"))
            ent.append(eid)
            kinds.append("first" if x == 0 else "copy")
            ekinds.append(e.kind)
            varis.append(tuple(applied))
            imit.append(imitates)
        if (imitates < 0 and e.kind == "article" and e.year >= 2014
                and r.random() < cfg.preprint_share):
            f, applied = _preprint(b, e)
            recs.append(_record(f, f"E{eid}-p"))
            ent.append(eid)
            kinds.append("preprint")
            ekinds.append(e.kind)
            varis.append(applied)
            imit.append(-1)
        if max_records is not None and len(recs) >= max_records:
            break
    order = list(range(len(recs)))
    r.shuffle(order)
    if max_records is not None:
        order = [k for k in order if k < max_records]
    return LabelledSet(
        records=tuple(recs[k] for k in order),
        entity=np.array([ent[k] for k in order], dtype=np.int64),
        kind=tuple(kinds[k] for k in order),
        entity_kind=tuple(ekinds[k] for k in order),
        variations=tuple(varis[k] for k in order),
        imitates=np.array([imit[k] for k in order], dtype=np.int64),
        seed=seed,
    )


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 200
    seed = int(argv[2]) if len(argv) > 2 else 1
    ls = build(n, seed)
    print(f"{len(ls)} records, {len(set(ls.entity.tolist()))} entities, "
          f"{len(ls.true_pairs())} duplicate pairs, {len(ls.hard_pairs())} hard-negative pairs")
    by_e: dict[int, list[int]] = {}
    for k, e in enumerate(ls.entity.tolist()):
        by_e.setdefault(e, []).append(k)
    shown = 0
    for e, ks in by_e.items():
        if len(ks) < 2 and ls.imitates[ks[0]] < 0:
            continue
        print(f"--- entity {e}")
        for k in ks:
            rec = ls.records[k]
            print(f"  [{ls.entity_kind[k]}/{ls.kind[k]} {'+'.join(ls.variations[k])}] "
                  f"{rec.title[:90]!r}")
            print(f"     {'; '.join(rec.authors[:3])} | {rec.year} | {rec.journal} | "
                  f"{rec.volume}({rec.issue}):{rec.pages} | doi {rec.doi} | pmid {rec.pmid}")
        shown += 1
        if shown >= 12:
            break


if __name__ == "__main__":
    main(sys.argv)
