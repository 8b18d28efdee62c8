"""The E-utilities client against a local fake server (127.0.0.1, never the network).

The fake serves esearch JSON and efetch XML for a set of PMIDs (two articles from
tests/data/records/pubmed.xml plus generated ones), can be told to fail the next requests
with given statuses, a slow answer or truncated XML, and logs every request with its arrival
time, so the tests check batching, retries, Retry-After and the rate limit from the server's
side. Waiting is injected (a fake clock and sleep) except in the one test that measures the
real interval between requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from metareview.errors import InputError
from metareview.records.pubmed import PubMedClient, PubMedError, SearchResult, _retry_after

FIXTURE = (Path(__file__).parent / "data" / "records" / "pubmed.xml").read_text(encoding="utf-8")
ARTICLES = {
    re.search(r"<PMID[^>]*>(\d+)</PMID>", a).group(1): a
    for a in re.findall(r"<PubmedArticle>.*?</PubmedArticle>", FIXTURE, re.S)
}
SYNTHETIC = [str(90100000 + i) for i in range(448)]
IDS = list(ARTICLES) + SYNTHETIC  # 450 PMIDs


def article(pmid: str) -> str:
    if pmid in ARTICLES:
        return ARTICLES[pmid]
    n = int(pmid) - 90100000
    return (f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article><Journal>"
            f"<JournalIssue><PubDate><Year>{2000 + n % 25}</Year></PubDate></JournalIssue>"
            f"<Title>Pain</Title></Journal><ArticleTitle>Generated ketamine record {n}"
            f"</ArticleTitle></Article></MedlineCitation></PubmedArticle>")


class Fake:
    """State shared by the handler threads."""

    def __init__(self) -> None:
        self.log: list[dict] = []
        self.failures: list[tuple] = []  # (status, headers, body) or ("slow", s) / ("truncate",)
        self.bodies: list[bytes] = []  # efetch bodies served with status 200
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    fake: Fake

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:
        self.handle_request(urllib.parse.urlsplit(self.path).query)

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length", 0))
        self.handle_request(self.rfile.read(n).decode("ascii"))

    def send(self, status: int, body: bytes, headers: dict | None = None,
             ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def handle_request(self, query: str) -> None:
        fake = self.fake
        params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        endpoint = urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]
        with fake.lock:
            fake.log.append({"t": time.monotonic(), "endpoint": endpoint,
                             "method": self.command, "params": params})
            failure = fake.failures.pop(0) if fake.failures else None
        truncate = False
        if failure is not None:
            if failure[0] == "slow":
                time.sleep(failure[1])
            elif failure[0] == "truncate":
                truncate = True
            else:
                status, headers, body = failure
                self.send(status, body, headers)
                return
        if endpoint == "esearch.fcgi":
            term = params.get("term", "")
            retmax = int(params.get("retmax", 20))
            res = {"count": str(len(IDS)), "retmax": str(min(retmax, len(IDS))),
                   "retstart": "0", "idlist": IDS[:retmax],
                   "translationset": [],
                   "querytranslation": f'"{term}"[MeSH Terms] OR "{term}"[All Fields]'}
            if params.get("usehistory") == "y":
                res.update(querykey="1", webenv="MCID_fake0001")
            if term == "xyzzy":
                res = {"count": "0", "retmax": "0", "retstart": "0", "idlist": [],
                       "translationset": [], "querytranslation": "",
                       "errorlist": {"phrasesnotfound": ["xyzzy"], "fieldsnotfound": []},
                       "warninglist": {"phrasesignored": [], "quotedphrasesnotfound": [],
                                       "outputmessages": ["No items found."]}}
            if term == "bad[[":
                res = {"ERROR": "Invalid query"}
            body = json.dumps({"header": {"type": "esearch", "version": "0.3"},
                               "esearchresult": res}).encode()
            self.send(200, body)
            return
        if endpoint == "efetch.fcgi":
            if params.get("id") == "0":
                self.send(200, b"<eFetchResult><ERROR>Empty id list - nothing todo</ERROR>"
                               b"</eFetchResult>", ctype="text/xml")
                return
            if "WebEnv" in params:
                start, n = int(params["retstart"]), int(params["retmax"])
                ids = IDS[start:start + n]
            else:
                ids = [i for i in params["id"].split(",") if i in ARTICLES or i in SYNTHETIC]
            xml = ('<?xml version="1.0" ?>\n<PubmedArticleSet>\n'
                   + "\n".join(article(i) for i in ids) + "\n</PubmedArticleSet>\n").encode()
            if truncate:
                xml = xml[: len(xml) // 2]
            else:
                with fake.lock:
                    fake.bodies.append(xml)
            self.send(200, xml, ctype="text/xml")
            return
        self.send(404, b'{"error": "no such endpoint"}')


@pytest.fixture
def server() -> Iterator[tuple[str, Fake]]:
    fake = Fake()
    handler = type("BoundHandler", (Handler,), {"fake": fake})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/entrez/eutils/", fake
    finally:
        httpd.shutdown()
        httpd.server_close()


class FakeTime:
    """A clock that only moves when the client sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client(url: str, ft: FakeTime | None = None, **kw) -> PubMedClient:
    ft = ft or FakeTime()
    kw.setdefault("email", "reviewer@example.org")
    kw.setdefault("timeout", 5)
    return PubMedClient(url, clock=ft.clock, sleep=ft.sleep, **kw)


