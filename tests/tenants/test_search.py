"""Global search: the index follows every change, ranks, matches partial words and CJK text,
and never crosses tenants."""

from __future__ import annotations

import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals
from rapport.tenants.search import index
from rapport.tenants.search.queries import search
from rapport.tenants.search.tokens import document_tokens, query_terms


def tag() -> str:
    """A unique word, so tests sharing a tenant find only their own records."""
    return "zq" + secrets.token_hex(4)


def found(app, tenant, query, **kwargs) -> list[str]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return [hit.title for hit in search(s, query, **kwargs).hits]


def test_tokens_cut_cjk_into_characters_and_pairs():
    assert document_tokens(["北京科技"]).split() == [
        "北", "京", "科", "技", "北京", "京科", "科技",
    ]  # fmt: skip
    assert [t.token for t in query_terms("北京")] == ["北京"]
    assert [t.token for t in query_terms("北京科")] == ["北京", "京科"]
    assert [(t.token, t.prefix) for t in query_terms("Mül acm")] == [("mul", True), ("acm", True)]
    assert "muller" in document_tokens(["Müller"]).split()
    assert document_tokens(["ＡＢＣ Corp"]).split() == ["abc", "corp"]  # full-width → NFKC
    # Latin letters and digits glued to CJK text are a word of their own.
    assert document_tokens(["广州ab12贸易"]).split() == [
        "广",
        "州",
        "广州",
        "ab12",
        "贸",
        "易",
        "贸易",
    ]


def test_a_created_company_is_found_by_part_of_a_word_and_not_by_the_other_tenant(app, tenants):
    a, b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"Acmetronics {word}", "city": "Lyon"})
    assert found(app, a, f"acmetro {word}") == [f"Acmetronics {word}"]
    assert found(app, a, f"{word} lyo") == [f"Acmetronics {word}"]
    assert found(app, b, word) == []
    assert found(app, b, f"acmetro {word}") == []


def test_two_chinese_characters_find_a_company_whose_name_contains_them(app, tenants):
    a, b = tenants
    suffix = secrets.token_hex(2)
    name = f"上海浦东发展科技有限公司 {suffix}"
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": name})
    assert name in found(app, a, "浦东")
    assert name in found(app, a, "发展科技")
    assert name in found(app, a, f"科技 {suffix}")
    assert name not in found(app, a, "浦西")
    assert found(app, b, f"浦东 {suffix}") == []


def test_japanese_and_korean_names_are_found(app, tenants):
    a, _b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"東京タワー株式会社 {word}"})
        contacts.create_contact(
            s, {"first_name": "지훈", "last_name": "김", "email": f"{word}@kr.example.com"}
        )
        companies.create_company(s, {"name": f"삼성전자 {word}"})
    assert found(app, a, f"タワー {word}") == [f"東京タワー株式会社 {word}"]
    assert found(app, a, f"東京 {word}") == [f"東京タワー株式会社 {word}"]
    assert found(app, a, f"전자 {word}") == [f"삼성전자 {word}"]
    assert found(app, a, f"지훈 {word}") == ["지훈 김"]


def test_an_exact_name_comes_before_names_that_only_contain_it(app, tenants):
    a, _b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"Big {word} Holdings International"})
        companies.create_company(s, {"name": f"The {word} company"})
        companies.create_company(s, {"name": word})
        companies.create_company(s, {"name": f"{word} Partners"})
    titles = found(app, a, word)
    assert titles[0] == word
    assert titles[1] == f"{word} Partners"  # starts with it
    assert len(titles) == 4


def test_renames_and_deletes_are_reflected_at_once(app, tenants):
    a, _b = tenants
    old, new = tag(), tag()
    with app.app_context(), tenant_session(a.ref) as s:
        company = companies.create_company(s, {"name": f"Old {old}"})
        contact = contacts.create_contact(s, {"first_name": "Ada", "last_name": old})
        company_id, contact_id = company.id, contact.id
    with app.app_context(), tenant_session(a.ref) as s:
        companies.update_company(s, company_id, {"name": f"New {new}"}, partial=True)
        contacts.update_contact(s, contact_id, {"last_name": new}, partial=True)
    assert found(app, a, old) == []
    assert sorted(found(app, a, new)) == sorted([f"New {new}", f"Ada {new}"])
    with app.app_context(), tenant_session(a.ref) as s:
        companies.delete_company(s, company_id)
    assert found(app, a, new) == [f"Ada {new}"]
    with app.app_context(), tenant_session(a.ref) as s:
        contacts.delete_contact(s, contact_id)
    assert found(app, a, new) == []


