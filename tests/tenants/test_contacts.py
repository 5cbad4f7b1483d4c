"""Contact services and queries: validation, the company link, audit entries, isolation."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.contacts import queries, services
from rapport.tenants.contacts.models import Contact


def entries_for(session, target_id) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.seq)
        )
    )


def test_create_links_a_company_and_writes_one_entry(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = company_services.create_company(
                s, {"name": f"Acme {secrets.token_hex(3)}"}
            ).id
            contact = services.create_contact(
                s,
                {"first_name": " Ada ", "last_name": "Lovelace", "email": "ada@example.com",
                 "company_id": str(company_id), "phone": "", "title": ""},
            )  # fmt: skip
            contact_id = contact.id
        with tenant_session(a.ref) as s:
            stored = s.get(Contact, contact_id)
            assert (stored.first_name, stored.last_name, stored.company_id) == (
                "Ada",
                "Lovelace",
                company_id,
            )
            assert stored.phone is None and stored.title is None
            (entry,) = entries_for(s, contact_id)
            assert entry.action == "contact.created" and entry.target_type == "contact"
            assert entry.changes["email"] == [None, "ada@example.com"]
            assert entry.changes["company_id"] == [None, str(company_id)]
            assert "phone" not in entry.changes
        with tenant_session(b.ref) as s:
            assert s.get(Contact, contact_id) is None


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"first_name": "Ada"}, "last_name", "Enter a last name."),
        ({"last_name": "  "}, "last_name", "Enter a last name."),
        ({"last_name": "x" * 101}, "last_name", "at most 100"),
        ({"last_name": "Ok", "first_name": "x" * 101}, "first_name", "at most 100"),
        ({"last_name": "Ok", "email": "ada-at-example.com"}, "email", "Enter an email address"),
        ({"last_name": "Ok", "email": "ada@"}, "email", "Enter an email address"),
        ({"last_name": "Ok", "phone": "1234"}, "phone", "5 to 20 digits"),
        ({"last_name": "Ok", "phone": "9" * 51}, "phone", "at most 50"),
        ({"last_name": "Ok", "company_id": "not-an-id"}, "company_id", "Choose a company"),
        (
            {"last_name": "Ok", "company_id": "01900000-0000-7000-8000-000000000000"},
            "company_id",
            "Choose a company",
        ),
    ],
)
def test_invalid_input_is_refused_naming_the_field(app, tenant_a, data, field, message):
    marker = f"never-{secrets.token_hex(4)}"
    with app.app_context():
        with pytest.raises(ValidationFailed) as info, tenant_session(tenant_a.ref) as s:
            services.create_contact(s, {**data, "title": marker})
        assert any(message in m for m in info.value.errors.get(field, [])), info.value.errors
        with tenant_session(tenant_a.ref) as s:
            assert s.scalars(select(Contact).where(Contact.title == marker)).first() is None


def test_a_company_of_another_tenant_cannot_be_linked(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(b.ref) as s:
            b_company = company_services.create_company(s, {"name": "Globex secret"}).id
        with pytest.raises(ValidationFailed) as info, tenant_session(a.ref) as s:
            services.create_contact(s, {"last_name": "Spy", "company_id": str(b_company)})
        assert "company_id" in info.value.errors


def test_update_and_delete_are_audited_and_tenant_bound(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            contact_id = services.create_contact(
                s, {"first_name": "Grace", "last_name": "Hopper"}
            ).id
        with pytest.raises(NotFound), tenant_session(b.ref) as s:
            services.update_contact(s, contact_id, {"last_name": "Hijacked"})
        with pytest.raises(NotFound), tenant_session(b.ref) as s:
            services.delete_contact(s, contact_id)
        with tenant_session(a.ref) as s:
            services.update_contact(
                s,
                contact_id,
                {"first_name": "Grace", "last_name": "Hopper", "title": "Rear Admiral"},
            )
        with tenant_session(a.ref) as s:
            updated = entries_for(s, contact_id)[-1]
            assert updated.action == "contact.updated"
            assert updated.changes == {"title": [None, "Rear Admiral"]}
            services.delete_contact(s, contact_id)
        with tenant_session(a.ref) as s:
            assert s.get(Contact, contact_id) is None
            actions = [e.action for e in entries_for(s, contact_id)]
            assert actions == ["contact.created", "contact.updated", "contact.deleted"]
            history = queries.contact_history(s, contact_id)
            assert [e.action for e in history] == list(reversed(actions))


def test_search_by_name_either_order_and_email(app, tenants):
    a, b = tenants
    tag = secrets.token_hex(3)
    with app.app_context():
        with tenant_session(a.ref) as s:
            services.create_contact(s, {"first_name": "Alan", "last_name": f"Turing{tag}",
                                        "email": f"alan.{tag}@bletchley.example"})  # fmt: skip
            services.create_contact(s, {"first_name": "太郎", "last_name": f"山田{tag}"})

        def found(tenant, q):
            with tenant_session(tenant.ref) as s:
                page, _ = queries.list_contacts(s, q=q, limit=100)
                return {contact.last_name for contact, _company in page.items}

        assert found(a, f"alan turing{tag}") == {f"Turing{tag}"}
        assert found(a, f"TURING{tag} alan") == {f"Turing{tag}"}
        assert found(a, f"ALAN.{tag}@") == {f"Turing{tag}"}
        assert found(a, f"山田{tag}") == {f"山田{tag}"}
        assert found(b, tag) == set()


def test_list_pages_with_company_names(app, tenants):
    a, b = tenants
    tag = f"pg{secrets.token_hex(3)}"
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = company_services.create_company(s, {"name": f"Company {tag}"}).id
            for i in range(5):
                services.create_contact(
                    s, {"first_name": tag, "last_name": f"N{i}",
                        "company_id": str(company_id) if i % 2 else None},
                )  # fmt: skip
        with tenant_session(a.ref) as s:
            seen, cursor = [], None
            while True:
                page, _ = queries.list_contacts(s, q=tag, sort="-name", cursor=cursor, limit=2)
                seen.extend(page.items)
                cursor = page.next_cursor
                if not cursor:
                    break
            assert [c.last_name for c, _ in seen] == ["N4", "N3", "N2", "N1", "N0"]
            assert [name for _, name in seen] == [
                None,
                f"Company {tag}",
                None,
                f"Company {tag}",
                None,
            ]
            only, _ = queries.list_contacts(s, company_id=company_id)
            assert {c.last_name for c, _ in only.items} == {"N1", "N3"}
        with tenant_session(b.ref) as s:
            page, _ = queries.list_contacts(s, q=tag)
            assert page.total == 0


def test_several_emails_and_phones_keep_the_primary_in_step(app, tenants):
    a, b = tenants
    tag = secrets.token_hex(4)
    with app.app_context():
        with tenant_session(a.ref) as s:
            contact = services.create_contact(
                s,
                {"last_name": f"Multi {tag}",
                 "emails": [{"email": f"work-{tag}@example.com", "label": "work"},
                            {"email": f"home-{tag}@example.com", "label": "private",
                             "is_primary": "on"}],
                 "phones": [{"phone": "+49 30 1234567", "label": "office"}]},
            )  # fmt: skip
            contact_id = contact.id
        with tenant_session(a.ref) as s:
            contact = s.get(Contact, contact_id)
            # The primary one is the contact's email; the first one when none is marked.
            assert contact.email == f"home-{tag}@example.com"
            assert contact.phone == "+49 30 1234567"
            emails = queries.emails_of(s, contact)
            assert [(e.email, e.is_primary) for e in emails] == [
                (f"home-{tag}@example.com", True),
                (f"work-{tag}@example.com", False),
            ]
            # Changing only the email changes the primary row and keeps the other one.
            services.update_contact(
                s, contact_id, {"email": f"new-{tag}@example.com"}, partial=True
            )
        with tenant_session(a.ref) as s:
            contact = s.get(Contact, contact_id)
            assert [e.email for e in queries.emails_of(s, contact)] == [
                f"new-{tag}@example.com",
                f"work-{tag}@example.com",
            ]
            # Clearing it promotes the remaining address instead of losing it.
            services.update_contact(s, contact_id, {"email": None}, partial=True)
        with tenant_session(a.ref) as s:
            contact = s.get(Contact, contact_id)
            assert contact.email == f"work-{tag}@example.com"
            entry = entries_for(s, contact_id)[-1]
            assert entry.changes["email"] == [f"new-{tag}@example.com", f"work-{tag}@example.com"]
            with pytest.raises(ValidationFailed) as caught:
                services.update_contact(
                    s,
                    contact_id,
                    {"emails": [{"email": "x@example.com", "is_primary": True},
                                {"email": "X@example.com", "is_primary": True},
                                {"email": "nope"}]},
                    partial=True,
                )  # fmt: skip
            assert "emails" in caught.value.errors or "emails.2.email" in caught.value.errors
        with tenant_session(b.ref) as s:
            assert s.get(Contact, contact_id) is None


def test_do_not_contact_flags_answer_can_email_and_can_call(app, tenants):
    a, _ = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        contact = services.create_contact(
            s, {"last_name": "Quiet", "email": "quiet@example.com", "phone": "+1 555 123 4567"}
        )
        assert queries.can_email(contact) and queries.can_call(contact)
        services.update_contact(
            s, contact.id, {"do_not_email": "on", "do_not_call": True}, partial=True
        )
        assert not queries.can_email(contact) and not queries.can_call(contact)
        assert entries_for(s, contact.id)[-1].changes["do_not_email"] == [False, True]
        nobody = services.create_contact(s, {"last_name": "No address"})
        assert not queries.can_email(nobody) and not queries.can_call(nobody)


def test_contacts_link_to_further_companies(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            main = company_services.create_company(s, {"name": f"Main {secrets.token_hex(3)}"})
            board = company_services.create_company(s, {"name": f"Board {secrets.token_hex(3)}"})
            contact = services.create_contact(
                s,
                {"last_name": "Linked", "company_id": main.id,
                 "companies": [{"company_id": str(board.id), "role": "Board member"}]},
            )  # fmt: skip
            ids = main.id, board.id, contact.id
        with tenant_session(a.ref) as s:
            main_id, board_id, contact_id = ids
            assert [(c.id, r) for c, r in queries.other_companies(s, contact_id)] == [
                (board_id, "Board member")
            ]
            with pytest.raises(ValidationFailed) as caught:
                services.update_contact(
                    s, contact_id, {"companies": [{"company_id": str(main_id)}]}, partial=True
                )
            assert caught.value.errors == {
                "companies.0.company_id": ["This is the contact's main company."]
            }
            company_services.delete_company(s, board_id)
        with tenant_session(a.ref) as s:
            assert queries.other_companies(s, ids[2]) == []
        with tenant_session(b.ref) as s, pytest.raises(ValidationFailed):
            services.create_contact(
                s, {"last_name": "Spy", "companies": [{"company_id": str(ids[0])}]}
            )
