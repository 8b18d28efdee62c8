"""The interactive terminal screener behind ``metareview screen``.

One record at a time, the one the ranking model puts highest among those still waiting for this
reviewer, under the review's inclusion criteria. Single keys decide: ``i`` include, ``e``
exclude, ``m`` maybe, ``u`` undo, ``s`` skip, ``?`` help, ``q`` quit. Every decision goes to the
store at once, in its own transaction, so a dead terminal loses nothing already decided.

What is asked after a key, and what happens to an answer that is not what was asked:

* **Title/abstract.** Nothing: a vote is stored the moment its key is pressed, an exclusion
  without a reason (as in Covidence and Rayyan). A project created with ``ta_reasons``
  (``metareview init --ta-reasons``) then offers the reasons as a follow-up: a number adds
  that reason (a new row with the same vote), Enter adds none, and any other answer is no
  reason and is taken as the next key, so ``i e m u s q`` typed in a row is never misread.
* **Full text.** An exclusion needs a reason (PRISMA counts reports excluded per reason), so
  it is asked before the exclusion is stored. A number stores the exclusion with that reason;
  Enter cancels it; a key (``i``, ``m``, ``u``, ``q``, …) cancels it and counts as the next
  key; other text asks again; the end of input or Ctrl-C cancels it. A cancelled exclusion
  is said on screen and counted in the session's summary, never dropped silently.

Screening is blinded: the screener only reads this reviewer's queue and own votes, never the
other reviewers' votes.

Keys come from one of three places: an iterator (tests and scripts), the terminal in raw mode
(one key press, no Enter; POSIX ``termios``) when standard input is a terminal, or whole lines
(``input()``) otherwise, so a piped ``printf 'i\\ne\\nq\\n'`` works too.
"""

from __future__ import annotations

import os
import select
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from metareview.errors import InputError
from metareview.screening.decisions import VALUE_ALIASES, parse_stage
from metareview.screening.stopping import DEFAULT_RUN, buscar_stop, consecutive_irrelevant
from metareview.store.project import DEFAULT_EXCLUSION_REASONS, Project, StoredRecord

#: Full-text exclusion reasons of a project that has not set its own (the list lives with
#: the project: ``Project.settings()["exclusion_reasons"]``, shared with the web app).
DEFAULT_REASONS = DEFAULT_EXCLUSION_REASONS

#: Why a session ended.
STOP_REASONS = ("done", "quit", "interrupted", "end of input", "limit")

#: ``rank(review, stage, reviewer, candidates)`` → candidates with a relevance score (or None),
#: highest relevance first.
Ranker = Callable[[Project, str, str, list[int]], list[tuple[int, float | None]]]

_STAGE_LABEL = {"title_abstract": "title/abstract", "full_text": "full text"}
_KEYS_HELP = (("i", "include"), ("e", "exclude"), ("m", "maybe"), ("u", "undo"),
              ("s", "skip"), ("?", "help"), ("q", "quit"))
_COMMANDS = {"u": "undo", "undo": "undo", "s": "skip", "skip": "skip", "?": "help",
             "h": "help", "help": "help", "q": "quit", "quit": "quit", "exit": "quit"}
_MAX_AUTHORS = 8


@dataclass(frozen=True)
class ScreenSession:
    """What one screening session did.

    Attributes
    ----------
    stage : {'title_abstract', 'full_text'}
    reviewer : str
    decisions : tuple of (int, str, str or None)
        Every vote stored in this session, in order: record id, value, reason. Votes later
        undone stay listed (the store keeps them in the history as well). A reason given as
        the title/abstract follow-up shows on its vote's entry (the store holds it as a
        second row with the same value).
    undos : int
        Votes undone with ``u``.
    skipped : int
        Records passed over with ``s``.
    remaining : int
        Records still in this reviewer's queue when the session ended.
    stopped : str
        One of :data:`STOP_REASONS`.
    cancelled : int
        Full-text exclusions not stored because no reason was given (Enter, another key,
        the end of input).
    """

    stage: str
    reviewer: str
    decisions: tuple[tuple[int, str, str | None], ...]
    undos: int
    skipped: int
    remaining: int
    stopped: str
    cancelled: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """Votes stored per value (include, exclude, maybe)."""
        c = Counter(v for _, v, _ in self.decisions)
        return {v: c.get(v, 0) for v in ("include", "exclude", "maybe")}

    def summary(self) -> str:
        """One line for people."""
        n = len(self.decisions)
        c = self.counts
        parts = [f"{n} decision{'s' if n != 1 else ''} stored at "
                 f"{_STAGE_LABEL[self.stage]} by {self.reviewer} "
                 f"({c['include']} include, {c['exclude']} exclude, {c['maybe']} maybe)"]
        if self.undos:
            parts.append(f"{self.undos} undone")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        if self.cancelled:
            parts.append(f"{self.cancelled} exclusion{'s' if self.cancelled != 1 else ''} "
                         "not stored (no reason given)")
        parts.append(f"{self.remaining} left in the queue")
        parts.append(f"stopped: {self.stopped}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {"stage": self.stage, "reviewer": self.reviewer,
                "decided": len(self.decisions), **self.counts,
                "undos": self.undos, "skipped": self.skipped, "cancelled": self.cancelled,
                "remaining": self.remaining,
                "stopped": self.stopped,
                "decisions": [{"record": r, "value": v, "reason": why}
                              for r, v, why in self.decisions]}


