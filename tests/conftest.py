"""Fixtures: a session-wide app per backend, two tenants always present, real services.

The suite runs once per backend. ``sqlite`` (the embedded default) always runs; ``postgres`` runs
when PostgreSQL answers at ``RAPPORT_TEST_DATABASE_URL`` (default: the local server) and is
required when ``RAPPORT_TEST_REQUIRE_POSTGRES=1`` (CI). Each PostgreSQL run gets a fresh database
and its own role prefix, both dropped at the end, and uses Redis for jobs and sessions.

Tests do not run inside a rolled-back transaction: requests, jobs and provisioning commit through
their own sessions, as in production. Instead the database is session-wide and every test creates
what it needs under unique names; the two tenants are shared so a leak between them shows.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get(
    "RAPPORT_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RAPPORT_TEST_REDIS_URL", "redis://127.0.0.1:6379")
_REDIS_CLAIM = "rapport-test-run"


def claim_redis_database(token: str) -> str:
    """Take a Redis database no other test run is using, so concurrent runs never collide."""
    import redis

    for number in range(15, 0, -1):
        url = f"{REDIS_URL.rstrip('/')}/{number}"
        client = redis.Redis.from_url(url)
        if client.set(_REDIS_CLAIM, token, nx=True, ex=6 * 3600):
            keys = [k for k in client.keys("*") if k != _REDIS_CLAIM.encode()]
            if keys:
                client.delete(*keys)  # left over by a run that died
            return url
    raise RuntimeError("no free Redis database for this test run")


REQUIRE_PG = os.environ.get("RAPPORT_TEST_REQUIRE_POSTGRES") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        default=os.environ.get("RAPPORT_TEST_BACKEND", "all"),
        choices=("all", "sqlite", "postgres"),
        help="which database backend(s) to run the suite on",
    )


def _postgres_available() -> bool:
    try:
        engine = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    choice = metafunc.config.getoption("--backend")
    backends = ["sqlite", "postgres"] if choice == "all" else [choice]
    metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return _postgres_available()


@dataclass
class TenantFixture:
    ref: object  # TenantRef
    slug: str
    owner_email: str
    owner_password: str
    owner_id: uuid.UUID


class Backend:
    """Creates and removes what one backend's run needs."""

    def __init__(self, name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.name = name
        self.data_dir = tmp_path_factory.mktemp(f"data-{name}")
        self.token = secrets.token_hex(4)
        self.database = f"rapport_test_{self.token}"
        self.role_prefix = f"rt{self.token}"
        self.redis_url = claim_redis_database(self.token) if name == "postgres" else ""
        self.admin_url = make_url(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))

    def overrides(self) -> dict[str, object]:
        base: dict[str, object] = {
            "env": "test",
            "data_dir": str(self.data_dir),
            "run_jobs_inline": True,
        }
        if self.name == "postgres":
            url = self.admin_url.set(database=self.database)
            base.update(
                database_url=url.render_as_string(hide_password=False),
                role_prefix=self.role_prefix,
                redis_url=self.redis_url,
            )
        return base

    def create(self) -> None:
        if self.name != "postgres":
            return
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.database}"')
        engine.dispose()

    def drop(self) -> None:
        if self.name != "postgres":
            return
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            roles = conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p"),
                {"p": self.role_prefix + "\\_%"},
            ).scalars()
            for role in roles:
                conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        engine.dispose()


def add_member(app: Flask, tenant: TenantFixture, role: str = "sales_rep") -> SimpleNamespace:
    """A signed-up user holding ``role`` in the workspace, straight into the control plane:
    ``.email``, ``.password``, ``.user_id`` (and ``owner_email`` / ``owner_password``, so
    ``auth.login_as`` signs them in)."""
    from rapport.platform.db import db
    from rapport.platform.identity.models import Membership, User
    from rapport.platform.identity.passwords import hash_password

    email = f"{role}-{secrets.token_hex(4)}@example.com"
    password = f"member pass {secrets.token_hex(4)}"
    with app.app_context():
        user = User(email=email, name=f"The {role}", password_hash=hash_password(password))
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, tenant_id=tenant.ref.id, role=role))
        db.session.commit()
        user_id = user.id
    return SimpleNamespace(
        email=email, password=password, user_id=user_id, owner_email=email, owner_password=password
    )


def make_tenant(app: Flask, name: str, slug: str | None = None) -> TenantFixture:
    """Provision a workspace with an owner, as signup does."""
    from rapport.platform.identity import services as identity

    slug = slug or f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}"
    email = f"owner@{slug}.example.com"
    password = "correct horse battery staple " + secrets.token_hex(2)
    with app.app_context():
        result = identity.sign_up(
            company_name=name, slug=slug, owner_name=f"{name} Owner", email=email, password=password
        )
    return TenantFixture(result.tenant, slug, email, password, result.user_id)


@pytest.fixture(scope="session")
def backend_env(
    backend: str, tmp_path_factory: pytest.TempPathFactory, pg_available: bool
) -> Iterator[Backend]:
    if backend == "postgres" and not pg_available:
        if REQUIRE_PG:
            pytest.fail(
                f"PostgreSQL is required (RAPPORT_TEST_REQUIRE_POSTGRES=1); {PG_URL} did not answer"
            )
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    env = Backend(backend, tmp_path_factory)
    env.create()
    yield env
    env.drop()


