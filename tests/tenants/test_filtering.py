"""Filtering and sorting records on any column or custom field, on both backends and tenants."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import filtering
from rapport.tenants.companies import services as companies
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contacts
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals import services as deals
from rapport.tenants.deals.models import Deal
from rapport.tenants.paging import SortOption, keyset_page


def tag() -> str:
    return secrets.token_hex(4)


def names(session, record_type, items, base, *, me=None, sort="name"):
    """The names of the records of this test (base clause) matching the raw filter items."""
    model = {"companies": Company, "contacts": Contact, "deals": Deal}[record_type]
    conditions = filtering.parse(session, record_type, items)
    stmt = filtering.apply(session, record_type, select(model).where(base), conditions, me=me)
    key = filtering.sort_key(session, record_type, sort)
    rows = session.scalars(stmt.order_by(key, model.id)).all()
    return [getattr(r, "name", None) or r.last_name for r in rows]


def test_built_in_text_columns_filter_with_every_operator(app, tenants):
    a, b = tenants
    t = tag()
    with app.app_context():
        with tenant_session(a.ref) as s:
            for name, city in (("Alpha", "Berlin"), ("Beta", "Bern"), ("Gamma", None)):
                companies.create_company(s, {"name": f"{name} {t}", "city": city})
            companies.create_company(s, {"name": f"Odd_%{t}", "city": "100%_real"})
        with tenant_session(a.ref) as s:
            mine = Company.name.contains(t)
            assert names(s, "companies", [("city", "eq", "Bern")], mine) == [f"Beta {t}"]
            assert names(s, "companies", [("city", "contains", "BER")], mine) == [
                f"Alpha {t}",
                f"Beta {t}",
            ]
            # Wildcards are literal: "%_" matches only the value that holds them.
            assert names(s, "companies", [("city", "contains", "%_")], mine) == [f"Odd_%{t}"]
            assert names(s, "companies", [("city", "is_null", "")], mine) == [f"Gamma {t}"]
            assert f"Gamma {t}" not in names(s, "companies", [("city", "is_null", "no")], mine)
            # "is not" keeps the records with no value: they are not Berlin either.
            assert names(s, "companies", [("city", "ne", "Berlin")], mine) == [
                f"Beta {t}",
                f"Gamma {t}",
                f"Odd_%{t}",
            ]
            assert names(s, "companies", [("city", "in", "Berlin, Bern")], mine) == [
                f"Alpha {t}",
                f"Beta {t}",
            ]
            # Several conditions must all hold.
            both = [("city", "contains", "ber"), ("name", "contains", "alp")]
            assert names(s, "companies", both, mine) == [f"Alpha {t}"]
        with tenant_session(b.ref) as s:
            assert names(s, "companies", [("city", "eq", "Bern")], Company.name.contains(t)) == []


def test_owner_me_and_in_and_ids(app, tenants):
    a, _ = tenants
    t = tag()
    me, other = uuid.uuid4(), uuid.uuid4()
    with app.app_context():
        with tenant_session(a.ref) as s:
            for name, owner in (("Mine", me), ("Theirs", other), ("Nobody", None)):
                company = companies.create_company(s, {"name": f"{name} {t}"})
                company.owner_id = owner
        with tenant_session(a.ref) as s:
            mine = Company.name.contains(t)
            assert names(s, "companies", [("owner_id", "eq", "me")], mine, me=me) == [f"Mine {t}"]
            assert names(s, "companies", [("owner_id", "eq", str(other))], mine) == [f"Theirs {t}"]
            assert names(
                s, "companies", [("owner_id", "in", f"me,{other}")], mine, me=me, sort="-name"
            ) == [f"Mine {t}", f"Theirs {t}"]
            assert names(s, "companies", [("owner_id", "is_null", "true")], mine) == [f"Nobody {t}"]
            with pytest.raises(ValidationFailed) as caught:
                filtering.parse(s, "companies", [("owner_id", "eq", "bob")])
            assert "owner_id" in caught.value.errors
            with pytest.raises(ValidationFailed) as caught:
                filtering.parse(s, "companies", [("owner_id", "contains", "x")])
            assert "does not apply" in caught.value.errors["owner_id"][0]


def test_numbers_dates_and_datetimes_are_coerced_by_column_type(app, tenants):
    a, _ = tenants
    t = tag()
    with app.app_context():
        with tenant_session(a.ref) as s:
            for name, amount, close in (
                ("Small", "100", "2026-01-15"),
                ("Mid", "2500.50", "2026-03-01"),
                ("Big", "90000", None),
            ):
                deals.create_deal(
                    s,
                    {"name": f"{name} {t}", "amount": amount, "currency": "EUR",
                     "expected_close_date": close},
                )  # fmt: skip
        with tenant_session(a.ref) as s:
            mine = Deal.name.contains(t)
            assert names(s, "deals", [("amount", "gte", "2,500.50")], mine, sort="amount") == [
                f"Mid {t}",
                f"Big {t}",
            ]
            assert names(s, "deals", [("amount", "lt", "100")], mine) == []
            assert names(s, "deals", [("expected_close_date", "lt", "2026-02-01")], mine) == [
                f"Small {t}"
            ]
            # A bare date against a timestamp means that whole day (UTC).
            today = dt.datetime.now(dt.UTC).date().isoformat()
            assert len(names(s, "deals", [("created_at", "eq", today)], mine)) == 3
            assert names(s, "deals", [("created_at", "lt", today)], mine) == []
            conditions = filtering.parse(s, "deals", [("amount", "in", "100, 90000")])
            assert conditions[0].value == [Decimal("100"), Decimal("90000")]
            with pytest.raises(ValidationFailed) as caught:
                filtering.parse(
                    s,
                    "deals",
                    [("amount", "gt", "lots"), ("expected_close_date", "eq", "30/06/2026")],
                )
            assert caught.value.errors["amount"] == ["Enter a number such as 12.5."]
            assert "2026-06-30" in caught.value.errors["expected_close_date"][0]


def test_unknown_fields_operators_and_internal_columns_are_refused(app, tenants):
    a, _ = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            filtering.parse(
                s,
                "deals",
                [("custom", "eq", "x"), ("position", "eq", "1"), ("nope", "eq", "1")],
            )
        assert set(caught.value.errors) == {"custom", "position", "nope"}
        with pytest.raises(ValidationFailed) as caught:
            filtering.parse(s, "companies", [("name", "like", "x")])
        assert "Unknown operator" in caught.value.errors["name"][0]
        with pytest.raises(ValidationFailed):
            filtering.parse(s, "companies", [("name", "eq", "   ")])
        with pytest.raises(ValidationFailed):
            filtering.sort_key(s, "companies", "custom")
        keys = {f.key for f in filtering.available_fields(s, "deals")}
        assert {"name", "amount", "owner_id", "created_at"} <= keys
        assert not keys & {"custom", "position"}


def test_custom_fields_filter_through_their_definition(app, tenants, define):
    a, b = tenants
    t = tag()
    tier, seats, signed, vip = f"tier_{t}", f"seats_{t}", f"signed_{t}", f"vip_{t}"
    define(a, api_name=tier, type="single_select", filterable=True,
           options=[{"value": "gold"}, {"value": "silver"}])  # fmt: skip
    define(a, api_name=seats, type="integer", min_value=5)
    define(a, api_name=signed, type="date")
    define(a, api_name=vip, type="checkbox")
    with app.app_context():
        with tenant_session(a.ref) as s:
            rows = (
                ("One", "gold", 9, "2026-01-10", True),
                ("Two", "silver", 40, "2026-05-01", False),
                ("Three", None, 100, None, False),
            )
            for name, t1, n, d, v in rows:
                custom = {tier: t1, seats: n, signed: d, vip: v}
                companies.create_company(s, {"name": f"{name} {t}", "custom": custom})
        with tenant_session(a.ref) as s:
            mine = Company.name.contains(t)
            c = filtering.CUSTOM_PREFIX
            assert names(s, "companies", [(c + tier, "eq", "gold")], mine) == [f"One {t}"]
            assert names(s, "companies", [(c + tier, "is_null", "yes")], mine) == [f"Three {t}"]
            assert names(s, "companies", [(c + tier, "in", "gold,silver")], mine) == [
                f"One {t}",
                f"Two {t}",
            ]
            # Numbers compare as numbers (9 < 40 < 100), and a filter may go below the minimum.
            assert names(s, "companies", [(c + seats, "gt", "3")], mine, sort=c + seats) == [
                f"One {t}",
                f"Two {t}",
                f"Three {t}",
            ]
            assert names(s, "companies", [(c + seats, "gte", "40")], mine) == [
                f"Three {t}",
                f"Two {t}",
            ]
            assert names(s, "companies", [(c + seats, "eq", "40")], mine) == [f"Two {t}"]
            assert names(s, "companies", [(c + signed, "lt", "2026-03-01")], mine) == [f"One {t}"]
            assert names(s, "companies", [(c + vip, "eq", "yes")], mine) == [f"One {t}"]
            assert names(s, "companies", [(c + vip, "eq", "no")], mine) == [
                f"Three {t}",
                f"Two {t}",
            ]
            # Sorting by a custom date: empty first, then in time order; descending reverses.
            by_date = names(s, "companies", [], mine, sort=c + signed)
            assert by_date == [f"Three {t}", f"One {t}", f"Two {t}"]
            with pytest.raises(ValidationFailed) as caught:
                filtering.parse(s, "companies", [(c + tier, "eq", "bronze")])
            assert caught.value.errors == {c + tier: ["Choose one of the options."]}
            with pytest.raises(ValidationFailed) as caught:
                filtering.parse(s, "companies", [(c + seats, "eq", "4.5")])
            assert caught.value.errors == {c + seats: ["Enter a whole number."]}
        # Tenant B has no such fields.
        with tenant_session(b.ref) as s, pytest.raises(ValidationFailed):
            filtering.parse(s, "companies", [(filtering.CUSTOM_PREFIX + tier, "eq", "gold")])


def test_sort_keys_page_deep_with_nulls_and_ties(app, tenants):
    """Keyset paging over nullable columns visits every row exactly once, both ways."""
    a, _ = tenants
    t = tag()
    with app.app_context():
        with tenant_session(a.ref) as s:
            for i in range(23):
                city = None if i % 4 == 0 else f"City {i % 3}"
                contacts.create_contact(
                    s, {"first_name": f"F{i:02}", "last_name": f"L {t}", "title": city}
                )
        with tenant_session(a.ref) as s:
            base = select(Contact).where(Contact.last_name == f"L {t}")
            for token in ("title", "-title", "created_at", "-updated_at", "name", "company_id"):
                order = SortOption(token.lstrip("-"), token.startswith("-"))
                key = filtering.sort_key(s, "contacts", order.key)
                seen, cursor = [], None
                while True:
                    page = keyset_page(
                        s, base, key=key, id_col=Contact.id, sort=order, cursor=cursor, limit=5
                    )
                    seen += [c.id for c in page.items]
                    if page.next_cursor is None:
                        break
                    cursor = page.next_cursor
                assert len(seen) == len(set(seen)) == 23, token
                back = keyset_page(
                    s, base, key=key, id_col=Contact.id, sort=order, cursor=page.prev_cursor,
                    limit=5,
                )  # fmt: skip
                assert [c.id for c in back.items] == seen[-8:-3], token


def test_fields_fed_by_a_picklist_filter_as_selects_of_the_tenants_options(
    app, new_tenant, tenants
):
    from rapport.tenants.leads import services as leads
    from rapport.tenants.leads.models import Lead
    from rapport.tenants.picklists import services as picklists
    from rapport.tenants.picklists.queries import options

    ws, b = new_tenant("Picked"), tenants[1]
    with app.app_context():
        with tenant_session(ws.ref) as s:
            working = next(o for o in options(s, "lead_status") if o.value == "working")
            picklists.update_option(s, working.id, {"label": "In progress"})
            leads.create_lead(s, {"last_name": "Busy", "status": "working"})
            leads.create_lead(s, {"last_name": "Fresh", "status": "new"})
        with tenant_session(ws.ref) as s:
            field = filtering.find_field(s, "leads", "status")
            assert field.kind == "select" and ("working", "In progress") in field.options
            conditions = filtering.parse(s, "leads", [("status", "eq", "working")])
            names = s.scalars(filtering.apply(s, "leads", select(Lead.last_name), conditions)).all()
            assert names == ["Busy"]
            with pytest.raises(ValidationFailed) as bad:
                filtering.parse(s, "leads", [("status", "eq", "bogus")])
            assert bad.value.errors == {"status": ["Choose one of the options."]}
            with pytest.raises(ValidationFailed) as bad:
                filtering.parse(s, "leads", [("status", "contains", "wor")])
            assert "does not apply" in bad.value.errors["status"][0]
        with tenant_session(b.ref) as s:  # the other workspace keeps its own labels
            field = filtering.find_field(s, "leads", "status")
            assert ("working", "Working") in field.options
