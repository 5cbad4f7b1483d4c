"""Deals in the browser: the board (columns, totals), the no-JS move, forms, history, isolation."""

from __future__ import annotations

import html
import re
import secrets
import uuid

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.deals import services
from rapport.tenants.deals.models import Deal
from rapport.tenants.pipelines import queries as pipeline_queries


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def error_for(body: str, field: str) -> str | None:
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def sales_stages(app, tenant) -> dict[str, str]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        pipeline = pipeline_queries.list_pipelines(s)[0]
        return {st.name: str(st.id) for st in pipeline_queries.pipeline_stages(s, pipeline.id)}


def make_deal(app, tenant, **data) -> tuple[str, str]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        deal = services.create_deal(
            s, {"name": f"Deal {secrets.token_hex(3)}", "currency": "EUR", **data}
        )
        return str(deal.id), deal.name


def column(body: str, stage_name: str) -> str:
    """The HTML of one board column."""
    match = re.search(
        rf'<section class="kanban-column[^"]*"[^>]*>\s*<header class="kanban-head">\s*'
        rf"<h2[^>]*>{re.escape(stage_name)}</h2>(.*?)</section>",
        body,
        re.S,
    )
    assert match, f"no column {stage_name}"
    return match.group(1)


def test_board_shows_columns_cards_and_totals(app, tenants, client, auth):
    a, _b = tenants
    company_name = f"Umbrella {secrets.token_hex(2)}"
    with app.app_context(), tenant_session(a.ref) as s:
        from rapport.tenants.companies import services as company_services

        company_id = str(company_services.create_company(s, {"name": company_name}).id)
    _id, name = make_deal(app, a, amount="1500", company_id=company_id)
    auth.login_as(a)
    response = client.get(f"/{a.slug}/deals/")
    body = page_text(response)
    assert response.status_code == 200
    headings = re.findall(r'<h2 id="stage-[^"]+">([^<]+)</h2>', body)
    assert headings == ["Qualification", "Proposal", "Negotiation", "Won", "Lost"]
    qualification = column(body, "Qualification")
    assert (
        name in qualification and company_name in qualification and "1,500.00 EUR" in qualification
    )
    count = int(re.search(r'<span class="count">(\d+) deals?</span>', qualification).group(1))
    assert count >= 1
    assert 'src="/static/kanban.js"' in body
    assert "Deals" in re.search(r'<aside class="sidebar">(.*?)</aside>', body, re.S).group(1)


def test_no_js_move_form_moves_the_deal_and_the_history_shows_it(app, tenants, client, auth):
    a, _b = tenants
    stages = sales_stages(app, a)
    deal_id, name = make_deal(app, a, amount="99")
    auth.login_as(a)
    response = auth.post(
        f"/{a.slug}/deals/{deal_id}/move",
        {"stage_id": stages["Proposal"], "next": f"/{a.slug}/deals/"},
    )
    assert response.status_code == 303 and response.headers["Location"].endswith(
        f"/{a.slug}/deals/"
    )
    board = page_text(client.get(f"/{a.slug}/deals/"))
    assert name in column(board, "Proposal") and name not in column(board, "Qualification")
    assert f"“{name}” moved to Proposal." in board
    detail = page_text(client.get(f"/{a.slug}/deals/{deal_id}"))
    # The one timeline tells the move (who, from where to where) and the stage it began in.
    assert "stage-history" not in detail
    timeline = re.search(r'<ol class="timeline unified-timeline">(.*?)</ol>', detail, re.S).group(1)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", timeline))
    assert re.search(rf"Moved from Qualification to Proposal {re.escape(a.owner_email)}", text)
    assert re.search(r"Deal created .*Stage Qualification", text)
    assert text.index("Moved from Qualification") < text.index("Deal created")


def test_moving_to_lost_without_a_reason_shows_the_error_and_keeps_the_stage(
    app, tenants, client, auth
):
    a, _b = tenants
    stages = sales_stages(app, a)
    deal_id, _name = make_deal(app, a)
    auth.login_as(a)
    response = auth.post(f"/{a.slug}/deals/{deal_id}/move", {"stage_id": stages["Lost"]})
    body = page_text(response)
    assert response.status_code == 422
    assert error_for(body, "lost_reason") == "Say why the deal was lost."
    response = auth.post(
        f"/{a.slug}/deals/{deal_id}/move",
        {"stage_id": stages["Lost"], "lost_reason": "budget"},
    )
    assert response.status_code == 303
    detail = page_text(client.get(f"/{a.slug}/deals/{deal_id}"))
    assert "No budget" in detail and 'class="badge status-lost"' in detail


