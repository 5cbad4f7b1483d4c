"""List views in the browser: filters, my records, columns, sort, saved views, CSV export."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
import secrets
import string
import uuid

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals
from rapport.tenants.fields import services as fields
from rapport.tenants.views import services as views


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def headers_of(body: str) -> list[str]:
    head = body[body.index("<thead>") : body.index("</thead>")]
    return [
        re.sub(r"<[^>]+>|[▲▼]", "", h).strip()
        for h in re.findall(r"<th[^>]*>(.*?)</th>", head, re.S)
    ]


def seed_companies(app, tenant, tag: str) -> None:
    with app.app_context(), tenant_session(tenant.ref) as s:
        for i in range(30):
            companies.create_company(
                s,
                {"name": f"{tag} {i:02d}", "classification": "ABC"[i % 3],
                 "city": "=cmd|' /C calc'!A0" if i == 7 else f"City {i % 2}",
                 "owner_id": str(tenant.owner_id) if i < 4 else None},
            )  # fmt: skip


def test_filters_my_records_columns_and_sort(app, tenants, client, auth):
    a, b = tenants
    # Letters only: the name filter below looks for "29", which a hex tag may hold.
    tag = "lv" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    seed_companies(app, a, tag)
    auth.login_as(a)
    base = f"/{a.slug}/companies/?applied=1&q={tag}"
    only_a = text(client.get(base + "&ff=classification&fo=eq&fv=A"))
    names = re.findall(rf">({tag} \d\d)</a>", only_a)
    assert names == [f"{tag} {i:02d}" for i in range(0, 30, 3)]
    assert "10 companies matching" in only_a
    # Several filters, "is one of", and the filter stays in the bar.
    both = text(client.get(base + "&ff=classification&fo=in&fv=A,B&ff=city&fo=eq&fv=City 1"))
    assert len(re.findall(rf">({tag} \d\d)</a>", both)) == 9  # odd, not C, not the 07
    assert 'value="A,B"' in both
    # My records: the ones the signed-in member owns.
    mine = text(client.get(base + "&mine=1"))
    assert re.findall(rf">({tag} \d\d)</a>", mine) == [f"{tag} 0{i}" for i in range(4)]
    # Column choice: exactly the chosen columns, in order; sort on any of them.
    chosen = text(
        client.get(base + "&col=name&col=classification&col=owner_id&sort=-classification")
    )
    assert headers_of(chosen) == ["Name", "Classification", "Owner"]
    first = re.findall(rf">({tag} \d\d)</a>", chosen)[0]
    assert int(first.split()[-1]) % 3 == 2  # C first when descending
    assert "<td>Acme Owner</td>" in chosen  # the owner by name, not by id
    # A bad filter is named, and the rest still applies.
    bad = client.get(base + "&ff=classification&fo=gt&fv=A&ff=name&fo=contains&fv=29")
    assert bad.status_code == 200
    body = text(bad)
    assert "does not apply" in body and re.findall(rf">({tag} \d\d)</a>", body) == [f"{tag} 29"]
    # Junk never breaks the page.
    assert (
        client.get(f"/{a.slug}/companies/?sort=custom.nope&col=zzz&ff=x&fo=y&fv=z").status_code
        == 200
    )
    # Tenant B sees none of it.
    auth.logout()
    auth.login_as(b)
    assert f">{tag} " not in text(client.get(f"/{b.slug}/companies/?applied=1&q={tag}"))


def test_sort_and_filter_on_a_custom_field_and_page_deep(app, tenants, client, auth):
    a, _ = tenants
    tag = f"cf{secrets.token_hex(3)}"
    api = f"seats_{secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        row = fields.create_field(
            s, {"record_type": "companies", "api_name": api, "label": "Seats", "type": "integer",
                "filterable": True},
        )  # fmt: skip
        field_id = row.id
    try:
        with app.app_context(), tenant_session(a.ref) as s:
            for i in range(40):
                companies.create_company(s, {"name": f"{tag} {i:02d}", "custom": {api: 100 - i}})
        auth.login_as(a)
        url = f"/{a.slug}/companies/?applied=1&q={tag}&col=name&col=custom.{api}&sort=custom.{api}"
        seen: list[str] = []
        page = text(client.get(url))
        assert headers_of(page) == ["Name", "Seats"]
        while True:
            seen += re.findall(rf">({tag} \d\d)</a>", page)
            nxt = re.search(r'rel="next" href="([^"]+)"', page)
            if not nxt:
                break
            page = text(client.get(html.unescape(nxt.group(1))))
        assert seen == [f"{tag} {i:02d}" for i in range(39, -1, -1)]
        over = text(client.get(url + f"&ff=custom.{api}&fo=gte&fv=95"))
        assert re.findall(rf">({tag} \d\d)</a>", over) == [
            f"{tag} 05",
            f"{tag} 04",
            f"{tag} 03",
            f"{tag} 02",
            f"{tag} 01",
            f"{tag} 00",
        ]
    finally:
        with app.app_context(), tenant_session(a.ref) as s, contextlib.suppress(Exception):
            fields.delete_field(s, field_id, api)


def test_saved_views_are_personal_and_the_default_opens_the_list(app, tenants, client, auth):
    a, _ = tenants
    tag = f"sv{secrets.token_hex(3)}"
    seed_companies(app, a, tag)
    with app.app_context(), tenant_session(a.ref) as s:
        theirs = views.save_view(s, uuid.uuid4(), "companies", {"name": f"Theirs {tag}"})
        theirs_id = theirs.id
    auth.login_as(a)
    list_url = f"/{a.slug}/companies/"
    saved = auth.post(
        f"/{a.slug}/companies/views",
        {"name": f"B accounts {tag}", "ff": ["classification", "name"], "fo": ["eq", "contains"],
         "fv": ["B", tag], "sort": "-name", "col": ["name", "classification"],
         "is_default": "on"},
    )  # fmt: skip
    assert saved.status_code == 303
    body = text(client.get(saved.headers["Location"]))
    assert f"View “B accounts {tag}” saved." in body
    names = re.findall(rf">({tag} \d\d)</a>", body)
    assert names[:2] == [f"{tag} 28", f"{tag} 25"] and len(names) == 10
    assert headers_of(body) == ["Name", "Classification"]
    # The default view opens the plain list; "All companies" leaves it.
    assert re.findall(rf">({tag} \d\d)</a>", text(client.get(list_url))) == names
    assert f"Theirs {tag}" not in text(client.get(list_url))
    assert client.get(f"{list_url}?view={theirs_id}").status_code == 404
    everything = text(client.get(f"{list_url}?applied=1&q={tag}"))
    assert len(re.findall(rf">({tag} \d\d)</a>", everything)) == 25
    # Someone else's view cannot be deleted; one's own can, after confirming in the page.
    view_id = re.search(r"view=([0-9a-f-]{36})", saved.headers["Location"]).group(1)
    refused = auth.post(f"/{a.slug}/companies/views/{theirs_id}/delete", {})
    assert refused.status_code == 404
    page = text(client.get(f"{list_url}?view={view_id}"))
    assert "Yes, delete this view" in page
    gone = auth.post(f"/{a.slug}/companies/views/{view_id}/delete", {}, follow=True)
    assert f"View “B accounts {tag}” deleted." in text(gone)
    assert len(re.findall(rf">({tag} \d\d)</a>", text(client.get(f"{list_url}?q={tag}")))) == 25
    # A view naming an unknown field is refused with the reason.
    bad = auth.post(f"/{a.slug}/companies/views", {"name": "Bad", "ff": "nope", "fo": "eq",
                                                   "fv": "1"}, follow=True)  # fmt: skip
    assert "The view was not saved" in text(bad)


def test_csv_export_is_exactly_the_view_all_rows_and_safe(app, tenants, client, auth):
    a, b = tenants
    tag = f"ex{secrets.token_hex(3)}"
    seed_companies(app, a, tag)
    auth.login_as(a)
    response = client.get(
        f"/{a.slug}/companies/export.csv?applied=1&q={tag}&col=name&col=city&col=classification"
        "&sort=-name&ff=city&fo=ne&fv=City 0",
        buffered=True,  # read the stream to its end and close it, as a browser would
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["Name", "City", "Classification"]
    # Every matching row (more than a page), in the view's order.
    assert [r[0] for r in rows[1:]] == [f"{tag} {i:02d}" for i in range(29, -1, -1) if i % 2]
    # A cell that would run as a spreadsheet formula is written as text.
    (evil,) = [r for r in rows if r[0] == f"{tag} 07"]
    assert evil[1] == "'=cmd|' /C calc'!A0"
    # The export link on the page carries the same state.
    page = text(client.get(f"/{a.slug}/companies/?applied=1&q={tag}&col=name&sort=-name"))
    link = re.search(r'href="([^"]*export\.csv[^"]*)"', page).group(1)
    assert "col=name" in link and "sort=-name" in link and f"q={tag}" in link
    auth.logout()
    auth.login_as(b)
    other = client.get(f"/{b.slug}/companies/export.csv?applied=1&q={tag}", buffered=True)
    assert tag not in other.get_data(as_text=True)


def test_contacts_and_deals_lists_filter_too(app, tenants, client, auth):
    a, _ = tenants
    tag = f"cd{secrets.token_hex(3)}"
    with app.app_context(), tenant_session(a.ref) as s:
        contacts.create_contact(s, {"first_name": tag, "last_name": "Open", "email": f"o@{tag}.io"})
        contacts.create_contact(
            s, {"first_name": tag, "last_name": "Closed", "email": f"c@{tag}.io",
                "do_not_email": "on"},
        )  # fmt: skip
        for name, amount in (("Small", "10"), ("Large", "5000")):
            deals.create_deal(s, {"name": f"{tag} {name}", "amount": amount, "currency": "EUR"})
    auth.login_as(a)
    quiet = text(client.get(f"/{a.slug}/contacts/?applied=1&q={tag}&ff=do_not_email&fo=eq&fv=yes"
                            "&col=name&col=email&col=do_not_email"))  # fmt: skip
    assert re.findall(rf">{tag} (\w+)</a>", quiet) == ["Closed"]
    assert headers_of(quiet) == ["Name", "Email", "Do not email"]
    big = text(client.get(f"/{a.slug}/deals/list?applied=1&q={tag}&ff=amount&fo=gte&fv=100"))
    assert re.findall(rf">{tag} (\w+)</a>", big) == ["Large"]
    # The status picker of older links still works.
    won = text(client.get(f"/{a.slug}/deals/list?q={tag}&status=won"))
    assert f">{tag} " not in won and "No deal matches" in won
    csv_text = client.get(f"/{a.slug}/deals/list/export.csv?applied=1&q={tag}&col=name&col=amount"
                          "&sort=amount", buffered=True).get_data(as_text=True)  # fmt: skip
    assert csv_text.lstrip("\ufeff").splitlines() == [
        "Name,Amount",
        f"{tag} Small,10.00",
        f"{tag} Large,5000.00",
    ]


def test_a_shared_view_shows_each_member_their_own_records_and_only_its_owner_changes_it(
    app, tenants, new_tenant, client, auth
):
    from rapport.tenants.roles import services as roles
    from tests.conftest import add_member

    ws = new_tenant("Shared lists")
    _b = tenants[1]
    rep = add_member(app, ws, "sales_rep")
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(
            s, {"record_type": "deals", "label": "Margin", "api_name": "margin", "type": "integer"}
        )
        for owner, name, margin in ((ws.owner_id, "Owner deal", 10), (rep.user_id, "Rep deal", 20)):
            deals.create_deal(s, {"name": name, "currency": "EUR", "owner_id": str(owner),
                                  "custom": {"margin": margin}})  # fmt: skip
        # Reps may not see the margin.
        role = next(r for r in roles.roles(s) if r.key == "sales_rep")
        roles.update_role(s, role.id, fields_spec={"deals": {"margin": "hidden"}})
    auth.login_as(ws)
    saved = auth.post(
        f"/{ws.slug}/deals/list/views",
        {"name": "My open deals", "ff": ["owner_id"], "fo": ["eq"], "fv": ["me"],
         "col": ["name", "custom.margin"], "shared": "on"},
    )  # fmt: skip
    assert saved.status_code == 303, text(saved)
    view_id = re.search(r"view=([0-9a-f-]{36})", saved.headers["Location"]).group(1)
    mine = text(client.get(f"/{ws.slug}/deals/list?view={view_id}"))
    assert "Owner deal" in mine and "Rep deal" not in mine and "Yes, delete this view" in mine
    auth.logout()

    auth.login(rep.email, rep.password)
    listing = text(client.get(f"/{ws.slug}/deals/list?applied=1"))
    assert "My open deals" in listing and "(shared)" in listing
    theirs = client.get(f"/{ws.slug}/deals/list?view={view_id}")
    assert theirs.status_code == 200
    page = text(theirs)
    # "Me" is whoever opens the view; the hidden column stays hidden.
    assert "Rep deal" in page and "Owner deal" not in page
    assert "Margin" not in headers_of(page)
    assert "Yes, delete this view" not in page
    assert auth.post(f"/{ws.slug}/deals/list/views/{view_id}/delete", {}).status_code == 404
