"""Deal services and queries: validation, stage moves (history, audit, outbox), board totals."""

from __future__ import annotations

import secrets
from decimal import Decimal

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.deals import queries, services
from rapport.tenants.deals.models import Deal, DealStageChange
from rapport.tenants.pipelines import queries as pipeline_queries
from rapport.tenants.pipelines import services as pipeline_services


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def fresh_pipeline(session) -> dict[str, object]:
    """A pipeline of this test's own, with stages named by their kind."""
    pipeline = pipeline_services.create_pipeline(session, {"name": unique("Pipe")})
    stages = {
        name: pipeline_services.create_stage(
            session, pipeline.id, {"name": name, "probability": p, "kind": kind}
        )
        for name, p, kind in (
            ("First", 10, "open"), ("Second", 50, "open"), ("Won", 100, "won"), ("Lost", 0, "lost"),
        )
    }  # fmt: skip
    return {"pipeline": pipeline, **stages}


def test_new_workspaces_start_with_the_sales_pipeline(app, tenants):
    for tenant in tenants:
        with app.app_context(), tenant_session(tenant.ref) as s:
            sales = pipeline_queries.list_pipelines(s)[0]
            stages = pipeline_queries.pipeline_stages(s, sales.id)
            assert sales.name == "Sales"
            assert [(x.name, x.probability, x.kind) for x in stages] == [
                ("Qualification", 10, "open"),
                ("Proposal", 40, "open"),
                ("Negotiation", 70, "open"),
                ("Won", 100, "won"),
                ("Lost", 0, "lost"),
            ]


def test_create_starts_in_the_first_open_stage_with_history_and_audit(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = company_services.create_company(s, {"name": unique("Initech")})
            deal = services.create_deal(
                s,
                {"name": "Big one", "amount": "12,500.5", "currency": "eur",
                 "company_id": str(company.id), "expected_close_date": "2026-06-30"},
            )  # fmt: skip
            deal_id = deal.id
        with tenant_session(a.ref) as s:
            deal = s.get(Deal, deal_id)
            assert deal.amount == Decimal("12500.50") and deal.currency == "EUR"
            assert deal.status == "open"
            stage = pipeline_queries.get_stage(s, deal.stage_id)
            assert stage.name == "Qualification"
            (item,) = queries.stage_history(s, deal_id)
            assert item.from_name is None and item.to_name == "Qualification"
            assert item.change.changed_by_label is not None
            entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == str(deal_id))).one()
            assert entry.action == "deal.created"
            assert entry.changes["amount"] == [None, "12500.50"]
            assert entry.changes["stage"] == [None, "Qualification"]
        with tenant_session(b.ref) as s:
            assert s.get(Deal, deal_id) is None
            with pytest.raises(NotFound):
                queries.get_deal(s, deal_id)


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"currency": "EUR"}, "name", "Enter the deal's name."),
        ({"name": "x" * 201, "currency": "EUR"}, "name", "at most 200"),
        ({"name": "Ok"}, "currency", "currency"),
        ({"name": "Ok", "currency": "EURO"}, "currency", "ISO 4217"),
        ({"name": "Ok", "currency": "XYZ"}, "currency", "ISO 4217"),
        ({"name": "Ok", "currency": "EUR", "amount": "lots"}, "amount", "1250.00"),
        ({"name": "Ok", "currency": "EUR", "amount": "-5"}, "amount", "from 0"),
        ({"name": "Ok", "currency": "EUR", "amount": "1e20"}, "amount", "from 0"),
        ({"name": "Ok", "currency": "EUR", "expected_close_date": "soon"}, "expected_close_date",
         "date"),
        ({"name": "Ok", "currency": "EUR", "company_id": "nope"}, "company_id", "company"),
    ],
)  # fmt: skip
def test_invalid_input_is_refused_naming_the_field(app, tenant_a, data, field, message):
    with (
        app.app_context(),
        tenant_session(tenant_a.ref) as s,
        pytest.raises(ValidationFailed) as caught,
    ):
        services.create_deal(s, data)
    assert message in " ".join(caught.value.errors[field])


