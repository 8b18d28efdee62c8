"""Fuzzing the importers: damaged files give one-line InputErrors, never another exception.

Real-looking files of every format (``tests/data/fuzz/``) are mutated, seeded and
deterministically: bytes flipped, special bytes inserted (NUL, ESC, braces, quotes, ``<``,
byte-order marks, CR), ranges deleted, the file truncated, chunks duplicated, one line repeated
thousands of times; for XLSX the same mutations also hit the XML parts inside the zip. Every
input must either import or raise :class:`~metareview.errors.InputError` whose message is one
line, within a time bound. ``bench/fuzz.py`` runs the same mutations for hours; this test runs
a few hundred inputs in a few seconds.
"""

from __future__ import annotations

import io
import math
import random
import time
import zipfile
from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.records.readers import read_records_bytes

CORPUS_DIR = Path(__file__).parent / "data" / "fuzz"

#: Bytes worth inserting: controls, format syntax, byte-order marks, broken UTF-8 and UTF-16.
SPECIAL = (
    b"\x00", b"\x1b", b"\x1b[31m", b"\x1b]0;x\x07", b"\x7f", b"\xc2\x9b", b"{", b"}", b'"',
    b"<", b">", b"&", b"&#0;", b"&amp", b"<![CDATA[", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
    b"\r", b"\n", b"\r\n", b"\t", b",", b";", b"@", b"#", b"%", b"\\", b"\\'{", b"$",
    b"\xc3", b"\x80", b"\xed\xa0\x80", b"\xff", b"\x00\xd8", b"TY  - ", b"ER  - ", b"PMID- ",
    b"AU  - ", b"@article{", b"@string{", b"</", b"<PubmedArticle>", b"\n\n", b"  - ",
    b"9" * 40, b"-1", b"1e400", b"nan",
)


#: Mutants stop growing past this size (bytes): repeated repetitions would grow exponentially.
MAX_MUTANT = 2 * 1024 * 1024


def corpus() -> dict[str, bytes]:
    """The seed files by name (the extension says the format)."""
    return {p.name: p.read_bytes() for p in sorted(CORPUS_DIR.iterdir()) if p.suffix != ".md"}


def _mutate_bytes(data: bytes, rng: random.Random, *, repeat_max: int) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        n = len(b)
        if n > MAX_MUTANT:
            break
        op = rng.randrange(7)
        at = rng.randrange(n + 1) if n else 0
        if op == 0 and n:  # flip bits of one byte
            b[min(at, n - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert something special
            b[at:at] = rng.choice(SPECIAL)
        elif op == 2 and n:  # delete a range
            b[at:at + rng.randrange(1, 64)] = b""
        elif op == 3:  # truncate
            del b[at:]
        elif op == 4 and n:  # duplicate a chunk somewhere else
            chunk = bytes(b[at:at + rng.randrange(1, 256)])
            to = rng.randrange(len(b) + 1)
            b[to:to] = chunk
        elif op == 5 and n:  # repeat one line many times
            start = b.rfind(b"\n", 0, at) + 1
            end = b.find(b"\n", at)
            line = bytes(b[start:end + 1 if end >= 0 else n])[:200] or b"\n"
            # log-uniform: mostly a few copies, now and then thousands
            b[start:start] = line * int(math.exp(rng.uniform(math.log(2), math.log(repeat_max))))
        else:  # replace a byte with a random one
            if n:
                b[min(at, n - 1)] = rng.randrange(256)
    return bytes(b)


def _mutate_xlsx_part(data: bytes, rng: random.Random, *, repeat_max: int) -> bytes:
    """Mutate one XML part of the workbook and zip it again (reaches openpyxl's parsing)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = [i.filename for i in src.infolist()]
    target = rng.choice([n for n in names if n.startswith("xl/")] or names)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            body = src.read(name)
            if name == target:
                body = _mutate_bytes(body, rng, repeat_max=repeat_max)
            z.writestr(name, body)
    return out.getvalue()


def mutate(name: str, data: bytes, rng: random.Random, *, repeat_max: int = 3000) -> bytes:
    """One mutant of the seed file ``name`` (its bytes ``data``)."""
    if name.endswith(".xlsx") and rng.random() < 0.6:
        return _mutate_xlsx_part(data, rng, repeat_max=repeat_max)
    return _mutate_bytes(data, rng, repeat_max=repeat_max)


def run_one(name: str, data: bytes, lenient: bool) -> tuple[str, str]:
    """Import one input: ``('accepted', summary)`` or ``('error', message)``.

    Any exception but :class:`InputError` propagates: that is a crash.
    """
    try:
        batch = read_records_bytes(data, filename=name, source="fuzz", lenient=lenient)
    except InputError as exc:
        return "error", str(exc)
    return "accepted", batch.summary()


def make_input(seed: int, i: int, seeds: dict[str, bytes], *,
               repeat_max: int = 3000) -> tuple[str, str, bytes, bool]:
    """Input ``i`` of run ``seed``: ``(seed file, file name, bytes, lenient)``.

    Each input has its own generator, seeded with ``seed`` and ``i``, so any one input can be
    made again alone and a run can be split between processes.
    """
    names = list(seeds)
    name = names[i % len(names)]
    rng = random.Random(f"{seed}:{i}")
    lenient = rng.random() < 0.3
    # some without the extension, so the content decides the format
    filename = name if rng.random() < 0.7 else Path(name).stem + ".txt"
    return name, filename, mutate(name, seeds[name], rng, repeat_max=repeat_max), lenient


def inputs(seed: int, count: int, *, repeat_max: int = 3000):
    """``count`` inputs ``(i, file name, bytes, lenient)``, the same for the same seed."""
    seeds = corpus()
    for i in range(count):
        _, filename, data, lenient = make_input(seed, i, seeds, repeat_max=repeat_max)
        yield i, filename, data, lenient


#: Seconds one input may take here (a few ms is usual; CI machines are slow).
TIME_BOUND = 2.0


@pytest.mark.parametrize("seed", [1, 2])
def test_mutants_import_or_fail_cleanly(seed):
    outcomes = {"accepted": 0, "error": 0}
    for i, name, data, lenient in inputs(seed, 120, repeat_max=1500):
        start = time.perf_counter()
        try:
            outcome, text = run_one(name, data, lenient)
        except Exception as exc:  # a crash: say which input, so it can be replayed
            raise AssertionError(f"seed {seed} input {i} ({name}, lenient={lenient}) crashed "
                                 f"with {type(exc).__name__}: {exc}; data={data!r}") from exc
        took = time.perf_counter() - start
        assert took < TIME_BOUND, f"seed {seed} input {i} ({name}) took {took:.2f} s"
        if outcome == "error":
            assert "\n" not in text and "\r" not in text and "\x1b" not in text, text
            assert text.startswith(name.split(".")[0]), text  # names the file
        outcomes[outcome] += 1
    # the mutations damage most files but not all: both outcomes are exercised
    assert outcomes["accepted"] > 10 and outcomes["error"] > 10, outcomes


def test_mutations_are_deterministic():
    first = [(n, d, le) for _, n, d, le in inputs(7, 30)]
    again = [(n, d, le) for _, n, d, le in inputs(7, 30)]
    assert first == again
    assert len({d for _, d, _ in first}) == 30


def test_corpus_imports_cleanly():
    for name, data in corpus().items():
        batch = read_records_bytes(data, filename=name, source="fuzz")
        assert len(batch.records) >= 2, name