# ----------------------------------------------------------------------------- happy paths


def test_esearch(server):
    url, fake = server
    res = client(url, api_key="k123").esearch("ketamine", mindate=dt.date(2015, 1, 1),
                                              maxdate="2024/12/31", retmax=5)
    assert isinstance(res, SearchResult)
    assert (res.count, res.ids, res.webenv, res.query_key) == (450, tuple(IDS[:5]),
                                                                "MCID_fake0001", "1")
    assert res.query_translation == '"ketamine"[MeSH Terms] OR "ketamine"[All Fields]'
    (req,) = fake.log
    assert req["endpoint"] == "esearch.fcgi" and req["method"] == "GET"
    assert req["params"] == {
        "db": "pubmed", "term": "ketamine", "retmode": "json", "retmax": "5", "usehistory": "y",
        "datetype": "pdat", "mindate": "2015/01/01", "maxdate": "2024/12/31",
        "tool": "metareview", "email": "reviewer@example.org", "api_key": "k123"}
    assert res.to_dict()["count"] == 450


def test_search_fetches_everything_through_history(server):
    url, fake = server
    c = client(url)
    batch = c.search("ketamine", batch_size=200, searched_on=dt.date(2024, 3, 18))
    assert [r.pmid for r in batch.records] == IDS
    assert (batch.source, batch.kind, batch.format) == ("PubMed", "database", "pubmed-xml")
    assert batch.filename == "PubMed search: ketamine"
    assert batch.searched_on == dt.date(2024, 3, 18)
    assert batch.warnings == ()
    assert batch.sha256 == hashlib.sha256(b"".join(fake.bodies)).hexdigest()
    assert c.last_search.query_translation.startswith('"ketamine"[MeSH Terms]')
    fetches = [r["params"] for r in fake.log if r["endpoint"] == "efetch.fcgi"]
    assert [(p["retstart"], p["retmax"]) for p in fetches] == [("0", "200"), ("200", "200"),
                                                               ("400", "200")]
    assert all(p["WebEnv"] == "MCID_fake0001" and p["query_key"] == "1" for p in fetches)
    assert fake.log[0]["params"]["retmax"] == "0"
    r1 = batch.records[0]
    assert r1.title.startswith("Low-dose ketamine infusion") and r1.line is None
    assert batch.records[-1].title == "Generated ketamine record 447"


def test_efetch_by_ids_posts_batches_and_reports_missing(server):
    url, fake = server
    ids = ["90000002", "90100005", "90100006", "99999999", "90000001"]
    batch = client(url).efetch(ids, batch_size=2)
    assert [r.pmid for r in batch.records] == ["90000002", "90100005", "90100006", "90000001"]
    assert [r["method"] for r in fake.log] == ["POST", "POST", "POST"]
    assert [r["params"]["id"] for r in fake.log] == ["90000002,90100005", "90100006,99999999",
                                                     "90000001"]
    assert batch.warnings == ("PubMed returned no journal article for PMID 99999999",
                              "PubMed efetch: expected 5 records, got 4")
    assert batch.searched_on is None


def test_search_with_no_hits_and_query_errors(server):
    url, _ = server
    with pytest.raises(PubMedError, match=r"PubMed search 'xyzzy': no records \(phrasesnotfound: "
                                          r"xyzzy; outputmessages: No items found\.\)"):
        client(url).search("xyzzy")
    with pytest.raises(PubMedError, match=r"^PubMed esearch: Invalid query$"):
        client(url).esearch("bad[[")
    with pytest.raises(PubMedError, match="give both mindate and maxdate"):
        client(url).esearch("ketamine", mindate="2020")
    with pytest.raises(PubMedError, match="not a PMID: 'PMC123'"):
        client(url).efetch(["PMC123"])
    with pytest.raises(PubMedError, match=r"^PubMed efetch: Empty id list - nothing todo$"):
        client(url).efetch(["0"])
    assert issubclass(PubMedError, InputError)


# ----------------------------------------------------------------------------- failures