def test_a_company_or_stage_of_another_tenant_is_refused(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = company_services.create_company(s, {"name": unique("A only")}).id
            stage_id = fresh_pipeline(s)["First"].id
        with tenant_session(b.ref) as s:
            with pytest.raises(ValidationFailed) as caught:
                services.create_deal(
                    s, {"name": "X", "currency": "EUR", "company_id": str(company_id)}
                )
            assert "company_id" in caught.value.errors
            with pytest.raises(ValidationFailed) as caught:
                services.create_deal(s, {"name": "X", "currency": "EUR", "stage_id": str(stage_id)})
            assert "stage_id" in caught.value.errors
            deal = services.create_deal(s, {"name": "B deal", "currency": "EUR"})
            with pytest.raises(NotFound):
                services.move_deal(s, deal.id, stage_id)


def test_move_records_history_audit_and_a_record_event(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            p = fresh_pipeline(s)
            deal = services.create_deal(
                s, {"name": "Mover", "currency": "USD", "stage_id": str(p["First"].id)}
            )
            deal_id, second_id = deal.id, p["Second"].id
        with tenant_session(a.ref) as s:
            services.move_deal(s, deal_id, second_id)
        with tenant_session(a.ref) as s:
            deal = s.get(Deal, deal_id)
            assert deal.stage_id == second_id and deal.status == "open"
            latest = queries.stage_history(s, deal_id)[0]
            assert (latest.from_name, latest.to_name) == ("First", "Second")
            entry = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.target_id == str(deal_id), AuditEntry.action == "deal.stage_changed"
                )
            ).one()
            assert entry.changes["stage"] == ["First", "Second"]
            (event,) = [
                row.payload
                for row in s.scalars(
                    select(OutboxEntry).where(
                        OutboxEntry.job == "rapport.tenants.events.record_event"
                    )
                )
                if row.payload["type"] == "deal.stage_changed"
                and row.payload["record_id"] == str(deal_id)
            ]
            assert event["data"]["to_stage_id"] == str(second_id)
            # A stage move is no workflow run: nothing about it on the (billed) workflows queue.
            billed = s.scalars(select(OutboxEntry).where(OutboxEntry.queue == "workflows")).all()
            assert not [r for r in billed if str(deal_id) in str(r.payload)]
        with tenant_session(b.ref) as s:
            assert (
                s.scalars(select(DealStageChange).where(DealStageChange.deal_id == deal_id)).all()
                == []
            )