# -- key sources -----------------------------------------------------------------------------


class _EndOfInput(Exception):
    """The key source has nothing more to give (iterator exhausted, EOF, Ctrl-D)."""


class _Keys(Protocol):
    def key(self, prompt: Text) -> str:
        """One key press (or one line in line mode)."""

    def line(self, prompt: Text) -> str:
        """One line of text, ended by Enter."""


@dataclass
class _IteratorKeys:
    """Keys from an iterator; each item answers one prompt (a key, or a whole line)."""

    items: Iterator[str]
    console: Console

    def _next(self, prompt: Text) -> str:
        self.console.print(prompt, end="")
        try:
            item = next(self.items)
        except StopIteration:
            self.console.print()
            raise _EndOfInput from None
        self.console.print(Text(item))  # echoed, so a recorded session reads like a real one
        return item

    key = _next
    line = _next


@dataclass
class _LineKeys:
    """Whole lines from standard input (not a terminal, or no ``termios``)."""

    console: Console

    def line(self, prompt: Text) -> str:
        try:
            return self.console.input(prompt)
        except EOFError:
            raise _EndOfInput from None

    key = line


@dataclass
class _TerminalKeys(_LineKeys):
    """Single key presses from a POSIX terminal in raw mode; lines in the usual cooked mode."""

    fd: int

    def key(self, prompt: Text) -> str:
        import termios
        import tty

        old = termios.tcgetattr(self.fd)
        try:
            # TCSADRAIN, not setraw's default TCSAFLUSH: keys typed ahead must not be dropped.
            tty.setraw(self.fd, termios.TCSADRAIN)
            self.console.print(prompt, end="")
            self.console.file.flush()
            data = os.read(self.fd, 1)
            if data == b"\x1b":  # escape sequence (arrow keys …): swallow it whole
                while select.select([self.fd], [], [], 0.03)[0]:
                    data += os.read(self.fd, 16)
            elif data and data[0] >= 0xC0:  # UTF-8 lead byte: read its continuation bytes
                data += os.read(self.fd, 1 + (data[0] >= 0xE0) + (data[0] >= 0xF0))
        finally:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, old)
        if data == b"\x03":  # raw mode turns Ctrl-C into a byte instead of SIGINT
            self.console.print("^C")
            raise KeyboardInterrupt
        if data in (b"", b"\x04"):
            self.console.print()
            raise _EndOfInput
        ch = data.decode("utf-8", "replace")
        shown = ch if ch.isprintable() else ""
        self.console.print(Text(shown))
        return "" if ch in ("\r", "\n") else shown


def _key_source(keys: Iterable[str] | None, console: Console) -> _Keys:
    if keys is not None:
        return _IteratorKeys(iter(keys), console)
    try:
        import termios  # noqa: F401  (POSIX only)
        import tty  # noqa: F401

        fd = sys.stdin.fileno()
        if os.isatty(fd):
            return _TerminalKeys(console, fd)
    except (ImportError, OSError, ValueError, AttributeError):
        pass
    return _LineKeys(console)


# -- rendering -------------------------------------------------------------------------------


def _criteria_panel(criteria: str) -> Panel:
    body = (Text(criteria.strip()) if criteria.strip()
            else Text("(no inclusion criteria recorded for this review)", style="italic"))
    return Panel(body, title="Inclusion criteria", title_align="left", border_style="cyan")


