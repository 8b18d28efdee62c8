"""A PubMed client over NCBI E-utilities (``esearch`` + ``efetch``), standard library only.

NCBI's rules (https://www.ncbi.nlm.nih.gov/books/NBK25497/) are built in: at most 3 requests a
second without an API key and 10 with one (enforced as a minimum interval between request
starts, retries included); ``tool`` and ``email`` sent with every request; large result sets
fetched through the History server (``usehistory=y``, then ``WebEnv``/``query_key`` pages of
``batch_size`` records); long ID lists sent by POST.

Failures: HTTP 429 and 5xx, connection errors, timeouts and truncated XML are retried up to
``retries`` times, waiting ``backoff * 2**attempt`` seconds (at most ``max_backoff``) or as long
as the server's ``Retry-After`` asks, whichever is longer (again at most ``max_backoff``).
Anything else (a 400 with NCBI's ``{"error": …}``, an ``ERROR`` in the search result, retries
used up) raises :class:`PubMedError`, which is an :class:`~metareview.errors.InputError` so
the command line reports it in one line.

The clock, the sleep function and the URL opener can be injected, which is how the tests check
the rate limit and the back-off against a local fake server without waiting.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import hashlib
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from metareview.errors import InputError
from metareview.records.fields import one_line, shown
from metareview.records.model import ImportBatch, Record

EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: HTTP statuses worth retrying.
TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: The most IDs esearch returns in one call (NCBI's limit).
ESEARCH_MAX = 10_000


class PubMedError(InputError):
    """E-utilities refused a request, or kept failing after the retries."""


class _Retry(Exception):
    """A failure worth retrying; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, why: str, wait: float | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.wait = wait


