"""Formula fields: the language (every operator and function, errors, limits, injection
attempts) and the stored values, recomputed through the services whenever an input changes."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

import pytest

from rapport.platform.errors import ValidationFailed
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import queries as company_queries
from rapport.tenants.companies import services as companies
from rapport.tenants.deals import services as deals
from rapport.tenants.fields import computed, formula
from rapport.tenants.fields import services as fields

NAMES = {
    "amount": "number", "name": "text", "start": "date", "end": "date", "flag": "checkbox",
    "custom.score": "number", "custom.note": "text", "custom.empty": "number",
}  # fmt: skip
VALUES = {
    "amount": Decimal("1250.50"), "name": "  Ada  Lovelace ", "start": dt.date(2026, 1, 31),
    "end": dt.date(2026, 3, 2), "flag": True, "custom.score": Decimal(7), "custom.note": None,
}  # fmt: skip


def run(source: str, values: dict | None = None):  # type: ignore[no-untyped-def]
    tree = formula.parse(source)
    formula.check(tree, NAMES)
    return formula.evaluate(tree, VALUES if values is None else values)


# fmt: off
CASES = [
    ("1 + 2 * 3", Decimal(7)),
    ("(1 + 2) * 3", Decimal(9)),
    ("10 - 4 - 3", Decimal(3)),
    ("7 / 2", Decimal("3.5")),
    ("-amount + 0.5", Decimal(-1250)),
    ("amount * 0.2", Decimal("250.100")),
    ("1 / 0", None),
    ("amount / (custom.score - 7)", None),
    ("custom.score & custom.note", "7"),
    ("amount > 1000", True), ("amount >= 1250.5", True), ("amount < 1000", False),
    ("amount <= 1", False), ("custom.score = 7", True), ("custom.score == 7", True),
    ("custom.score != 7", False), ("custom.score <> 8", True),
    ("name = 'x'", False), ("start < end", True),
    ("flag and amount > 1", True), ("flag and not flag", False), ("not flag or true", True),
    ("false or custom.note = 'x'", False),
    ("if(amount > 1000, 'big', 'small')", "big"),
    ("if(custom.note = 'x', 1, 2)", Decimal(2)),  # blank condition reads as false
    ("'Score: ' & custom.score & '/' & 10", "Score: 7/10"),
    ("upper('ab') & lower('CD')", "ABcd"),
    ("trim(name)", "Ada Lovelace"),
    ("len(trim(name))", Decimal(12)),
    ("left(trim(name), 3)", "Ada"), ("right(trim(name), 8)", "Lovelace"), ("right('ab', 0)", ""),
    ("days_between(start, end)", Decimal(30)),
    ("add_days(start, 1)", dt.date(2026, 2, 1)),
    ("year(start) * 10000 + month(start) * 100 + day(start)", Decimal(20260131)),
    ("coalesce(custom.note, 'none')", "none"),
    ("coalesce(custom.note, blank)", None),
    ("isblank(custom.note)", True), ("isblank(amount)", False),
    ("custom.empty + 1", None), ("custom.empty > 1", None),  # blank passes through arithmetic
    ("round(7 / 3, 2)", Decimal("2.33")), ("round(2.5)", Decimal(2)), ("abs(-3)", Decimal(3)),
    ("text(start) & ' ' & text(flag)", "2026-01-31 true"),
    ("today() >= start", True),
    ("999999999999999999 * 10", None),  # 18 digits or more: blank
]
# fmt: on


@pytest.mark.parametrize(("source", "expected"), CASES)
def test_every_operator_and_function(source, expected):
    assert run(source) == expected


def test_today_is_the_utc_date():
    assert run("today()") == dt.datetime.now(dt.UTC).date()


# fmt: off
ERRORS = [
    ("", 1, "empty"),
    ("1 +", 4, "expected a value"),
    ("(1 + 2", 7, "expected “)”"),
    ("amount + name", 8, "needs a number, not a text"),
    ("if(flag, 1, 'a')", 1, "must have one type"),
    ("if(amount, 1, 2)", 1, "condition of if needs a checkbox"),
    ("left('a')", 1, "left takes 2 value(s), not 1"),
    ("nope(1)", 1, "no function “nope”"),
    ("price * 2", 1, "no field “price”"),
    ("score * 2", 1, "write custom.score"),
    ("name < flag", 6, "cannot compare text with checkbox"),
    ("flag > true", 6, "only compared with = or !="),
    ("1 < 2 < 3", 7, "combine comparisons"),
    ("'open", 1, "no closing quote"),
    ("amount # 2", 8, "“#” is not allowed"),
    ("12abc", 1, "is not a number"),
    ("1234567890123456789", 1, "at most 18 digits"),
]
# fmt: on


@pytest.mark.parametrize(("source", "position", "message"), ERRORS)
def test_errors_name_the_position_and_the_problem(source, position, message):
    with pytest.raises(formula.FormulaError) as caught:
        run(source)
    assert caught.value.position == position
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"At position {position}:")


@pytest.mark.parametrize(
    "source",
    [
        "__import__('os').system('id')",
        "name.__class__",
        "amount.__class__.__mro__",
        "custom.score.real",
        "eval('1')",
        "exec('x=1')",
        "compile('1', '', 'eval')",
        "[1]",
        "{1: 2}",
        "lambda: 1",
        "amount ** 99999999",
        "1e999999",
        "9" * 5000,
        "(" * 200 + "1" + ")" * 200,
        "not " * 100 + "flag",
        "-" * 100 + "1",
    ],
)
def test_injection_attempts_and_oversized_formulas_are_refused(source):
    with pytest.raises(formula.FormulaError):
        run(source)


def test_a_huge_text_is_blank_rather_than_a_memory_bomb():
    values = {**VALUES, "name": "x" * 9000}
    assert run("name & name", values) is None
    assert run("left(name, 100000)", values) == "x" * 9000


def test_declared_result_type_must_match():
    with pytest.raises(formula.FormulaError, match="gives a text"):
        formula.compile_formula("name & '!'", NAMES, "number")
    assert formula.compile_formula("amount * 2", NAMES, "currency")


# -- through the services --------------------------------------------------------------------------
def name(prefix: str = "f") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def test_formula_values_are_stored_and_follow_their_inputs(app, tenant_a, tenant_b, define):
    rate, tier, score, net = name("rate"), name("tier"), name("score"), name("net")
    define(tenant_a, record_type="companies", api_name=rate, type="decimal")
    define(tenant_a, record_type="companies", api_name=tier, type="text")
    define(tenant_a, record_type="companies", api_name=net, type="formula",
           formula=f"coalesce(custom.{rate}, 0) * 100", result_type="number")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=score, type="formula",
           formula=f"upper(name) & ' (' & coalesce(custom.{tier}, 'none') & ') ' & custom.{net}",
           result_type="text")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Initech", "custom": {rate: "0.25"}})
        assert company.custom[net] == "25"
        assert company.custom[score] == "INITECH (none) 25"
        company_id = company.id
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        companies.update_company(s, company_id, {"name": "Umbrella"}, partial=True)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert company_queries.get_company(s, company_id).custom[score] == "UMBRELLA (none) 25"
        companies.update_company(s, company_id, {"custom": {tier: "gold", rate: ""}}, partial=True)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        custom = company_queries.get_company(s, company_id).custom
        assert custom[net] == "0" and custom[score] == "UMBRELLA (gold) 0"
    # Tenant B has neither field: its companies carry no formula values.
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        other = companies.create_company(s, {"name": "Globex Initech"})
        assert net not in other.custom and score not in other.custom
        with pytest.raises(ValidationFailed) as caught:
            companies.create_company(s, {"name": "X", "custom": {net: "1"}})
        assert "no custom field" in caught.value.errors[f"custom.{net}"][0]


def test_formula_values_cannot_be_written(app, tenant_a, define):
    twice = name("twice")
    define(tenant_a, record_type="deals", api_name=twice, type="formula", formula="amount * 2",
           result_type="currency", currency="eur")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            deals.create_deal(s, {"name": "D", "currency": "EUR", "custom": {twice: "5"}})
        assert (
            "is calculated (a formula); it cannot be set"
            in caught.value.errors[f"custom.{twice}"][0]
        )
        deal = deals.create_deal(s, {"name": "D", "amount": "12.5", "currency": "EUR"})
        assert deal.custom[twice] == {"amount": "25.00", "currency": "EUR"}
        deals.update_deal(s, deal.id, {"amount": None}, partial=True)
        s.flush()
        assert twice not in deal.custom  # blank input, blank result
        with pytest.raises(ValidationFailed):
            deals.update_deal(s, deal.id, {"custom": {twice: {"amount": "1", "currency": "EUR"}}},
                              partial=True)  # fmt: skip


def test_defining_a_formula_fills_existing_records_and_checks_it(app, tenant_a, define):
    label = name("label")
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Existing Co"})
        company_id = company.id
    with pytest.raises(ValidationFailed) as caught:
        define(tenant_a, record_type="companies", api_name=label, type="formula",
               formula="name + 1", result_type="text")  # fmt: skip
    assert caught.value.errors["formula"] == ["At position 6: “+” needs a number, not a text"]
    with pytest.raises(ValidationFailed) as caught:
        define(tenant_a, record_type="companies", api_name=label, type="formula",
               formula="name", result_type="text", required=True)  # fmt: skip
    assert "required" in caught.value.errors
    define(tenant_a, record_type="companies", api_name=label, type="formula",
           formula="'#' & lower(name)", result_type="text")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert company_queries.get_company(s, company_id).custom[label] == "#existing co"


def test_cycles_and_deleting_a_field_a_formula_reads_are_refused(app, tenant_a, define):
    base, first, second = name("base"), name("first"), name("second")
    define(tenant_a, record_type="companies", api_name=base, type="integer")
    one = define(tenant_a, record_type="companies", api_name=first, type="formula",
                 formula=f"custom.{base} + 1", result_type="number")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=second, type="formula",
           formula=f"custom.{first} * 2", result_type="number")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, one.id, {"label": "First", "formula": f"custom.{second} + 1"})
        assert "cycle" in caught.value.errors["formula"][0]
        row = fields.update_field(s, one.id, {"label": "First", "formula": f"custom.{base} + 10"})
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Chain Co", "custom": {base: 5}})
        assert company.custom[first] == "15" and company.custom[second] == "30"
        with pytest.raises(ValidationFailed) as caught:
            fields.delete_field(s, row.id, first)
        assert "Second" in caught.value.errors["confirmation"][0].title()


def test_a_result_type_that_breaks_a_reader_is_refused(app, tenant_a, define):
    base, reader = name("base"), name("reader")
    row = define(tenant_a, record_type="companies", api_name=base, type="formula",
                 formula="len(name)", result_type="number")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=reader, type="formula",
           formula=f"custom.{base} * 2", result_type="number")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        with pytest.raises(ValidationFailed) as caught:
            fields.update_field(s, row.id, {"label": "Base", "formula": "upper(name)",
                                            "result_type": "text"})  # fmt: skip
        message = caught.value.errors["result_type"][0]
        assert "Reader" in message.title() and "needs a number, not a text" in message


def test_deleting_a_formula_removes_its_values(app, tenant_a, define):
    doubled = name("doubled")
    row = define(tenant_a, record_type="companies", api_name=doubled, type="formula",
                 formula="len(name) * 2", result_type="number")  # fmt: skip
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company_id = companies.create_company(s, {"name": "Four"}).id
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert company_queries.get_company(s, company_id).custom[doubled] == "8"
        assert fields.delete_field(s, row.id, doubled) >= 1
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert doubled not in company_queries.get_company(s, company_id).custom


def test_a_daily_job_moves_formulas_that_read_today(app, tenant_a, tenant_b, define):
    from sqlalchemy import update

    from rapport.platform.db import db
    from rapport.platform.jobs.runtime import drain
    from rapport.platform.jobs.schedule import declared
    from rapport.tenants.companies.models import Company
    from rapport.tenants.fields import jobs

    since, age, overdue, plain = name("since"), name("age"), name("overdue"), name("plain")
    define(tenant_a, record_type="companies", api_name=since, type="date")
    define(tenant_a, record_type="companies", api_name=age, type="formula",
           formula=f"days_between(custom.{since}, today())", result_type="number")  # fmt: skip
    # Reads today() through the age formula.
    define(tenant_a, record_type="companies", api_name=overdue, type="formula",
           formula=f"custom.{age} > 2", result_type="checkbox")  # fmt: skip
    define(tenant_a, record_type="companies", api_name=plain, type="formula",
           formula="len(name)", result_type="number")  # fmt: skip
    today = dt.datetime.now(dt.UTC).date()
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = companies.create_company(s, {"name": "Aging", "custom": {since: str(today)}})
        assert (company.custom[age], company.custom[overdue]) == ("0", False)
        company_id, stored = company.id, dict(company.custom)
    three_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        # As if computed three days ago and never touched since: the values are stale now.
        s.execute(
            update(Company)
            .where(Company.id == company_id)
            .values(custom={**stored, since: str(three_days_ago.date())}, updated_at=three_days_ago)
            .execution_options(synchronize_session=False)
        )
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert company_queries.get_company(s, company_id).custom[age] == "0"

    assert any(p.job == jobs.refresh_dated_formulas.job_name and p.every == 86400
               for p in declared())  # fmt: skip
    with app.app_context():
        started = jobs.refresh_dated_formulas(db.session)
        drain(app)
    assert str(tenant_a.ref.id) in started and str(tenant_b.ref.id) in started
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        company = company_queries.get_company(s, company_id)
        assert (company.custom[age], company.custom[overdue], company.custom[plain]) == (
            "3", True, "5",
        )  # fmt: skip
        # The date moving on is not an edit: "last updated" stays where it was.
        assert abs((company.updated_at - three_days_ago).total_seconds()) < 1
        # Running it again changes nothing.
        assert computed.refresh_dated(s) == 0