def test_json_move_answers_json(app, tenants, client, auth):
    a, _b = tenants
    stages = sales_stages(app, a)
    deal_id, _name = make_deal(app, a)
    auth.login_as(a)
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', client.get(f"/{a.slug}/deals/").get_data(as_text=True)
    ).group(1)
    response = client.post(
        f"/{a.slug}/deals/{deal_id}/move",
        data={"stage_id": stages["Won"]},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.get_json() == {"deal_id": deal_id, "stage_id": stages["Won"], "status": "won"}


def test_forms_refuse_bad_input_with_messages_and_keep_values(app, tenants, client, auth):
    a, _b = tenants
    auth.login_as(a)
    response = auth.post(f"/{a.slug}/deals/", {"name": "", "amount": "lots", "currency": "XYZ"})
    body = page_text(response)
    assert response.status_code == 422
    assert error_for(body, "name") == "Enter the deal's name."
    assert "1250.00" in error_for(body, "amount")
    assert "ISO 4217" in error_for(body, "currency")
    assert 'value="lots"' in body and 'value="XYZ"' in body

    name = f"Real deal {secrets.token_hex(3)}"
    response = auth.post(f"/{a.slug}/deals/", {"name": name, "amount": "10", "currency": "usd"})
    assert response.status_code == 303
    deal_url = response.headers["Location"]
    deal_id = deal_url.rsplit("/", 1)[1]
    response = auth.post(f"{deal_url}/edit", {"name": name, "currency": "EUR", "owner_id": "nope"})
    assert response.status_code == 422
    assert error_for(page_text(response), "owner_id") == "Choose an owner from the list."
    response = auth.post(
        f"{deal_url}/edit",
        {"name": name + " v2", "amount": "10", "currency": "EUR", "owner_id": str(a.owner_id)},
    )
    assert response.status_code == 303
    detail = page_text(client.get(deal_url))
    assert name + " v2" in detail and "10.00 EUR" in detail

    listing = page_text(client.get(f"/{a.slug}/deals/list?q={name}"))
    assert name + " v2" in listing

    assert auth.post(f"{deal_url}/delete", {}).status_code == 303
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.scalars(select(Deal).where(Deal.id == uuid.UUID(deal_id))).first() is None


def test_another_tenants_deals_and_stages_are_not_found(app, tenants, client, auth):
    a, b = tenants
    deal_id, name = make_deal(app, a)
    a_stages = sales_stages(app, a)
    b_deal, _b_name = make_deal(app, b)
    auth.login_as(b)
    for path in (f"/{b.slug}/deals/{deal_id}", f"/{b.slug}/deals/{deal_id}/edit"):
        assert client.get(path).status_code == 404
    assert name not in page_text(client.get(f"/{b.slug}/deals/"))
    assert name not in page_text(client.get(f"/{b.slug}/deals/list"))
    # A's stage under B's slug, for B's own deal: not found, and nothing moves.
    response = auth.post(f"/{b.slug}/deals/{b_deal}/move", {"stage_id": a_stages["Proposal"]})
    assert response.status_code == 404
    response = auth.post(f"/{b.slug}/deals/{deal_id}/move", {"stage_id": a_stages["Proposal"]})
    assert response.status_code == 404
    # And B's member cannot reach A's workspace at all.
    assert client.get(f"/{a.slug}/deals/").status_code == 404


def test_pipelines_settings_for_admins(app, tenants, client, auth, new_tenant):
    a, _b = tenants
    auth.login_as(a)
    page = client.get(f"/{a.slug}/settings/pipelines/")
    body = page_text(page)
    assert page.status_code == 200 and "Qualification" in body
    assert "Pipelines" in page_text(client.get(f"/{a.slug}/settings/"))
    name = f"Renewals {secrets.token_hex(2)}"
    assert auth.post(f"/{a.slug}/settings/pipelines/", {"name": name}).status_code == 303
    with app.app_context(), tenant_session(a.ref) as s:
        pipeline = next(p for p in pipeline_queries.list_pipelines(s) if p.name == name)
    response = auth.post(
        f"/{a.slug}/settings/pipelines/{pipeline.id}/stages",
        {"name": "Talk", "probability": "150", "kind": "open"},
    )
    assert response.status_code == 422 and "0 to 100" in page_text(response)
    response = auth.post(
        f"/{a.slug}/settings/pipelines/{pipeline.id}/stages",
        {"name": "Talk", "probability": "30", "kind": "open"},
    )
    assert response.status_code == 303
    stages = sales_stages(app, a)
    deal_id, _ = make_deal(app, a)
    response = auth.post(
        f"/{a.slug}/settings/pipelines/stages/{stages['Qualification']}/delete", {}
    )
    assert response.status_code == 409 and "cannot be deleted" in page_text(response)
    board = page_text(client.get(f"/{a.slug}/deals/?pipeline={pipeline.id}"))
    assert re.findall(r'<h2 id="stage-[^"]+">([^<]+)</h2>', board) == ["Talk"]
    assert deal_id not in board


def _undo_form(body: str) -> dict[str, str]:
    """The hidden fields of the page's Undo form (its stage, position, the page to go back to)."""
    form = re.search(r'<div class="undo-toast"[^>]*>(.*?)</form>', body, re.S)
    assert form, "no Undo offered"
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(1)))