def _citation(sr: StoredRecord) -> Text:
    r = sr.record
    out = Text()
    if r.authors:
        shown = "; ".join(r.authors[:_MAX_AUTHORS])
        out.append(shown + (" et al." if len(r.authors) > _MAX_AUTHORS else "") + "\n")
    # Vancouver style: "BMJ 2001;3(2):1-9"
    head = " ".join(x for x in (r.journal, "" if r.year is None else str(r.year)) if x)
    vol = r.volume + (f"({r.issue})" if r.issue else "")
    tail = vol + (f":{r.pages}" if r.pages else "")
    where = ";".join(x for x in (head, tail) if x)
    if where:
        out.append(where, style="italic")
        out.append("\n")
    ids = [f"record {sr.id}", sr.source]
    if r.doi:
        ids.append(f"DOI {r.doi}")
    if r.pmid:
        ids.append(f"PMID {r.pmid}")
    out.append(" · ".join(ids), style="dim")
    return out


def _record_panel(sr: StoredRecord, position: int | None, of: int, score: float | None,
                  own: str | None) -> Panel:
    r = sr.record
    parts: list[RenderableType] = [Text(r.title or "(no title)", style="bold"), _citation(sr)]
    parts.append(Text(r.abstract) if r.abstract
                 else Text("(no abstract)", style="italic dim"))
    if r.keywords:
        parts.append(Text("Keywords: " + "; ".join(r.keywords), style="dim"))
    if r.url and not r.doi:
        parts.append(Text(r.url, style="dim"))
    if own is not None:
        parts.append(Text(f"Your current vote: {own}", style="yellow"))
    title = [f"{position} of {of} in your queue" if position is not None else "not in your queue"]
    if score is not None:
        title.append(f"relevance {score:.3f}")
    body: list[RenderableType] = []
    for p in parts:
        if body:
            body.append(Text(""))
        body.append(p)
    return Panel(Group(*body), title=" · ".join(title), title_align="left")


def _key_line() -> Text:
    out = Text()
    for k, what in _KEYS_HELP:
        if out:
            out.append("  ")
        out.append(k, style="bold")
        out.append(f" {what}")
    return out


def _help_panel(stage: str, ta_reasons: bool = False) -> Panel:
    rows = Text()
    notes = {
        "i": "vote to include",
        "e": ("vote to exclude; choose a reason (required at full text: Enter or another "
              "key cancels the exclusion)" if stage == "full_text"
              else "vote to exclude (stored at once; no reason needed)" if not ta_reasons
              else "vote to exclude (stored at once); then a reason may be added"),
        "m": ("cannot decide: the record goes to a resolution" if stage == "full_text"
              else "unsure: the record goes on to full text unless resolved otherwise"),
        "u": "undo your last vote and show that record again",
        "s": "skip this record for now (it stays in your queue)",
        "?": "this help",
        "q": "quit (Ctrl-C too); every vote is already saved",
    }
    for k, _ in _KEYS_HELP:
        rows.append(f"{k}  ", style="bold")
        rows.append(notes[k] + "\n")
    rows.rstrip()
    return Panel(rows, title="Keys", title_align="left", border_style="green")


# -- the session -----------------------------------------------------------------------------


