"""The deal board in a real browser: drag a card to another stage, undo, drag it again, then move
it back by keyboard."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import expect

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.deals import services

pytestmark = pytest.mark.e2e


def test_drag_a_deal_across_stages_undo_then_move_it_back_with_the_keyboard(
    page, live_server, app, new_tenant, tenant_b
):
    # A workspace of its own: the shared ones fill up with other tests' deals, and a long column
    # scrolls while Chromium drags.
    a, b = new_tenant("Kanban Board"), tenant_b
    name = f"Kanban deal {secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        deal_id = str(
            services.create_deal(s, {"name": name, "amount": "4200", "currency": "EUR"}).id
        )

    page.goto(f"/login?next=/{a.slug}/deals/")
    page.get_by_label("Email").fill(a.owner_email)
    page.get_by_label("Password").fill(a.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/{a.slug}/deals/")

    qualification = page.locator(
        "section.kanban-column", has=page.get_by_role("heading", name="Qualification")
    )
    proposal = page.locator(
        "section.kanban-column", has=page.get_by_role("heading", name="Proposal")
    )
    card = page.locator(f"li.kanban-card[data-deal-id='{deal_id}']")
    expect(qualification.locator(f"[data-deal-id='{deal_id}']")).to_have_count(1)
    expect(card).to_contain_text("4,200.00 EUR")

    # The script posts the move, then reloads the board once the server has taken it.
    with (
        page.expect_navigation(),
        page.expect_response(lambda r: r.url.endswith(f"/deals/{deal_id}/move")) as moved,
    ):
        card.drag_to(proposal.locator("ol.kanban-cards"))
    assert moved.value.status == 200
    expect(proposal.locator(f"[data-deal-id='{deal_id}']")).to_have_count(1)

    # The reloaded board offers to undo the move: Undo puts the card back in its column.
    toast = page.locator(".undo-toast")
    expect(toast).to_contain_text(f"“{name}” left Qualification.")
    with page.expect_navigation():
        toast.get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Move undone: “{name}” is back in Qualification."
    )
    expect(qualification.locator(f"[data-deal-id='{deal_id}']")).to_have_count(1)
    expect(proposal.locator(f"[data-deal-id='{deal_id}']")).to_have_count(0)
    expect(page.locator(".undo-toast")).to_have_count(0)

    # Dragged again, and this time kept.
    card = page.locator(f"li.kanban-card[data-deal-id='{deal_id}']")
    with (
        page.expect_navigation(),
        page.expect_response(lambda r: r.url.endswith(f"/deals/{deal_id}/move")) as moved,
    ):
        card.drag_to(proposal.locator("ol.kanban-cards"))
    assert moved.value.status == 200
    page.reload()
    expect(page.locator(".undo-toast")).to_have_count(0)  # offered once only
    expect(proposal.locator(f"[data-deal-id='{deal_id}']")).to_have_count(1)
    expect(qualification.locator(f"[data-deal-id='{deal_id}']")).to_have_count(0)
    expect(proposal.locator(".column-totals")).to_contain_text("EUR")

    # Back by keyboard: open the card's "Move to…" menu, choose the stage, submit.
    card = page.locator(f"li.kanban-card[data-deal-id='{deal_id}']")
    card.locator("summary").focus()
    page.keyboard.press("Enter")
    select = card.get_by_label(f"Move {name} to stage")
    select.focus()
    select.select_option(label="Qualification")
    card.get_by_role("button", name="Move").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text(f"“{name}” moved to Qualification.")
    expect(qualification.locator(f"[data-deal-id='{deal_id}']")).to_have_count(1)

    page.get_by_role("link", name=name).click()
    timeline = page.locator("ol.unified-timeline")
    expect(timeline).to_contain_text("Moved from Proposal to Qualification")
    expect(timeline).to_contain_text("Moved from Qualification to Proposal")
    expect(page.locator("ol.stage-history")).to_have_count(0)

    # The other workspace's board is out of reach for this member.
    page.goto(f"/{b.slug}/deals/")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