@pytest.fixture(scope="session")
def app(backend_env: Backend) -> Iterator[Flask]:
    from rapport.platform import migrate
    from rapport.platform.app import create_app
    from rapport.platform.tenancy.scope import tenancy

    app = create_app(backend_env.overrides())
    with app.app_context():
        migrate.upgrade_control_plane(tenancy())
    yield app
    tenancy(app).dispose()
    with app.app_context():
        from rapport.platform.db import db

        db.engine.dispose()


@pytest.fixture(scope="session")
def tenant_a(app: Flask) -> TenantFixture:
    return make_tenant(app, "Acme", slug=f"acme-{secrets.token_hex(2)}")


@pytest.fixture(scope="session")
def tenant_b(app: Flask) -> TenantFixture:
    return make_tenant(app, "Globex", slug=f"globex-{secrets.token_hex(2)}")


@pytest.fixture()
def new_tenant(app: Flask):  # type: ignore[no-untyped-def]
    """Provision another workspace (for tests that need more than the two shared ones)."""
    return lambda name: make_tenant(app, name)


@pytest.fixture()
def tenants(
    tenant_a: TenantFixture, tenant_b: TenantFixture
) -> tuple[TenantFixture, TenantFixture]:
    """Both tenants; use this (or both fixtures) in every test that reads or writes tenant data."""
    return tenant_a, tenant_b


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture()
def runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()


_CSRF_RE = __import__("re").compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


class AuthActions:
    """Sign in and out through the real forms (Flask tutorial's ``auth`` helper)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf(self, path: str = "/login") -> str:
        # Follow redirects: "/" sends a signed-in user on to their workspace's page.
        return csrf_from(self.client.get(path, follow_redirects=True).get_data(as_text=True))

    def login(self, email: str, password: str, follow: bool = False):  # type: ignore[no-untyped-def]
        token = self.csrf("/login")
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
            follow_redirects=follow,
        )

    def login_as(self, tenant: TenantFixture):  # type: ignore[no-untyped-def]
        response = self.login(tenant.owner_email, tenant.owner_password)
        assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
        return response

    def logout(self):  # type: ignore[no-untyped-def]
        token = self.csrf("/")
        return self.client.post("/logout", data={"csrf_token": token})

    def post(self, path: str, data: dict[str, object], follow: bool = False):  # type: ignore[no-untyped-def]
        """POST a form with the CSRF token taken from the page at ``path``'s form page."""
        page = self.client.get(path)
        token = (
            csrf_from(page.get_data(as_text=True)) if page.status_code == 200 else self.csrf("/")
        )
        return self.client.post(path, data={**data, "csrf_token": token}, follow_redirects=follow)


@pytest.fixture()
def define(app: Flask):  # type: ignore[no-untyped-def]
    """``define(tenant, **definition) -> field``: create a custom field (of companies unless
    ``record_type`` says otherwise); each is deleted after the test, the last made first (a
    formula before the fields it reads)."""
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.fields import services as fields

    made = []

    def make(tenant, **data):  # type: ignore[no-untyped-def]
        data.setdefault("record_type", "companies")
        data.setdefault("label", data["api_name"].replace("_", " ").title())
        with app.app_context(), tenant_session(tenant.ref) as s:
            row = fields.create_field(s, data)
            made.append((tenant, row.id, row.api_name))
        return row

    yield make
    with app.app_context():
        for tenant, field_id, api_name in reversed(made):
            with tenant_session(tenant.ref) as s, contextlib.suppress(Exception):
                fields.delete_field(s, field_id, api_name)


@pytest.fixture()
def cleanup(app: Flask):  # type: ignore[no-untyped-def]
    """A list of ``(tenant, api_name)`` of custom fields a test made some other way (through the
    browser, the API): each is deleted after the test, the last made first."""
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.fields import services as fields
    from rapport.tenants.fields.queries import all_fields

    made: list = []
    yield made
    with app.app_context():
        for tenant, api_name in reversed(made):
            with tenant_session(tenant.ref) as s:
                for f in all_fields(s):
                    if f.api_name == api_name:
                        with contextlib.suppress(Exception):
                            fields.delete_field(s, f.id, api_name)


@pytest.fixture()
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)


# -- email: a real SMTP server on loopback ---------------------------------------------------
class SmtpSink:
    """Collects what the application sends to the loopback SMTP server."""

    def __init__(self) -> None:
        import threading

        self.messages: list = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        import email
        import email.policy

        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    def last(self, address: str):  # type: ignore[no-untyped-def]
        received = self.to(address)
        assert received, f"no email arrived for {address}"
        return received[-1]

    @staticmethod
    def text(message) -> str:  # type: ignore[no-untyped-def]
        return message.get_body(preferencelist=("plain",)).get_content()

    def link(self, address: str, prefix: str) -> str:
        """The path of the last ``prefix`` link (e.g. ``/reset/``) mailed to ``address``."""
        import re
        from urllib.parse import urlsplit

        for url in reversed(re.findall(r"https?://\S+", self.text(self.last(address)))):
            path = urlsplit(url).path
            if path.startswith(prefix):
                return path
        raise AssertionError(f"no {prefix} link in the last email to {address}")


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


@pytest.fixture()
def smtp(app: Flask, smtp_server: tuple[SmtpSink, int]) -> Iterator[SmtpSink]:
    """Point the app's mail at the loopback SMTP server for one test; returns the sink."""
    import dataclasses

    sink, port = smtp_server
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(before, smtp_host="127.0.0.1", smtp_port=port)
    yield sink
    app.config["RAPPORT"] = before