def test_a_change_that_is_rolled_back_leaves_the_index_as_it_was(app, tenants):
    a, _b = tenants
    word = tag()
    try:
        with app.app_context(), tenant_session(a.ref) as s:
            companies.create_company(s, {"name": f"Ghost {word}"})
            raise RuntimeError("abort the unit of work")
    except RuntimeError:
        pass
    assert found(app, a, word) == []


def test_contacts_deals_and_types_filter(app, tenants):
    a, _b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"{word} Ltd"})
        contacts.create_contact(
            s,
            {
                "first_name": "Li",
                "last_name": "Wei",
                "email": f"li.wei@{word}.example.com",
                "phone": "+1 (555) 010-9999",
            },
        )
        deals.create_deal(s, {"name": f"Renewal {word}", "currency": "EUR"})
    with app.app_context(), tenant_session(a.ref) as s:
        results = search(s, word)
        assert results.counts == {"companies": 1, "contacts": 1, "deals": 1}
        assert {h.record_type for h in results.hits} == {"companies", "contacts", "deals"}
        only = search(s, word, types=["deals"])
        assert [h.title for h in only.hits] == [f"Renewal {word}"]
        assert only.counts["contacts"] == 1  # the tabs still count every type
    assert found(app, a, f"li.wei@{word}") == ["Li Wei"]
    assert "Li Wei" in found(app, a, f"15550109999 {word}")


def test_reindex_rebuilds_the_index_from_the_records(app, tenants):
    a, b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"Reindexed {word}"})
    with app.app_context(), tenant_session(a.ref) as s:
        counts = index.reindex(s)
        assert counts["companies"] >= 1
    assert found(app, a, word) == [f"Reindexed {word}"]
    with app.app_context(), tenant_session(b.ref) as s:
        index.reindex(s)
    assert found(app, b, word) == []


