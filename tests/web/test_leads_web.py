"""Leads and teams in the browser: list filters, create with routing, qualify, convert with a
merge, capture form settings, delete with confirmation, admin-only teams, tenant isolation."""

from __future__ import annotations

import csv
import html
import io
import re
import secrets
import uuid

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.leads import services
from rapport.tenants.leads.models import Lead
from rapport.tenants.teams import services as team_services
from rapport.tenants.teams.models import Team, Territory


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def plain(response) -> str:
    """The page as a person reads it: no tags, single spaces."""
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html.unescape(text))


def error_for(body: str, field: str) -> str | None:
    match = re.search(rf'<div class="error" id="e-{field}" role="alert">(.*?)</div>', body, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def make_lead(app, tenant, **data) -> Lead:
    with app.app_context(), tenant_session(tenant.ref) as s:
        lead = services.create_lead(s, {"last_name": unique("Lead"), **data})
        s.flush()
        s.expunge(lead)
        return lead


def test_empty_filters_create_and_my_leads(app, client, auth, tenant_a):
    auth.login_as(tenant_a)
    base = f"/{tenant_a.slug}/leads/"
    page = client.get(base)
    assert page.status_code == 200 and "Leads" in page_text(page)
    # The form posts to the list URL; the form page carries the CSRF token.
    response = client.post(
        base,
        data={"first_name": "Only", "email": "bad", "csrf_token": _csrf(client, base + "new")},
    )
    body = page_text(response)
    assert response.status_code == 422
    assert error_for(body, "last_name") == "Enter a last name or a company name (or both)."
    assert error_for(body, "email") == "Enter an email address such as ada@example.com."
    name = unique("Turing")
    response = client.post(
        base,
        data={"first_name": "Alan", "last_name": name, "company_name": "Bletchley",
              "owner_id": str(tenant_a.owner_id), "rating": "hot", "status": "new",
              "csrf_token": _csrf(client, base + "new")},
        follow_redirects=True,
    )  # fmt: skip
    body = page_text(response)
    assert f"Lead “Alan {name}” created." in body and "Hot" in body
    mine = page_text(client.get(base, query_string={"owner": "me", "q": name}))
    assert f"Alan {name}" in mine
    unassigned = page_text(client.get(base, query_string={"owner": "unassigned", "q": name}))
    assert "No matches" in unassigned


def _csrf(client, path: str) -> str:
    body = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)


def test_qualify_then_convert_merging_into_an_existing_company(app, client, auth, tenant_a):
    company_name = unique("Umbrella")
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = company_services.create_company(s, {"name": f"{company_name} Corp."})
        company_id = company.id
    lead = make_lead(
        app, tenant_a, first_name="Jill", company_name=company_name, email="jill@u.example"
    )
    auth.login_as(tenant_a)
    detail = f"/{tenant_a.slug}/leads/{lead.id}"
    response = client.post(
        detail + "/status",
        data={"status": "qualified", "csrf_token": _csrf(client, detail)},
        follow_redirects=True,
    )
    assert "Lead marked qualified." in page_text(response)
    page = plain(client.get(detail + "/convert"))
    assert f"Merge into {company_name} Corp." in page and "same name" in page
    response = client.post(
        detail + "/convert",
        data={"company": str(company_id), "contact": "new", "csrf_token": _csrf(client, detail)},
        follow_redirects=True,
    )
    body = page_text(response)
    assert f"Lead “Jill {lead.last_name}” converted." in body
    assert f"{company_name} Corp." in body and "Converted on" in body
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        converted = s.get(Lead, lead.id)
        assert converted.converted_company_id == company_id
        contact = s.get(Contact, converted.converted_contact_id)
        assert contact.company_id == company_id
    again = client.get(detail + "/convert", follow_redirects=True)
    assert "This lead was already converted." in page_text(again)


def test_convert_errors_show_next_to_the_choice(app, client, auth, tenant_a):
    lead = make_lead(app, tenant_a, company_name=None)
    auth.login_as(tenant_a)
    detail = f"/{tenant_a.slug}/leads/{lead.id}"
    response = client.post(
        detail + "/convert",
        data={"company": "new", "contact": "new", "with_deal": "1", "deal_name": "D",
              "currency": "XYZ", "csrf_token": _csrf(client, detail)},
    )  # fmt: skip
    assert response.status_code == 422
    body = page_text(response)
    assert "This lead has no company name" in error_for(body, "company")
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert s.get(Lead, lead.id).converted_at is None


