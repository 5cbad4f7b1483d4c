"""Settings: the embedded default needs nothing; production refuses to start half-configured."""

from __future__ import annotations

import pytest

from rapport.platform.app import create_app
from rapport.platform.settings import SettingsError, load_settings


def test_embedded_default_needs_no_configuration(tmp_path):
    settings = load_settings({"data_dir": str(tmp_path)}, environ={})
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'platform.db'}"
    assert not settings.redis_url
    # A development secret is generated once and kept in the data folder.
    assert len(settings.secret_key) >= 32
    assert load_settings({"data_dir": str(tmp_path)}, environ={}).secret_key == settings.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_environment_variables_are_read_and_validated(tmp_path):
    env = {"RAPPORT_DATA_DIR": str(tmp_path), "RAPPORT_POOL_SIZE": "7", "RAPPORT_SMTP_TLS": "yes"}
    settings = load_settings(environ=env)
    assert settings.pool_size == 7 and settings.smtp_tls is True
    with pytest.raises(SettingsError, match="RAPPORT_POOL_SIZE"):
        load_settings(environ={**env, "RAPPORT_POOL_SIZE": "many"})
    with pytest.raises(SettingsError, match="RAPPORT_ENV"):
        load_settings(environ={**env, "RAPPORT_ENV": "staging"})


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "RAPPORT_SECRET_KEY"),
        ({"RAPPORT_SECRET_KEY": "x" * 40}, "RAPPORT_DATABASE_URL must point at PostgreSQL"),
        (
            {"RAPPORT_SECRET_KEY": "x" * 40, "RAPPORT_DATABASE_URL": "postgresql://a@db/rapport"},
            "RAPPORT_DATABASE_APP_URL",
        ),
        (
            {
                "RAPPORT_SECRET_KEY": "x" * 40,
                "RAPPORT_DATABASE_URL": "postgresql://a@db/rapport",
                "RAPPORT_DATABASE_APP_URL": "postgresql://app@db/rapport",
                "RAPPORT_REDIS_URL": "redis://r:6379/0",
            },
            "https://",
        ),
    ],
)
def test_production_refuses_to_start_without_real_secrets_and_services(tmp_path, environ, missing):
    environ = {"RAPPORT_ENV": "production", "RAPPORT_DATA_DIR": str(tmp_path), **environ}
    with pytest.raises(SettingsError, match=missing):
        create_app_from(environ)
    # Production never generates a secret behind the operator's back.
    assert not (tmp_path / "secret_key").exists()


def test_production_starts_when_fully_configured(tmp_path):
    environ = {
        "RAPPORT_ENV": "production",
        "RAPPORT_DATA_DIR": str(tmp_path),
        "RAPPORT_SECRET_KEY": "s" * 48,
        "RAPPORT_DATABASE_URL": "postgresql://owner@db/rapport",
        "RAPPORT_DATABASE_APP_URL": "postgresql://app@db/rapport",
        "RAPPORT_REDIS_URL": "redis://redis:6379/0",
        "RAPPORT_BASE_URL": "https://crm.example.com",
    }
    settings = load_settings(environ=environ)
    assert settings.is_production and settings.database_url.startswith("postgresql+psycopg://")


def create_app_from(environ):  # type: ignore[no-untyped-def]
    import os

    saved = dict(os.environ)
    try:
        for key in [k for k in os.environ if k.startswith("RAPPORT_")]:
            del os.environ[key]
        os.environ.update(environ)
        return create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