@dataclass
class _Loop:
    """The mutable state of a running session (the result is the frozen ScreenSession)."""

    review: Project
    stage: str
    reviewer: str
    rank: Ranker | None
    reasons: tuple[str, ...]
    keys: _Keys
    console: Console
    criteria: str
    ranking: list[tuple[int, float | None]] | None = None
    scores: dict[int, float | None] = field(default_factory=dict)
    skipped: set[int] = field(default_factory=set)
    forced: int | None = None
    message: Text | None = None
    decisions: list[tuple[int, str, str | None]] = field(default_factory=list)
    undos: int = 0
    n_skipped: int = 0
    eligible: frozenset[int] | None = None
    own: dict[int, str] = field(default_factory=dict)
    stopping: Text | None = None
    ta_reasons: bool = False
    cancelled: int = 0
    #: An answer to a reason prompt that was a key: it is read as the next key.
    pushed: list[str] = field(default_factory=list)

    def next_key(self) -> str:
        """The next key: one given back by a reason prompt first, else from the source."""
        if self.pushed:
            return self.pushed.pop()
        return self.keys.key(Text("key: ", style="bold"))

    def refresh(self) -> None:
        """Re-read the queue and re-rank it (after every vote or undo)."""
        queue = self.review.queue(self.stage, self.reviewer)
        if self.eligible is None:
            # Read once: this reviewer's votes at a stage never change who is eligible for it,
            # and eligible() reads every record (a third of a refresh's cost, measured).
            self.eligible = frozenset(self.review.eligible(self.stage))
        self.own = {r: v for r, v in self.review.own_labels(self.stage, self.reviewer).items()
                    if r in self.eligible}
        self.ranking = _ranked(self.rank, self.review, self.stage, self.reviewer, queue)
        self.scores = dict(self.ranking)
        order = self.review.screening_order(self.stage, self.reviewer, own=self.own)
        self.stopping = _stopping_line([int(v != "exclude") for _, v in order],
                                       len(order) + len(queue))
        self.skipped &= set(self.scores)

    def pick(self) -> int | None:
        """The record to show: an undone one, else the highest-ranked one not skipped."""
        assert self.ranking is not None
        if self.forced is not None:
            return self.forced
        for rid, _ in self.ranking:
            if rid not in self.skipped:
                return rid
        if self.ranking:  # only skipped records left: go round again
            self.skipped.clear()
            self.message = Text("Only skipped records are left; showing them again.",
                                style="yellow")
            return self.ranking[0][0]
        return None

    def render(self, rid: int) -> None:
        assert self.ranking is not None
        con = self.console
        if con.is_terminal:
            con.clear()
        con.print(_criteria_panel(self.criteria))
        c = Counter(self.own.values())
        progress = Text()
        progress.append(f"{_STAGE_LABEL[self.stage].capitalize()} screening", style="bold")
        n_eligible = len(self.eligible or ())
        progress.append(f" · {self.reviewer} · {len(self.own)} of {n_eligible} decided"
                        f" · {c.get('include', 0)} included, {c.get('maybe', 0)} maybe,"
                        f" {c.get('exclude', 0)} excluded · {len(self.ranking)} left")
        con.print(progress)
        if self.stopping is not None:
            con.print(self.stopping)
        if self.message is not None:
            con.print(self.message)
            self.message = None
        sr = self.review.records([rid])[rid]
        ids = [r for r, _ in self.ranking]
        position = ids.index(rid) + 1 if rid in self.scores else None
        con.print(_record_panel(sr, position, len(ids), self.scores.get(rid),
                                self.own.get(rid)))
        con.print(_key_line())

    def _reasons_listing(self, head: str) -> None:
        listing = Text(head + "\n", style="bold")
        for n, why in enumerate(self.reasons, 1):
            listing.append(f"  {n}. {why}\n", style="")
        listing.append(f"  {len(self.reasons) + 1}. other (type it)", style="")
        self.console.print(listing)

    def _reason_answer(self, answer: str) -> str | None:
        """The reason a numbered answer picks (asking for the typed one for "other");
        None when ``answer`` is not a number on the list."""
        if not answer.isdigit():
            return None
        n = int(answer)
        if 1 <= n <= len(self.reasons):
            return self.reasons[n - 1]
        if n == len(self.reasons) + 1:
            return self.keys.line(Text("reason: ")).strip() or ""
        return None

    @staticmethod
    def _is_key(answer: str) -> bool:
        key = answer.strip().lower()
        return key in _COMMANDS or key in VALUE_ALIASES

    def ask_ft_reason(self, rid: int) -> str | None:
        """The reason for a full-text exclusion, asked before it is stored; None cancels it.

        Enter cancels; a key cancels and is read as the next key; other text asks again. The
        end of input (or Ctrl-C) cancels too, said on screen, and ends the session.
        """
        self._reasons_listing("Reason for excluding (needed at full text):")
        other = len(self.reasons) + 1
        try:
            while True:
                answer = self.keys.line(Text("number (Enter cancels the exclusion): ")).strip()
                if not answer:
                    self._cancel(rid, "no reason given")
                    return None
                if self._is_key(answer):
                    self.pushed.append(answer)
                    self._cancel(rid, f"{answer!r} is a key, taken as your next key")
                    return None
                got = self._reason_answer(answer)
                if got:
                    return got
                if got == "":
                    self.console.print(Text("A full-text exclusion needs a reason.",
                                            style="red"))
                    continue
                self.console.print(Text(f"{answer!r}: expected a number from 1 to {other}, "
                                        "or Enter to cancel the exclusion", style="red"))
        except (_EndOfInput, KeyboardInterrupt):
            self._cancel(rid, "input ended before its reason", now=True)
            raise

    def _cancel(self, rid: int, why: str, *, now: bool = False) -> None:
        self.cancelled += 1
        text = Text(f"Exclusion of record {rid} not stored: {why}.", style="yellow")
        if now:  # the session ends: the message cannot wait for the next screen
            self.console.print(text)
        else:
            self.message = text

    def offer_ta_reason(self, rid: int) -> None:
        """After a title/abstract exclusion is stored, offer a reason (``ta_reasons``).

        A number adds that reason as a new row with the same vote; Enter adds none; any
        other answer adds none and is read as the next key.
        """
        self._reasons_listing(f"Record {rid} excluded (saved). Reason, if you wish:")
        answer = self.keys.line(Text("number (Enter for none, or your next key): ")).strip()
        got = self._reason_answer(answer) if answer else None
        if not got:
            if answer and not answer.isdigit():
                self.pushed.append(answer)
            return
        try:
            self.review.decide(rid, self.stage, self.reviewer, "exclude", got)
        except InputError as exc:
            self.message = Text(f"Reason not saved: {exc}", style="red")
            return
        self.decisions[-1] = (rid, "exclude", got)
        self.message = Text(f"Saved: record {rid} exclude ({got})", style="green")

    def vote(self, rid: int, value: str) -> None:
        reason: str | None = None
        if value == "exclude" and self.stage == "full_text":
            reason = self.ask_ft_reason(rid)
            if reason is None:
                return
        try:
            self.review.decide(rid, self.stage, self.reviewer, value, reason)
        except InputError as exc:  # e.g. the record was resolved meanwhile
            self.message = Text(f"Not saved: {exc}", style="red")
            self.forced = None
            self.refresh()
            return
        self.decisions.append((rid, value, reason))
        self.forced = None
        self.skipped.discard(rid)
        self.message = Text(f"Saved: record {rid} {value}"
                            + (f" ({reason})" if reason else ""), style="green")
        if value == "exclude" and self.stage == "title_abstract" and self.ta_reasons:
            self.offer_ta_reason(rid)  # the vote is stored already: a reason never gates it
        self.refresh()

    def undo(self) -> None:
        rid = self.review.undo(self.stage, self.reviewer)
        if rid is None:
            self.message = Text("Nothing to undo.", style="yellow")
            return
        self.undos += 1
        self.forced = rid
        self.refresh()
        before = self.own.get(rid)
        self.message = Text(f"Undone: your last vote on record {rid}"
                            + (f" (back to {before})" if before else "")
                            + "; decide again.", style="yellow")