def test_delete_asks_first(app, client, auth, tenant_a):
    lead = make_lead(app, tenant_a)
    auth.login_as(tenant_a)
    detail = f"/{tenant_a.slug}/leads/{lead.id}"
    confirm = page_text(client.get(detail + "/delete"))
    assert f"Delete {lead.last_name}?" in confirm
    response = client.post(
        detail + "/delete", data={"csrf_token": _csrf(client, detail)}, follow_redirects=True
    )
    assert f"Lead “{lead.last_name}” deleted." in page_text(response)
    assert client.get(detail).status_code == 404


def test_teams_and_territories_route_a_lead_created_in_the_browser(app, client, auth, tenant_a):
    auth.login_as(tenant_a)
    teams = f"/{tenant_a.slug}/settings/teams/"
    name = unique("Nordics")
    response = client.post(
        teams, data={"name": name, "csrf_token": _csrf(client, teams)}, follow_redirects=True
    )
    assert f"Team “{name}” created." in page_text(response)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        team_id = s.scalar(select(Team.id).where(Team.name == name))
    team_page = f"{teams}{team_id}"
    response = client.post(
        team_page + "/members",
        data={"user_id": str(tenant_a.owner_id), "csrf_token": _csrf(client, team_page)},
        follow_redirects=True,
    )
    assert f"joined {name}" in page_text(response)
    outsider = client.post(
        team_page + "/members",
        data={"user_id": str(uuid.uuid4()), "csrf_token": _csrf(client, team_page)},
    )
    assert error_for(page_text(outsider), "user_id") == "Choose a member of this workspace."
    region = unique("Lapland")
    new_territory = teams + "territories/new"
    bad = client.post(
        teams + "territories",
        data={"name": "T", "team_id": str(team_id), "countries": "FI, QQ",
              "csrf_token": _csrf(client, new_territory)},
    )  # fmt: skip
    assert bad.status_code == 422 and error_for(page_text(bad), "countries")
    response = client.post(
        teams + "territories",
        data={"name": unique("North"), "team_id": str(team_id), "priority": "700",
              "countries": "fi", "regions": region, "csrf_token": _csrf(client, new_territory)},
        follow_redirects=True,
    )  # fmt: skip
    assert "Territory “North" in page_text(response) and region in page_text(response)
    leads = f"/{tenant_a.slug}/leads/"
    response = client.post(
        leads,
        data={"last_name": unique("Virtanen"), "country": "FI", "region": region,
              "csrf_token": _csrf(client, leads + "new")},
        follow_redirects=True,
    )  # fmt: skip
    body = page_text(response)
    assert "Assigned to Acme Owner." in body
    assert re.search(r'class="lead-owner">Acme Owner<', body)


def test_capture_form_settings_show_the_snippet_and_check_addresses(client, auth, tenant_a):
    auth.login_as(tenant_a)
    page = f"/{tenant_a.slug}/leads/capture-form"
    body = page_text(client.get(page))
    assert f'action="http://localhost/forms/{tenant_a.slug}/leads"' in body
    assert f"/forms/{tenant_a.slug}/leads/embed.js" in body and 'name="homepage"' in body
    bad = client.post(
        page,
        data={"enabled": "1", "allowed_return_urls": "ftp://x", "csrf_token": _csrf(client, page)},
    )
    assert bad.status_code == 422
    assert error_for(page_text(bad), "allowed_return_urls").startswith("Use full addresses")
    ok = client.post(
        page,
        data={"enabled": "1", "allowed_return_urls": "https://acme.example/\n",
              "csrf_token": _csrf(client, page)},
        follow_redirects=True,
    )  # fmt: skip
    assert "Capture form settings saved." in page_text(ok)


