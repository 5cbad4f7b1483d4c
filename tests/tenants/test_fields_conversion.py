"""Changing a field's type: the safe conversions, the preview, the one-transaction change."""

from __future__ import annotations

import secrets

import pytest

from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import queries as company_queries
from rapport.tenants.companies import services as companies
from rapport.tenants.fields import conversion
from rapport.tenants.fields import services as fields
from rapport.tenants.fields.queries import get_definition


def name(prefix: str = "f") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def seed(app, tenant, api_name, values):  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return [
            companies.create_company(s, {"name": f"Conv {i}", "custom": {api_name: v}}).id
            for i, v in enumerate(values)
        ]


def values_of(app, tenant, api_name, ids):  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return [company_queries.get_company(s, i).custom.get(api_name) for i in ids]


# fmt: off
CASES = [
    ("integer", {}, [3, 40], "decimal", ["3", "40"], 0),
    ("integer", {}, [7], "text", ["7"], 0),
    ("decimal", {}, ["2", "2.5"], "integer", [2, None], 1),
    ("decimal", {}, ["12.5"], "percent", ["12.5"], 0),
    ("percent", {}, ["12.5"], "decimal", ["12.5"], 0),
    ("currency", {}, [{"amount": "10", "currency": "EUR"}], "decimal", ["10"], 0),
    ("single_select", {"options": "a | Alpha\nb | Beta"}, ["a", "b"], "multi_select",
     [["a"], ["b"]], 0),
    ("single_select", {"options": "a | Alpha"}, ["a"], "text", ["Alpha"], 0),
    ("multi_select", {"options": "a\nb"}, [["a"], ["a", "b"]], "single_select", ["a", None], 1),
    ("multi_select", {"options": "a | Alpha\nb | Beta"}, [["a", "b"]], "text", ["Alpha, Beta"], 0),
    ("date", {}, ["2026-06-30"], "datetime", ["2026-06-30T00:00:00Z"], 0),
    ("datetime", {}, ["2026-06-30T23:00:00Z"], "date", ["2026-06-30"], 0),
    ("text", {}, ["Ada@Example.COM", "nope"], "email", ["Ada@example.com", None], 1),
    ("text", {}, ["example.com"], "url", ["https://example.com"], 0),
    ("text", {}, ["line"], "long_text", ["line"], 0),
    ("long_text", {}, ["short", "x" * 300], "text", ["short", None], 1),
    ("checkbox", {}, [True, False], "text", ["Yes", "No"], 0),
    ("email", {}, ["a@b.co"], "text", ["a@b.co"], 0),
]
# fmt: on


@pytest.mark.parametrize(("old", "extra", "values", "new", "expected", "failures"), CASES)
def test_every_safe_conversion(app, tenant_a, define, old, extra, values, new, expected, failures):
    api = name("conv")
    row = define(tenant_a, api_name=api, type=old, **extra)
    ids = seed(app, tenant_a, api, values)
    stored = values_of(app, tenant_a, api, ids)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        preview = conversion.preview(s, row.id, new)
        mine = {r.record_id: r for r in preview.rows if r.record_id in ids}
        assert [mine[i].after for i in ids] == expected
        assert sum(not mine[i].ok for i in ids) == failures
    assert values_of(app, tenant_a, api, ids) == stored  # the preview changes nothing
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        conversion.change_type(s, row.id, new)
        assert get_definition(s, row.id).type == new
    assert values_of(app, tenant_a, api, ids) == expected


def test_text_to_single_select_makes_the_values_options(app, tenant_a, tenant_b, define):
    api = name("stage")
    row = define(tenant_a, api_name=api, type="text")
    ids = seed(app, tenant_a, api, ["hot", "cold", "hot", "lukewarm?"])
    other = define(tenant_b, api_name=api, type="text")
    b_ids = seed(app, tenant_b, api, ["hot"])
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        result = conversion.change_type(s, row.id, "single_select")
        assert result.failures == 1
        assert [o["value"] for o in get_definition(s, row.id).options] == ["cold", "hot"]
    assert values_of(app, tenant_a, api, ids) == ["hot", "cold", "hot", None]
    with app.app_context(), tenant_session(tenant_b.ref) as s:  # tenant B's field is its own
        assert get_definition(s, other.id).type == "text"
    assert values_of(app, tenant_b, api, b_ids) == ["hot"]


def test_unsafe_changes_are_refused(app, tenant_a, define):
    api, reader = name("n"), name("reader")
    row = define(tenant_a, api_name=api, type="integer")
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed, match="Please correct") as caught:
            conversion.preview(s, row.id, "date")
        assert "can become: decimal, percent, text" in caught.value.errors["type"][0]
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, row.id, {"label": "N", "type": "decimal"})
        assert "Change type" in caught.value.errors["type"][0]
    define(tenant_a, api_name=reader, type="formula", formula=f"custom.{api} * 2",
           result_type="number")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            conversion.preview(s, row.id, "text")
        assert "read this field as a number" in caught.value.errors["type"][0]
        assert conversion.preview(s, row.id, "decimal").new_type == "decimal"  # still a number
