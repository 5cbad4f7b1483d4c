"""Pipelines settings (admins only): pipelines and their stages, created, renamed, reordered,
given probabilities, archived; a stage without deals can be deleted."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.pipelines import queries, services
from rapport.tenants.pipelines.models import STAGE_KINDS
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("pipelines", __name__, "/settings/pipelines")


@bp.before_request
def _admins_only() -> None:
    require_role(*MANAGERS)


def _page(status: int = 200, errors: dict[str, Any] | None = None, target: str = ""):  # type: ignore[no-untyped-def]
    session = tenant_db()
    pipelines = queries.list_pipelines(session, include_archived=True)
    stages = {
        p.id: queries.pipeline_stages(session, p.id, include_archived=True) for p in pipelines
    }
    counts = {p.id: queries.deals_per_stage(session, p.id) for p in pipelines}
    return render_template(
        "pipelines/index.html",
        pipelines=pipelines,
        stages=stages,
        counts=counts,
        kinds=STAGE_KINDS,
        errors=errors or {},
        target=target,
        values=request.form if status != 200 else {},
    ), status


@bp.get("/", endpoint="index")
def index():  # type: ignore[no-untyped-def]
    return _page()


def _act(operation: Callable[[], Any], success: str, target: str = ""):  # type: ignore[no-untyped-def]
    """Run one service call; 404 for ids of nothing here, the page again with errors (422/409)."""
    try:
        operation()
    except NotFound:
        abort(404)
    except ValidationFailed as exc:
        return _page(422, exc.errors, target)
    except Conflict as exc:
        return _page(409, {"_form": [exc.message]}, target)
    flash(success, "success")
    return redirect(url_for(".index"), 303)


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "") for name in names}


@bp.post("/")
def create_pipeline():  # type: ignore[no-untyped-def]
    return _act(
        lambda: services.create_pipeline(tenant_db(), _form("name")), "Pipeline created.", "new"
    )


@bp.post("/<uuid:pipeline_id>/rename")
def rename_pipeline(pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(
        lambda: services.rename_pipeline(tenant_db(), pipeline_id, _form("name")),
        "Pipeline renamed.",
        str(pipeline_id),
    )


@bp.post("/<uuid:pipeline_id>/archive")
def archive_pipeline(pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(lambda: services.archive_pipeline(tenant_db(), pipeline_id), "Pipeline archived.")


@bp.post("/<uuid:pipeline_id>/restore")
def restore_pipeline(pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(lambda: services.restore_pipeline(tenant_db(), pipeline_id), "Pipeline restored.")


@bp.post("/<uuid:pipeline_id>/shift")
def shift_pipeline(pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
    offset = -1 if request.form.get("direction") == "up" else 1
    return _act(
        lambda: services.shift_pipeline(tenant_db(), pipeline_id, offset), "Pipelines reordered."
    )


@bp.post("/<uuid:pipeline_id>/stages")
def create_stage(pipeline_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(
        lambda: services.create_stage(
            tenant_db(), pipeline_id, _form("name", "probability", "kind")
        ),
        "Stage added.",
        f"stage-new-{pipeline_id}",
    )


@bp.post("/stages/<uuid:stage_id>")
def update_stage(stage_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(
        lambda: services.update_stage(tenant_db(), stage_id, _form("name", "probability", "kind")),
        "Stage saved.",
        str(stage_id),
    )


@bp.post("/stages/<uuid:stage_id>/shift")
def shift_stage(stage_id: uuid.UUID):  # type: ignore[no-untyped-def]
    offset = -1 if request.form.get("direction") == "up" else 1
    return _act(lambda: services.shift_stage(tenant_db(), stage_id, offset), "Stages reordered.")


@bp.post("/stages/<uuid:stage_id>/archive")
def archive_stage(stage_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(lambda: services.archive_stage(tenant_db(), stage_id), "Stage archived.")


@bp.post("/stages/<uuid:stage_id>/delete")
def delete_stage(stage_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _act(lambda: services.delete_stage(tenant_db(), stage_id), "Stage deleted.")
