"""Every custom field type, on every write path: the browser form, the API, an import and a
workflow action take the same valid values and refuse the same invalid ones with the same message,
naming the field (the services themselves: tests/tenants/test_fields.py, with the same cases)."""

from __future__ import annotations

import html
import re
import secrets

import pytest

from rapport.platform.errors import ValidationFailed
from rapport.platform.jobs.runtime import drain
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies.models import Company
from rapport.tenants.fields import services as fields
from rapport.tenants.imports import services as imports
from rapport.tenants.imports.models import ImportBatch
from rapport.tenants.workflows import services as workflows
from tests.tenants.test_fields import CASES


def _cell(value: object) -> str | None:
    """A value as a CSV cell, when a spreadsheet can hold it (a list or a pair cannot)."""
    if isinstance(value, dict | list):
        return None
    return str(value)


def _form(api_name: str, value: object, *, bad: bool = False) -> dict[str, object] | None:
    """A value as the record form posts it (a currency is two inputs, a multi select many).
    A number typed into a form is its text; as an invalid value it says nothing (123.5 is fine
    text), so there is none."""
    key = f"custom.{api_name}"
    if isinstance(value, dict):
        if bad and set(value) != {"amount", "currency"}:
            return None
        return {key: value.get("amount"), f"{key}.currency": value.get("currency")}
    if isinstance(value, list | str):
        return {key: value}
    return None if bad else {key: str(value)}


def _bad_cell(value: object) -> str | None:
    """An invalid value as a CSV cell: only text is invalid as text (123.5 is fine as a cell)."""
    return value if isinstance(value, str) else None