@dataclass(frozen=True)
class SearchResult:
    """What ``esearch`` found.

    Attributes
    ----------
    count : int
        Number of records matching (may exceed ``len(ids)``).
    ids : tuple of str
        PMIDs returned (at most ``retmax``).
    webenv, query_key : str
        History-server handle for fetching all ``count`` records.
    query_translation : str
        The query as PubMed ran it (report it in the methods).
    warnings : tuple of str
        NCBI's warnings and errors for parts of the query (phrases not found …).
    """

    count: int
    ids: tuple[str, ...]
    webenv: str = ""
    query_key: str = ""
    query_translation: str = ""
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for people."""
        return f"{self.count} records; query: {self.query_translation}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {
            "count": self.count, "ids": list(self.ids), "webenv": self.webenv,
            "query_key": self.query_key, "query_translation": self.query_translation,
            "warnings": list(self.warnings),
        }


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - _dt.datetime.now(_dt.UTC)).total_seconds())


def _ncbi_message(body: bytes) -> str:
    """NCBI's error text from a JSON or XML error body, else the start of the body; one line
    (whitespace collapsed, control characters escaped) of at most 200 characters."""
    text = body.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return one_line(text)
    if isinstance(data, dict):
        if "error" in data:
            return one_line(data["error"])
        res = data.get("esearchresult")
        if isinstance(res, dict) and "ERROR" in res:
            return one_line(res["ERROR"])
    return one_line(text)


class PubMedClient:
    """Search PubMed and fetch records through E-utilities.

    Parameters
    ----------
    base_url : str
        E-utilities base URL (a local fake server in tests).
    api_key : str, optional
        NCBI API key; raises the rate limit from 3 to 10 requests a second.
    email : str, optional
        Contact address NCBI asks for.
    tool : str
        Name sent as ``tool``.
    rate : float, optional
        Requests per second (default 3, or 10 with an API key).
    retries : int
        Retries after the first attempt of each request.
    backoff : float
        First retry wait in seconds; doubles with each retry.
    max_backoff : float
        Longest wait between attempts (also caps Retry-After).
    timeout : float
        Seconds before a request is abandoned (and retried).
    clock, sleep : callables
        ``time.monotonic`` and ``time.sleep`` unless injected.
    opener : callable, optional
        ``urllib.request.urlopen``-compatible function.
    """

    def __init__(
        self,
        base_url: str = EUTILS,
        *,
        api_key: str | None = None,
        email: str | None = None,
        tool: str = "metareview",
        rate: float | None = None,
        retries: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        opener: Callable[..., Any] | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive")
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.api_key = api_key
        self.email = email
        self.tool = tool
        self.rate = rate if rate is not None else (10.0 if api_key else 3.0)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.clock = clock
        self.sleep = sleep
        self.opener = opener or urllib.request.urlopen
        self._next_start = float("-inf")
        #: Number of HTTP requests sent (attempts, including retries).
        self.requests = 0
        #: The :class:`SearchResult` of the last :meth:`search`.
        self.last_search: SearchResult | None = None

    # ------------------------------------------------------------------ transport
    def _wait_turn(self) -> None:
        """Keep request starts at least ``1/rate`` seconds apart."""
        now = self.clock()
        if now < self._next_start:
            self.sleep(self._next_start - now)
            now = self._next_start
        self._next_start = now + 1.0 / self.rate

    def _params(self, params: dict[str, Any]) -> dict[str, str]:
        out = {k: str(v) for k, v in params.items() if v is not None and v != ""}
        out["tool"] = self.tool
        if self.email:
            out["email"] = self.email
        if self.api_key:
            out["api_key"] = self.api_key
        return out

    def _request(
        self,
        endpoint: str,
        params: dict[str, Any],
        *,
        post: bool = False,
        check: Callable[[bytes], Any] | None = None,
    ) -> tuple[bytes, Any]:
        """Send one request with rate limiting and retries; returns (body, check(body))."""
        query = urllib.parse.urlencode(self._params(params))
        url = self.base_url + endpoint
        last = ""
        for attempt in range(self.retries + 1):
            self._wait_turn()
            self.requests += 1
            if post:
                req = urllib.request.Request(url, data=query.encode("ascii"), method="POST")
                req.add_header("Content-Type", "application/x-www-form-urlencoded")
            else:
                req = urllib.request.Request(f"{url}?{query}")
            req.add_header("User-Agent", f"{self.tool} (metareview PubMed client)")
            try:
                try:
                    with self.opener(req, timeout=self.timeout) as resp:
                        body = resp.read()
                except urllib.error.HTTPError as exc:
                    body = exc.read() if exc.fp is not None else b""
                    msg = _ncbi_message(body)
                    if exc.code in TRANSIENT:
                        raise _Retry(f"HTTP {exc.code} {msg}".strip(),
                                     _retry_after(exc.headers.get("Retry-After"))) from None
                    raise PubMedError(f"PubMed {endpoint}: HTTP {exc.code}: {msg}") from None
                except (urllib.error.URLError, http.client.HTTPException, TimeoutError,
                        ConnectionError) as exc:
                    reason = getattr(exc, "reason", exc)
                    raise _Retry(f"{type(exc).__name__}: {one_line(reason)}") from None
                return body, (check(body) if check else None)
            except _Retry as r:
                last = r.why
                if attempt == self.retries:
                    break
                wait = min(self.max_backoff, self.backoff * 2**attempt)
                if r.wait is not None:
                    wait = min(self.max_backoff, max(wait, r.wait))
                self.sleep(wait)
        raise PubMedError(f"PubMed {endpoint}: gave up after {self.retries + 1} attempts "
                          f"({last})")

    # ------------------------------------------------------------------ E-utilities
    def esearch(
        self,
        term: str,
        *,
        mindate: str | _dt.date | None = None,
        maxdate: str | _dt.date | None = None,
        datetype: str = "pdat",
        retmax: int = ESEARCH_MAX,
        usehistory: bool = True,
    ) -> SearchResult:
        """Run a PubMed search.

        Parameters
        ----------
        term : str
            The query, in PubMed syntax.
        mindate, maxdate : str or date, optional
            Date limits (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``; both or neither).
        datetype : str
            ``pdat`` (publication date), ``edat`` (Entrez date) or ``mdat``.
        retmax : int
            How many PMIDs to return (at most 10,000; all records can still be fetched with
            the history handle).
        usehistory : bool
            Keep the result on the History server (needed to fetch more than ``retmax``).

        Raises
        ------
        PubMedError
            For an empty term, one date limit without the other, or an error from NCBI.
        """
        if not term.strip():
            raise PubMedError("PubMed esearch: empty search term")
        if (mindate is None) != (maxdate is None):
            raise PubMedError("PubMed esearch: give both mindate and maxdate, or neither")

        def fmt(d: str | _dt.date | None) -> str | None:
            return d.strftime("%Y/%m/%d") if isinstance(d, _dt.date) else d

        params = {
            "db": "pubmed", "term": term, "retmode": "json",
            "retmax": max(0, min(int(retmax), ESEARCH_MAX)),
            "usehistory": "y" if usehistory else None,
            "datetype": datetype if mindate is not None else None,
            "mindate": fmt(mindate), "maxdate": fmt(maxdate),
        }
        _, data = self._request("esearch.fcgi", params, post=len(term) > 1500,
                                check=self._json)
        res = data.get("esearchresult") if isinstance(data, dict) else None
        if not isinstance(res, dict):
            raise PubMedError("PubMed esearch: no 'esearchresult' in the answer")
        if "ERROR" in res:
            raise PubMedError(f"PubMed esearch: {one_line(res['ERROR'])}")
        warnings = []
        for group in ("errorlist", "warninglist"):
            for kind, items in (res.get(group) or {}).items():
                for item in items or []:
                    warnings.append(f"{one_line(kind, 60)}: {one_line(item)}")
        try:
            count = int(res.get("count", 0))
        except (TypeError, ValueError):
            raise PubMedError(f"PubMed esearch: count {shown(res.get('count'))} is not a "
                              "number") from None
        return SearchResult(
            count=count, ids=tuple(str(i) for i in res.get("idlist", [])),
            webenv=str(res.get("webenv", "")), query_key=str(res.get("querykey", "")),
            query_translation=str(res.get("querytranslation", "")), warnings=tuple(warnings),
        )

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):
            raise _Retry("the answer is not JSON (truncated?)") from None

    def _fetch_xml(self, params: dict[str, Any], label: str, post: bool):
        from metareview.records.pubmed_xml import parse_pubmed_xml

        def check(body: bytes):
            err = re.search(rb"<ERROR>(.*?)</ERROR>", body[:4096], re.S)
            if err:  # <eFetchResult><ERROR>…: NCBI refused the request
                raise PubMedError("PubMed efetch: "
                                  + one_line(err.group(1).decode("utf-8", "replace")))
            try:
                return parse_pubmed_xml(body, filename=label, lenient=True)
            except InputError as exc:
                if "not well-formed" in str(exc):
                    raise _Retry(str(exc)) from None
                if "no <PubmedArticle>" in str(exc) or "no journal articles" in str(exc):
                    return None  # every ID unknown, deleted, or a book
                raise PubMedError(f"PubMed efetch: {exc}") from None

        return self._request("efetch.fcgi", {"db": "pubmed", "retmode": "xml", **params},
                             post=post, check=check)

    def efetch(
        self,
        source: Sequence[str] | SearchResult,
        *,
        batch_size: int = 200,
        searched_on: _dt.date | None = None,
    ) -> ImportBatch:
        """Fetch PubMed XML for PMIDs (or a search's history handle) and parse it.

        Parameters
        ----------
        source : sequence of str or SearchResult
            PMIDs, or an :meth:`esearch` result (fetched through its history handle when it
            has one, so all ``count`` records come, else by its ``ids``).
        batch_size : int
            Records per request (NCBI suggests at most a few hundred).
        searched_on : date, optional
            Stored in the batch (default: none for PMIDs, today for a search).

        Returns
        -------
        ImportBatch
            ``source`` "PubMed", ``format`` "pubmed-xml", ``sha256`` over all response bodies,
            warnings from parsing and for records PubMed did not return. ``Record.line`` is
            ``None`` (the XML was never a file).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        digest = hashlib.sha256()
        records: list[Record] = []
        warnings: list[str] = []
        expected = 0
        if isinstance(source, SearchResult) and source.webenv and source.query_key:
            expected = source.count
            label = f"PubMed query_key {source.query_key}"
            for start in range(0, source.count, batch_size):
                params = {"WebEnv": source.webenv, "query_key": source.query_key,
                          "retstart": start, "retmax": batch_size}
                body, parsed = self._fetch_xml(params, f"efetch {start + 1}-"
                                               f"{min(start + batch_size, source.count)}", False)
                digest.update(body)
                if parsed is not None:
                    records.extend(parsed.records)
                    warnings.extend(parsed.warnings)
            searched_on = searched_on or _dt.date.today()
        else:
            ids = list(source.ids if isinstance(source, SearchResult) else source)
            bad = [i for i in ids if not str(i).strip().isdigit()]
            if bad:
                raise PubMedError(f"PubMed efetch: not a PMID: {shown(bad[0])}")
            ids = [str(i).strip() for i in ids]
            expected = len(ids)
            label = "PubMed efetch"
            for start in range(0, len(ids), batch_size):
                chunk = ids[start:start + batch_size]
                body, parsed = self._fetch_xml({"id": ",".join(chunk)},
                                               f"efetch {start + 1}-{start + len(chunk)}", True)
                digest.update(body)
                if parsed is not None:
                    records.extend(parsed.records)
                    warnings.extend(parsed.warnings)
                got = {r.pmid for r in parsed.records} if parsed is not None else set()
                missing = [i for i in chunk if i not in got]
                if missing and parsed is not None:
                    warnings.append(f"PubMed returned no journal article for PMID "
                                    f"{', '.join(missing[:5])}"
                                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
                elif missing:
                    warnings.append(f"PubMed returned nothing for {len(missing)} PMIDs "
                                    f"(first {missing[0]})")
        if expected and len(records) != expected:
            warnings.append(f"{label}: expected {expected} records, got {len(records)}")
        return ImportBatch(
            records=tuple(replace(r, line=None) for r in records), source="PubMed",
            kind="database", format="pubmed-xml", filename="", sha256=digest.hexdigest(),
            searched_on=searched_on, warnings=tuple(warnings),
        )

    def search(
        self,
        term: str,
        *,
        mindate: str | _dt.date | None = None,
        maxdate: str | _dt.date | None = None,
        datetype: str = "pdat",
        batch_size: int = 200,
        searched_on: _dt.date | None = None,
    ) -> ImportBatch:
        """Search PubMed and fetch every matching record.

        ``esearch`` with the History server, then ``efetch`` in batches of ``batch_size``.
        The batch's ``searched_on`` is today unless given and its ``filename`` is
        ``"PubMed search: <term>"``; the :class:`SearchResult` (with PubMed's translation of
        the query, for the methods section) is kept as :attr:`last_search`.

        Raises
        ------
        PubMedError
            When the search finds nothing (there is no file to import), or as for
            :meth:`esearch` and :meth:`efetch`.
        """
        found = self.esearch(term, mindate=mindate, maxdate=maxdate, datetype=datetype,
                             retmax=0, usehistory=True)
        if found.count == 0:
            raise PubMedError(f"PubMed search {shown(term, 100)}: no records"
                              + (f" ({one_line('; '.join(found.warnings))})"
                                 if found.warnings else ""))
        self.last_search = found
        batch = self.efetch(found, batch_size=batch_size,
                            searched_on=searched_on or _dt.date.today())
        notes = [f"PubMed: {w}" for w in found.warnings]
        return replace(batch, filename=f"PubMed search: {term}",
                       warnings=(*notes, *batch.warnings))
