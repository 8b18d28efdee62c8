"""The web app's accounts: users, the projects they may open, their roles, invitations and
sign-in attempts, in a database of their own (the *site*).

A workspace is a folder the app serves. Its site database is ``.metareview-web.sqlite`` in
the folder, or the PostgreSQL database named by ``METAREVIEW_WEB_DATABASE_URL``. Each project
is a review folder (:class:`metareview.store.project.Project`, with its own database); a folder
that is itself a review is the workspace's first project. A project created in the app keeps
its tables in a SQLite file in its folder when the site is on SQLite, and in a schema of its
own in the site's database when the site is on PostgreSQL (the folder then holds the settings
and the full texts). Passwords are hashed with argon2id
(argon2-cffi's defaults, RFC 9106's second recommended parameter set); invitation tokens
are random and stored only as their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import (
    Boolean,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from metareview.errors import InputError
from metareview.store import db
from metareview.store.project import SETTINGS, Project

#: Where the site database is, unless ``METAREVIEW_WEB_DATABASE_URL`` says otherwise.
SITE_FILE = ".metareview-web.sqlite"
SITE_URL_VARIABLE = "METAREVIEW_WEB_DATABASE_URL"
VERSION_TABLE = "web_alembic_version"
MIGRATIONS = Path(__file__).with_name("migrations")

#: Roles on a project, each allowed what the ones after it are.
ROLES = ("owner", "reviewer", "viewer")

#: Sign-in failures allowed per account name, and per address, in :data:`WINDOW`.
MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)

#: How long an invitation link stays valid.
INVITATION_TTL = dt.timedelta(days=7)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
MIN_PASSWORD = 10


class SiteBase(DeclarativeBase):
    """Tables of the site database."""


class UserRow(SiteBase):
    __tablename__ = "web_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class ProjectRow(SiteBase):
    __tablename__ = "web_project"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class MembershipRow(SiteBase):
    __tablename__ = "web_membership"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"))
    project_id: Mapped[int] = mapped_column(ForeignKey("web_project.id"))
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


class InvitationRow(SiteBase):
    __tablename__ = "web_invitation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("web_project.id"))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("web_user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_by: Mapped[int | None] = mapped_column(ForeignKey("web_user.id"), nullable=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SignInRow(SiteBase):
    __tablename__ = "web_sign_in"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), index=True)


class SettingRow(SiteBase):
    __tablename__ = "web_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class User:
    """A signed-in user as the pages see it."""

    id: int
    name: str
    is_admin: bool
    session_epoch: int


@dataclass(frozen=True)
class Membership:
    """A project a user may open (by its slug), and the role there."""

    slug: str
    role: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    # SQLite returns naive datetimes for timezone-aware columns; they were stored in UTC.
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _hasher():  # imported when needed: argon2-cffi costs a few ms to import
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; encodes its own parameters)."""
    return _hasher().hash(password)


def check_password_strength(password: str) -> None:
    """Refuse a password shorter than :data:`MIN_PASSWORD` characters.

    Raises
    ------
    InputError
        With the reason, in one line.
    """
    if len(password) < MIN_PASSWORD:
        raise InputError(f"the password must have at least {MIN_PASSWORD} characters")


