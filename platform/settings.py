"""Settings: read once from ``RAPPORT_*`` environment variables and validated."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ENVIRONMENTS = ("development", "test", "production")


class SettingsError(RuntimeError):
    """The configuration cannot run; the message says which variable is wrong and why."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    data_dir: Path = Path("rapport-data")
    database_url: str = ""  # owner connection: migrations and provisioning
    database_app_url: str = ""  # the application's NOINHERIT login role (PostgreSQL)
    redis_url: str = ""
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:5000"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: bool = False
    mail_from: str = "Rapport <no-reply@rapport.localhost>"
    # Role names are cluster-wide on PostgreSQL: the prefix keeps deployments on one cluster apart.
    role_prefix: str = "rapport"
    tenant_cache_size: int = 256
    pool_size: int = 10
    pool_recycle_seconds: int = 1800
    # A backend keeps ~0.5 MB of catalog cache per schema it touched; retire it after this many.
    schemas_per_connection: int = 200
    session_lifetime_seconds: int = 14 * 24 * 3600
    login_attempts_per_window: int = 5
    login_window_seconds: int = 300
    run_jobs_inline: bool = False
    # REST API requests per minute, per key and per tenant (until plans set them).
    api_rate_per_minute: int = 600
    api_tenant_rate_per_minute: int = 1200
    # Billing: days of full access after a failed payment; Stripe stays off while the key is empty.
    billing_grace_days: int = 7
    stripe_api_key: str = ""
    stripe_api_base: str = ""  # another Stripe API address (a test double); empty: Stripe's own
    stripe_webhook_secret: str = ""
    # Days an unpaid or canceled workspace stays read-only before it is suspended.
    billing_retention_days: int = 30
    # Minutes between two seat-quantity updates of one subscription (Stripe limits them per hour).
    billing_seat_sync_minutes: int = 15
    # How many reverse proxies (the TLS proxy, a load balancer) stand in front of the app and set
    # X-Forwarded-For/-Proto/-Host; 0 trusts none of those headers.
    proxy_hops: int = 0
    # Webhook deliveries refuse private, loopback and link-local addresses unless this is on
    # (tests with a receiver on 127.0.0.1; never in production).
    webhook_allow_private: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith("postgresql")

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def tenant_dir(self) -> Path:
        return self.data_dir / "tenants"


_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def _coerce(name: str, kind: type, raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw
    if kind is bool:
        value = raw.strip().lower()
        if value in _BOOL_TRUE:
            return True
        if value in _BOOL_FALSE:
            return False
        raise SettingsError(f"RAPPORT_{name.upper()} must be true or false, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(
                f"RAPPORT_{name.upper()} must be a whole number, not {raw!r}"
            ) from None
    if kind is Path:
        return Path(raw).expanduser()
    return raw


_KINDS = {"str": str, "int": int, "bool": bool, "Path": Path, "dict[str, Any]": dict}


def load_settings(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> Settings:
    """Build the settings from the environment, apply overrides and validate them."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        if f.name == "extra":
            continue
        key = f"RAPPORT_{f.name.upper()}"
        if key in environ:
            values[f.name] = _coerce(f.name, _KINDS[str(f.type)], environ[key])
    for name, raw in (overrides or {}).items():
        known = {f.name: f for f in fields(Settings)}
        if name not in known:
            values.setdefault("extra", {})[name] = raw
            continue
        values[name] = _coerce(name, _KINDS[str(known[name].type)], raw)
    settings = Settings(**values)
    return _validate(settings)


def _validate(settings: Settings) -> Settings:
    if settings.env not in ENVIRONMENTS:
        raise SettingsError(
            f"RAPPORT_ENV must be one of {', '.join(ENVIRONMENTS)}, not {settings.env!r}"
        )
    data_dir = settings.data_dir.resolve()
    settings = replace(settings, data_dir=data_dir)
    if settings.database_url and not settings.database_url.startswith(("postgresql", "sqlite")):
        raise SettingsError("RAPPORT_DATABASE_URL must be a postgresql:// or sqlite:// URL")
    if settings.database_url.startswith("postgresql://"):
        # psycopg 3 is the driver we ship; spell it out so SQLAlchemy does not look for psycopg2.
        settings = replace(
            settings,
            database_url="postgresql+psycopg://" + settings.database_url[len("postgresql://") :],
        )
    if settings.database_app_url.startswith("postgresql://"):
        settings = replace(
            settings,
            database_app_url="postgresql+psycopg://"
            + settings.database_app_url[len("postgresql://") :],
        )
    if settings.is_production:
        problems = []
        if len(settings.secret_key) < 32:
            problems.append("RAPPORT_SECRET_KEY must be set to at least 32 random characters")
        if not settings.is_postgres:
            problems.append("RAPPORT_DATABASE_URL must point at PostgreSQL")
        if not settings.database_app_url:
            problems.append("RAPPORT_DATABASE_APP_URL must name the application's login role")
        if not settings.redis_url:
            problems.append(
                "RAPPORT_REDIS_URL must be set (sessions, jobs and counters live there)"
            )
        if urlsplit(settings.base_url).scheme != "https":
            problems.append("RAPPORT_BASE_URL must be an https:// URL")
        if problems:
            raise SettingsError("Refusing to start in production: " + "; ".join(problems))
    if not settings.database_url:
        settings = replace(settings, database_url=f"sqlite:///{data_dir / 'platform.db'}")
    if not settings.secret_key:
        settings = replace(settings, secret_key=_development_secret(data_dir))
    return settings


def _development_secret(data_dir: Path) -> str:
    """Generate the development secret once and keep it in the data folder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not end up with different keys.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
