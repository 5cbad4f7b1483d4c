"""Screen-pop lookup: any format of one line finds the contact and company; email ignores case."""

from __future__ import annotations

import secrets

import pytest

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.lookup import national_number, same_number


def local_number() -> str:
    """A Beijing-style subscriber number no other test uses: 8 digits."""
    return f"{secrets.randbelow(10**8):08d}"


@pytest.mark.parametrize(
    "written",
    ["+86 10-{a} {b}", "(010) {a}-{b}", "010{a}{b}", "0086 10 {a} {b}", "86 10 {a}{b}",
     "+86 (0)10 {a}.{b}", "+86-10-{a}-{b} ext. 12"],
)  # fmt: skip
def test_every_format_of_one_line_finds_the_contact_and_company(app, api_a, tenant_a, written):
    number = local_number()
    a, b = number[:4], number[4:]
    stored = f"+86 10 {a} {b}"
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = company_services.create_company(s, {"name": f"Caller Co {number}"})
        contact = contact_services.create_contact(
            s, {"last_name": f"Caller {number}", "phone": stored, "company_id": company.id}
        )
        ids = (str(contact.id), str(company.id))
    response = api_a.get("/api/v1/lookup", query_string={"phone": written.format(a=a, b=b)})
    assert response.status_code == 200, response.get_json()
    (found,) = response.get_json()["contacts"]
    assert found["id"] == ids[0] and found["phone"] == stored
    assert found["company"]["id"] == ids[1] and found["company"]["name"] == f"Caller Co {number}"


def test_a_stored_national_format_matches_an_international_query_and_companies_too(
    app, api_a, tenant_a
):
    number = local_number()
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        contact = contact_services.create_contact(
            s, {"last_name": "National", "phone": f"(010) {number[:4]}-{number[4:]}"}
        )
        company = company_services.create_company(
            s, {"name": f"Switchboard {number}", "phone": f"010 {number}"}
        )
        ids = str(contact.id), str(company.id)
    body = api_a.get("/api/v1/lookup", query_string={"phone": f"+86 10 {number}"}).get_json()
    assert [c["id"] for c in body["contacts"]] == [ids[0]]
    assert body["contacts"][0]["company"] is None
    assert [c["id"] for c in body["companies"]] == [ids[1]]
    # Another line sharing the last digits is not a match.
    other = api_a.get("/api/v1/lookup", query_string={"phone": f"+86 21 {number}"}).get_json()
    assert ids[0] not in {c["id"] for c in other["contacts"]}


def test_email_lookup_ignores_case_and_stays_in_the_tenant(app, api_a, tenant_a, tenant_b):
    local = f"grace.{secrets.token_hex(3)}"
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            mine = contact_services.create_contact(
                s, {"last_name": "Hopper", "email": f"{local}@Navy.example"}
            ).id
        with tenant_session(tenant_b.ref) as s:
            contact_services.create_contact(
                s,
                {
                    "last_name": "Hopper B",
                    "email": f"{local}@navy.example",
                    "phone": "+1 202 555 0199",
                },
            )
    body = api_a.get("/api/v1/lookup", query_string={"email": f"{local.upper()}@NAVY.EXAMPLE"})
    assert [c["id"] for c in body.get_json()["contacts"]] == [str(mine)]
    # B's number is unknown to A's key.
    by_phone = api_a.get("/api/v1/lookup", query_string={"phone": "+1 (202) 555-0199"}).get_json()
    assert "Hopper B" not in {c["last_name"] for c in by_phone["contacts"]}


def test_lookup_needs_exactly_one_of_phone_or_email(api_a, api_error):
    api_error(api_a.get("/api/v1/lookup"), 422)
    api_error(api_a.get("/api/v1/lookup", query_string={"phone": "1", "email": "a@b.c"}), 422)
    assert api_a.get("/api/v1/lookup", query_string={"phone": "abc"}).get_json() == {
        "contacts": [], "companies": []
    }  # fmt: skip


def test_the_documented_normalisation_rule():
    assert national_number("+86 10-1234 5678") == "1012345678"
    assert national_number("(010) 1234-5678") == "1012345678"
    assert national_number("01012345678") == "1012345678"
    assert national_number("+44 (0)20 7946 0958") == national_number("020 7946 0958")
    assert national_number("+1 415 555 0100 x 22") == "4155550100"
    assert same_number("861012345678", "1012345678")
    assert not same_number("2112345678", "1012345678")
    assert not same_number("991012345678", "1012345678")  # 99 starts three-digit codes


def test_secondary_numbers_and_addresses_are_found_too(
    app, api_a, api_for, new_key, tenant_a, tenant_b
):
    number = local_number()
    tag = secrets.token_hex(4)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        contact = contact_services.create_contact(
            s,
            {"last_name": f"Second {number}",
             "emails": [{"email": f"main-{tag}@example.com"},
                        {"email": f"Other-{tag}@Example.com", "label": "private"}],
             "phones": [{"phone": "+1 212 555 0100"},
                        {"phone": f"+86 10 {number}", "label": "mobile"}]},
        )  # fmt: skip
        contact_id = str(contact.id)
    body = api_a.get("/api/v1/lookup", query_string={"phone": f"010 {number}"}).get_json()
    assert [c["id"] for c in body["contacts"]] == [contact_id]
    assert body["contacts"][0]["phone"] == "+1 212 555 0100"
    assert [p["label"] for p in body["contacts"][0]["phones"]] == [None, "mobile"]
    body = api_a.get("/api/v1/lookup", query_string={"email": f"other-{tag}@example.com"})
    assert [c["id"] for c in body.get_json()["contacts"]] == [contact_id]
    # Another tenant's key finds nothing.
    other = api_for(new_key(tenant_b)).get(
        "/api/v1/lookup", query_string={"email": f"other-{tag}@example.com"}
    )
    assert other.get_json()["contacts"] == []
