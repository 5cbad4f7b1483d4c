"""``/healthz`` reports the database and Redis."""

from __future__ import annotations


def test_healthz_reports_database_and_redis(client, backend):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"]["ok"]
    assert body["database"]["backend"] == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    assert body["redis"]["ok"]
    assert body["redis"]["backend"] == ("redis" if backend == "postgres" else "embedded")


def test_healthz_degrades_when_redis_is_unreachable(tmp_path):
    from rapport.platform.app import create_app

    app = create_app(
        {"data_dir": str(tmp_path), "env": "test", "redis_url": "redis://127.0.0.1:1/0"}
    )
    from rapport.platform import migrate
    from rapport.platform.tenancy.scope import tenancy

    with app.app_context():
        migrate.upgrade_control_plane(tenancy())
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"]["ok"] is False