def test_moving_within_the_same_stage_only_reorders(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        p = fresh_pipeline(s)
        first = str(p["First"].id)
        d1, d2, d3 = (
            services.create_deal(s, {"name": n, "currency": "EUR", "stage_id": first})
            for n in ("one", "two", "three")
        )
        services.move_deal(s, d3.id, first, position=0)
        column = queries.board(s, p["pipeline"])[0]
        assert [c.deal.name for c in column.cards] == ["three", "one", "two"]
        assert len(queries.stage_history(s, d3.id)) == 1  # no stage change recorded


def test_lost_needs_a_reason_and_won_closes_the_deal(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        p = fresh_pipeline(s)
        deal = services.create_deal(
            s, {"name": "Tricky", "currency": "EUR", "stage_id": str(p["First"].id)}
        )
        with pytest.raises(ValidationFailed) as caught:
            services.move_deal(s, deal.id, p["Lost"].id)
        assert caught.value.errors["lost_reason"] == ["Say why the deal was lost."]
        assert deal.stage_id == p["First"].id and deal.status == "open"

        services.move_deal(s, deal.id, p["Lost"].id, lost_reason="Went with a competitor")
        assert deal.status == "lost" and deal.closed_at is not None
        assert deal.lost_reason == "competitor"  # typed as its label, stored as its value

        services.move_deal(s, deal.id, p["Won"].id)
        assert deal.status == "won" and deal.closed_at is not None and deal.lost_reason is None

        services.move_deal(s, deal.id, p["Second"].id)  # reopened
        assert deal.status == "open" and deal.closed_at is None
        names = [(h.from_name, h.to_name) for h in queries.stage_history(s, deal.id)]
        assert names == [("Won", "Second"), ("Lost", "Won"), ("First", "Lost"), (None, "First")]


def test_a_stage_of_another_pipeline_is_refused(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        p, other = fresh_pipeline(s), fresh_pipeline(s)
        deal = services.create_deal(
            s, {"name": "Stay", "currency": "EUR", "stage_id": str(p["First"].id)}
        )
        with pytest.raises(ValidationFailed) as caught:
            services.move_deal(s, deal.id, other["Second"].id)
        assert "pipeline" in caught.value.errors["stage_id"][0]


def test_board_columns_count_and_sum_per_currency(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            p = fresh_pipeline(s)
            first = str(p["First"].id)
            for amount, currency in (
                ("100", "EUR"),
                ("250.50", "EUR"),
                ("70", "USD"),
                (None, "JPY"),
            ):
                services.create_deal(
                    s,
                    {
                        "name": unique("D"),
                        "amount": amount,
                        "currency": currency,
                        "stage_id": first,
                    },
                )
            columns = queries.board(s, p["pipeline"])
            assert [c.stage.name for c in columns] == ["First", "Second", "Won", "Lost"]
            assert columns[0].count == 4
            assert columns[0].totals == {"EUR": Decimal("350.50"), "USD": Decimal("70.00")}
            assert columns[1].count == 0 and columns[1].totals == {}
            pipeline_id = p["pipeline"].id
        with tenant_session(b.ref) as s:
            # B's board never shows A's deals: its own pipeline has no cards from A.
            sales = pipeline_queries.default_pipeline(s)
            cards = [c.deal.id for col in queries.board(s, sales) for c in col.cards]
            assert all(s.get(Deal, i) is not None for i in cards)
            with pytest.raises(NotFound):
                pipeline_queries.get_pipeline(s, pipeline_id)


def test_update_audits_the_changed_fields_and_delete_removes_history(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        deal = services.create_deal(s, {"name": "Edit me", "currency": "EUR", "amount": "10"})
        services.update_deal(s, deal.id, {"name": "Edited", "currency": "EUR", "amount": "20"})
        entry = s.scalars(
            select(AuditEntry).where(
                AuditEntry.target_id == str(deal.id), AuditEntry.action == "deal.updated"
            )
        ).one()
        assert entry.changes["name"] == ["Edit me", "Edited"]
        assert set(entry.changes) == {"name", "amount"}
        with pytest.raises(ValidationFailed):
            services.update_deal(s, deal.id, {"name": "", "currency": "EUR"})
        deal_id = deal.id
        services.delete_deal(s, deal_id)
        assert s.get(Deal, deal_id) is None
        assert queries.stage_history(s, deal_id) == []


def test_contacts_with_roles(app, tenant_a):
    from rapport.platform.errors import Conflict
    from rapport.tenants.contacts import services as contact_services

    with app.app_context(), tenant_session(tenant_a.ref) as s:
        deal = services.create_deal(s, {"name": "With people", "currency": "EUR"})
        contact = contact_services.create_contact(s, {"first_name": "Ada", "last_name": "Lovelace"})
        link = services.add_contact(s, deal.id, {"contact_id": str(contact.id), "role": "Champion"})
        [(got, person)] = queries.deal_contacts(s, deal.id)
        assert got.role == "Champion" and person.last_name == "Lovelace"
        with pytest.raises(Conflict):
            services.add_contact(s, deal.id, {"contact_id": str(contact.id)})
        services.remove_contact(s, deal.id, link.id)
        assert queries.deal_contacts(s, deal.id) == []
