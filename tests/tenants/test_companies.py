"""Company services and queries: validation, audit entries, search, sort, paging, isolation."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import queries, services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.contacts.models import Contact


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def entries_for(session, target_id) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.seq)
        )
    )


def test_create_writes_the_company_and_one_audit_entry(app, tenants):
    a, b = tenants
    name = unique("Initech")
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = services.create_company(
                s, {"name": f"  {name} ", "website": "initech.example.com", "country": "us"}
            )
            company_id = company.id
        with tenant_session(a.ref) as s:
            stored = s.get(Company, company_id)
            assert stored.name == name
            assert stored.website == "https://initech.example.com"
            assert stored.domain == "initech.example.com"
            assert stored.country == "US"
            (entry,) = entries_for(s, company_id)
            assert entry.action == "company.created"
            assert entry.target_type == "company"
            assert entry.changes["name"] == [None, name]
            assert entry.changes["country"] == [None, "US"]
            assert "city" not in entry.changes  # only what was set
        with tenant_session(b.ref) as s:
            assert s.get(Company, company_id) is None
            assert entries_for(s, company_id) == []


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": ""}, "name", "Enter the company's name."),
        ({"name": "   "}, "name", "Enter the company's name."),
        ({}, "name", "Enter the company's name."),
        ({"name": "x" * 201}, "name", "Use at most 200 characters."),
        ({"name": "Ok", "website": "not a web address"}, "website", "Enter a web address"),
        ({"name": "Ok", "website": "ftp://files.example.com"}, "website", "Enter a web address"),
        ({"name": "Ok", "country": "XX"}, "country", "ISO 3166"),
        ({"name": "Ok", "country": "Germany"}, "country", "ISO 3166"),
        ({"name": "Ok", "country": "EU"}, "country", "ISO 3166"),
        ({"name": "Ok", "phone": "12"}, "phone", "5 to 20 digits"),
        ({"name": "Ok", "phone": "call me maybe 12345"}, "phone", "5 to 20 digits"),
        ({"name": "Ok", "phone": "1" * 51}, "phone", "at most 50"),
        ({"name": "Ok", "domain": "not a domain"}, "domain", "domain name"),
        ({"name": "Ok", "colour": "red"}, "colour", "Unknown field"),
        ({"name": "Nul\x00byte"}, "name", "control characters"),
        ({"name": "Ok", "city": "Bell\x07"}, "city", "control characters"),
    ],
)
def test_invalid_input_is_refused_naming_the_field(app, tenant_a, data, field, message):
    marker = unique("Never stored")
    with app.app_context():
        with pytest.raises(ValidationFailed) as info, tenant_session(tenant_a.ref) as s:
            services.create_company(s, {**data, "notes": marker})
        assert field in info.value.errors
        assert any(message in m for m in info.value.errors[field]), info.value.errors
        with tenant_session(tenant_a.ref) as s:
            assert s.scalars(select(Company).where(Company.notes == marker)).first() is None


def test_valid_edge_values_are_accepted(app, tenant_a):
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = services.create_company(
            s,
            {"name": "x" * 200, "phone": "+49 (30) 1234-5678 ext 12", "country": "jp",
             "website": "https://www.example.co.jp/about"},
        )  # fmt: skip
        assert company.country == "JP" and len(company.name) == 200
        assert company.domain == "example.co.jp"


def test_update_records_only_the_changed_fields(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = services.create_company(s, {"name": unique("Hooli"), "city": "Palo Alto"})
            company_id, name = company.id, company.name
        with tenant_session(a.ref) as s:
            services.update_company(s, company_id, {"name": name, "city": "Mountain View"})
        with tenant_session(a.ref) as s:
            created, updated = entries_for(s, company_id)
            assert updated.action == "company.updated"
            assert updated.changes == {"city": ["Palo Alto", "Mountain View"]}
            assert s.get(Company, company_id).city == "Mountain View"
        # Saving without a change writes no entry.
        with tenant_session(a.ref) as s:
            services.update_company(s, company_id, {"name": name, "city": "Mountain View"})
        with tenant_session(a.ref) as s:
            assert len(entries_for(s, company_id)) == 2
        # Tenant B cannot edit A's company, even knowing its id.
        with pytest.raises(NotFound), tenant_session(b.ref) as s:
            services.update_company(s, company_id, {"name": "Hijacked"})
        with tenant_session(a.ref) as s:
            assert s.get(Company, company_id).name == name


def test_failed_update_changes_nothing(app, tenant_a):
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            company_id = services.create_company(s, {"name": unique("Vandelay")}).id
        with pytest.raises(ValidationFailed), tenant_session(tenant_a.ref) as s:
            services.update_company(s, company_id, {"name": "Renamed", "country": "ZZ"})
        with tenant_session(tenant_a.ref) as s:
            assert s.get(Company, company_id).name.startswith("Vandelay")
            assert len(entries_for(s, company_id)) == 1


def test_partial_update_leaves_other_fields(app, tenant_a):
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            company_id = services.create_company(
                s, {"name": unique("Pied Piper"), "city": "Palo Alto"}
            ).id
        with tenant_session(tenant_a.ref) as s:
            services.update_company(s, company_id, {"industry": "manufacturing"}, partial=True)
        with tenant_session(tenant_a.ref) as s:
            company = s.get(Company, company_id)
            assert (company.city, company.industry) == ("Palo Alto", "manufacturing")


def test_delete_keeps_contacts_and_is_audited(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = services.create_company(s, {"name": unique("Soylent")}).id
            contact_id = contact_services.create_contact(
                s, {"last_name": "Thorn", "company_id": str(company_id)}
            ).id
        with pytest.raises(NotFound), tenant_session(b.ref) as s:
            services.delete_company(s, company_id)
        with tenant_session(a.ref) as s:
            assert services.delete_company(s, company_id) == 1
        with tenant_session(a.ref) as s:
            assert s.get(Company, company_id) is None
            contact = s.get(Contact, contact_id)
            assert contact is not None and contact.company_id is None
            deleted = entries_for(s, company_id)[-1]
            assert deleted.action == "company.deleted"
            assert deleted.changes["name"][1] is None and deleted.changes["name"][0].startswith(
                "Soylent"
            )
            assert "1 contact" in deleted.note


def test_search_is_case_insensitive_literal_and_handles_cjk(app, tenants):
    a, b = tenants
    tag = secrets.token_hex(3)
    with app.app_context():
        with tenant_session(a.ref) as s:
            services.create_company(s, {"name": f"株式会社東京商事 {tag}"})
            services.create_company(s, {"name": f"Umbrella Corp {tag}"})
            services.create_company(s, {"name": f"100% Organic {tag}"})
            services.create_company(s, {"name": f"1000 Organic {tag}"})

        def names(tenant, q):
            with tenant_session(tenant.ref) as s:
                page, _ = queries.list_companies(s, q=q, limit=100)
                return {c.name for c in page.items}

        assert names(a, f"商事 {tag}") == {f"株式会社東京商事 {tag}"}
        assert f"株式会社東京商事 {tag}" in names(a, "東京")
        assert names(a, f"umbrella CORP {tag}") == {f"Umbrella Corp {tag}"}
        assert names(a, f"100% organic {tag}") == {f"100% Organic {tag}"}  # % is not a wildcard
        assert names(b, "東京") == set()
        assert names(b, tag) == set()


def test_sorting_and_keyset_paging_visit_each_row_once(app, tenants):
    a, b = tenants
    tag = f"Paging {secrets.token_hex(3)}"
    with app.app_context():
        with tenant_session(a.ref) as s:
            # Duplicate names make the id tie-breaker matter.
            for i in range(7):
                services.create_company(s, {"name": f"{tag} {'b' if i % 2 else 'A'}{i // 4}"})
        for sort in ("name", "-name", "created", "-created", "updated", "-updated"):
            seen, cursor = [], None
            with tenant_session(a.ref) as s:
                while True:
                    page, order = queries.list_companies(
                        s, q=tag, sort=sort, cursor=cursor, limit=3
                    )
                    assert page.total == 7
                    seen.extend(page.items)
                    if not page.next_cursor:
                        break
                    cursor = page.next_cursor
            assert len({c.id for c in seen}) == 7, sort
            if order.key == "name":
                keys = [c.name.lower() for c in seen]
                assert keys == sorted(keys, reverse=order.desc), sort
            if order.key == "created":
                stamps = [c.created_at for c in seen]
                assert stamps == sorted(stamps, reverse=order.desc), sort
        # Walking back from the last page returns the same pages in reverse.
        with tenant_session(a.ref) as s:
            first, _ = queries.list_companies(s, q=tag, sort="name", limit=3)
            second, _ = queries.list_companies(
                s, q=tag, sort="name", cursor=first.next_cursor, limit=3
            )
            back, _ = queries.list_companies(
                s, q=tag, sort="name", cursor=second.prev_cursor, limit=3
            )
            assert [c.id for c in back.items] == [c.id for c in first.items]
            assert back.prev_cursor is None and first.prev_cursor is None
            # A foreign or broken cursor starts again from the first page instead of failing.
            junk, _ = queries.list_companies(s, q=tag, sort="name", cursor="not-a-cursor", limit=3)
            assert [c.id for c in junk.items] == [c.id for c in first.items]
            other, _ = queries.list_companies(
                s, q=tag, sort="-created", cursor=first.next_cursor, limit=3
            )
            assert other.prev_cursor is None
        with tenant_session(b.ref) as s:
            page, _ = queries.list_companies(s, q=tag)
            assert page.total == 0 and page.items == []


def test_new_rows_do_not_shift_the_next_page(app, tenant_a):
    tag = f"Stable {secrets.token_hex(3)}"
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            for letter in "CDEF":
                services.create_company(s, {"name": f"{tag} {letter}"})
        with tenant_session(tenant_a.ref) as s:
            first, _ = queries.list_companies(s, q=tag, limit=2)
        with tenant_session(tenant_a.ref) as s:
            services.create_company(s, {"name": f"{tag} A"})  # lands before the cursor
        with tenant_session(tenant_a.ref) as s:
            second, _ = queries.list_companies(s, q=tag, cursor=first.next_cursor, limit=2)
        assert [c.name[-1] for c in first.items] == ["C", "D"]
        assert [c.name[-1] for c in second.items] == ["E", "F"]


def test_history_lists_changes_newest_first(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company_id = services.create_company(s, {"name": unique("Wonka")}).id
        with tenant_session(a.ref) as s:
            services.update_company(s, company_id, {"name": "Wonka Industries", "city": "London"})
        with tenant_session(a.ref) as s:
            history = queries.company_history(s, company_id)
            assert [e.action for e in history] == ["company.updated", "company.created"]
            assert history[0].changes["city"] == [None, "London"]
        with tenant_session(b.ref) as s:
            assert queries.company_history(s, company_id) == []
            with pytest.raises(NotFound):
                queries.get_company(s, company_id)


def test_forged_cursors_start_from_the_first_page(app, tenant_a):
    import base64
    import json

    def forge(*parts) -> str:
        return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode().rstrip("=")

    zero = "0" * 32
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        first, _ = queries.list_companies(s, sort="-created", limit=2)
        for cursor in (
            forge("-created", "after", "not a date", zero),
            forge("-created", "after", 12345, zero),
            forge("name", "after", 12345, zero),
            forge("name", "after", "a\x00b", zero),
            forge("name", "sideways", "a", zero),
            forge("name", "after", "a", "not-hex"),
        ):
            sort = cursor and json.loads(base64.urlsafe_b64decode(cursor + "=="))[0]
            page, _ = queries.list_companies(s, sort=sort, cursor=cursor, limit=2)
            assert page.prev_cursor is None and len(page.items) == 2


def test_hierarchy_refuses_cycles_and_survives_a_deleted_parent(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            group = services.create_company(s, {"name": unique("Group")})
            sub = services.create_company(s, {"name": unique("Sub"), "parent_id": str(group.id)})
            leaf = services.create_company(s, {"name": unique("Leaf"), "parent_id": sub.id})
            ids = group.id, sub.id, leaf.id
        with tenant_session(a.ref) as s:
            group_id, sub_id, leaf_id = ids
            # The group under its own grandchild would be a loop.
            with pytest.raises(ValidationFailed) as caught:
                services.update_company(s, group_id, {"parent_id": leaf_id}, partial=True)
            assert "cannot own itself" in caught.value.errors["parent_id"][0]
            with pytest.raises(ValidationFailed) as caught:
                services.update_company(s, group_id, {"parent_id": group_id}, partial=True)
            assert caught.value.errors == {"parent_id": ["A company cannot be its own parent."]}
            leaf = queries.get_company(s, leaf_id)
            assert [c.id for c in queries.ancestors(s, leaf)] == [sub_id, group_id]
            assert [c.id for c in queries.children(s, group_id)] == [sub_id]
        # Tenant B cannot hang a company under tenant A's.
        with tenant_session(b.ref) as s, pytest.raises(ValidationFailed) as caught:
            services.create_company(s, {"name": unique("Spy"), "parent_id": str(ids[0])})
        assert caught.value.errors == {"parent_id": ["Choose a parent company from the list."]}
        with tenant_session(a.ref) as s:
            services.delete_company(s, ids[1])
        with tenant_session(a.ref) as s:
            assert s.get(Company, ids[2]).parent_id is None


def test_new_company_fields_validate_through_the_schema(app, tenants):
    a, _ = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            services.create_company(
                s,
                {"name": unique("Bad"), "size": "huge", "classification": "D",
                 "preferred_channel": "fax", "do_not_call": "maybe", "owner_id": "nobody"},
            )  # fmt: skip
        assert set(caught.value.errors) == {
            "size", "classification", "preferred_channel", "do_not_call", "owner_id",
        }  # fmt: skip
        company = services.create_company(
            s,
            {"name": unique("Good"), "size": "51-200", "classification": "a",
             "street": "Main St 1", "postal_code": "10115", "region": "Berlin",
             "preferred_channel": "email", "do_not_call": "on", "owner_id": str(a.owner_id)},
        )  # fmt: skip
        assert (company.classification, company.do_not_call, company.do_not_email) == (
            "A",
            True,
            False,
        )
        assert company.owner_id == a.owner_id
        # Someone who is not a member of this workspace cannot own its accounts.
        import uuid

        with pytest.raises(ValidationFailed) as caught:
            services.update_company(s, company.id, {"owner_id": str(uuid.uuid4())}, partial=True)
        assert caught.value.errors == {"owner_id": ["Choose an owner from the list."]}
        (entry,) = [e for e in entries_for(s, company.id) if e.action == "company.created"]
        assert entry.changes["classification"] == [None, "A"]


def test_account_team_members_are_members_once_each_and_audited(app, tenants):
    a, b = tenants
    from rapport.platform.errors import Conflict

    with app.app_context():
        with tenant_session(a.ref) as s:
            company = services.create_company(s, {"name": unique("Team")})
            member = services.add_team_member(
                s, company.id, {"user_id": str(a.owner_id), "role": "Support"}
            )
            company_id, member_id = company.id, member.id
        with tenant_session(a.ref) as s:
            assert [(m.user_id, m.role) for m in queries.team(s, company_id)] == [
                (a.owner_id, "Support")
            ]
            with pytest.raises(Conflict):
                services.add_team_member(s, company_id, {"user_id": str(a.owner_id)})
            with pytest.raises(ValidationFailed):
                services.add_team_member(s, company_id, {"user_id": str(b.owner_id)})
            actions = [e.action for e in entries_for(s, company_id)]
            assert actions.count("company.team_changed") == 1
        with tenant_session(b.ref) as s, pytest.raises(NotFound):
            services.remove_team_member(s, company_id, member_id)
        with tenant_session(a.ref) as s:
            services.remove_team_member(s, company_id, member_id)
        with tenant_session(a.ref) as s:
            assert queries.team(s, company_id) == []
