"""Pipeline and stage services: create, rename, reorder, probability, archive, delete rules."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.deals import services as deal_services
from rapport.tenants.pipelines import queries, services
from rapport.tenants.pipelines.models import Stage


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def test_create_rename_and_stages_are_audited_and_isolated(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            pipeline = services.create_pipeline(s, {"name": unique("Renewals")})
            stage = services.create_stage(s, pipeline.id, {"name": "Talk", "probability": "30"})
            services.rename_pipeline(s, pipeline.id, {"name": "Renewals 2"})
            services.update_stage(s, stage.id, {"probability": 45})
            pipeline_id, stage_id = pipeline.id, stage.id
        with tenant_session(a.ref) as s:
            assert queries.get_pipeline(s, pipeline_id).name == "Renewals 2"
            assert queries.get_stage(s, stage_id).probability == 45
            actions = s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.target_id.in_([str(pipeline_id), str(stage_id)]))
                .order_by(AuditEntry.seq)
            ).all()
            assert actions == [
                "pipeline.created",
                "stage.created",
                "pipeline.updated",
                "stage.updated",
            ]
        with tenant_session(b.ref) as s:
            with pytest.raises(NotFound):
                queries.get_pipeline(s, pipeline_id)
            with pytest.raises(NotFound):
                services.update_stage(s, stage_id, {"name": "Hijack"})


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "Enter the stage's name."),
        ({"name": "x" * 101}, "name", "at most 100"),
        ({"name": "Ok", "probability": "101"}, "probability", "0 to 100"),
        ({"name": "Ok", "probability": "-1"}, "probability", "0 to 100"),
        ({"name": "Ok", "probability": "half"}, "probability", "0 to 100"),
        ({"name": "Ok", "kind": "maybe"}, "kind", "open, won or lost"),
    ],
)
def test_invalid_stages_are_refused(app, tenant_a, data, field, message):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        pipeline = services.create_pipeline(s, {"name": unique("P")})
        with pytest.raises(ValidationFailed) as caught:
            services.create_stage(s, pipeline.id, data)
    assert message in " ".join(caught.value.errors[field])


def test_reorder_and_shift(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        pipeline = services.create_pipeline(s, {"name": unique("P")})
        x, y, z = (services.create_stage(s, pipeline.id, {"name": n}) for n in "XYZ")
        services.reorder_stages(s, pipeline.id, [z.id, x.id, y.id])
        assert [st.name for st in queries.pipeline_stages(s, pipeline.id)] == ["Z", "X", "Y"]
        services.shift_stage(s, y.id, -1)
        assert [st.name for st in queries.pipeline_stages(s, pipeline.id)] == ["Z", "Y", "X"]
        with pytest.raises(ValidationFailed):
            services.reorder_stages(s, pipeline.id, [z.id, x.id])


def test_a_stage_with_deals_cannot_be_deleted_only_archived_once_empty(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        pipeline = services.create_pipeline(s, {"name": unique("P")})
        busy = services.create_stage(s, pipeline.id, {"name": "Busy"})
        other = services.create_stage(s, pipeline.id, {"name": "Other"})
        empty = services.create_stage(s, pipeline.id, {"name": "Empty"})
        deal = deal_services.create_deal(
            s, {"name": "Blocker", "currency": "EUR", "stage_id": str(busy.id)}
        )
        with pytest.raises(Conflict, match="cannot be deleted"):
            services.delete_stage(s, busy.id)
        with pytest.raises(Conflict, match="open deal"):
            services.archive_stage(s, busy.id)
        with pytest.raises(ValidationFailed):
            services.update_stage(s, busy.id, {"kind": "won"})
        deal_services.move_deal(s, deal.id, other.id)
        services.archive_stage(s, busy.id)  # only closed history points at it now
        assert [st.name for st in queries.pipeline_stages(s, pipeline.id)] == ["Other", "Empty"]
        with pytest.raises(ValidationFailed):
            deal_services.move_deal(s, deal.id, busy.id)
        services.delete_stage(s, empty.id)
        assert s.get(Stage, empty.id) is None


def test_the_last_pipeline_cannot_be_archived(app, new_tenant):
    tenant = new_tenant("Lonely")
    with app.app_context(), tenant_session(tenant.ref) as s:
        (sales,) = queries.list_pipelines(s)
        with pytest.raises(Conflict):
            services.archive_pipeline(s, sales.id)
        extra = services.create_pipeline(s, {"name": "Extra"})
        services.archive_pipeline(s, sales.id)
        assert [p.id for p in queries.list_pipelines(s)] == [extra.id]
        services.restore_pipeline(s, sales.id)
        assert len(queries.list_pipelines(s)) == 2


def test_existing_tenants_get_the_sales_pipeline_from_the_migration(app, runner, new_tenant):
    from rapport.platform.cli import main

    tenant = new_tenant("Old timer")
    # Back to before the deals revision (its tables go), then forward again as `rapport migrate`.
    result = runner.invoke(main, ["migrate", "--tenant", tenant.slug, "--to", "t0002"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["migrate", "--tenant", tenant.slug])
    assert result.exit_code == 0, result.output
    with app.app_context(), tenant_session(tenant.ref) as s:
        (sales,) = queries.list_pipelines(s)
        stages = queries.pipeline_stages(s, sales.id)
        assert sales.name == "Sales"
        assert [(x.name, x.probability, x.kind) for x in stages] == [
            ("Qualification", 10, "open"),
            ("Proposal", 40, "open"),
            ("Negotiation", 70, "open"),
            ("Won", 100, "won"),
            ("Lost", 0, "lost"),
        ]
        # And the tenant's role may use the new tables (granted by the fan-out).
        deal = deal_services.create_deal(s, {"name": "After upgrade", "currency": "EUR"})
        assert deal.stage_id == stages[0].id


def test_pipelines_are_reordered_and_the_first_is_the_boards_default(app, new_tenant):
    fresh = new_tenant("Pipeline order")
    with app.app_context():
        with tenant_session(fresh.ref) as s:
            renewals = services.create_pipeline(s, {"name": "Renewals"})
            services.shift_pipeline(s, renewals.id, -1)
            services.shift_pipeline(s, renewals.id, -5)  # already first: stays
            renewals_id = renewals.id
        with tenant_session(fresh.ref) as s:
            assert [p.name for p in queries.list_pipelines(s)] == ["Renewals", "Sales"]
            assert queries.default_pipeline(s).id == renewals_id
            actions = s.scalars(
                select(AuditEntry.action).where(AuditEntry.target_id == str(renewals_id))
            ).all()
            assert actions.count("pipelines.reordered") == 1