def test_tenant_b_sees_nothing_of_tenant_a(app, client, auth, tenants):
    a, b = tenants
    lead = make_lead(app, a)
    with app.app_context(), tenant_session(a.ref) as s:
        territory = s.scalars(select(Territory)).first()
        team = s.scalars(select(Team)).first()
    auth.login_as(b)
    assert client.get(f"/{b.slug}/leads/{lead.id}").status_code == 404
    assert client.get(f"/{b.slug}/leads/{lead.id}/convert").status_code == 404
    listed = page_text(client.get(f"/{b.slug}/leads/", query_string={"q": lead.last_name}))
    assert "No matches" in listed and f"/leads/{lead.id}" not in listed
    token = _csrf(client, f"/{b.slug}/leads/")
    response = client.post(f"/{b.slug}/leads/{lead.id}/delete", data={"csrf_token": token})
    assert response.status_code == 404
    if team is not None:
        assert client.get(f"/{b.slug}/settings/teams/{team.id}").status_code == 404
    if territory is not None:
        path = f"/{b.slug}/settings/teams/territories/{territory.id}/edit"
        assert client.get(path).status_code == 404
    # And tenant A's workspace itself is closed to B's owner.
    assert client.get(f"/{a.slug}/leads/{lead.id}").status_code == 404
    with app.app_context(), tenant_session(a.ref) as s:
        assert s.get(Lead, lead.id) is not None