def test_undo_a_stage_move_from_the_deal_page_and_the_board(app, tenants, client, auth):
    a, b = tenants
    stages = sales_stages(app, a)
    deal_id, name = make_deal(app, a)
    detail_url = f"/{a.slug}/deals/{deal_id}"
    auth.login_as(a)
    moved = auth.post(
        f"/{a.slug}/deals/{deal_id}/move", {"stage_id": stages["Proposal"], "next": detail_url}
    )
    assert moved.status_code == 303 and moved.headers["Location"].endswith(detail_url)
    body = page_text(client.get(detail_url))
    assert f"“{name}” moved to Proposal." in body and f"“{name}” left Qualification." in body
    fields = _undo_form(body)
    assert fields["stage_id"] == stages["Qualification"] and fields["next"] == detail_url
    # Offered once: the next visit of the page no longer has it.
    assert 'class="undo-toast"' not in page_text(client.get(detail_url))

    undone = client.post(f"/{a.slug}/deals/{deal_id}/move/undo", data=fields)
    assert undone.status_code == 303 and undone.headers["Location"].endswith(detail_url)
    body = page_text(client.get(detail_url))
    assert f"Move undone: “{name}” is back in Qualification." in body
    assert re.search(r'<dd class="deal-stage">Qualification \(', body)
    assert "Moved from Proposal to Qualification" in body  # on the timeline, as any move
    with app.app_context(), tenant_session(a.ref) as s:
        assert str(s.get(Deal, uuid.UUID(deal_id)).stage_id) == stages["Qualification"]

    # The same Undo again finds the deal no longer where the move put it: nothing changes.
    again = client.post(f"/{a.slug}/deals/{deal_id}/move/undo", data=fields, follow_redirects=True)
    assert f"“{name}” has moved since; nothing was undone." in page_text(again)
    with app.app_context(), tenant_session(a.ref) as s:
        assert str(s.get(Deal, uuid.UUID(deal_id)).stage_id) == stages["Qualification"]

    # A drag (JSON) move: the reloaded board offers the toast, and Undo brings the card back.
    token = fields["csrf_token"]
    dragged = client.post(
        f"/{a.slug}/deals/{deal_id}/move",
        data={"stage_id": stages["Negotiation"], "position": "0"},
        headers={"Accept": "application/json", "X-CSRF-Token": token},
    )
    assert dragged.status_code == 200 and dragged.get_json()["stage_id"] == stages["Negotiation"]
    board = page_text(client.get(f"/{a.slug}/deals/"))
    assert name in column(board, "Negotiation")
    fields = _undo_form(board)
    assert fields["stage_id"] == stages["Qualification"] and fields["next"] == f"/{a.slug}/deals/"
    client.post(f"/{a.slug}/deals/{deal_id}/move/undo", data=fields)
    board = page_text(client.get(f"/{a.slug}/deals/"))
    assert name in column(board, "Qualification") and name not in column(board, "Negotiation")

    # Another workspace's member cannot reach the deal to undo anything.
    auth.logout()
    auth.login_as(b)
    fields["csrf_token"] = auth.csrf(f"/{b.slug}/deals/")
    refused = client.post(f"/{b.slug}/deals/{deal_id}/move/undo", data=fields)
    assert refused.status_code == 404
