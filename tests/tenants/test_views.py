"""Saved list views: per user, checked against the record type's fields; CSV cells are safe."""

from __future__ import annotations

import secrets
import uuid

import pytest

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.views import export, queries, services


def test_a_user_sees_and_changes_only_their_own_views(app, tenants):
    a, b = tenants
    me, someone = uuid.uuid4(), uuid.uuid4()
    name = f"Key accounts {secrets.token_hex(3)}"
    state = {
        "name": name,
        "filters": [["classification", "eq", "A"], ["owner_id", "eq", "me"]],
        "sort": "-updated_at",
        "columns": ["name", "classification", "owner_id"],
        "is_default": True,
    }
    with app.app_context():
        with tenant_session(a.ref) as s:
            view = services.save_view(s, me, "companies", state)
            view_id = view.id
            services.save_view(s, someone, "companies", {**state, "name": "Theirs"})
        with tenant_session(a.ref) as s:
            assert [v.name for v in queries.views_for(s, me, "companies")] == [name]
            assert queries.default_view(s, me, "companies").id == view_id
            assert queries.views_for(s, me, "contacts") == []
            # Someone else's view does not exist as far as they are concerned.
            with pytest.raises(NotFound):
                queries.get_view(s, someone, view_id)
            with pytest.raises(NotFound):
                services.delete_view(s, someone, view_id)
            # Saving under the same name replaces it; a new default replaces the old one.
            again = services.save_view(s, me, "companies", {**state, "sort": "name"})
            assert again.id == view_id and again.sort == "name"
            other = services.save_view(s, me, "companies", {**state, "name": "Second"})
            assert other.is_default and not queries.get_view(s, me, view_id).is_default
        with tenant_session(b.ref) as s:
            assert queries.views_for(s, me, "companies") == []
            with pytest.raises(NotFound):
                queries.get_view(s, me, view_id)
        with tenant_session(a.ref) as s:
            assert services.delete_view(s, me, view_id) == name
            assert [v.name for v in queries.views_for(s, me, "companies")] == ["Second"]


def test_views_are_checked_like_the_list_checks_them(app, tenants):
    a, _ = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            services.save_view(
                s,
                uuid.uuid4(),
                "deals",
                {"name": "Broken", "filters": [["amount", "gt", "lots"]], "sort": "nope",
                 "columns": ["name", "secret_sauce"]},
            )  # fmt: skip
        assert set(caught.value.errors) == {"filters", "sort", "columns"}
        assert "amount" in caught.value.errors["filters"][0]
        with pytest.raises(ValidationFailed) as caught:
            services.save_view(s, uuid.uuid4(), "deals", {"name": "  "})
        assert caught.value.errors == {"name": ["Name the view."]}
        with pytest.raises(ValidationFailed):
            services.save_view(s, uuid.uuid4(), "nothing", {"name": "X"})


@pytest.mark.parametrize(
    ("value", "cell"),
    [("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"), ("+1 555", "'+1 555"),
     ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("Acme = good", "Acme = good"),
     (None, "")],
)  # fmt: skip
def test_csv_cells_never_start_a_formula(value, cell):
    assert export.safe_cell(value) == cell
    text = "".join(export.csv_lines(["Name"], [[value]]))
    assert text.startswith("\ufeffName\r\n")


def test_a_shared_view_is_everybodys_to_use_and_its_owners_to_change(app, tenants):
    a, b = tenants
    owner, colleague = uuid.uuid4(), uuid.uuid4()
    name = f"Pipeline review {secrets.token_hex(3)}"
    state = {"name": name, "filters": [["owner_id", "eq", "me"]], "shared": True}
    with app.app_context():
        with tenant_session(a.ref) as s:
            view_id = services.save_view(s, owner, "companies", state).id
            services.save_view(s, owner, "companies", {**state, "name": f"{name} (mine)",
                                                       "shared": False})  # fmt: skip
        with tenant_session(a.ref) as s:
            assert name in [v.name for v in queries.views_for(s, colleague, "companies")]
            assert f"{name} (mine)" not in [
                v.name for v in queries.views_for(s, colleague, "companies")
            ]
            assert queries.get_view(s, colleague, view_id).shared
            assert queries.get_view(s, None, view_id).id == view_id  # a key acting for nobody
            # Only its owner changes or deletes it; the colleague's save is a copy of their own.
            with pytest.raises(NotFound):
                services.delete_view(s, colleague, view_id)
            with pytest.raises(NotFound):
                services.set_default(s, colleague, view_id)
            copy = services.save_view(s, colleague, "companies", {**state, "shared": False})
            assert copy.id != view_id and copy.user_id == colleague
        with tenant_session(a.ref) as s:
            # Unshared, it is the owner's alone again.
            services.save_view(s, owner, "companies", {**state, "shared": False})
        with tenant_session(a.ref) as s, pytest.raises(NotFound):
            queries.get_view(s, colleague, view_id)
        with tenant_session(b.ref) as s, pytest.raises(NotFound):
            queries.get_view(s, colleague, view_id)
