"""The interactive screener: keys in, votes in the store out.

Every test drives :func:`run_screener` with a key sequence and checks what the store holds
afterwards (votes, reasons, undo rows) and, where it matters, what was drawn on a recording
console. The last tests type raw keys into a real pseudo-terminal.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from metareview.cli.screener import DEFAULT_REASONS, run_screener
from metareview.errors import InputError
from metareview.records.model import ImportBatch, Record
from metareview.store.project import Project

TA, FT = "title_abstract", "full_text"


def _review(root: Path, titles: list[str], *, kind: str = "database", required: int = 2,
            criteria: str = "") -> Project:
    """A review holding one import of records with these titles (ids 1, 2, … in order)."""
    r = Project.create(root, "test", criteria=criteria, reviewers_required=required)
    recs = tuple(Record(title=t, abstract=f"Abstract of {t}.", authors=("Smith, Jane",),
                        year=2000 + i) for i, t in enumerate(titles))
    r.add_import(ImportBatch(recs, "PubMed", kind=kind, format="ris", filename="x.ris",
                             sha256="ab"))
    return r


def _console() -> Console:
    return Console(record=True, width=100)


def _votes(r: Project, reviewer: str, stage: str = TA) -> list[tuple[int, str, str | None]]:
    """This reviewer's vote rows, oldest first, from the store's history."""
    return [(h["record"], h["value"], h["reason"]) for h in r.history()
            if h["reviewer"] == reviewer and h["stage"] == stage and h["kind"] == "vote"]


def test_keys_store_votes_in_rank_order(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    calls = []

    def newest_first(review, stage, reviewer, candidates):
        calls.append(list(candidates))
        return [(c, float(c)) for c in sorted(candidates, reverse=True)]

    con = _console()
    s = run_screener(r, stage="ta", reviewer="ann", rank=newest_first, keys=["i", "e", "", "m"],
                     console=con)
    # the ranker puts the highest id first, so record 3 is decided first
    assert _votes(r, "ann") == [(3, "include", None), (2, "exclude", None), (1, "maybe", None)]
    assert r.own_labels(TA, "ann") == {3: "include", 2: "exclude", 1: "maybe"}
    # re-ranked after every vote, each time on what is left of the queue
    assert calls == [[1, 2, 3], [1, 2], [1]]
    assert s.stopped == "done" and s.remaining == 0
    assert s.counts == {"include": 1, "exclude": 1, "maybe": 1}
    assert json.loads(json.dumps(s.to_dict()))["decided"] == 3
    out = con.export_text()
    assert "relevance 3.000" in out and "relevance 1.000" in out
    assert "3 decisions stored" in s.summary() and s.summary() in out


def test_reranking_uses_the_new_labels(tmp_path):
    # A ranker in the spirit of active learning: records sharing the first word of a title the
    # reviewer included move up. Import order would be 1, 2, 3, 4.
    r = _review(tmp_path / "r", ["alpha one", "beta one", "alpha two", "beta two"])

    def like_included(review, stage, reviewer, candidates):
        recs = review.records()
        liked = {recs[i].record.title.split()[0]
                 for i, v in review.own_labels(stage, reviewer).items() if v == "include"}
        score = {c: float(recs[c].record.title.split()[0] in liked) for c in candidates}
        return sorted(((c, score[c]) for c in candidates), key=lambda p: (-p[1], p[0]))

    s = run_screener(r, stage=TA, reviewer="ann", rank=like_included,
                     keys=["i", "e", "", "i", "i"], console=_console())
    assert [d[0] for d in s.decisions] == [1, 3, 2, 4]


def test_ranker_output_is_limited_to_the_queue(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    # 99 is no record; 2 appears twice; 1 and 3 are left out and follow in import order
    s = run_screener(r, stage=TA, reviewer="ann",
                     rank=lambda *a: [(99, 5.0), (2, 0.9), (2, 0.1)],
                     keys=["i", "i", "i"], console=_console())
    assert [d[0] for d in s.decisions] == [2, 1, 3]


def test_undo_shows_the_record_again(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=["i", "i", "u", "e", "", "q"], console=con)
    assert r.own_labels(TA, "ann") == {1: "include", 2: "exclude"}
    kinds = [(h["record"], h["kind"], h["value"]) for h in r.history()]
    assert kinds == [(1, "vote", "include"), (2, "vote", "include"), (2, "undo", None),
                     (2, "vote", "exclude")]
    assert s.undos == 1 and s.stopped == "quit" and s.remaining == 1
    assert "Undone: your last vote on record 2" in con.export_text()


def test_undo_restores_the_earlier_vote(tmp_path):
    r = _review(tmp_path / "r", ["a", "b"])
    r.decide(1, TA, "ann", "include")
    r.decide(1, TA, "ann", "exclude")  # a changed mind, from an earlier session
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=["u", "q"], console=con)
    assert r.own_labels(TA, "ann") == {1: "include"}
    out = con.export_text()
    assert "(back to include)" in out
    assert "Your current vote: include" in out  # record 1 was shown again
    assert s.undos == 1 and s.decisions == ()


def test_undo_with_nothing_to_undo(tmp_path):
    r = _review(tmp_path / "r", ["a"])
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=["u", "i"], console=con)
    assert "Nothing to undo." in con.export_text()
    assert s.undos == 0 and s.decisions == ((1, "include", None),)


def test_full_text_exclusion_needs_a_reason(tmp_path):
    # records found by other methods (citation searching) go straight to full text
    r = _review(tmp_path / "r", ["a", "b", "c", "d"], kind="citation", required=1)
    keys = ["e", "",                        # Enter cancels: nothing stored for record 1
            "e", "42", "3",                 # 42 is not on the list: asked again
            "e", str(len(DEFAULT_REASONS) + 1), "sample of 12",  # "other": typed
            "i", "e", "1"]
    con = _console()
    s = run_screener(r, stage="ft", reviewer="ann", keys=keys, console=con)
    assert _votes(r, "ann", FT) == [(1, "exclude", DEFAULT_REASONS[2]),
                                    (2, "exclude", "sample of 12"),
                                    (3, "include", None),
                                    (4, "exclude", DEFAULT_REASONS[0])]
    out = con.export_text()
    assert "Exclusion of record 1 not stored: no reason given." in out
    assert "'42': expected a number from 1 to 9, or Enter to cancel the exclusion" in out
    assert s.stopped == "done" and s.cancelled == 1
    assert "1 exclusion not stored (no reason given)" in s.summary()


def test_custom_reasons_and_optional_reason_at_title_abstract(tmp_path):
    # with ta_reasons the reason is a follow-up: the exclusion is stored first, a reason
    # picked afterwards is a second row with the same vote
    r = _review(tmp_path / "r", ["a", "b", "c"])
    reasons = ["not an RCT", "children"]
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", reasons=reasons, ta_reasons=True,
                     keys=["e", "2", "e", "", "e", "3", ""], console=con)
    assert _votes(r, "ann") == [(1, "exclude", None), (1, "exclude", "children"),
                                (2, "exclude", None), (3, "exclude", None)]
    assert s.decisions == ((1, "exclude", "children"), (2, "exclude", None),
                           (3, "exclude", None))
    assert r.status(TA)[1].votes[0].reason == "children"
    out = con.export_text()
    assert "2. children" in out and "3. other (type it)" in out
    assert "wrong population" not in out  # the defaults are replaced, not extended


def test_blinded_to_the_other_reviewer(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    run_screener(r, stage=TA, reviewer="ann", keys=["e", "9", "XYZZY only ann knows", "i"],
                 console=_console(), ta_reasons=True)
    assert _votes(r, "ann") == [(1, "exclude", None), (1, "exclude", "XYZZY only ann knows"),
                                (2, "include", None)]
    con = _console()
    s = run_screener(r, stage=TA, reviewer="bob", keys=["i", "q"], console=con)
    out = con.export_text()
    # bob still gets record 1 first, and sees nothing of ann's votes
    assert s.decisions == ((1, "include", None),)
    assert "XYZZY" not in out and "ann" not in out
    assert "bob · 0 of 3 decided · 0 included, 0 maybe, 0 excluded · 3 left" in out
    assert "bob · 1 of 3 decided · 1 included, 0 maybe, 0 excluded · 2 left" in out


def test_criteria_shown_verbatim(tmp_path):
    criteria = "Adults [18+] with asthma; randomised trials only."
    r = _review(tmp_path / "r", ["Inhaled [steroids] in asthma"], criteria=criteria)
    con = _console()
    run_screener(r, stage=TA, reviewer="ann", keys=["q"], console=con)
    out = con.export_text()
    # brackets are text, not rich markup
    assert "Inclusion criteria" in out and criteria in out
    assert "Inhaled [steroids] in asthma" in out and "Smith, Jane" in out


def test_skip_comes_back_round(tmp_path):
    r = _review(tmp_path / "r", ["a", "b"])
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=["s", "i", "e", ""], console=con)
    assert _votes(r, "ann") == [(2, "include", None), (1, "exclude", None)]
    assert s.skipped == 1 and s.stopped == "done"
    assert "Only skipped records are left" in con.export_text()


def test_help_and_unknown_keys_change_nothing(tmp_path):
    r = _review(tmp_path / "r", ["a"])
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=["?", "x", "", "q"], console=con)
    out = con.export_text()
    assert "undo your last vote" in out and "'x' is not a key here" in out
    assert s.decisions == () and r.history() == [] and s.remaining == 1


def test_word_answers_are_accepted(tmp_path):
    # typed lines (line mode) may spell the decision out
    r = _review(tmp_path / "r", ["a", "b"])
    s = run_screener(r, stage=TA, reviewer="ann", keys=["Include", "MAYBE"], console=_console())
    assert [d[1] for d in s.decisions] == ["include", "maybe"]


def test_limit_and_end_of_input(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    s = run_screener(r, stage=TA, reviewer="ann", keys=["i", "i", "i"], limit=2,
                     console=_console())
    assert s.stopped == "limit" and len(_votes(r, "ann")) == 2
    s = run_screener(r, stage=TA, reviewer="bob", keys=["m"], console=_console())
    assert s.stopped == "end of input" and _votes(r, "bob") == [(1, "maybe", None)]


def test_ctrl_c_keeps_what_was_decided(tmp_path):
    r = _review(tmp_path / "r", ["a", "b"])

    def keys():
        yield "i"
        raise KeyboardInterrupt

    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", keys=keys(), console=con)
    assert s.stopped == "interrupted" and _votes(r, "ann") == [(1, "include", None)]
    assert "1 decision stored" in con.export_text()


def test_line_mode_from_a_pipe(tmp_path, monkeypatch):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    monkeypatch.setattr(sys, "stdin", io.StringIO("i\ne\n2\n"))
    con = _console()
    s = run_screener(r, stage=TA, reviewer="ann", console=con)
    # no reason is asked at title/abstract: "2" is read as a key, and is not one
    assert _votes(r, "ann") == [(1, "include", None), (2, "exclude", None)]
    assert s.stopped == "end of input" and s.remaining == 1
    assert "'2' is not a key here" in con.export_text()


def test_bad_arguments(tmp_path):
    r = _review(tmp_path / "r", ["a"])
    with pytest.raises(InputError, match="stage"):
        run_screener(r, stage="abstracts", reviewer="ann", keys=[])
    with pytest.raises(InputError, match="reviewer"):
        run_screener(r, stage=TA, reviewer="  ", keys=[])
    with pytest.raises(InputError, match="reasons"):
        run_screener(r, stage=TA, reviewer="ann", reasons=[], keys=[])
    with pytest.raises(InputError, match="limit"):
        run_screener(r, stage=TA, reviewer="ann", limit=-1, keys=[])


_KEY = st.sampled_from(["i", "e", "m", "u", "s", "?", "x", "", "1", "9", "q"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(keys=st.lists(_KEY, max_size=12), stage=st.sampled_from([TA, FT]))
def test_session_matches_the_store(keys, stage):
    # Whatever is typed, the session's account equals what the store holds.
    with tempfile.TemporaryDirectory() as d:
        r = _review(Path(d) / "r", ["a", "b", "c"], kind="database" if stage == TA else "other",
                    required=1)
        try:
            s = run_screener(r, stage=stage, reviewer="ann", keys=keys, console=_console())
            assert list(s.decisions) == _votes(r, "ann", stage)
            undo_rows = [h for h in r.history() if h["kind"] == "undo"]
            assert s.undos == len(undo_rows)
            queue = r.queue(stage, "ann")
            assert s.remaining == len(queue)
            assert set(queue) | set(r.own_labels(stage, "ann")) == {1, 2, 3}
            assert s.stopped in {"done", "quit", "end of input"}
            assert (s.stopped == "done") == (not queue)
        finally:
            r.close()


# -- a real terminal ---------------------------------------------------------------------------

_SCRIPT = """
import sys
from metareview.cli.screener import run_screener
from metareview.store.project import Project
with Project.open(sys.argv[1]) as r:
    run_screener(r, stage="ta", reviewer="pty")
    run_screener(r, stage="ta", reviewer="pty2")