def test_csv_import_routes_each_row_and_reports_bad_lines(app, client, auth, new_tenant):
    tenant = new_tenant("Importco")
    with app.app_context(), tenant_session(tenant.ref) as s:
        team = team_services.create_team(s, {"name": "Everyone"})
        team_services.add_member(s, team.id, {"user_id": str(tenant.owner_id)})
        team_services.create_territory(s, {"name": "Spain", "team_id": str(team.id),
                                           "countries": ["ES"]})  # fmt: skip
    auth.login_as(tenant)
    # The leads page's import is the import of every record type, with leads chosen.
    list_page = page_text(client.get(f"/{tenant.slug}/leads/"))
    assert f'href="/{tenant.slug}/imports/?record_type=leads"' in list_page
    moved = client.get(f"/{tenant.slug}/leads/import")
    assert moved.status_code == 303 and moved.headers["Location"].endswith("record_type=leads")
    path = f"/{tenant.slug}/imports/"
    csv_text = (
        "\ufeffFirst name;Surname;Company;Email address;Country;Shoe size\n"
        "Ana;García;Olé SL;ana@ole.example;ES;38\n"
        ";;;not-an-email;;\n"
        "Luis;Pérez;;;FR;44\n"
    )
    uploaded = client.post(
        path,
        data={"record_type": "leads", "file": (io.BytesIO(csv_text.encode()), "leads.csv"),
              "csrf_token": _csrf(client, path)},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert uploaded.status_code == 303
    mapping_path = uploaded.headers["Location"]
    mapping = page_text(client.get(mapping_path))
    shoe = re.search(r'<select id="f-column-5".*?</select>', mapping, re.S).group(0)
    assert '<option value="" selected>Don' in shoe  # "Shoe size" is not imported
    chosen = ["first_name", "last_name", "company_name", "email", "country", ""]
    response = client.post(
        mapping_path,
        data={**{f"column-{i}": c for i, c in enumerate(chosen)}, "action": "run",
              "csrf_token": _csrf(client, mapping_path)},
        follow_redirects=True,
    )  # fmt: skip
    body = plain(response)
    assert response.status_code == 200
    assert "2 leads imported" in body
    assert "1 row was not imported" in body and "Enter an email address" in body
    with app.app_context(), tenant_session(tenant.ref) as s:
        ana = s.scalars(select(Lead).where(Lead.last_name == "García")).one()
        assert ana.owner_id == tenant.owner_id and ana.source == "import"
        luis = s.scalars(select(Lead).where(Lead.last_name == "Pérez")).one()
        assert luis.owner_id is None
    uploaded = client.post(
        path,
        data={"record_type": "leads", "file": (io.BytesIO(b"colour\nred\n"), "x.csv"),
              "csrf_token": _csrf(client, path)},
        content_type="multipart/form-data",
    )  # fmt: skip
    mapping_path = uploaded.headers["Location"]
    empty = client.post(
        mapping_path,
        data={"column-0": "", "action": "preview", "csrf_token": _csrf(client, mapping_path)},
    )
    assert empty.status_code == 422
    assert "Choose a field for at least one column." in plain(empty)


def test_leads_list_filters_columns_views_export_and_quick_filters(
    app, client, auth, new_tenant, tenant_b
):
    # A workspace of its own, so that counts and quick filters see only these leads.
    tenant = new_tenant("Leads List")
    tag = f"ll{secrets.token_hex(3)}"
    statuses = ("new", "working", "qualified", "unqualified")
    with app.app_context(), tenant_session(tenant.ref) as s:
        from rapport.tenants.fields import services as fields

        fields.create_field(
            s, {"record_type": "leads", "api_name": "budget", "label": "Budget",
                "type": "integer", "filterable": True},
        )  # fmt: skip
    with app.app_context(), tenant_session(tenant.ref) as s:
        for i in range(30):
            services.create_lead(
                s,
                {"first_name": tag, "last_name": f"L{i:02d}", "status": statuses[i % 4],
                 "owner_id": str(tenant.owner_id) if i < 5 else "",
                 "custom": {"budget": i * 100}},
            )  # fmt: skip
    auth.login_as(tenant)
    base = f"/{tenant.slug}/leads/"

    def names(body: str) -> list[str]:
        return re.findall(rf">{tag} (L\d\d)</a>", body)

    # Newest first, 25 a page, the rest one "next" further (keyset cursor).
    first = page_text(client.get(base))
    assert "30 leads" in first and names(first)[:2] == ["L29", "L28"] and len(names(first)) == 25
    nxt = html.unescape(re.search(r'rel="next" href="([^"]+)"', first).group(1))
    assert "cursor=" in nxt and names(page_text(client.get(nxt))) == [
        f"L{i:02d}" for i in range(4, -1, -1)
    ]

    # A filter on a custom field, the columns chosen, sorted by that field; labels, not codes.
    custom = page_text(
        client.get(base + "?applied=1&ff=custom.budget&fo=gte&fv=2500&col=name&col=custom.budget"
                   "&col=status&sort=-custom.budget")
    )  # fmt: skip
    assert names(custom) == ["L29", "L28", "L27", "L26", "L25"]
    head = custom[custom.index("<thead>") : custom.index("</thead>")]
    shown = [
        re.sub(r"<[^>]+>|[▲▼]", "", h).strip()
        for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]
    assert shown == ["Name", "Budget", "Status"]
    assert re.search(r">\s*2,?900\s*<", custom) and "<td>Working</td>" in custom

    # The quick filters leads always had: unassigned, mine, one member, open / one status.
    assert "25 leads" in page_text(client.get(base + "?applied=1&owner=unassigned"))
    mine = page_text(client.get(base, query_string={"owner": "me", "applied": 1}))
    assert sorted(names(mine)) == ["L00", "L01", "L02", "L03", "L04"]
    member = page_text(client.get(base, query_string={"owner": str(tenant.owner_id), "applied": 1}))
    assert sorted(names(member)) == sorted(names(mine))
    open_leads = page_text(client.get(base + "?applied=1&status=open&col=name&sort=name"))
    assert "23 leads" in open_leads and "L03" not in names(open_leads)  # 3 is unqualified
    working = page_text(client.get(base + "?applied=1&status=working&sort=name"))
    assert names(working) == [f"L{i:02d}" for i in range(1, 30, 4)]
    assert f'href="/{tenant.slug}/leads/?applied=1&owner=unassigned">Unassigned</a>' in first

    # A saved view of one's own opens the list by default.
    saved = auth.post(
        f"/{tenant.slug}/leads/views",
        {"name": "Hot budgets", "ff": ["custom.budget", "status"], "fo": ["gte", "eq"],
         "fv": ["1000", "new"], "sort": "-custom.budget", "col": ["name", "custom.budget"],
         "is_default": "on"},
    )  # fmt: skip
    assert saved.status_code == 303
    default = page_text(client.get(base))
    assert names(default) == ["L28", "L24", "L20", "L16", "L12"]
    assert "Hot budgets" in default

    # CSV export writes exactly what the view shows: its rows (all of them), columns and order.
    export = client.get(
        f"/{tenant.slug}/leads/export.csv?applied=1&col=name&col=custom.budget&col=status"
        "&ff=status&fo=in&fv=working,qualified&sort=name",
        buffered=True,
    )
    assert export.status_code == 200 and export.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Name", "Budget", "Status"]
    wanted = [i for i in range(30) if i % 4 in (1, 2)]
    assert [r[0] for r in rows[1:]] == [f"{tag} L{i:02d}" for i in wanted]
    assert rows[2] == [f"{tag} L02", "200", "Qualified"]

    # Nothing of it reaches another workspace.
    auth.logout()
    auth.login_as(tenant_b)
    other = client.get(f"/{tenant_b.slug}/leads/export.csv?applied=1&ff=first_name&fo=eq&fv={tag}",
                       buffered=True)  # fmt: skip
    assert tag not in other.get_data(as_text=True)
    assert names(page_text(client.get(f"/{tenant_b.slug}/leads/?q={tag}"))) == []
