"""Picklists: defaults, add / rename / recolour / reorder / retire / restore, the one validator on
the services of leads, activities, deals and companies, retired values kept, tenants apart."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import delete, select, update

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import picklists
from rapport.tenants.activities import services as activity_services
from rapport.tenants.companies import services as company_services
from rapport.tenants.deals import services as deal_services
from rapport.tenants.leads import queries as lead_queries
from rapport.tenants.leads import services as lead_services
from rapport.tenants.leads.models import Lead
from rapport.tenants.picklists import queries, services
from rapport.tenants.picklists.lists import LISTS
from rapport.tenants.picklists.models import PicklistOption
from rapport.tenants.pipelines import queries as pipeline_queries


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def _id(session, list_key: str, value: str):  # type: ignore[no-untyped-def]
    return queries.find(session, list_key, value).id


def test_a_new_workspace_starts_with_every_default_list(app, new_tenant):
    fresh = new_tenant("Picklist defaults")
    with app.app_context(), tenant_session(fresh.ref) as s:
        for key, spec in LISTS.items():
            found = [(o.value, o.label, o.meaning) for o in queries.options(s, key)]
            assert found == list(spec.defaults), key
        assert services.default_value(s, "lead_status") == "new"


def test_add_rename_recolour_reorder_retire_restore_are_audited(app, new_tenant):
    fresh = new_tenant("Picklist admin")
    with app.app_context():
        with tenant_session(fresh.ref) as s:
            option = services.add_option(
                s, "lead_status", {"label": "Nurturing", "colour": "#00AA88", "meaning": "open"}
            )
            option_id = option.id
            assert (option.value, option.position, option.colour) == ("nurturing", 5, "#00aa88")
            services.rename_option(s, option_id, "Long-term nurture")
            services.recolour_option(s, option_id, "")
            services.shift_option(s, option_id, -1)  # above "converted"
            services.shift_option(s, option_id, -10)  # to the top; never out of the list
            services.retire_option(s, option_id)
            services.restore_option(s, option_id)
        with tenant_session(fresh.ref) as s:
            values = [o.value for o in queries.options(s, "lead_status")]
            assert values == [
                "nurturing",
                "new",
                "working",
                "qualified",
                "unqualified",
                "converted",
            ]
            option = queries.find(s, "lead_status", "nurturing")
            assert (option.label, option.colour, option.retired) == (
                "Long-term nurture",
                None,
                False,
            )
            actions = s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id == str(option_id))
                .order_by(AuditEntry.seq)
            ).all()
            assert actions == [
                "picklist.option_added", "picklist.option_changed", "picklist.option_changed",
                "picklist.option_moved", "picklist.option_moved", "picklist.option_retired",
                "picklist.option_restored",
            ]  # fmt: skip


def test_bad_option_input_names_the_field_and_changes_nothing(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        before = len(queries.options(s, "industry", retired=True))
        cases = [
            ({"label": ""}, "label"),
            ({"label": "software"}, "label"),  # a label already in the list, any case
            ({"label": unique("Mining"), "colour": "red"}, "colour"),
            ({"label": unique("Mining"), "value": "9 bad"}, "value"),
            ({"label": unique("Mining"), "value": "software"}, "value"),  # a taken value
            ({"label": unique("Mining"), "value": "x" * 41}, "value"),
        ]
        for data, field in cases:
            with pytest.raises(ValidationFailed) as caught:
                services.add_option(s, "industry", data)
            assert field in caught.value.errors, (data, caught.value.errors)
        with pytest.raises(ValidationFailed) as caught:
            services.add_option(s, "lead_status", {"label": unique("Done"), "meaning": "converted"})
        assert "meaning" in caught.value.errors
        assert len(queries.options(s, "industry", retired=True)) == before


def test_what_rapport_relies_on_cannot_be_retired(app, new_tenant):
    fresh = new_tenant("Picklist guards")
    with app.app_context(), tenant_session(fresh.ref) as s:
        for list_key, value in (
            ("lead_status", "converted"), ("activity_type", "visit"), ("lead_source", "api"),
        ):  # fmt: skip
            with pytest.raises(Conflict):
                services.retire_option(s, _id(s, list_key, value))
        services.retire_option(s, _id(s, "lead_status", "working"))
        with pytest.raises(Conflict) as caught:  # new leads need an open status
            services.retire_option(s, _id(s, "lead_status", "new"))
        assert "open status" in caught.value.message
        with pytest.raises(ValidationFailed) as failed:
            services.update_option(s, _id(s, "lead_status", "converted"), {"meaning": "open"})
        assert "meaning" in failed.value.errors


def test_every_write_path_validates_against_the_tenants_lists(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            lead_services.create_lead(s, {"last_name": "X", "source": "carrier_pigeon"})
        assert caught.value.errors == {"source": ["Choose a source from the list."]}
        with pytest.raises(ValidationFailed) as caught:
            lead_services.create_lead(s, {"last_name": "X", "status": "converted"})
        assert "status" in caught.value.errors  # only converting sets it
        with pytest.raises(ValidationFailed) as caught:
            activity_services.create_activity(s, {"kind": "party", "subject": ""})
        assert set(caught.value.errors) == {"kind", "subject"}  # reported together
        with pytest.raises(ValidationFailed) as caught:
            company_services.create_company(s, {"name": unique("Co"), "industry": "Alchemy"})
        assert caught.value.errors == {"industry": ["Choose an industry from the list."]}
        company = company_services.create_company(s, {"name": unique("Initech")})
        deal = deal_services.create_deal(
            s, {"name": unique("Deal"), "amount": "100", "currency": "EUR",
                "company_id": str(company.id)},
        )  # fmt: skip
        lost = next(
            st for st in pipeline_queries.pipeline_stages(s, deal.pipeline_id) if st.kind == "lost"
        )
        with pytest.raises(ValidationFailed) as caught:
            deal_services.move_deal(s, deal.id, lost.id, lost_reason="The stars")
        assert caught.value.errors == {"lost_reason": ["Choose a reason from the list."]}

        # A new option is accepted at once; a label typed in any case is stored as its value.
        label = unique("Trade fair")
        pigeon = services.add_option(s, "lead_source", {"label": label})
        lead = lead_services.create_lead(
            s, {"last_name": "Y", "source": label.upper(), "industry": "Software"}
        )
        assert (lead.source, lead.industry, lead.status) == (pigeon.value, "software", "new")
        moved = deal_services.move_deal(s, deal.id, lost.id, lost_reason="budget")
        assert moved.lost_reason == "budget"


def test_a_retired_option_stays_on_its_records_but_is_not_offered(app, tenant_a):
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            option = services.add_option(s, "lead_source", {"label": unique("Radio ad")})
            value, option_id = option.value, option.id
            lead = lead_services.create_lead(s, {"last_name": unique("Keep"), "source": value})
            lead_id = lead.id
            services.retire_option(s, option_id)
        with tenant_session(tenant_a.ref) as s:
            # The record keeps it through a full edit, and still shows its label.
            lead_services.update_lead(
                s, lead_id, {"last_name": "Kept", "source": value, "status": "working"}
            )
            assert s.get(Lead, lead_id).source == value
            assert queries.label(s, "lead_source", value) == option.label
            assert value not in [v for v, _ in queries.pairs(s, "lead_source")]
            assert value in [v for v, _ in queries.pairs(s, "lead_source", value)]
            with pytest.raises(ValidationFailed) as caught:
                lead_services.create_lead(s, {"last_name": "New", "source": value})
            assert "no longer used" in caught.value.errors["source"][0]


def test_lead_statuses_work_by_meaning_whatever_their_labels(app, new_tenant):
    fresh = new_tenant("Picklist meanings")
    with app.app_context():
        with tenant_session(fresh.ref) as s:
            services.rename_option(s, _id(s, "lead_status", "converted"), "Won over")
            services.add_option(s, "lead_status", {"label": "Nurturing", "meaning": "open"})
            nurtured = lead_services.create_lead(s, {"last_name": "N", "status": "Nurturing"})
            dropped = lead_services.create_lead(s, {"last_name": "D", "status": "unqualified"})
            converted = lead_services.create_lead(s, {"last_name": "C", "company_name": "C Ltd"})
            lead_services.convert_lead(s, converted.id)
            ids = nurtured.id, dropped.id, converted.id
        with tenant_session(fresh.ref) as s:
            page, _sort = lead_queries.list_leads(s, status="open")
            still_open = {lead.id for lead in page.items}
            assert ids[0] in still_open and ids[1] not in still_open and ids[2] not in still_open
            assert s.get(Lead, ids[2]).status == "converted"
            assert queries.label(s, "lead_status", "converted") == "Won over"


def test_two_tenants_do_not_share_options(app, tenants):
    a, b = tenants
    label = unique("Only in A")
    with app.app_context():
        with tenant_session(a.ref) as s:
            value = services.add_option(s, "industry", {"label": label}).value
        with tenant_session(b.ref) as s:
            assert queries.find(s, "industry", value) is None
            with pytest.raises(ValidationFailed):
                picklists.validate(s, "industry", value)
            with pytest.raises(ValidationFailed):
                company_services.create_company(s, {"name": unique("B co"), "industry": label})
        with tenant_session(a.ref) as s:
            assert picklists.validate(s, "industry", label) == value


def test_the_cache_follows_changes_from_other_processes(app, tenant_a):
    from rapport.tenants.picklists.queries import CACHE

    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            option = services.add_option(s, "loss_reason", {"label": unique("Reorg")})
            option_id, old = option.id, option.label
        with tenant_session(tenant_a.ref) as s:
            assert queries.label(s, "loss_reason", option.value) == old  # cached now
            # Another process changes the row and bumps the version after its commit.
            s.execute(
                update(PicklistOption).where(PicklistOption.id == option_id).values(label="Merged")
            )
        CACHE.bump(tenant_a.ref.id)
        with tenant_session(tenant_a.ref) as s:
            assert queries.label(s, "loss_reason", option.value) == "Merged"


def test_a_workspace_without_lists_gets_the_defaults_on_first_read(app, new_tenant):
    from rapport.tenants.picklists.queries import CACHE

    older = new_tenant("Picklist backfill")
    with app.app_context():
        with tenant_session(older.ref) as s:
            s.execute(delete(PicklistOption))  # as a workspace created before picklists
        CACHE.bump(older.ref.id)
        with tenant_session(older.ref) as s:
            assert [o.value for o in queries.options(s, "activity_type")] == [
                "task", "call", "meeting", "visit", "email",
            ]  # fmt: skip
            assert picklists.seed(s) == 0  # safe to run twice
        with tenant_session(older.ref) as s:
            count = len(s.scalars(select(PicklistOption.id)).all())
            assert count == sum(len(spec.defaults) for spec in LISTS.values())