"""
_ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|\][^\x07]*\x07|[()][A-Z0-9]|[=>])")


class _Pty:
    """Reads a child's terminal output until a text has appeared n times (a tiny expect)."""

    def __init__(self, fd: int):
        self.fd = fd
        self.raw = b""

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def expect(self, what: str, count: int = 1, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.text.count(what) < count:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"waited for {what!r} x{count}; screen: {self.text!r}")
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"child ended before {what!r}; screen: {self.text!r}")
            self.raw += chunk

    def drain(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([self.fd], [], [], 0.2)[0]:
                continue
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.raw += chunk


@contextlib.contextmanager
def _spawn_in_pty(script: str, folder):
    """Run ``script`` on the project in ``folder`` with a pseudo-terminal as its terminal;
    yields ``(process, master fd, _Pty)`` and kills the process if it is still running."""
    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "100", "LINES": "50", "TERM": "xterm", "NO_COLOR": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(folder)],
                            stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True)
    os.close(slave)
    try:
        yield proc, master, _Pty(master)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


@pytest.mark.skipif(os.name != "posix", reason="raw terminal mode needs POSIX termios")
def test_raw_keys_through_a_pseudo_terminal(tmp_path):
    r = _review(tmp_path / "r", ["a", "b", "c"])
    r.close()
    with _spawn_in_pty(_SCRIPT, tmp_path / "r") as (proc, master, term):
        # Single bytes with no Enter: in the terminal's usual (cooked) mode the child would
        # never see them, so each step proves the key was read in raw mode.
        term.expect("key: ", 1)
        os.write(master, b"i")
        term.expect("key: ", 2)
        os.write(master, b"e")  # stored at once: no reason is asked at title/abstract
        term.expect("key: ", 3)
        os.write(master, b"q")
        term.expect("stopped: quit")
        # second session: raw mode turns Ctrl-C into a byte, which must end it cleanly
        term.expect("key: ", 4)
        os.write(master, b"m")
        term.expect("key: ", 5)
        os.write(master, b"\x03")
        term.drain()
        assert proc.wait(timeout=15) == 0, term.text
    with Project.open(tmp_path / "r") as r:
        assert _votes(r, "pty") == [(1, "include", None), (2, "exclude", None)]
        assert _votes(r, "pty2") == [(1, "maybe", None)]
    assert "2 decisions stored at title/abstract by pty " in term.text
    assert "1 decision stored at title/abstract by pty2 " in term.text
    assert "stopped: interrupted" in term.text


