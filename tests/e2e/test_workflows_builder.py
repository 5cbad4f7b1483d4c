"""The workflow builder in a real browser: choosing the record type and trigger re-renders the
form with their fields, each action row shows only its type's inputs, and the saved workflow runs
when a deal is won."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.deals import services as deals
from rapport.tenants.pipelines.queries import default_pipeline, pipeline_stages

pytestmark = pytest.mark.e2e


def test_build_a_won_deal_email_workflow_and_see_it_run(
    page, live_server, app, new_tenant, tenant_b, smtp
):
    ws = new_tenant("Workflow Builder")
    address = f"wins-{secrets.token_hex(3)}@example.com"
    page.goto(f"/login?next=/{ws.slug}/settings/workflows/new")
    page.get_by_label("Email").fill(ws.owner_email)
    page.get_by_label("Password").fill(ws.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/{ws.slug}/settings/workflows/new")

    page.locator("#f-name").fill("Tell sales about wins")
    # Changing the record type or trigger re-renders the form (what was typed stays).
    with page.expect_navigation():
        page.locator("#f-record_type").select_option("deals")
    expect(page.locator("#f-name")).to_have_value("Tell sales about wins")
    with page.expect_navigation():
        page.locator("#f-trigger").select_option("stage_changed")
    expect(page.get_by_role("button", name="Show its fields")).to_have_count(0)

    page.locator("select[name='condition-0-field']").select_option("status")
    page.locator("select[name='condition-0-op']").select_option("eq")
    page.locator("input[name='condition-0-value']").fill("won")

    row = page.locator("#action-0")
    expect(row.locator("input[name='action-0-value']")).to_be_hidden()
    row.locator("select[name='action-0-type']").select_option("email")
    expect(row.locator("input[name='action-0-value']")).to_be_hidden()
    expect(row.locator("input[name='action-0-address']")).to_be_visible()
    row.locator("select[name='action-0-to']").select_option("address")
    row.locator("input[name='action-0-address']").fill(address)
    row.locator("input[name='action-0-email_subject']").fill("Won: {{ name }}")
    row.locator("textarea[name='action-0-body']").fill("{{ name }} is won. {{ link }}")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the workflow").click()
    listed = page.locator("#workflows")
    expect(listed).to_contain_text("Tell sales about wins")
    expect(listed).to_contain_text("Deals: changes stage")

    with app.app_context(), tenant_session(ws.ref) as s:
        deal_id = deals.create_deal(s, {"name": "Ramen Co", "currency": "JPY"}).id
        won = next(st for st in pipeline_stages(s, default_pipeline(s).id) if st.kind == "won")
    with app.app_context(), tenant_session(ws.ref) as s:
        deals.move_deal(s, deal_id, won.id)
    (mail,) = smtp.to(address)
    assert str(mail["Subject"]) == "Won: Ramen Co"

    page.reload()
    page.locator("#workflows .workflow-runs a").click()
    expect(page.locator("#workflow-runs")).to_contain_text("Succeeded")
    expect(page.locator("#workflow-runs")).to_contain_text(f"Emailed {address}")
