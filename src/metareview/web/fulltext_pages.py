"""Pages: full-text review, as in Covidence's full-text stage.

The records up for full text (those included at title/abstract, and those found by other
methods) are listed with their state; each has a page that shows its PDF beside the
citation and the criteria. Reviewers upload PDFs, mark a report as not retrieved, vote blind
(include, exclude with a reason from the project's shared list, or maybe) and link an
included report to its study. The owner keeps the list of reasons and resolves conflicts.

A PDF is served only through its own project and record: another project's or another
record's attachment id is a 404, like everything else a member of one project asks of another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask, abort, flash, g, redirect, render_template, request, send_file, url_for

from metareview.errors import InputError
from metareview.screening.decisions import Status, Vote
from metareview.store import project as project_module
from metareview.store.project import FullText, Project
from metareview.web.tools import PageTools

STAGE = "full_text"
#: What a vote says on the pages.
VOTE_WORDS = {"include": "include", "exclude": "exclude", "maybe": "maybe (cannot decide)"}


def register(app: Flask, tools: PageTools) -> None:
    """Add the full-text pages to ``app``.

    Parameters
    ----------
    app : Flask
        The app :func:`metareview.web.app.create_app` builds.
    tools : PageTools
        Its site, project, membership check and error guard.
    """
    member, project, guarded = tools.member, tools.project, tools.guarded

    def record_page(slug: str, record_id: int) -> str:
        return url_for("fulltext_record", slug=slug, record_id=record_id)

    def up_for_full_text(p: Project, record_id: int) -> dict[int, Status]:
        """The stage's statuses; 404 unless the record is up for full text here."""
        status = p.status(STAGE)
        if record_id not in status:
            abort(404)
        return status

    @app.get("/p/<slug>/full-text")
    def fulltext_list(slug: str) -> Any:
        role = member(slug)
        p = project(slug)
        status = p.status(STAGE)
        ids = list(status)
        records = p.records(ids) if ids else {}
        pdfs: dict[int, int] = {}
        for ft in p.fulltexts():
            pdfs[ft.record_id] = pdfs.get(ft.record_id, 0) + 1
        retrieval, links = p.retrieval(), p.studies()
        labels = {e.id: e.label for e in p.study_entries()}
        me = g.user.name
        rows = []
        for rid in ids:
            mine = _own_vote(status[rid], me)
            rec = records[rid].record
            rows.append({
                "id": rid, "title": rec.title, "cite": _short_cite(rec.authors, rec.year),
                "pdfs": pdfs.get(rid, 0), "retrieved": retrieval.get(rid),
                "mine": _vote_text(mine) if mine else None,
                "state": _state_text(status[rid], mine, role),
                "study": (labels.get(links[rid], links[rid]) if rid in links else None)})
        waiting = [r["id"] for r in rows if r["mine"] is None] if role != "viewer" else []
        decided = sum(1 for st in status.values() if st.final is not None)
        return render_template("fulltext.html", slug=slug, role=role, rows=rows,
                               waiting=waiting, decided=decided,
                               reasons=p.settings()["exclusion_reasons"])

    @app.get("/p/<slug>/full-text/<int:record_id>")
    def fulltext_record(slug: str, record_id: int) -> Any:
        role = member(slug)
        p = project(slug)
        status = up_for_full_text(p, record_id)
        st = status[record_id]
        me = g.user.name
        mine = _own_vote(st, me)
        files = p.fulltexts(record_id)
        shown: FullText | None = None
        if files:
            wanted = request.args.get("pdf", type=int)
            shown = next((f for f in files if f.id == wanted), files[-1])
        settings = p.settings()
        links = p.studies()
        entries = p.study_entries()
        linked = links.get(record_id)
        labels = {e.id: e.label for e in entries}
        # the next record still waiting for this reviewer's vote, after this one if any
        queue = [r for r in status if r != record_id and _own_vote(status[r], me) is None]
        later = [r for r in queue if r > record_id]
        can_link = role != "viewer" and (
            (mine is not None and mine.value == "include") or st.final == "include")
        show_votes = role == "owner" and st.state == "conflict"
        return render_template(
            "fulltext_record.html", slug=slug, role=role, record_id=record_id,
            record=p.records([record_id])[record_id], files=files, shown=shown,
            retrieved=p.retrieval().get(record_id), criteria=settings.get("criteria", ""),
            reasons=settings["exclusion_reasons"], mine=mine,
            mine_text=_vote_text(mine) if mine else None,
            state=_state_text(st, mine, role), can_link=can_link, entries=entries,
            linked=linked, linked_label=labels.get(linked, linked) if linked else None,
            votes=[_vote_text(v, who=True) for v in st.votes] if show_votes else [],
            conflict=show_votes,
            next_id=(later or queue or [None])[0],
            size=_file_size(shown.size) if shown else "",
            max_mb=project_module.MAX_FULLTEXT_BYTES // 1_000_000)

    @app.get("/p/<slug>/full-text/<int:record_id>/pdf/<int:fid>")
    def fulltext_pdf(slug: str, record_id: int, fid: int) -> Any:
        member(slug)
        try:
            ft, path = project(slug).fulltext_file(fid)
        except InputError:
            abort(404)
        if ft.record_id != record_id:  # an attachment is reached through its own record only
            abort(404)
        resp = send_file(path, mimetype="application/pdf", as_attachment=False,
                         download_name=ft.filename, conditional=True, max_age=0)
        # Shown in an <iframe> of this site's own record page, and nowhere else.
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'none'; object-src 'self'; frame-ancestors 'self'")
        resp.headers["Cache-Control"] = "private, no-cache"
        return resp

    @app.post("/p/<slug>/full-text/<int:record_id>/pdf")
    def fulltext_upload(slug: str, record_id: int) -> Any:
        member(slug, at_least="reviewer")
        p = project(slug)
        up_for_full_text(p, record_id)
        back = record_page(slug, record_id)
        upload = request.files.get("pdf")
        if upload is None or not upload.filename:
            flash("choose a PDF to upload", "error")
            return redirect(back)

        def store() -> Any:
            # one byte past the limit is enough for the library to say it is too large
            data = upload.stream.read(project_module.MAX_FULLTEXT_BYTES + 1)
            fid = p.attach_fulltext(record_id, data, upload.filename, actor=g.user.name)
            ft, _ = p.fulltext_file(fid)
            flash(f"{ft.filename} attached to record {record_id}", "info")
            return redirect(url_for("fulltext_record", slug=slug, record_id=record_id,
                                    pdf=fid))
        return guarded(store, back)

    @app.post("/p/<slug>/full-text/<int:record_id>/pdf/<int:fid>/remove")
    def fulltext_remove(slug: str, record_id: int, fid: int) -> Any:
        role = member(slug, at_least="reviewer")
        p = project(slug)
        try:
            ft, _ = p.fulltext_file(fid)
        except InputError:
            abort(404)
        if ft.record_id != record_id:
            abort(404)
        if role != "owner" and ft.uploaded_by != g.user.name:
            abort(403, "only the owner or whoever uploaded a PDF may remove it")
        back = record_page(slug, record_id)

        def run() -> Any:
            p.remove_fulltext(fid, actor=g.user.name)
            flash(f"{ft.filename} removed from record {record_id}", "info")
            return redirect(back)
        return guarded(run, back)

    @app.post("/p/<slug>/full-text/<int:record_id>/retrieval")
    def fulltext_retrieval(slug: str, record_id: int) -> Any:
        member(slug, at_least="reviewer")
        p = project(slug)
        up_for_full_text(p, record_id)
        back = record_page(slug, record_id)
        retrieved = request.form.get("retrieved") == "yes"

        def run() -> Any:
            p.set_retrieval(record_id, retrieved, by=g.user.name,
                            note=request.form.get("note", "").strip() or None)
            flash(f"record {record_id}: full text marked as "
                  f"{'retrieved' if retrieved else 'not retrieved'}", "info")
            return redirect(back)
        return guarded(run, back)

    @app.post("/p/<slug>/full-text/<int:record_id>/vote")
    def fulltext_vote(slug: str, record_id: int) -> Any:
        member(slug, at_least="reviewer")
        p = project(slug)
        up_for_full_text(p, record_id)
        back = record_page(slug, record_id)

        def store() -> Any:
            value = request.form.get("value", "")
            reason = _listed_reason(p, value, request.form.get("reason", ""))
            p.decide(record_id, STAGE, g.user.name, value, reason=reason,
                     note=request.form.get("note", "").strip() or None)
            flash(f"your vote on record {record_id}: {value}"
                  + (f" ({reason})" if reason else ""), "info")
            return redirect(back)
        return guarded(store, back)

    @app.post("/p/<slug>/full-text/<int:record_id>/resolve")
    def fulltext_resolve(slug: str, record_id: int) -> Any:
        member(slug, at_least="owner")
        p = project(slug)
        up_for_full_text(p, record_id)
        back = record_page(slug, record_id)

        def run() -> Any:
            value = request.form.get("value", "")
            reason = _listed_reason(p, value, request.form.get("reason", ""))
            note = request.form.get("note", "").strip()
            if not note:
                raise InputError("say why, in a word or two, for the resolution")
            p.resolve(record_id, STAGE, g.user.name, value, reason=reason, note=note)
            flash(f"record {record_id} resolved: {value}"
                  + (f" ({reason})" if reason else ""), "info")
            return redirect(back)
        return guarded(run, back)

    @app.post("/p/<slug>/full-text/<int:record_id>/study")
    def fulltext_link(slug: str, record_id: int) -> Any:
        member(slug, at_least="reviewer")
        p = project(slug)
        status = up_for_full_text(p, record_id)
        back = record_page(slug, record_id)

        def run() -> Any:
            st, me = status[record_id], g.user.name
            mine = _own_vote(st, me)
            if not ((mine is not None and mine.value == "include") or st.final == "include"):
                raise InputError(f"record {record_id}: link a report to its study once it is "
                                 "included (your vote or the final decision)")
            existing = request.form.get("study", "").strip()
            new = request.form.get("new_study", "").strip()
            if existing and new:
                raise InputError("choose an existing study or type a new one, not both")
            if existing:
                if existing not in {e.id for e in p.study_entries()}:
                    raise InputError(f"study {existing!r}: no such study in this project")
                sid = p.link_study(record_id, existing, by=me)
            elif new:
                if len(new) > 200:
                    raise InputError("a study's label is at most 200 characters")
                sid = p.link_study(record_id, new, by=me, label=new)
            else:
                raise InputError("choose a study, or type a new study's label")
            flash(f"record {record_id} linked to study {sid}", "info")
            return redirect(back)
        return guarded(run, back)

    @app.post("/p/<slug>/full-text/reasons")
    def fulltext_reasons(slug: str) -> Any:
        member(slug, at_least="owner")
        back = url_for("fulltext_list", slug=slug) + "#reasons"

        def store() -> Any:
            lines = request.form.get("exclusion_reasons", "").splitlines()
            project(slug).configure(actor=g.user.name, exclusion_reasons=lines)
            flash("exclusion reasons saved", "info")
            return redirect(back)
        return guarded(store, back)


def _listed_reason(p: Project, value: str, reason: str) -> str | None:
    """The reason to store with a vote: one from the project's list for an exclusion, none
    otherwise (so reviewers cannot add their own spellings of a reason).

    Raises
    ------
    InputError
        An exclusion without a reason or with one not on the list.
    """
    if value != "exclude":
        return None
    reason = reason.strip()
    listed = p.settings()["exclusion_reasons"]
    if not reason:
        raise InputError("choose the reason for excluding (PRISMA counts reports excluded "
                         "per reason)")
    if reason not in listed:
        raise InputError(f"exclusion reason {reason[:60]!r} is not on this project's list; "
                         "choose one of the listed reasons (the owner keeps the list)")
    return reason


def _own_vote(st: Status, reviewer: str) -> Vote | None:
    """This reviewer's current vote in a record's status, or None."""
    return next((v for v in st.votes if v.reviewer == reviewer), None)


def _vote_text(vote: Vote, *, who: bool = False) -> str:
    """A vote for people: ``exclude (wrong population)``, with its reviewer if asked."""
    text = VOTE_WORDS.get(vote.value, vote.value) + (f" ({vote.reason})" if vote.reason
                                                     else "")
    return f"{vote.reviewer}: {text}" if who else text


def _state_text(st: Status, mine: Vote | None, role: str) -> str:
    """Where a record stands, without telling a reviewer who has not voted how others voted
    (blind screening): the final decision once there is one, else what it waits for."""
    if st.final is not None:
        text = "included" if st.final == "include" else "excluded"
        if st.reason:
            text += f": {st.reason}"
        return text + (" (resolved)" if st.state == "resolved" else "")
    if role != "viewer" and mine is None:
        return "waiting for your vote"
    if st.state == "conflict":
        return "conflict: the owner resolves it"
    return "waiting for the other reviewer"


def _short_cite(authors: Sequence[str], year: int | None) -> str:
    """``Smith, J; Doe, A et al. (2021)``: the first two authors and the year."""
    names = list(authors or ())
    text = "; ".join(names[:2]) + (" et al." if len(names) > 2 else "")
    if year:
        text += f" ({year})"
    return text.strip()


def _file_size(n: int) -> str:
    """A file size for people: ``820 kB``, ``1.4 MB``."""
    return f"{n / 1000:.0f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"
