"""The team web app: server-rendered pages over the library (Flask).

Every page but sign-in, an invitation and the static files needs a session; every project page
needs membership of that project, and answers 404 to anyone else, so a project's existence
does not leak. Every form carries the session's CSRF token. Pages parse the request, call one
library function and render; the screening order comes from
:func:`metareview.screening.ranking.model_ranker`, refitted in a worker process after votes
(:mod:`.fitting`), so a vote never waits for the model.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import (
    Flask,
    Response,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from metareview.errors import InputError
from metareview.screening.highlight import segments
from metareview.screening.stopping import StoppingReport
from metareview.store.project import Project
from metareview.web import (
    appraisal_pages,
    dedupe_pages,
    extraction_pages,
    fulltext_pages,
    living_pages,
    report_pages,
    synthesis_pages,
)
from metareview.web.accounts import ROLES, Site, User
from metareview.web.fitting import FitWorker
from metareview.web.tools import PageTools

STAGE = "title_abstract"
VOTE_KEYS = {"include": "i", "exclude": "e", "maybe": "m"}


class _Screening:
    """The rankings of one project's reviewers, refitted by the fit worker after votes."""

    def __init__(self, slug: str, path: str, project: Project, worker: FitWorker,
                 credentials: tuple[str, ...] = ()) -> None:
        self.slug, self.path, self.project, self.worker = slug, path, project, worker
        self.credentials = credentials
        self.order: dict[str, list[int]] = {}
        self.scores: dict[str, dict[int, float | None]] = {}
        self.aids: dict[str, StoppingReport] = {}
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.stale: set[str] = set()

    def refit(self, reviewer: str) -> None:
        """Ask for this reviewer's ranking to be refitted unless a fit is under way (then
        once more after it)."""
        with self.lock:
            if reviewer in self.running:
                self.stale.add(reviewer)
                return
            self.running.add(reviewer)
        self.worker.submit(self.slug, self.path, reviewer, self.credentials)

    def done(self, reviewer: str, ranked: list[tuple[int, float | None]] | None,
             aids: StoppingReport | None) -> None:
        """A fit came back (``ranked`` None: it failed, and the last ranking stays)."""
        with self.lock:
            if ranked is not None:
                self.order[reviewer] = [r for r, _ in ranked]
                self.scores[reviewer] = dict(ranked)
                self.aids[reviewer] = aids
            again = reviewer in self.stale
            self.stale.discard(reviewer)
            if not again:
                self.running.discard(reviewer)
        if again:
            self.worker.submit(self.slug, self.path, reviewer, self.credentials)

    def wait(self, reviewer: str, timeout: float = 60.0) -> bool:
        """Wait until no fit for ``reviewer`` is under way or due (tests, benchmarks)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if reviewer not in self.running:
                    return True
            time.sleep(0.01)
        return False

    def next(self, reviewer: str) -> tuple[int | None, float | None, int]:
        """The reviewer's next record (highest ranked still in the queue), its score and the
        queue's length. Without a ranking yet: import order, and a fit starts."""
        queue = self.project.queue(STAGE, reviewer)
        waiting = set(queue)
        with self.lock:
            order = self.order.get(reviewer)
            scores = self.scores.get(reviewer, {})
        if order is None:
            self.refit(reviewer)
            return (queue[0] if queue else None), None, len(queue)
        for r in order:
            if r in waiting:
                return r, scores.get(r), len(queue)
        return (queue[0] if queue else None), None, len(queue)