def test_punctuation_alone_matches_nothing(app, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        results = search(s, "%_*\"'()")
        assert results.hits == [] and results.terms == []


def test_the_reindex_command_rebuilds_one_workspace(app, runner, tenants):
    from sqlalchemy import delete

    from rapport.platform.cli import main
    from rapport.tenants.search.models import SearchEntry

    a, _b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        companies.create_company(s, {"name": f"Lost {word}"})
    with app.app_context(), tenant_session(a.ref) as s:
        s.execute(delete(SearchEntry))  # an index that lost its rows
    assert found(app, a, word) == []
    result = runner.invoke(main, ["search", "reindex", "--tenant", a.slug])
    assert result.exit_code == 0, result.output
    assert f"Reindexed {a.slug}:" in result.output
    assert found(app, a, word) == [f"Lost {word}"]
    unknown = runner.invoke(main, ["search", "reindex", "--tenant", "no-such-workspace"])
    assert unknown.exit_code != 0 and "No active workspace" in unknown.output
    assert runner.invoke(main, ["search", "reindex"]).exit_code == 2


def test_the_migration_path_installs_and_fills_the_index_of_an_existing_tenant(app, new_tenant):
    """What the migration that adds search runs per tenant: install the DDL, then build."""
    from rapport.platform.tenancy.scope import tenancy
    from rapport.tenants.search import ddl

    tenant = new_tenant("Legacy")
    word = tag()
    with app.app_context():
        with tenant_session(tenant.ref) as s:
            companies.create_company(s, {"name": f"Before search {word}"})
        runtime = tenancy()
        schema = tenant.ref.schema_name
        engine = runtime.owner_engine if runtime.is_postgres else runtime.tenant_engine(schema)
        dialect = engine.dialect.name
        with engine.connect() as conn, conn.begin():
            ddl.uninstall(conn, schema, dialect)
            conn.exec_driver_sql(f'DELETE FROM "{schema}".search_entries')
        with engine.connect() as conn, conn.begin():
            ddl.install(conn, schema, dialect)
            ddl.install(conn, schema, dialect)  # safe twice
            assert index.build(conn, schema)["companies"] == 1
    assert found(app, tenant, word) == [f"Before search {word}"]


def test_leads_are_found_by_person_company_and_email(app, tenants):
    from rapport.tenants.leads.models import Lead

    a, b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        # Through the model: whatever service creates leads, the flush indexes them.
        s.add(Lead(first_name="Mei", last_name="Chen", company_name=f"成都{word}茶业",
                   email=f"mei@{word}.example.com", status="new", custom={}))  # fmt: skip
    with app.app_context(), tenant_session(a.ref) as s:
        (hit,) = search(s, f"{word} 成都").hits
        assert (hit.record_type, hit.title) == ("leads", "Mei Chen")
        assert f"成都{word}茶业" in hit.subtitle
        assert [h.title for h in search(s, f"mei@{word}", types=["leads"]).hits] == ["Mei Chen"]
    assert found(app, b, word) == []


def test_a_list_can_filter_its_records_through_the_index(app, tenants):
    from sqlalchemy import select

    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.search.queries import record_filter

    a, b = tenants
    word = tag()
    with app.app_context(), tenant_session(a.ref) as s:
        contacts.create_contact(s, {"first_name": "Zhang", "last_name": f"{word} 张伟"})
        contacts.create_contact(s, {"first_name": "Other", "last_name": tag()})
        companies.create_company(s, {"name": f"{word} company"})  # another type: not a contact
    with app.app_context(), tenant_session(a.ref) as s:
        names = s.scalars(select(Contact.first_name).where(record_filter("contacts", word[:5])))
        assert "Zhang" in list(names)
        hits = s.scalars(
            select(Contact.first_name).where(record_filter("contacts", f"张伟 {word}"))
        )
        assert list(hits) == ["Zhang"]
        assert list(s.scalars(select(Contact.id).where(record_filter("contacts", "%%")))) == []
    with app.app_context(), tenant_session(b.ref) as s:
        assert list(s.scalars(select(Contact.id).where(record_filter("contacts", word)))) == []


def test_every_address_and_number_of_a_contact_finds_them(app, tenants):
    a, b = tenants
    tag = secrets.token_hex(3)
    other = f"ops-{tag}@backoffice.example"
    with app.app_context():
        with tenant_session(a.ref) as s:
            contact = contacts.create_contact(
                s,
                {"last_name": f"Channels {tag}",
                 "emails": [{"email": f"main-{tag}@example.com", "is_primary": True},
                            {"email": other, "label": "work"}],
                 "phones": [{"phone": "+49 30 1111111", "is_primary": True},
                            {"phone": "+86 10 5555 0001"}]},
            )  # fmt: skip
            contact_id = contact.id
        with tenant_session(a.ref) as s:
            assert [h.record_id for h in search(s, other).hits] == [contact_id]
        with tenant_session(b.ref) as s:
            assert search(s, other).hits == []
        # The other address is removed: the contact is no longer found by it.
        with tenant_session(a.ref) as s:
            contacts.update_contact(
                s, contact_id,
                {"emails": [{"email": f"main-{tag}@example.com", "is_primary": True}]},
                partial=True,
            )  # fmt: skip
        with tenant_session(a.ref) as s:
            assert search(s, other).hits == []
            assert [h.record_id for h in search(s, f"main-{tag}").hits] == [contact_id]
        # A full rebuild keeps every address too.
        with tenant_session(a.ref) as s:
            contacts.update_contact(
                s, contact_id,
                {"emails": [{"email": f"main-{tag}@example.com", "is_primary": True},
                            {"email": other}]},
                partial=True,
            )  # fmt: skip
        with tenant_session(a.ref) as s:
            index.reindex(s)
        with tenant_session(a.ref) as s:
            assert [h.record_id for h in search(s, other).hits] == [contact_id]