_FT_SCRIPT = """
import sys
from metareview.cli.screener import run_screener
from metareview.store.project import Project
with Project.open(sys.argv[1]) as r:
    run_screener(r, stage="ft", reviewer="pty")
"""


@pytest.mark.skipif(os.name != "posix", reason="raw terminal mode needs POSIX termios")
def test_full_text_reason_at_a_terminal_behaves_as_piped(tmp_path):
    # as with piped keys: a key typed for the reason cancels the exclusion aloud and counts
    # as the next key
    r = _review(tmp_path / "r", ["a", "b"], kind="citation", required=1)
    r.close()
    with _spawn_in_pty(_FT_SCRIPT, tmp_path / "r") as (proc, master, term):
        term.expect("key: ", 1)
        os.write(master, b"e")
        term.expect("number (Enter cancels the exclusion): ")
        os.write(master, b"m\r")  # the reason is a line, read in cooked mode
        term.expect("key: ", 2)
        os.write(master, b"e")
        term.expect("number (Enter cancels the exclusion): ", 2)
        os.write(master, b"2\r")
        term.expect("stopped: done")
        term.drain()
        assert proc.wait(timeout=15) == 0, term.text
    with Project.open(tmp_path / "r") as r:
        assert _votes(r, "pty", FT) == [(1, "maybe", None), (2, "exclude", DEFAULT_REASONS[1])]
    assert "Exclusion of record 1 not stored: 'm' is a key, taken as your next key." in term.text
    assert "1 exclusion not stored (no reason given)" in term.text