def test_retries_on_500_and_429_honouring_retry_after(server):
    url, fake = server
    fake.failures = [(500, {}, b"<html>Internal Server Error</html>"),
                     (429, {"Retry-After": "7"},
                      b'{"error":"API rate limit exceeded","api-key":"127.0.0.1",'
                      b'"count":"4","limit":"3"}')]
    ft = FakeTime()
    res = client(url, ft, rate=1e9, backoff=1.5).esearch("ketamine")
    assert res.count == 450
    assert len(fake.log) == 3
    waits = [s for s in ft.sleeps if s > 1e-3]  # leave out the (nanosecond) rate-limit waits
    assert waits == [1.5, 7.0]  # backoff * 2**0, then Retry-After (longer than 1.5 * 2**1)


def test_backoff_doubles_and_gives_up(server):
    url, fake = server
    fake.failures = [(503, {}, b"busy")] * 4
    ft = FakeTime()
    c = client(url, ft, rate=1e9, retries=3, backoff=0.5)
    with pytest.raises(PubMedError, match=r"^PubMed esearch\.fcgi: gave up after 4 attempts "
                                          r"\(HTTP 503 busy\)$"):
        c.esearch("ketamine")
    assert len(fake.log) == 4 == c.requests
    assert [s for s in ft.sleeps if s > 1e-3] == [0.5, 1.0, 2.0]


def test_retry_after_and_backoff_are_capped(server):
    url, fake = server
    fake.failures = [(429, {"Retry-After": "3600"}, b"{}")]
    ft = FakeTime()
    client(url, ft, rate=1e9, max_backoff=30).esearch("ketamine")
    assert [s for s in ft.sleeps if s > 1e-3] == [30]


def test_retry_after_header_forms():
    assert _retry_after("7") == 7.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    assert _retry_after(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) == pytest.approx(120, abs=3)
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_permanent_error_is_not_retried(server):
    url, fake = server
    fake.failures = [(400, {}, b'{"error":"API key invalid","api-key":"nope",'
                               b'"type":"invalid","status":"unknown"}')]
    with pytest.raises(PubMedError, match=r"^PubMed esearch\.fcgi: HTTP 400: API key invalid$"):
        client(url, api_key="nope").esearch("ketamine")
    assert len(fake.log) == 1


def test_truncated_xml_and_slow_answers_are_retried(server):
    url, fake = server
    # the timeout leaves a loaded CI machine most of a second to answer attempt 3
    fake.failures = [("truncate",), ("slow", 1.6)]
    ft = FakeTime()
    batch = client(url, ft, rate=1e9, backoff=0.25, timeout=0.8).efetch(["90000001"])
    # attempt 1: half a document; attempt 2: no answer within the 0.8 s timeout; 3: fine
    assert [r.pmid for r in batch.records] == ["90000001"]
    assert len(fake.log) == 3
    assert [s for s in ft.sleeps if s > 1e-3] == [0.25, 0.5]


def test_connection_refused_is_retried_then_reported():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    ft = FakeTime()
    c = client(f"http://127.0.0.1:{port}/", ft, rate=1e9, retries=2, backoff=0.1)
    with pytest.raises(PubMedError, match=r"gave up after 3 attempts \(URLError: .*refused"):
        c.esearch("ketamine")
    assert [s for s in ft.sleeps if s > 1e-3] == [0.1, 0.2]


# ----------------------------------------------------------------------------- rate limit


def test_rate_limit_with_fake_clock(server):
    url, _ = server
    ft = FakeTime()
    c = client(url, ft)  # no API key: 3 requests a second
    assert c.rate == 3.0 and client(url, api_key="k").rate == 10.0
    for _ in range(4):
        c.esearch("ketamine", retmax=1)
    # the clock never moves by itself, so every request after the first waits a full 1/3 s
    assert ft.sleeps == pytest.approx([1 / 3] * 3)


def test_rate_limit_seen_by_the_server(server):
    url, fake = server
    c = PubMedClient(url, api_key="k", timeout=5)  # real clock and sleep: 10 a second
    for _ in range(6):
        c.esearch("ketamine", retmax=1)
    times = [r["t"] for r in fake.log]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 5
    # 0.1 s apart as the client sends them (an unlimited client on loopback sends them about
    # 1 ms apart). Arrival times jitter by the server thread's scheduling: a few milliseconds,
    # tens on a loaded machine, and a late arrival shortens the next gap as much as it
    # lengthens its own, so the span of five gaps is the tight check.
    assert times[-1] - times[0] >= 0.5 - 0.03, gaps
    assert min(gaps) >= 0.05, gaps


def test_retries_count_against_the_rate_limit(server):
    url, fake = server
    fake.failures = [(502, {}, b"bad gateway")]
    ft = FakeTime()
    c = client(url, ft, api_key="k", backoff=0.01)  # 10 a second: 0.1 s apart
    c.esearch("ketamine")
    c.esearch("ketamine")
    # retry after 0.01 s backoff still waits for its 0.1 s turn; so does the next search
    assert ft.sleeps == pytest.approx([0.01, 0.09, 0.1])
