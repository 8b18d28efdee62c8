"""RoB 2 signalling questions and the algorithms that turn their answers into domain judgements.

For the effect of assignment to intervention in individually randomised, parallel-group trials
(Higgins JPT, Savović J, Page MJ, Sterne JAC (eds). Revised Cochrane risk-of-bias tool for
randomized trials (RoB 2), full guidance document, 22 August 2019: the signalling questions of
each domain and its "algorithm for suggested judgement"). Answers are ``Y`` (yes), ``PY``
(probably yes), ``PN`` (probably no), ``N`` (no), ``NI`` (no information) and ``NA`` (not
applicable: only for questions asked conditionally, see :func:`applicable`).

The domain judgements then give the overall judgement by :func:`rob2_overall`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metareview.errors import InputError

YES, NO = ("Y", "PY"), ("N", "PN")
ANSWERS = ("Y", "PY", "PN", "N", "NI")


@dataclass(frozen=True)
class Question:
    """One signalling question: its number, domain, wording and response options."""

    key: str
    domain: str
    text: str
    options: tuple[str, ...]


def _q(key: str, text: str, options: tuple[str, ...] = ANSWERS) -> Question:
    return Question(key, f"D{key[0]}", text, options)


_COND = ("NA", *ANSWERS)
#: The 22 signalling questions (guidance of 22 August 2019, wording as in the tool).
QUESTIONS: tuple[Question, ...] = (
    _q("1.1", "Was the allocation sequence random?"),
    _q("1.2", "Was the allocation sequence concealed until participants were enrolled and "
              "assigned to interventions?"),
    _q("1.3", "Did baseline differences between intervention groups suggest a problem with the "
              "randomization process?"),
    _q("2.1", "Were participants aware of their assigned intervention during the trial?"),
    _q("2.2", "Were carers and people delivering the interventions aware of participants' "
              "assigned intervention during the trial?"),
    _q("2.3", "If Y/PY/NI to 2.1 or 2.2: Were there deviations from the intended intervention "
              "that arose because of the trial context?", _COND),
    _q("2.4", "If Y/PY to 2.3: Were these deviations likely to have affected the outcome?",
       _COND),
    _q("2.5", "If Y/PY/NI to 2.4: Were these deviations from intended intervention balanced "
              "between groups?", _COND),
    _q("2.6", "Was an appropriate analysis used to estimate the effect of assignment to "
              "intervention?"),
    _q("2.7", "If N/PN/NI to 2.6: Was there potential for a substantial impact (on the result) "
              "of the failure to analyse participants in the group to which they were "
              "randomized?", _COND),
    _q("3.1", "Were data for this outcome available for all, or nearly all, participants "
              "randomized?"),
    _q("3.2", "If N/PN/NI to 3.1: Is there evidence that the result was not biased by missing "
              "outcome data?", ("NA", "Y", "PY", "PN", "N")),
    _q("3.3", "If N/PN to 3.2: Could missingness in the outcome depend on its true value?",
       _COND),
    _q("3.4", "If Y/PY/NI to 3.3: Is it likely that missingness in the outcome depended on its "
              "true value?", _COND),
    _q("4.1", "Was the method of measuring the outcome inappropriate?"),
    _q("4.2", "Could measurement or ascertainment of the outcome have differed between "
              "intervention groups?"),
    _q("4.3", "If N/PN/NI to 4.1 and 4.2: Were outcome assessors aware of the intervention "
              "received by study participants?", _COND),
    _q("4.4", "If Y/PY/NI to 4.3: Could assessment of the outcome have been influenced by "
              "knowledge of intervention received?", _COND),
    _q("4.5", "If Y/PY/NI to 4.4: Is it likely that assessment of the outcome was influenced by "
              "knowledge of intervention received?", _COND),
    _q("5.1", "Were the data that produced this result analysed in accordance with a "
              "pre-specified analysis plan that was finalized before unblinded outcome data "
              "were available for analysis?"),
    _q("5.2", "Is the numerical result being assessed likely to have been selected, on the basis "
              "of the results, from multiple eligible outcome measurements (e.g. scales, "
              "definitions, time points) within the outcome domain?"),
    _q("5.3", "Is the numerical result being assessed likely to have been selected, on the basis "
              "of the results, from multiple eligible analyses of the data?"),
)
KEYS = tuple(q.key for q in QUESTIONS)


def applicable(answers: Mapping[str, str | None]) -> tuple[str, ...]:
    """The questions that must be answered, given the answers so far (the guidance's "If ...
    to ..." conditions); the others are not applicable.

    Parameters
    ----------
    answers : mapping
        Question number -> answer (missing or None: not answered yet).

    Returns
    -------
    tuple of str
        Question numbers, in the tool's order.
    """
    a = {k: answers.get(k) for k in KEYS}
    out = []
    for k in KEYS:
        if k == "2.3":
            ok = a["2.1"] in (*YES, "NI") or a["2.2"] in (*YES, "NI")
        elif k == "2.4":
            ok = a["2.3"] in YES
        elif k == "2.5":
            ok = a["2.4"] in (*YES, "NI")
        elif k == "2.7":
            ok = a["2.6"] in (*NO, "NI")
        elif k == "3.2":
            ok = a["3.1"] in (*NO, "NI")
        elif k == "3.3":
            ok = a["3.2"] in NO
        elif k == "3.4":
            ok = a["3.3"] in (*YES, "NI")
        elif k == "4.3":
            ok = a["4.1"] in (*NO, "NI") and a["4.2"] in (*NO, "NI")
        elif k in ("4.4", "4.5"):
            ok = a["4.3" if k == "4.4" else "4.4"] in (*YES, "NI")
        else:
            ok = True
        # a question whose gate is itself not applicable is not applicable either
        if ok and k in ("2.4", "2.5", "3.3", "3.4", "4.4", "4.5"):
            gate = {"2.4": "2.3", "2.5": "2.4", "3.3": "3.2", "3.4": "3.3", "4.4": "4.3",
                    "4.5": "4.4"}[k]
            ok = gate in out
        if ok:
            out.append(k)
    return tuple(out)


@dataclass(frozen=True)
class DomainJudgement:
    """A domain's judgement by the RoB 2 algorithm, and the path of answers that gave it."""

    domain: str
    judgement: str
    path: str


def _d1(a: Mapping[str, str]) -> tuple[str, str]:
    if a["1.2"] in NO:
        return "high", f"1.2 {a['1.2']}"
    if a["1.2"] == "NI":
        return ("high" if a["1.3"] in YES else "some concerns"), f"1.2 NI, 1.3 {a['1.3']}"
    if a["1.1"] in NO:
        return "some concerns", f"1.2 {a['1.2']}, 1.1 {a['1.1']}"
    return ("some concerns" if a["1.3"] in YES else "low",
            f"1.2 {a['1.2']}, 1.1 {a['1.1']}, 1.3 {a['1.3']}")


def _d2(a: Mapping[str, str]) -> tuple[str, str]:
    # Part 1 (2.1-2.5): deviations arising from the trial context
    if a["2.1"] in NO and a["2.2"] in NO:
        p1, why1 = "low", f"2.1 {a['2.1']}, 2.2 {a['2.2']}"
    elif a["2.3"] in NO:
        p1, why1 = "low", f"2.3 {a['2.3']}"
    elif a["2.3"] == "NI":
        p1, why1 = "some concerns", "2.3 NI"
    elif a["2.4"] in NO:
        p1, why1 = "some concerns", f"2.3 {a['2.3']}, 2.4 {a['2.4']}"
    else:
        p1 = "some concerns" if a["2.5"] in YES else "high"
        why1 = f"2.3 {a['2.3']}, 2.4 {a['2.4']}, 2.5 {a['2.5']}"
    # Part 2 (2.6-2.7): the analysis
    if a["2.6"] in YES:
        p2, why2 = "low", f"2.6 {a['2.6']}"
    else:
        p2 = "some concerns" if a["2.7"] in NO else "high"
        why2 = f"2.6 {a['2.6']}, 2.7 {a['2.7']}"
    # low if both parts are low, high if either is high, some concerns otherwise
    order = ("low", "some concerns", "high")
    return max(p1, p2, key=order.index), f"part 1: {p1} ({why1}); part 2: {p2} ({why2})"


def _d3(a: Mapping[str, str]) -> tuple[str, str]:
    if a["3.1"] in YES:
        return "low", f"3.1 {a['3.1']}"
    if a["3.2"] in YES:
        return "low", f"3.1 {a['3.1']}, 3.2 {a['3.2']}"
    if a["3.3"] in NO:
        return "low", f"3.2 {a['3.2']}, 3.3 {a['3.3']}"
    return ("some concerns" if a["3.4"] in NO else "high",
            f"3.2 {a['3.2']}, 3.3 {a['3.3']}, 3.4 {a['3.4']}")


def _d4(a: Mapping[str, str]) -> tuple[str, str]:
    if a["4.1"] in YES:
        return "high", f"4.1 {a['4.1']}"
    if a["4.2"] in YES:
        return "high", f"4.1 {a['4.1']}, 4.2 {a['4.2']}"
    # 4.2 N/PN: the assessors' awareness can leave the domain at low risk; 4.2 NI: not lower
    # than some concerns
    best = "low" if a["4.2"] in NO else "some concerns"
    why = f"4.2 {a['4.2']}, 4.3 {a['4.3']}"
    if a["4.3"] in NO:
        return best, why
    why += f", 4.4 {a['4.4']}"
    if a["4.4"] in NO:
        return best, why
    why += f", 4.5 {a['4.5']}"
    return ("some concerns" if a["4.5"] in NO else "high"), why


def _d5(a: Mapping[str, str]) -> tuple[str, str]:
    why = f"5.2 {a['5.2']}, 5.3 {a['5.3']}"
    if a["5.2"] in YES or a["5.3"] in YES:
        return "high", why
    if a["5.2"] in NO and a["5.3"] in NO:
        return ("low" if a["5.1"] in YES else "some concerns"), f"{why}, 5.1 {a['5.1']}"
    return "some concerns", why


_ALGORITHMS = {"D1": _d1, "D2": _d2, "D3": _d3, "D4": _d4, "D5": _d5}


def rob2_domains(answers: Mapping[str, str | None]) -> dict[str, DomainJudgement]:
    """Each domain's judgement from the signalling questions, by the guidance's algorithms.

    Parameters
    ----------
    answers : mapping
        Question number (``"1.1"`` ... ``"5.3"``) -> ``Y``, ``PY``, ``PN``, ``N``, ``NI`` or
        ``NA``. Every applicable question (see :func:`applicable`) must be answered, and not
        with ``NA``; answers to questions that are not applicable are ignored.

    Returns
    -------
    dict
        ``"D1"`` ... ``"D5"`` -> :class:`DomainJudgement`.

    Raises
    ------
    InputError
        An unknown question, an answer not among its options, an applicable question left
        unanswered or answered NA.

    Examples
    --------
    >>> a = {"1.1": "Y", "1.2": "Y", "1.3": "N", "2.1": "N", "2.2": "N", "2.6": "Y",
    ...      "3.1": "Y", "4.1": "N", "4.2": "N", "4.3": "N", "5.1": "Y", "5.2": "N", "5.3": "N"}
    >>> {k: v.judgement for k, v in rob2_domains(a).items()}["D1"]
    'low'
    """
    by_key = {q.key: q for q in QUESTIONS}
    for k, v in answers.items():
        if k not in by_key:
            raise InputError(f"RoB 2 question {k!r}: unknown; expected 1.1 ... 5.3")
        if v is not None and v not in by_key[k].options:
            raise InputError(f"RoB 2 {k}: {v!r} is not an option "
                             f"(options: {', '.join(by_key[k].options)})")
    asked = applicable(answers)
    for k in asked:
        if answers.get(k) in (None, "NA"):
            raise InputError(f"RoB 2 {k}: must be answered (not NA) given the answers before it")
    a = {k: (str(answers[k]) if k in asked else "NA") for k in KEYS}
    out = {}
    for d, fn in _ALGORITHMS.items():
        j, path = fn(a)
        out[d] = DomainJudgement(d, j, path)
    return out