def _stopping_line(labels: list[int], n_total: int) -> Text | None:
    """The stopping aids in one line: the run of irrelevant records and BUSCAR at its default
    recall target.

    The full report (with the estimate of what is left) is ``metareview progress``.
    """
    if not labels or len(labels) >= n_total:
        return None
    run = consecutive_irrelevant(labels, DEFAULT_RUN)
    buscar = buscar_stop(labels, n_total)
    line = Text(f"Stopping aids: {int(run.statistic)} irrelevant in a row · BUSCAR p = "
                f"{buscar.statistic:.3g} for recall < {buscar.recall_target:.0%}", style="dim")
    if buscar.stop:
        line.append(" · the statistical rule says you may stop (metareview progress)",
                    style="bold green")
    return line


def _ranked(rank: Ranker | None, review: Project, stage: str, reviewer: str,
            queue: list[int]) -> list[tuple[int, float | None]]:
    """The queue in the ranker's order; ids it left out follow in import order."""
    if rank is None or not queue:
        return [(r, None) for r in queue]
    wanted = set(queue)
    out: list[tuple[int, float | None]] = []
    seen: set[int] = set()
    for rid, score in rank(review, stage, reviewer, list(queue)):
        if rid in wanted and rid not in seen:
            seen.add(rid)
            out.append((rid, None if score is None else float(score)))
    out += [(r, None) for r in queue if r not in seen]
    return out


