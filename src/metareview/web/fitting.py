"""Refitting each reviewer's ranking model in a process of its own.

A fit holds the interpreter for a moment (TF-IDF of 10,000 records, the classifier, the
stopping aids); in the web server's own process it slowed every page served meanwhile. Here a
worker process (started with ``spawn``: the server has threads, and ``fork`` would copy their
locks) takes ``(project, reviewer)`` tasks, keeps each project's TF-IDF between fits, and sends
back the ranking and the stopping aids. Tasks queued for the same reviewer are merged: only
the newest state of the votes matters.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from collections.abc import Callable
from typing import Any

STAGE = "title_abstract"

#: ``done(slug, reviewer, ranking or None, stopping report or None)``.
Done = Callable[[str, str, list[tuple[int, float | None]] | None, Any], None]


def _loop(tasks: Any, results: Any) -> None:  # pragma: no cover - runs in the worker
    """The worker: fit what is asked, newest first per reviewer, until ``None`` arrives."""
    import os

    # Below the server in the scheduler's eyes: on a busy machine a page or a vote goes
    # first, and a ranking arrives a little later.
    os.nice(10)
    from metareview.screening.ranking import model_ranker
    from metareview.screening.stopping import stopping_aids
    from metareview.store.project import Project

    projects: dict[str, Any] = {}
    rankers: dict[str, Any] = {}
    while True:
        item = tasks.get()
        batch = [item]
        while True:  # merge what else is waiting
            try:
                batch.append(tasks.get_nowait())
            except queue.Empty:
                break
        if any(b is None for b in batch):
            return
        for slug, path, reviewer, credentials in dict.fromkeys(batch):
            try:
                if path not in projects:
                    projects[path] = Project.open(path, credentials=credentials)
                    rankers[path] = model_ranker()
                p = projects[path]
                waiting = p.queue(STAGE, reviewer)
                ranked = rankers[path](p, STAGE, reviewer, waiting)
                results.put((slug, reviewer, ranked, stopping_aids(p, STAGE, reviewer)))
            except Exception:  # the last ranking stays in use; the next vote tries again
                results.put((slug, reviewer, None, None))


class FitWorker:
    """The worker process and the thread that hands its results to ``done``."""

    def __init__(self, done: Done) -> None:
        ctx = mp.get_context("spawn")
        self._tasks = ctx.Queue()
        self._results = ctx.Queue()
        self._done = done
        self._proc = ctx.Process(target=_loop, args=(self._tasks, self._results),
                                 name="metareview-fits", daemon=True)
        self._proc.start()
        self._listener = threading.Thread(target=self._listen, name="metareview-fit-results",
                                          daemon=True)
        self._listener.start()

    def submit(self, slug: str, path: str, reviewer: str,
               credentials: tuple[str, ...] = ()) -> None:
        """Ask for a fit of ``reviewer``'s ranking on the project at ``path``
        (``credentials``: see :meth:`metareview.store.project.Project.open`)."""
        self._tasks.put((slug, path, reviewer, tuple(credentials)))

    def _listen(self) -> None:
        while True:
            item = self._results.get()
            if item is None:
                return
            self._done(*item)

    def close(self) -> None:
        """Stop the worker (what it is fitting is dropped)."""
        self._tasks.put(None)
        self._results.put(None)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()
        self._listener.join(timeout=5)