@pytest.mark.parametrize(("kind", "extra", "good", "stored", "bad", "message"), CASES)
def test_each_type_is_validated_alike_on_every_write_path(
    app, client, auth, new_tenant, tenant_b, new_key, api_for, api_error,
    kind, extra, good, stored, bad, message,
):  # fmt: skip
    ws = new_tenant(f"Paths {kind.replace('_', ' ')}")
    api_name = f"{kind[:4]}_{secrets.token_hex(3)}"
    field = f"custom.{api_name}"
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(
            s, {"record_type": "companies", "api_name": api_name, "label": "Value",
                "type": kind, **extra},
        )  # fmt: skip
    api = api_for(new_key(ws, role="admin"))

    # The browser form: the value is kept, or refused next to the field with the same message.
    auth.login_as(ws)
    form_good, form_bad = _form(api_name, good), _form(api_name, bad, bad=True)
    if kind == "datetime":  # typed without an offset, in the member's own zone (here UTC)
        form_good = {field: str(stored).removesuffix(":00Z").replace("T", " ")}
    if form_good is not None:
        saved = auth.post(f"/{ws.slug}/companies/", {"name": "By form", **form_good})
        assert saved.status_code == 303, saved.get_data(as_text=True)[-2000:]
        with app.app_context(), tenant_session(ws.ref) as s:
            made_by_form = s.query(Company).filter(Company.name == "By form").one()
            assert made_by_form.custom[api_name] == stored
    form_message = None
    if form_bad is not None:
        refused_form = auth.post(f"/{ws.slug}/companies/", {"name": "Bad form", **form_bad})
        assert refused_form.status_code == 422
        page = refused_form.get_data(as_text=True)
        found = re.search(rf'id="e-{re.escape(field)}"[^>]*>\s*<span>([^<]*)</span>', page)
        assert found, "the error is not next to the field"
        form_message = html.unescape(found.group(1))

    # The API.
    made = api.post("/api/v1/companies", json={"name": "By API", "custom": {api_name: good}})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert made.get_json()["custom"][api_name] == stored
    refused = api_error(
        api.post("/api/v1/companies", json={"name": "Bad API", "custom": {api_name: bad}}), 422
    )
    api_message = refused["errors"]["json"][field][0]
    if message:
        assert message.lower() in api_message.lower()
    if form_message is not None:
        assert form_message == api_message

    # A workflow action: an invalid value is refused when the workflow is saved, with the same
    # message; a valid one is written when the workflow runs.
    with app.app_context(), tenant_session(ws.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            workflows.create_workflow(s, _setting(api_name, bad))
        assert caught.value.errors[f"actions.0.{field}"] == [api_message]
        workflows.create_workflow(s, _setting(api_name, good))
    drain(app)
    created = api.post("/api/v1/companies", json={"name": "By workflow"})
    assert created.status_code == 201
    drain(app)
    company_id = created.get_json()["id"]
    assert api.get(f"/api/v1/companies/{company_id}").get_json()["custom"][api_name] == stored

    # An import: the good row is created, the bad one reported with the same message.
    good_cell, bad_cell = _cell(good), _bad_cell(bad)
    if good_cell is not None and bad_cell is not None:
        raw = _csv([("Name", "Value"), ("By import", good_cell), ("Bad import", bad_cell)])
        with app.app_context(), tenant_session(ws.ref) as s:
            batch = imports.start(
                s, "companies", "values.csv", raw, user_id=ws.owner_id, user_label=ws.owner_email
            )
            imports.set_mapping(s, batch, ["name", field])
            imports.confirm(s, batch)
            batch_id = batch.id
        drain(app)
        with app.app_context(), tenant_session(ws.ref) as s:
            batch = s.get(ImportBatch, batch_id)
            assert (batch.created, batch.failed) == (1, 1)
            assert batch.errors == [{"line": 3, "errors": {field: [api_message]}}]
            imported = s.query(Company).filter(Company.name == "By import").one()
            assert imported.custom[api_name] == stored

    # Tenant B has no such field: every path there refuses the name.
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            workflows.create_workflow(s, _setting(api_name, good))
        assert f"actions.0.{field}" in caught.value.errors


def _setting(api_name: str, value: object) -> dict[str, object]:
    return {
        "name": f"Set {api_name} {secrets.token_hex(2)}",
        "record_type": "companies",
        "trigger": "created",
        "actions": [{"type": "update", "values": {f"custom.{api_name}": value}}],
    }


def _csv(rows: list[tuple[str, str]]) -> bytes:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_a_record_lookup_is_validated_alike_on_the_api_and_workflow_paths(
    app, new_tenant, tenant_b, new_key, api_for, api_error
):
    """Lookup values are ids made at runtime, so they are not in CASES: the same checks here."""
    ws = new_tenant("Paths lookup")
    api_name = f"look_{secrets.token_hex(3)}"
    field = f"custom.{api_name}"
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(
            s, {"record_type": "companies", "api_name": api_name, "label": "Deal",
                "type": "lookup", "target": "deals"},
        )  # fmt: skip
    api = api_for(new_key(ws, role="admin"))
    deal = api.post("/api/v1/deals", json={"name": "Target", "currency": "EUR"}).get_json()["id"]
    foreign = api_for(new_key(tenant_b, role="admin")).post(
        "/api/v1/deals", json={"name": "B target", "currency": "EUR"}
    )
    bad = foreign.get_json()["id"]

    refused = api.post("/api/v1/companies", json={"name": "Bad API", "custom": {api_name: bad}})
    api_message = api_error(refused, 422)["errors"]["json"][field][0]
    assert api_message == "Choose a deal from the list."

    with app.app_context(), tenant_session(ws.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            workflows.create_workflow(s, _setting(api_name, bad))
        assert caught.value.errors[f"actions.0.{field}"] == [api_message]
        workflows.create_workflow(s, _setting(api_name, deal))
    drain(app)
    created = api.post("/api/v1/companies", json={"name": "By workflow"})
    assert created.status_code == 201
    drain(app)
    company_id = created.get_json()["id"]
    assert api.get(f"/api/v1/companies/{company_id}").get_json()["custom"][api_name] == deal