def run_screener(
    review: Project,
    *,
    stage: str,
    reviewer: str,
    rank: Ranker | None = None,
    reasons: Sequence[str] | None = None,
    keys: Iterable[str] | None = None,
    console: Console | None = None,
    limit: int | None = None,
    ta_reasons: bool | None = None,
) -> ScreenSession:
    """Screen records one at a time at the terminal until the queue is empty or the user quits.

    Parameters
    ----------
    review : Project
        The open review; every vote is stored as it is made.
    stage : str
        ``title_abstract`` or ``full_text`` (``ta``/``ft`` accepted).
    reviewer : str
        Whose queue to screen and whose name the votes carry.
    rank : callable, optional
        ``rank(review, stage, reviewer, candidates)`` returning ``(record id, relevance or
        None)`` pairs, highest relevance first. Called again after every vote and undo, so an
        active-learning model can refit. Without it, records come in import order.
    reasons : sequence of str, optional
        Exclusion reasons to offer as a numbered list (default: the project's shared list,
        ``Project.settings()["exclusion_reasons"]``, itself :data:`DEFAULT_REASONS` until set);
        "other" lets the reviewer type one. Required at full text; at title/abstract offered
        only with ``ta_reasons``, after the exclusion is stored.
    keys : iterable of str, optional
        Answers to the prompts, in order: one item per key press, and one item per line
        asked for (the reason number, a typed reason). Without it, keys come from the
        terminal in raw mode, or line by line when standard input is not a terminal. An
        answer to a reason prompt that is a key is read as the next key (module docstring).
    console : rich.console.Console, optional
        Where the screen is drawn (default: a new console on standard output).
    limit : int, optional
        Stop after this many votes.
    ta_reasons : bool, optional
        Offer reasons after a title/abstract exclusion; default the project's setting
        (``Project.settings()["ta_reasons"]``, off unless the project asks for it).

    Returns
    -------
    ScreenSession
        The votes stored, undos and skips, what is left and why the session stopped. Its
        :meth:`~ScreenSession.summary` is also printed on ``console`` as the last line.

    Raises
    ------
    InputError
        Unknown stage, empty reviewer name, a negative limit or an empty reason list.
    """
    stage = parse_stage(stage)
    reviewer = reviewer.strip()
    if not reviewer:
        raise InputError("reviewer name is empty")
    if limit is not None and limit < 0:
        raise InputError(f"limit {limit}: must be 0 or more")
    settings = review.settings()
    if reasons is None:
        reasons = settings.get("exclusion_reasons") or DEFAULT_REASONS
    reasons = tuple(r.strip() for r in reasons)
    if not reasons or not all(reasons):
        raise InputError("exclusion reasons: give at least one, none empty")
    console = console or Console()
    loop = _Loop(review, stage, reviewer, rank, reasons, _key_source(keys, console), console,
                 str(settings.get("criteria") or ""),
                 ta_reasons=bool(settings.get("ta_reasons")) if ta_reasons is None
                 else ta_reasons)
    stopped = "done"
    try:
        loop.refresh()
        while True:
            if limit is not None and len(loop.decisions) >= limit:
                stopped = "limit"
                break
            rid = loop.pick()
            if rid is None:
                break
            loop.render(rid)
            while True:  # until a key that changes the record shown
                raw = loop.next_key()
                key = raw.strip().lower()
                command = _COMMANDS.get(key)
                if command == "help":
                    console.print(_help_panel(stage, loop.ta_reasons))
                    continue
                if command is None and key not in VALUE_ALIASES:
                    if key:
                        console.print(Text(f"{raw!r} is not a key here; ? for help",
                                           style="red"))
                    continue
                break
            if command == "quit":
                stopped = "quit"
                break
            if command == "undo":
                loop.undo()
            elif command == "skip":
                loop.skipped.add(rid)
                loop.n_skipped += 1
                loop.forced = None
            else:
                loop.vote(rid, VALUE_ALIASES[key])
    except KeyboardInterrupt:
        stopped = "interrupted"
    except _EndOfInput:
        stopped = "end of input"
    remaining = len(review.queue(stage, reviewer))
    session = ScreenSession(stage, reviewer, tuple(loop.decisions), loop.undos, loop.n_skipped,
                            remaining, stopped, loop.cancelled)
    if stopped == "done":
        console.print(Text("Your queue is empty.", style="bold green"))
    console.print(Text(session.summary()), soft_wrap=True)
    return session