def create_app(workspace: str | Path, *, site_url: str | None = None,
               secure_cookies: bool = False, testing: bool = False) -> Flask:
    """The app serving the workspace folder (see :mod:`metareview.web.accounts`).

    Parameters
    ----------
    workspace : str or Path
        The folder: a review folder, or one that holds (or will hold) several.
    site_url : str, optional
        The accounts database (default: ``METAREVIEW_WEB_DATABASE_URL`` or a SQLite file in
        the folder).
    secure_cookies : bool
        Send the session cookie over HTTPS only (behind a TLS proxy).
    testing : bool
        Flask's testing mode.
    """
    site = Site.open(workspace, site_url)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=site.secret_key(), SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=12), TESTING=testing,
        MAX_CONTENT_LENGTH=64 * 1024 * 1024)
    app.extensions["metareview_site"] = site
    projects: dict[str, Project] = {}
    screenings: dict[str, _Screening] = {}
    app.extensions["metareview_screenings"] = screenings
    open_lock = threading.Lock()

    def project(slug: str) -> Project:
        with open_lock:
            if slug not in projects:
                projects[slug] = site.open_project(slug)
            return projects[slug]

    def fit_done(slug: str, reviewer: str, ranked: Any, aids: Any) -> None:
        screenings[slug].done(reviewer, ranked, aids)

    workers: list[FitWorker] = []
    app.extensions["metareview_fit_workers"] = workers

    def screening(slug: str) -> _Screening:
        p = project(slug)
        with open_lock:
            if not workers:  # started with the first screening page, not with the app
                workers.append(FitWorker(fit_done))
            if slug not in screenings:
                screenings[slug] = _Screening(slug, str(site.projects()[slug].resolve()), p,
                                              workers[0], (site.url,))
            return screenings[slug]

    # -- sessions and CSRF ------------------------------------------------------------------

    @app.before_request
    def load_user() -> Any:
        g.user = None
        uid = session.get("user")
        if uid is not None:
            slug = (request.view_args or {}).get("slug")
            user, role = site.user_and_role(int(uid), slug)
            if user is not None and session.get("epoch") == user.session_epoch:
                g.user, g.role = user, (slug, role)
            else:
                session.clear()
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        if request.method == "POST":
            sent = request.form.get("csrf", "")
            if not hmac.compare_digest(sent.encode(), session["csrf"].encode()):
                abort(400, "the form is out of date or did not come from this site "
                           "(missing CSRF token); reload the page and try again")
        open_pages = {"sign_in", "sign_in_post", "static", "invitation"}
        if g.user is None and request.endpoint not in open_pages:
            if request.method == "GET" and request.endpoint is not None:
                return redirect(url_for("sign_in", next=request.path))
            abort(401)
        return None

    @app.context_processor
    def template_values() -> dict[str, Any]:
        return {"user": g.get("user"), "csrf": session.get("csrf", "")}

    @app.after_request
    def headers(resp: Response) -> Response:
        if request.headers.get("X-Upload") == "1" and resp.status_code in (302, 303):
            # upload.js sent this form: it goes to the page itself, so the messages flashed
            # for that page stay in the session until it is shown
            resp = jsonify(location=resp.headers["Location"])
        # A route may set its own framing headers (a PDF shown in this site's own page);
        # every other response may not be framed at all.
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers.setdefault("Content-Security-Policy", (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-ancestors 'none'; form-action 'self'"))
        return resp

    def member(slug: str, *, at_least: str = "viewer") -> str:
        """The user's role on the project; 404 for a non-member, 403 for too low a role."""
        known = g.get("role")  # read with the user, for the page's own project
        role = known[1] if known and known[0] == slug else site.role(g.user, slug)
        if role is None:
            abort(404)
        if ROLES.index(role) > ROLES.index(at_least):
            abort(403, f"your role on this project ({role}) does not allow this")
        return role

    def guarded(fn: Callable[[], Any], back: str) -> Any:
        """Run ``fn``; a library :class:`InputError` becomes a message on ``back``."""
        try:
            return fn()
        except InputError as exc:
            flash(str(exc), "error")
            return redirect(back)

    # -- pages ------------------------------------------------------------------------------

    @app.get("/sign-in")
    def sign_in() -> Any:
        return render_template("sign_in.html", next=request.args.get("next", ""))

    @app.post("/sign-in")
    def sign_in_post() -> Any:
        name = request.form.get("name", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or "?"
        if site.locked(name, address):
            flash("Too many failed sign-ins; try again in 15 minutes.", "error")
            return render_template("sign_in.html", next=""), 429
        user = site.authenticate(name, password, address)
        if user is None:
            flash("Wrong name or password.", "error")
            return render_template("sign_in.html", next=""), 401
        _start_session(user)
        target = request.form.get("next", "")
        return redirect(target if _local(target) else url_for("home"))

    @app.post("/sign-out")
    def sign_out() -> Any:
        session.clear()
        return redirect(url_for("sign_in"))

    @app.get("/")
    def home() -> Any:
        return render_template("projects.html", memberships=site.memberships(g.user))

    @app.post("/projects")
    def create_project() -> Any:
        form = request.form
        slug = form.get("slug", "").strip()

        def make() -> Any:
            site.create_project(g.user, slug, form.get("name", "").strip() or slug,
                                criteria=form.get("criteria", ""),
                                reviewers_required=2 if form.get("reviewers") != "1" else 1)
            return redirect(url_for("dashboard", slug=slug))
        return guarded(make, url_for("home"))

    @app.get("/p/<slug>/")
    def dashboard(slug: str) -> Any:
        role = member(slug)
        p = project(slug)
        stages = {stage: p.status(stage) for stage in (STAGE, "full_text")}
        counts = {stage: sorted(Counter(st.state for st in status.values()).items())
                  for stage, status in stages.items()}
        progress = [(name, r, *(len(p.own_labels(stage, name)) for stage in stages))
                    for name, r in site.members(slug)]
        return render_template("dashboard.html", slug=slug, role=role,
                               n=len(stages[STAGE]), n_full=len(stages["full_text"]),
                               counts=counts[STAGE], counts_full=counts["full_text"],
                               progress=progress, settings=p.settings(),
                               invite=session.pop("invite", None))

    @app.post("/p/<slug>/invitations")
    def invite(slug: str) -> Any:
        member(slug, at_least="owner")

        def make() -> Any:
            token = site.invite(g.user, slug, request.form.get("role", "reviewer"))
            session["invite"] = url_for("invitation", token=token, _external=True)
            return redirect(url_for("dashboard", slug=slug))
        return guarded(make, url_for("dashboard", slug=slug))

    @app.post("/p/<slug>/settings")
    def project_settings(slug: str) -> Any:
        member(slug, at_least="owner")
        back = url_for("dashboard", slug=slug)

        def store() -> Any:
            form = request.form

            def lines(key: str) -> list[str] | None:
                return form[key].splitlines() if key in form else None
            # Only the fields the form sent change, and all of them or none.
            project(slug).configure(actor=g.user.name, criteria=form.get("criteria"),
                                    include_terms=lines("include_terms"),
                                    exclude_terms=lines("exclude_terms"),
                                    assignment=form.get("assignment"))
            flash("criteria, highlighted terms and assignment saved", "info")
            return redirect(back)
        return guarded(store, back)

    @app.route("/invite/<token>", methods=["GET", "POST"])
    def invitation(token: str) -> Any:
        found = site.invitation(token)
        if found is None:
            abort(404)
        slug, role = found
        if request.method == "GET":
            return render_template("invitation.html", slug=slug, role=role, token=token)
        if g.user is None:
            name = request.form.get("name", "").strip()
            password = request.form.get("password", "")
            try:
                user = site.create_user(name, password, admin=False)
            except InputError as exc:
                flash(str(exc), "error")
                return redirect(url_for("invitation", token=token))
            _start_session(user)
        else:
            user = g.user
        return guarded(lambda: redirect(url_for("dashboard", slug=site.accept(token, user))),
                       url_for("home"))

    @app.get("/p/<slug>/screen")
    def screen(slug: str) -> Any:
        role = member(slug, at_least="reviewer")
        p = project(slug)
        rid, score, left = screening(slug).next(g.user.name)
        record = p.records([rid])[rid] if rid is not None else None
        settings = p.settings()
        terms = (settings["include_terms"], settings["exclude_terms"])
        title = segments(record.record.title, *terms) if record else []
        abstract = segments(record.record.abstract, *terms) if record else []
        # The stopping aids come with the ranking, from the background fit after the last
        # vote (the page never computes them); the reviewer's first page has none yet.
        aids = screening(slug).aids.get(g.user.name)
        return render_template("screen.html", slug=slug, role=role, record=record,
                               record_id=rid, score=score, left=left,
                               criteria=settings.get("criteria", ""), keys=VOTE_KEYS,
                               title=title, abstract=abstract, terms=terms,
                               aids=_aid_rows(aids) if aids else None,
                               stop=bool(aids and aids.stop))

    @app.post("/p/<slug>/screen")
    def vote(slug: str) -> Any:
        member(slug, at_least="reviewer")
        value = request.form.get("value", "")
        back = url_for("screen", slug=slug)
        try:
            record_id = int(request.form.get("record", ""))
        except ValueError:
            flash("no record given", "error")
            return redirect(back)

        def store() -> Any:
            project(slug).decide(record_id, STAGE, g.user.name, value,
                                 note=request.form.get("note") or None)
            screening(slug).refit(g.user.name)
            return redirect(back)
        return guarded(store, back)

    @app.post("/p/<slug>/screen/undo")
    def undo(slug: str) -> Any:
        member(slug, at_least="reviewer")
        back = url_for("screen", slug=slug)

        def run() -> Any:
            if project(slug).undo(STAGE, g.user.name) is None:
                flash("nothing to undo", "info")
            screening(slug).refit(g.user.name)
            return redirect(back)
        return guarded(run, back)

    @app.get("/p/<slug>/records/<int:record_id>")
    def record(slug: str, record_id: int) -> Any:
        member(slug)
        found = project(slug).records([record_id])
        if record_id not in found:
            abort(404)
        return render_template("record.html", slug=slug, record=found[record_id],
                               record_id=record_id)

    # -- set-up: imports and de-duplication --------------------------------------------------

    @app.post("/p/<slug>/imports")
    def import_file(slug: str) -> Any:
        member(slug, at_least="owner")
        back = url_for("dashboard", slug=slug)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash("choose a file to import", "error")
            return redirect(back)

        def store() -> Any:
            from metareview.records.readers import read_records_bytes

            batch = read_records_bytes(
                upload.read(), filename=Path(upload.filename).name,
                source=request.form.get("source", "").strip() or None,
                kind=request.form.get("kind", "database"))
            p = project(slug)
            p.add_import(batch, actor=g.user.name)
            for w in batch.warnings[:20]:
                flash(w, "info")
            flash(f"imported {len(batch.records)} records from {batch.filename} "
                  f"({batch.source})", "info")
            return redirect(back)
        return guarded(store, back)

    # de-duplication and the review of its clusters: dedupe_pages

    # -- conflicts and agreement --------------------------------------------------------------

    @app.get("/p/<slug>/conflicts")
    def conflicts(slug: str) -> Any:
        role = member(slug, at_least="owner")
        from metareview.screening.agreement import stage_agreement

        p = project(slug)
        open_ = p.conflicts(STAGE)
        records = p.records(list(open_)) if open_ else {}
        votes: dict[int, list[tuple[str, str]]] = {}
        history = p.history()
        for h in history:
            if h["stage"] == STAGE and h["record"] in open_ and h["kind"] in ("vote", "undo"):
                current = dict(votes.get(h["record"], []))
                current[h["reviewer"]] = h["value"]
                votes[h["record"]] = [(k, v) for k, v in current.items() if v is not None]
        agree = stage_agreement(history, STAGE)
        stats = [] if agree is None else [
            ("Cohen's kappa" if agree.kappa_method == "cohen" else
             f"kappa ({agree.kappa_method})", agree.kappa, agree.kappa_ci_low,
             agree.kappa_ci_high),
            ("Gwet's AC1", agree.ac1, agree.ac1_ci_low, agree.ac1_ci_high),
            ("Krippendorff's alpha", agree.alpha, agree.alpha_ci_low, agree.alpha_ci_high)]
        return render_template("conflicts.html", slug=slug, role=role, conflicts=open_,
                               records=records, votes=votes, agreement=agree,
                               stats=[(n, *map(_num, v)) for n, *v in stats])

    @app.post("/p/<slug>/conflicts/<int:record_id>")
    def resolve(slug: str, record_id: int) -> Any:
        member(slug, at_least="owner")
        back = url_for("conflicts", slug=slug)

        def run() -> Any:
            reason = request.form.get("reason", "").strip()
            if not reason:
                raise InputError("give the reason for the resolution")
            project(slug).resolve(record_id, STAGE, g.user.name,
                                  request.form.get("value", ""), note=reason)
            flash(f"record {record_id} resolved", "info")
            return redirect(back)
        return guarded(run, back)

    # -- reporting: PRISMA, exports, audit log -----------------------------------------------

    @app.get("/p/<slug>/prisma.<fmt>")
    def prisma(slug: str, fmt: str) -> Any:
        member(slug)
        if fmt not in ("svg", "png"):
            abort(404)
        import tempfile

        from metareview.report.prisma import prisma_diagram
        from metareview.screening.prisma import prisma_counts

        counts = prisma_counts(project(slug))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"prisma.{fmt}"
            prisma_diagram(counts, path)
            data = path.read_bytes()
        return Response(data, mimetype="image/svg+xml" if fmt == "svg" else "image/png")

    @app.get("/p/<slug>/export.<fmt>")
    def export(slug: str, fmt: str) -> Any:
        member(slug)
        if fmt not in ("ris", "csv"):
            abort(404)
        import tempfile

        from metareview.store.exchange import export_records

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{slug}.{fmt}"
            # a file for people's spreadsheets: no cell may run as a formula
            export_records(project(slug), path, formula_safe=True)
            data = path.read_bytes()
        kind = "text/csv" if fmt == "csv" else "application/x-research-info-systems"
        return Response(data, mimetype=kind, headers={"Content-Disposition":
                                 f'attachment; filename="{slug}-records.{fmt}"'})

    @app.get("/p/<slug>/audit")
    def audit(slug: str) -> Any:
        role = member(slug)
        log = list(reversed(project(slug).audit_log()))[:500]
        # the detail as people read it (é and ² as themselves); the template escapes it
        for entry in log:
            entry["detail_text"] = json.dumps(entry["detail"], ensure_ascii=False,
                                              sort_keys=True, default=str)
        return render_template("audit.html", slug=slug, role=role, log=log)

    tools = PageTools(site=site, project=project, member=member, guarded=guarded)
    for module in (dedupe_pages, fulltext_pages, report_pages, extraction_pages,
                   synthesis_pages, living_pages, appraisal_pages):
        module.register(app, tools)

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(413)
    @app.errorhandler(429)
    def error_page(exc: Any) -> Any:
        code = getattr(exc, "code", 500)
        text = getattr(exc, "description", "") or "error"
        return render_template("error.html", code=code, text=text), code

    return app


def _start_session(user: User) -> None:
    session.clear()  # a fresh session at sign-in (no fixation)
    session.permanent = True
    session["user"], session["epoch"] = user.id, user.session_epoch
    session["csrf"] = secrets.token_urlsafe(32)


def _aid_rows(r: StoppingReport) -> list[tuple[str, str]]:
    """The stopping aids as label / value rows for the screening page."""
    rows = [("Screened", f"{r.n_screened:,} of {r.n_total:,} ({r.n_relevant:,} relevant)")]
    if r.complete:
        return [*rows, ("Status", "complete: every record screened")]
    if r.buscar is not None:
        verdict = "you may stop" if r.buscar.stop else "keep screening"
        rows.append((f"BUSCAR ({r.buscar.recall_target:.0%} recall)",
                     f"{verdict} (p = {r.buscar.statistic:.3g})"))
    rows.append(("Irrelevant in a row", f"{int(r.consecutive.statistic):,} "
                 f"(heuristic stops at {int(r.consecutive.threshold):,})"))
    if r.remaining is not None:
        m = r.remaining
        rows.append(("Relevant likely left", f"about {m.estimate:,} ({m.confidence:.0%}: "
                     f"{m.lower:,}–{m.upper:,}) among {m.n_total - m.n_screened:,} unseen"))
    return rows


def _num(x: float) -> str:
    """A statistic for a table: three decimals, or a dash when not defined."""
    return "–" if x != x else f"{x:.3f}"


def _local(target: str) -> bool:
    """Whether ``target`` is a path on this site (no open redirect)."""
    return target.startswith("/") and not target.startswith("//") and "\\" not in target


__all__ = ["create_app"]
