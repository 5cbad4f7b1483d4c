"""Roll-up fields through the services: counts and sums of related records, kept current when
related records are created, changed, moved to another parent or deleted; the CLI recompute."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import update

from rapport.platform.cli import main
from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import queries as company_queries
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals
from rapport.tenants.deals.models import Deal
from rapport.tenants.fields import rollup
from rapport.tenants.fields import services as fields
from rapport.tenants.pipelines import queries as pipeline_queries


def name(prefix: str = "f") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def custom_of(app, tenant, company_id):  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return dict(company_queries.get_company(s, company_id).custom)


def won_stage(session):  # type: ignore[no-untyped-def]
    sales = pipeline_queries.list_pipelines(session)[0]
    return next(x for x in pipeline_queries.pipeline_stages(session, sales.id) if x.kind == "won")


def test_relations_come_from_foreign_keys_of_registered_types(app):
    with app.app_context():
        found = rollup.relations("companies")
    assert ("deals", "company_id") in found and ("contacts", "company_id") in found
    assert all(related != "companies" for related, _ in found)


def test_open_deal_count_and_sum_follow_every_change(app, tenant_a, tenant_b, define):
    count, total, people, summary = name("open"), name("pipe"), name("people"), name("summary")
    define(tenant_a, record_type="companies", api_name=count, type="rollup",
           rollup_related="deals", rollup_aggregate="count",
           rollup_filter_field="status", rollup_filter_value="open")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=total, type="rollup",
           rollup_related="deals:company_id", rollup_aggregate="sum", rollup_field="amount",
           rollup_filter_field="status", rollup_filter_value="open")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=people, type="rollup",
           rollup_related="contacts", rollup_aggregate="count")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=summary, type="formula",
           formula=f"custom.{count} & ' open, ' & custom.{total}", result_type="text")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        first = companies.create_company(s, {"name": "Roll One"})
        second = companies.create_company(s, {"name": "Roll Two"})
        one, two = first.id, second.id
    assert custom_of(app, tenant_a, one)[count] == "0"
    assert custom_of(app, tenant_a, one)[total] == "0"

    with app.app_context(), tenant_session(tenant_a.ref) as s:  # create
        d1 = deals.create_deal(s, {"name": "A", "amount": "100.50", "currency": "EUR",
                                   "company_id": str(one)}).id  # fmt: skip
        d2 = deals.create_deal(s, {"name": "B", "amount": "20", "currency": "EUR",
                                   "company_id": str(one)}).id  # fmt: skip
        contact = contacts.create_contact(s, {"last_name": "Roll", "company_id": str(one)}).id
    after = custom_of(app, tenant_a, one)
    assert (after[count], after[total], after[people]) == ("2", "120.5", "1")
    assert after[summary] == "2 open, 120.5"  # the parent's formulas follow its roll-ups

    with app.app_context(), tenant_session(tenant_a.ref) as s:  # change an amount
        deals.update_deal(s, d2, {"amount": "30"}, partial=True)
    assert custom_of(app, tenant_a, one)[total] == "130.5"

    with app.app_context(), tenant_session(tenant_a.ref) as s:  # win one: no longer open
        deals.move_deal(s, d1, won_stage(s).id)
    assert (custom_of(app, tenant_a, one)[count], custom_of(app, tenant_a, one)[total]) == (
        "1",
        "30",
    )

    with app.app_context(), tenant_session(tenant_a.ref) as s:  # move to another company
        deals.update_deal(s, d2, {"company_id": str(two)}, partial=True)
        contacts.update_contact(s, contact, {"company_id": str(two)}, partial=True)
    assert custom_of(app, tenant_a, one)[count] == "0"
    assert custom_of(app, tenant_a, one)[people] == "0"
    assert (custom_of(app, tenant_a, two)[count], custom_of(app, tenant_a, two)[total]) == (
        "1",
        "30",
    )

    with app.app_context(), tenant_session(tenant_a.ref) as s:  # delete
        deals.delete_deal(s, d2)
        contacts.delete_contact(s, contact)
    assert custom_of(app, tenant_a, two)[count] == "0"
    assert custom_of(app, tenant_a, two)[people] == "0"

    # Tenant B: no roll-ups, and its deals never touch tenant A's companies.
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        other = companies.create_company(s, {"name": "Globex Roll"})
        deals.create_deal(s, {"name": "B1", "amount": "5", "currency": "EUR",
                              "company_id": str(other.id)})  # fmt: skip
        s.flush()
        assert count not in other.custom
    assert custom_of(app, tenant_a, two)[count] == "0"


def test_defining_or_changing_a_rollup_recomputes_every_parent(app, runner, tenant_a, define):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Before Roll"})
        for amount in ("10", "15.25", "4"):
            deals.create_deal(s, {"name": amount, "amount": amount, "currency": "EUR",
                                  "company_id": str(company.id)})  # fmt: skip
        company_id = company.id
    biggest = name("biggest")
    row = define(tenant_a, record_type="companies", api_name=biggest, type="rollup",
                 rollup_related="deals", rollup_aggregate="max", rollup_field="amount")  # fmt: skip
    assert custom_of(app, tenant_a, company_id)[biggest] == "15.25"
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        fields.update_field(s, row.id, {"label": "Smallest", "rollup_aggregate": "min"})
    assert custom_of(app, tenant_a, company_id)[biggest] == "4"

    # A bulk statement skips the session's bookkeeping; the CLI recompute repairs it.
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        s.execute(
            update(Deal).where(Deal.company_id == company_id).values(amount=1),
            execution_options={"synchronize_session": False},
        )
    assert custom_of(app, tenant_a, company_id)[biggest] == "4"
    result = runner.invoke(main, ["fields", "recompute", "--tenant", tenant_a.slug])
    assert result.exit_code == 0, result.output
    assert "recomputed" in result.output.lower()
    assert custom_of(app, tenant_a, company_id)[biggest] == "1"
    bad = runner.invoke(main, ["fields", "recompute", "--tenant", "no-such-workspace"])
    assert bad.exit_code != 0 and "no-such-workspace" in bad.output


def test_rollup_settings_are_checked(app, tenant_a, define):
    with pytest.raises(ValidationFailed) as caught:
        define(tenant_a, record_type="companies", api_name=name("r"), type="rollup",
               rollup_related="pipelines", rollup_aggregate="count")  # fmt: skip
    assert "deals by company_id" in caught.value.errors["rollup_related"][0]
    with pytest.raises(ValidationFailed) as caught:
        define(tenant_a, record_type="companies", api_name=name("r"), type="rollup",
               rollup_related="deals", rollup_aggregate="sum", rollup_field="name")  # fmt: skip
    assert "rollup_field" in caught.value.errors
    with pytest.raises(ValidationFailed) as caught:
        define(tenant_a, record_type="companies", api_name=name("r"), type="rollup",
               rollup_related="deals", rollup_aggregate="median")  # fmt: skip
    assert "rollup_aggregate" in caught.value.errors


def test_rollup_over_a_custom_number_and_writes_refused(app, tenant_a, define):
    points, best = name("points"), name("best")
    define(tenant_a, record_type="contacts", api_name=points, type="decimal")
    define(tenant_a, record_type="companies", api_name=best, type="rollup",
           rollup_related="contacts", rollup_aggregate="sum",
           rollup_field=f"custom.{points}")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Points Co"})
        for value in ("1.5", "2.25", None):
            contacts.create_contact(s, {"last_name": "P", "company_id": str(company.id),
                                        "custom": {points: value}})  # fmt: skip
        company_id = company.id
    assert custom_of(app, tenant_a, company_id)[best] == "3.75"
    with (
        app.app_context(),
        tenant_session(tenant_a.ref) as s,
        pytest.raises(ValidationFailed) as caught,
    ):
        companies.update_company(s, company_id, {"custom": {best: "9"}}, partial=True)
    assert "roll-up" in caught.value.errors[f"custom.{best}"][0]


def test_reading_fresh_definitions_with_pending_changes_does_not_deadlock(app, tenant_a, define):
    """A stale cache reloads under its lock; the reload must not flush into the hooks that read
    the same cache (that waited forever once)."""
    import threading

    from rapport.tenants.fields.queries import bump_version, fields_for

    define(tenant_a, record_type="companies", api_name=name("n"), type="rollup",
           rollup_related="deals", rollup_aggregate="count")  # fmt: skip
    outcome: list[str] = []

    def work() -> None:
        with app.app_context(), tenant_session(tenant_a.ref) as s:
            company = companies.create_company(s, {"name": "Pending Co"})
            s.flush()
            company.name = "Pending Co renamed"  # a pending change: a query would autoflush it
            bump_version(tenant_a.ref.id)  # another process changed definitions: the cache is stale
            outcome.append(str(len(fields_for(s, "companies")) > 0))

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(120)
    assert outcome == ["True"], "reading the definitions never finished"