class Site:
    """The site database of a workspace folder.

    Parameters
    ----------
    root : Path
        The workspace folder.
    engine : Engine
        Its site database, schema current.
    """

    def __init__(self, root: Path, engine: Engine) -> None:
        self.root = root
        self.engine = engine
        # the URL with its password: projects in this database are opened with it
        self.url = engine.url.render_as_string(hide_password=False)

    # -- lifecycle --------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path, url: str | None = None) -> Site:
        """Open (creating if needed) the site database of the workspace ``root``.

        A folder that holds a review is registered as the workspace's first project.

        Raises
        ------
        InputError
            If the folder does not exist or the database cannot be reached.
        """
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"{root}: no such folder")
        url = url or os.environ.get(SITE_URL_VARIABLE) or db.sqlite_url(root / SITE_FILE)
        engine = db.connect(url)
        db.upgrade(engine, MIGRATIONS, VERSION_TABLE, lock=7232)
        site = cls(root, engine)
        if (root / SETTINGS).exists() and not site.projects():
            with Project.open(root, credentials=[site.url]) as project:
                name = project.settings().get("name") or root.resolve().name
            site._register(_slugify(str(name)), ".")
        return site

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def secret_key(self) -> str:
        """The key that signs session cookies, made once and kept, so a restart keeps
        everyone signed in."""
        with db.write_session(self.engine) as s:
            row = s.get(SettingRow, "secret_key")
            if row is None:
                row = SettingRow(key="secret_key", value=secrets.token_hex(32))
                s.add(row)
            return row.value

    # -- users ------------------------------------------------------------------------------

    def create_user(self, name: str, password: str, *, admin: bool | None = None) -> User:
        """Add an account. The first account is the workspace's administrator (it may create
        projects and owns the first one); ``admin`` overrides that.

        Raises
        ------
        InputError
            A malformed or taken name, or a password that is too short.
        """
        if not _NAME.fullmatch(name):
            raise InputError(f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                             "starting with a letter or digit")
        check_password_strength(password)
        digest = hash_password(password)
        try:
            with db.write_session(self.engine) as s:
                first = not s.scalar(select(func.count()).select_from(UserRow))
                row = UserRow(name=name, password_hash=digest,
                              is_admin=first if admin is None else admin, created_at=_now())
                s.add(row)
                s.flush()
                if first:  # the first account owns the projects already there
                    for p in s.scalars(select(ProjectRow)):
                        s.add(MembershipRow(user_id=row.id, project_id=p.id, role="owner",
                                            created_at=_now()))
                return _user(row)
        except IntegrityError:
            raise InputError(f"user {name!r} already exists") from None

    def user(self, user_id: int) -> User | None:
        """The account with this id, or None."""
        with Session(self.engine) as s:
            row = s.get(UserRow, user_id)
            return _user(row) if row is not None else None

    def user_and_role(self, user_id: int, slug: str | None) -> tuple[User | None, str | None]:
        """The account with this id and its role on the project ``slug`` (None for no such
        account, or no membership), read together: every page asks both."""
        with Session(self.engine) as s:
            row = s.get(UserRow, user_id)
            if row is None:
                return None, None
            role = None if slug is None else s.scalar(
                select(MembershipRow.role)
                .join(ProjectRow, MembershipRow.project_id == ProjectRow.id)
                .where(MembershipRow.user_id == user_id, ProjectRow.slug == slug))
            return _user(row), role

    def authenticate(self, name: str, password: str, address: str) -> User | None:
        """The account if ``password`` is its password and sign-in is not locked, else None.

        Every attempt is logged; after :data:`MAX_FAILURES` failures in :data:`WINDOW` for
        the name or for the address, sign-in is refused (even with the right password) until
        the window has passed. A name without an account costs as much time as one with.
        """
        if self.locked(name, address):
            return None
        with Session(self.engine) as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            stored = row.password_hash if row is not None else _dummy_hash()
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            ok = _hasher().verify(stored, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        with db.write_session(self.engine) as s:
            s.add(SignInRow(name=name[:64], address=address[:64], ok=ok, at=_now()))
            if ok and row is not None and _hasher().check_needs_rehash(stored):
                fresh = s.get(UserRow, row.id)
                if fresh is not None:
                    fresh.password_hash = hash_password(password)
        return _user(row) if ok and row is not None else None

    def locked(self, name: str, address: str) -> bool:
        """Whether sign-in for this name or from this address is locked (too many failures)."""
        since = _now() - WINDOW
        with Session(self.engine) as s:
            for column, value in ((SignInRow.name, name[:64]), (SignInRow.address, address[:64])):
                n = s.scalar(select(func.count()).select_from(SignInRow).where(
                    column == value, SignInRow.ok.is_(False), SignInRow.at >= since))
                if n >= MAX_FAILURES:
                    return True
        return False

    def end_sessions(self, user_id: int) -> None:
        """Invalidate every session of this user (sign-out everywhere)."""
        with db.write_session(self.engine) as s:
            row = s.get(UserRow, user_id)
            if row is not None:
                row.session_epoch += 1

    # -- projects ---------------------------------------------------------------------------

    def _register(self, slug: str, path: str) -> int:
        with db.write_session(self.engine) as s:
            row = ProjectRow(slug=slug, path=path, created_at=_now())
            s.add(row)
            s.flush()
            for u in s.scalars(select(UserRow).where(UserRow.is_admin.is_(True))):
                s.add(MembershipRow(user_id=u.id, project_id=row.id, role="owner",
                                    created_at=_now()))
            return row.id

    def projects(self) -> dict[str, Path]:
        """Every project's slug and folder."""
        with Session(self.engine) as s:
            return {p.slug: self.root / p.path for p in s.scalars(select(ProjectRow))}

    def create_project(self, user: User, slug: str, name: str, *, criteria: str = "",
                       reviewers_required: int = 2) -> str:
        """A new review folder ``projects/<slug>`` in the workspace, owned by ``user``.

        Raises
        ------
        InputError
            If the user may not create projects, or the slug is malformed or taken.
        """
        if not user.is_admin:
            raise InputError("only the workspace's administrator creates projects")
        if not _SLUG.fullmatch(slug):
            raise InputError(f"project id {slug!r}: use 1-64 lower-case letters, digits or "
                             "'-', starting with a letter or digit")
        if slug in self.projects():
            raise InputError(f"project {slug!r} already exists")
        folder = Path("projects") / slug
        url = None
        if self.engine.dialect.name == "postgresql":
            schema = project_schema(slug)
            db.create_schema(self.engine, schema)
            url = db.schema_url(self.url, schema)
        Project.create(self.root / folder, name, db_url=url, criteria=criteria,
                       reviewers_required=reviewers_required, actor=user.name).close()
        try:
            self._register(slug, str(folder))
        except IntegrityError:
            raise InputError(f"project {slug!r} already exists") from None
        return slug

    def open_project(self, slug: str) -> Project:
        """Open the project ``slug`` (its database password, if any, from the site's URL).

        Raises
        ------
        InputError
            No such project, or its database cannot be reached.
        """
        folder = self.projects().get(slug)
        if folder is None:
            raise InputError(f"no project {slug!r}")
        return Project.open(folder, credentials=[self.url])

    def memberships(self, user: User) -> list[Membership]:
        """The projects ``user`` may open, by slug."""
        with Session(self.engine) as s:
            rows = s.execute(select(ProjectRow.slug, MembershipRow.role)
                             .join(MembershipRow, MembershipRow.project_id == ProjectRow.id)
                             .where(MembershipRow.user_id == user.id)
                             .order_by(ProjectRow.slug)).all()
        return [Membership(slug, role) for slug, role in rows]

    def role(self, user: User, slug: str) -> str | None:
        """The user's role on the project, or None when not a member (or no such project)."""
        with Session(self.engine) as s:
            return s.scalar(select(MembershipRow.role)
                            .join(ProjectRow, MembershipRow.project_id == ProjectRow.id)
                            .where(MembershipRow.user_id == user.id, ProjectRow.slug == slug))

    def members(self, slug: str) -> list[tuple[str, str]]:
        """``(user name, role)`` of everyone on the project."""
        with Session(self.engine) as s:
            return [tuple(r) for r in s.execute(
                select(UserRow.name, MembershipRow.role)
                .join(MembershipRow, MembershipRow.user_id == UserRow.id)
                .join(ProjectRow, MembershipRow.project_id == ProjectRow.id)
                .where(ProjectRow.slug == slug).order_by(UserRow.name))]

    # -- invitations ------------------------------------------------------------------------

    def invite(self, user: User, slug: str, role: str) -> str:
        """A one-use token inviting someone to the project with ``role``; only owners invite.

        Raises
        ------
        InputError
            Not an owner, or an unknown role.
        """
        if role not in ROLES:
            raise InputError(f"role {role!r}: one of {', '.join(ROLES)}")
        if self.role(user, slug) != "owner":
            raise InputError("only a project's owners invite")
        token = secrets.token_urlsafe(32)
        with db.write_session(self.engine) as s:
            project = s.scalar(select(ProjectRow).where(ProjectRow.slug == slug))
            assert project is not None
            s.add(InvitationRow(project_id=project.id, role=role, token_hash=_digest(token),
                                created_by=user.id, created_at=_now(),
                                expires_at=_now() + INVITATION_TTL))
        return token

    def invitation(self, token: str) -> tuple[str, str] | None:
        """``(project slug, role)`` of a valid (unused, unexpired) invitation, else None."""
        with Session(self.engine) as s:
            row = s.scalar(select(InvitationRow).where(InvitationRow.token_hash == _digest(token)))
            if row is None or row.used_at is not None or _aware(row.expires_at) < _now():
                return None
            slug = s.scalar(select(ProjectRow.slug).where(ProjectRow.id == row.project_id))
            return (slug, row.role) if slug is not None else None

    def accept(self, token: str, user: User) -> str:
        """Join the invitation's project (a member keeps the higher of the two roles).

        Raises
        ------
        InputError
            If the invitation is unknown, used or expired.
        """
        with db.write_session(self.engine) as s:
            row = s.scalar(select(InvitationRow).where(InvitationRow.token_hash == _digest(token)))
            if row is None or row.used_at is not None or _aware(row.expires_at) < _now():
                raise InputError("this invitation is not valid (used, expired or unknown)")
            row.used_at, row.used_by = _now(), user.id
            member = s.scalar(select(MembershipRow).where(
                MembershipRow.user_id == user.id, MembershipRow.project_id == row.project_id))
            if member is None:
                s.add(MembershipRow(user_id=user.id, project_id=row.project_id, role=row.role,
                                    created_at=_now()))
            elif ROLES.index(row.role) < ROLES.index(member.role):
                member.role = row.role
            slug = s.scalar(select(ProjectRow.slug).where(ProjectRow.id == row.project_id))
        assert slug is not None
        return slug


def _user(row: UserRow) -> User:
    return User(row.id, row.name, bool(row.is_admin), int(row.session_epoch))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def project_schema(slug: str) -> str:
    """The PostgreSQL schema of the project ``slug``: ``mr_`` and the slug with ``_`` for
    ``-`` (a one-to-one map, as slugs have no ``_``), cut to 63 bytes with a hash of the slug
    when longer."""
    name = "mr_" + slug.replace("-", "_")
    if len(name) > 63:
        name = name[:54] + "_" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    return name


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64]
    return slug or "review"


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the name has no account (same cost as a real one)."""
    return hash_password(secrets.token_hex(16))
