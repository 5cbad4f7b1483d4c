"""Helpers for the REST API tests: keys made through the real service, a client that sends them."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


@dataclass
class Key:
    id: uuid.UUID
    text: str
    tenant: Any  # TenantFixture


def make_key(app: Flask, tenant: Any, role: str = "sales_rep", **kwargs: Any) -> Key:
    """Create a key for a tenant, as the CLI or the settings page would."""
    from rapport.platform.apikeys import services
    from rapport.platform.db import db

    with app.app_context():
        key, text = services.create_key(
            db.session,
            tenant.ref,
            kwargs.pop("name", f"key {secrets.token_hex(3)}"),
            role,
            **kwargs,
        )
        db.session.commit()
        return Key(key.id, text, tenant)


class ApiClient:
    """A test client that sends one key as a bearer token."""

    def __init__(self, client: FlaskClient, key: Key) -> None:
        self.client = client
        self.key = key

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key.text}", **(headers or {})}

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.post(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def patch(self, path: str, json: Any = None, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.patch(
            path, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def delete(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.delete(path, headers=self._headers(kw.pop("headers", None)), **kw)


@pytest.fixture()
def new_key(app: Flask):  # type: ignore[no-untyped-def]
    """``new_key(tenant, role="sales_rep", **create_key_options) -> Key``."""
    return lambda tenant, role="sales_rep", **kw: make_key(app, tenant, role, **kw)


@pytest.fixture()
def api_for(client: FlaskClient):  # type: ignore[no-untyped-def]
    """``api_for(key) -> ApiClient``."""
    return lambda key: ApiClient(client, key)


@pytest.fixture()
def api_a(app: Flask, client: FlaskClient, tenant_a: Any, tenant_b: Any) -> ApiClient:
    """An API client with a sales-rep key of tenant A (tenant B exists too)."""
    return ApiClient(client, make_key(app, tenant_a))


@pytest.fixture()
def api_error():  # type: ignore[no-untyped-def]
    """``api_error(response, status) -> body``: assert the smorest error shape."""
    return _api_error


def _api_error(response: Any, status: int) -> dict[str, Any]:
    """The response is a smorest error of this status; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert body is not None, response.get_data(as_text=True)[:200]
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    return body
