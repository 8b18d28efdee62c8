"""Load on the team web app (issue 14): reviewers voting over HTTP at once, on PostgreSQL.

A throwaway PostgreSQL server (Debian's, as ``.ci/run`` starts it) holds a review of 10,000 real
titles and abstracts (the labelled screening sets in ``../shared/data/screening``) and the
web app's accounts. ``metareview serve`` runs as its own process (waitress). Each simulated
reviewer is a thread with its own cookie jar that signs in, then repeats: read the screening
page, vote on the record it shows (include about 1 in 20), and follow the redirect to the next
record. The time from sending the vote to having the next record's page is the latency users
feel. Afterwards the database is read back: every vote a client saw accepted must be there once
(0 lost, 0 duplicated), and no reviewer may have two current votes on one record.

Writes ``bench/RESULTS-web.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, md_table

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "screening"
SETS = ("van_de_Schoot_2017", "Kwok_2020", "Cohen_2006_ADHD", "Cohen_2006_NSAIDS")
PASSWORD = "correct horse battery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A throwaway server in a temporary folder, on 127.0.0.1 (as .ci/run)."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise SystemExit("bench_web: PostgreSQL is not installed (apt-get install "
                             "postgresql)")
        self.bin = bins[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="metareview-bench-pg."))
        self.dir.chmod(0o755)
        self.as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_pg:
            shutil.chown(self.dir, "postgres")
        self.port = _free_port()
        password = secrets.token_hex(12)
        pw = self.dir / "pw"
        pw.write_text(password + "\n")
        if self.as_pg:
            shutil.chown(pw, "postgres")
        subprocess.run([*self.as_pg, str(self.bin / "initdb"), "-D", str(self.dir / "data"),
                        "-U", "metareview", f"--pwfile={pw}", "--auth=scram-sha-256", "-E",
                        "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        pw.unlink()
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-l", str(self.dir / "log"), "-w", "-o",
                        f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                        "-c max_connections=200", "start"], check=True, capture_output=True)
        self.url = f"postgresql://metareview:{password}@127.0.0.1:{self.port}"
        self.version = subprocess.run([str(self.bin / "postgres"), "--version"],
                                      capture_output=True, text=True).stdout.split()[2].rstrip(")")

    def create(self, name: str) -> str:
        from sqlalchemy import create_engine, text

        from metareview.store.db import normalise_url

        eng = create_engine(normalise_url(self.url + "/postgres"), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        return f"{self.url}/{name}"

    def stop(self) -> None:
        subprocess.run([*self.as_pg, str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


class Reviewer(threading.Thread):
    """One simulated reviewer over HTTP."""

    def __init__(self, base: str, slug: str, name: str, votes: int, seed: int,
                 think: tuple[float, float]) -> None:
        super().__init__(daemon=True)
        self.base, self.slug, self.name, self.n = base, slug, name, votes
        self.think = think
        self.rng = random.Random(seed)
        jar = http.cookiejar.CookieJar()
        self.http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        self.latency: list[float] = []
        self.accepted: list[int] = []
        self.errors: list[str] = []

    def _page(self, path: str, data: dict | None = None) -> str:
        body = None if data is None else urllib.parse.urlencode(data).encode()
        with self.http.open(self.base + path, body, timeout=60) as r:
            return r.read().decode()

    def run(self) -> None:
        try:
            page = self._page("/sign-in")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            self._page("/sign-in", {"name": self.name, "password": PASSWORD, "csrf": csrf})
            page = self._page(f"/p/{self.slug}/screen")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            for _ in range(self.n):
                m = re.search(r'name="record" value="(\d+)"', page)
                if m is None:
                    self.errors.append("no record on the screening page")
                    return
                rid = int(m.group(1))
                time.sleep(self.rng.uniform(*self.think))  # reading the record
                value = "include" if self.rng.random() < 0.05 else "exclude"
                t0 = time.perf_counter()
                page = self._page(f"/p/{self.slug}/screen",
                                  {"record": rid, "value": value, "csrf": csrf})
                self.latency.append(time.perf_counter() - t0)
                if "flash error" in page:
                    self.errors.append(re.search(r'flash error[^>]*>([^<]*)', page).group(1))
                else:
                    self.accepted.append(rid)
        except Exception as exc:  # reported in the results, not a traceback
            self.errors.append(f"{type(exc).__name__}: {exc}")


def run(args: argparse.Namespace) -> tuple[str, list[tuple[str, str, bool]]]:
    from sqlalchemy import create_engine, text

    from metareview.records.readers import read_records
    from metareview.store.db import normalise_url
    from metareview.store.project import Project
    from metareview.web.accounts import Site

    pg = Postgres()
    server = None
    try:
        url = pg.create("review")
        work = Path(tempfile.mkdtemp(prefix="metareview-bench-web."))
        folder = work / "review"
        t0 = time.perf_counter()
        with Project.create(folder, "Load test", db_url=url) as p:
            n = 0
            for name in SETS:
                batch = read_records(DATA / f"{name}.csv", source=name,
                                     mapping={"label": "label_included"},
                                     fields_used=("title", "abstract"))
                p.add_import(batch, actor="bench")
                n += len(batch.records)
        set_up = time.perf_counter() - t0
        env = {**os.environ, "METAREVIEW_WEB_DATABASE_URL": url,
               "METAREVIEW_DATABASE_URL": url}
        os.environ.update({k: env[k] for k in ("METAREVIEW_WEB_DATABASE_URL",
                                               "METAREVIEW_DATABASE_URL")})
        names = [f"reviewer{i:02d}" for i in range(1, args.reviewers + 1)]
        with Site.open(folder, url) as site:
            owner = site.create_user("owner", PASSWORD)
            slug = next(iter(site.projects()))
            for name in names:
                user = site.create_user(name, PASSWORD, admin=False)
                site.accept(site.invite(owner, slug, "reviewer"), user)
        port = _free_port()
        exe = Path(sys.executable).with_name("metareview")
        # The server's output goes to a file: a pipe nobody reads fills up and stops it.
        log = open(work / "serve.log", "w")  # closed with the server, below
        server = subprocess.Popen([str(exe), "serve", str(folder), "--port", str(port),
                                   "--threads", str(args.threads)], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, text=True)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/sign-in", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        load = os.getloadavg()
        think = (args.think_min, args.think_max)
        clients = [Reviewer(base, slug, name, args.votes, i, think)
                   for i, name in enumerate(names)]
        t0 = time.perf_counter()
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        eng = create_engine(normalise_url(url))
        with eng.connect() as c:
            rows = c.execute(text(
                "SELECT r.name, d.record_id, d.kind FROM decision d JOIN reviewer r "
                "ON r.id = d.reviewer_id WHERE d.stage = 'title_abstract'")).all()
        eng.dispose()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
            log.close()
        pg.stop()
    stored: dict[str, list[int]] = {}
    for name, rid, kind in rows:
        if kind == "vote":
            stored.setdefault(name, []).append(rid)
    accepted = sum(len(c.accepted) for c in clients)
    lost = sum(len(set(c.accepted) - set(stored.get(c.name, []))) for c in clients)
    duplicated = sum(len(v) - len(set(v)) for v in stored.values())
    extra = sum(len(set(stored.get(c.name, [])) - set(c.accepted)) for c in clients)
    errors = [e for c in clients for e in c.errors]
    lat = np.array([x for c in clients for x in c.latency])
    p50, p95, p99 = (np.percentile(lat, q) * 1e3 for q in (50, 95, 99)) if len(lat) else (
        float("nan"),) * 3
    body = "\n".join([
        md_table(["", ""], [
            ["records in the review", f"{n:,}"],
            ["reviewers (threads, each its own session)", f"{args.reviewers}"],
            ["votes per reviewer", f"{args.votes}"],
            ["reading time before each vote", f"uniform {args.think_min:g}–{args.think_max:g} s "
             "(people take 5–30 s per abstract)"],
            ["server", f"`metareview serve --threads {args.threads}` (waitress), own process"],
            ["database", f"PostgreSQL {pg.version} (throwaway, 127.0.0.1)"],
            ["set-up (import of the records)", f"{set_up:.1f} s"],
            ["votes accepted", f"{accepted:,} in {wall:.1f} s ({accepted / wall:.0f}/s)"],
            ["lost (accepted, not stored)", f"{lost}"],
            ["duplicated (two votes of one reviewer on a record)", f"{duplicated}"],
            ["stored but not seen accepted", f"{extra}"],
            ["errors shown to clients", f"{len(errors)}" + (f" (first: {errors[0]})"
                                                             if errors else "")],
            ["vote → next record, p50 / p95 / p99",
             f"{p50:.0f} / {p95:.0f} / {p99:.0f} ms"],
            ["load average before / after (1 min)", f"{load[0]:.2f} / {load_after[0]:.2f}"],
        ]), "",
        "- Latency: from sending the vote (POST) to having read the whole page of the next "
        "record (the redirect followed), per vote, all reviewers pooled. Each reviewer waits "
        "the reading time before each vote, so 20 reviewers send about 20 votes a second: "
        "far more than 20 people reading abstracts do, far fewer than 20 clients without "
        "pause (which measures throughput, not the wait after a vote).",
        "- Lost and duplicated are read back from the `decision` table after the run.",
    ])
    targets = [("0 votes lost, 0 duplicated", f"{lost} lost, {duplicated} duplicated",
                lost == 0 and duplicated == 0 and accepted > 0),
               ("p95 vote → next record < 150 ms with 10,000 records", f"{p95:.0f} ms",
                bool(p95 < 150))]
    return body, targets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reviewers", type=int, default=20)
    ap.add_argument("--votes", type=int, default=500)
    ap.add_argument("--threads", type=int, default=20)
    ap.add_argument("--think-min", type=float, default=0.5, help="seconds before a vote, least")
    ap.add_argument("--think-max", type=float, default=1.5, help="seconds before a vote, most")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    body, targets = run(args)
    text = "\n".join([
        "# Benchmarks: the team web app under load (issue 14)", "",
        "Written by `bench/bench_web.py`; reproduce with `make bench-web`.", "",
        "## Machine", "", md_table(["", ""], list(machine().items())), "",
        f"## {args.reviewers} reviewers voting at once on PostgreSQL", "", body, "",
        md_table(["target (issue 14)", "measured", "met"],
                 [[t, m, "yes" if ok else "**no**"] for t, m, ok in targets]), ""])
    print(text)
    if not args.no_write:
        Path(__file__).with_name("RESULTS-web.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
