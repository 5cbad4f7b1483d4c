"""Visit plans: cycles and weekdays, idempotent regeneration, removal of visits that no longer
fit, adherence per rep, and tenant isolation."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.activities import services as activity_services
from rapport.tenants.activities.models import Activity, ActivityLink
from rapport.tenants.companies import services as company_services
from rapport.tenants.visits import queries, services
from rapport.tenants.visits.models import VisitPlan

MONDAY = dt.date(2030, 1, 7)


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def plan_visits(session, plan_id) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity).where(Activity.visit_plan_id == plan_id).order_by(Activity.visit_date)
        )
    )


def test_weekly_cycle_on_chosen_weekdays_generates_visits_once(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            acme = company_services.create_company(s, {"name": unique("Acme")})
            plan = services.create_plan(
                s,
                {"name": unique("North route"), "owner_id": str(a.owner_id), "every": "2",
                 "unit": "weeks", "weekdays": ["mon", "thu"], "starts_on": MONDAY.isoformat(),
                 "horizon_days": "27", "visit_time": "09:30"},
                today=MONDAY,
            )  # fmt: skip
            services.add_customer(s, plan.id, "companies", acme.id, today=MONDAY)
            plan_id, acme_id = plan.id, acme.id
        with tenant_session(a.ref) as s:
            visits = plan_visits(s, plan_id)
            # Every second week from the week of 7 January, on Monday and Thursday, 27 days ahead.
            days = [dt.date(2030, 1, d) for d in (7, 10, 21, 24)]
            assert [v.visit_date for v in visits] == days
            first = visits[0]
            assert first.kind == "visit" and first.owner_id == a.owner_id
            assert first.due_at == dt.datetime(2030, 1, 7, 9, 30, tzinfo=dt.UTC)
            assert first.subject.startswith("Visit Acme")
            link = s.scalars(select(ActivityLink).where(ActivityLink.activity_id == first.id)).one()
            assert (link.record_type, link.record_id) == ("companies", acme_id)
            # Running the generator again creates nothing new.
            plan = s.get(VisitPlan, plan_id)
            assert services.generate(s, plan, today=MONDAY) == (0, 0)
            services.generate_all(s, today=MONDAY)  # every plan of the tenant: none new here
        with tenant_session(a.ref) as s:
            # A new time of day moves the planned visits, without new ones.
            services.update_plan(
                s, plan_id,
                {"name": "North route", "owner_id": str(a.owner_id), "every": 2, "unit": "weeks",
                 "weekdays": ["mon", "thu"], "starts_on": MONDAY.isoformat(),
                 "horizon_days": 27, "visit_time": "14:00"},
                today=MONDAY,
            )  # fmt: skip
        with tenant_session(a.ref) as s:
            visits = plan_visits(s, plan_id)
            assert len(visits) == 4
            assert visits[0].due_at == dt.datetime(2030, 1, 7, 14, 0, tzinfo=dt.UTC)
        with tenant_session(b.ref) as s:
            assert s.get(VisitPlan, plan_id) is None
            assert plan_visits(s, plan_id) == []


def test_every_n_days_cycle_skips_unchosen_weekdays_and_moves_with_the_window(app, tenants):
    a, _b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = company_services.create_company(s, {"name": unique("Dayco")})
            plan = services.create_plan(
                s,
                {"name": unique("Every 3 days"), "owner_id": str(a.owner_id), "every": 3,
                 "unit": "days", "weekdays": "mon,tue,wed,thu,fri",
                 "starts_on": MONDAY.isoformat(), "horizon_days": 14},
                today=MONDAY,
            )  # fmt: skip
            services.add_customer(s, plan.id, "companies", company.id, today=MONDAY)
            plan_id = plan.id
        with tenant_session(a.ref) as s:
            # 7, 10, 13 (Sun: skipped), 16, 19 (Sat: skipped); all day when no time is set.
            dates = [v.visit_date for v in plan_visits(s, plan_id)]
            assert dates == [dt.date(2030, 1, 7), dt.date(2030, 1, 10), dt.date(2030, 1, 16)]
            assert all(v.all_day for v in plan_visits(s, plan_id))
            # A week later the window has moved on: only the new days are added.
            later = MONDAY + dt.timedelta(days=7)
            created, removed = services.generate(s, s.get(VisitPlan, plan_id), today=later)
            # 16 January is there already; 19 is a Saturday; 22, 25 and 28 January are new.
            assert (created, removed) == (3, 0)


def test_changing_the_plan_removes_future_open_visits_that_no_longer_fit(app, tenants):
    a, _b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            one = company_services.create_company(s, {"name": unique("One")})
            two = company_services.create_company(s, {"name": unique("Two")})
            plan = services.create_plan(
                s,
                {"name": unique("Weekly"), "owner_id": str(a.owner_id), "every": 1,
                 "unit": "weeks", "starts_on": MONDAY.isoformat(), "horizon_days": 13},
                today=MONDAY,
            )  # fmt: skip
            services.add_customer(s, plan.id, "companies", one.id, today=MONDAY)
            customer = services.add_customer(s, plan.id, "companies", two.id, today=MONDAY)
            plan_id = plan.id
        with tenant_session(a.ref) as s:
            visits = plan_visits(s, plan_id)
            assert len(visits) == 4  # two Mondays, two customers
            done = next(v for v in visits if v.visit_customer_id == customer.id)
            activity_services.check_in(s, done.id, {"outcome": "Fine"})
        with tenant_session(a.ref) as s:
            services.remove_customer(s, plan_id, customer.id, today=MONDAY)
        with tenant_session(a.ref) as s:
            left = plan_visits(s, plan_id)
            # The checked-in visit stays; the other visit to the removed customer is gone.
            assert len(left) == 3 and done.id in {v.id for v in left}


def test_adherence_counts_planned_done_late_and_overdue_per_rep(app, tenants):
    a, _b = tenants
    start = dt.date(2032, 3, 1)  # a Monday
    with app.app_context():
        with tenant_session(a.ref) as s:
            company = company_services.create_company(s, {"name": unique("Adhere")})
            plan = services.create_plan(
                s,
                {"name": unique("Daily"), "owner_id": str(a.owner_id), "every": 1,
                 "unit": "days", "starts_on": start.isoformat(), "horizon_days": 3},
                today=start,
            )  # fmt: skip
            services.add_customer(s, plan.id, "companies", company.id, today=start)
            plan_id = plan.id
        with tenant_session(a.ref) as s:
            v1, v2, v3, v4 = plan_visits(s, plan_id)
            activity_services.complete_activity(s, v1.id, {"outcome": "On time"})
            v1.completed_at = dt.datetime(2032, 3, 1, 15, tzinfo=dt.UTC)
            activity_services.complete_activity(s, v2.id)
            v2.completed_at = dt.datetime(2032, 3, 4, 9, tzinfo=dt.UTC)  # two days late
        with tenant_session(a.ref) as s:
            (row,) = [
                r for r in queries.adherence(s, start, start + dt.timedelta(days=3),
                                             today=dt.date(2032, 3, 4))
                if r.owner_id == a.owner_id
            ]  # fmt: skip
            # 1 and 2 done (one late), 3 March overdue, 4 March (today) upcoming.
            assert (row.planned, row.done, row.done_late, row.overdue, row.upcoming) == (
                4, 1, 1, 1, 1,
            )  # fmt: skip


def test_the_visit_time_is_meant_in_the_plans_zone(app, tenants):
    import pytest

    from rapport.platform.errors import ValidationFailed

    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            acme = company_services.create_company(s, {"name": unique("Pudong")})
            plan = services.create_plan(
                s,
                {"name": unique("Shanghai route"), "owner_id": str(a.owner_id), "every": "1",
                 "unit": "weeks", "weekdays": ["mon"], "starts_on": MONDAY.isoformat(),
                 "horizon_days": "6", "visit_time": "09:00", "timezone": "Asia/Shanghai"},
                today=MONDAY,
            )  # fmt: skip
            services.add_customer(s, plan.id, "companies", acme.id, today=MONDAY)
            plan_id = plan.id
            with pytest.raises(ValidationFailed) as bad:
                services.create_plan(
                    s,
                    {"name": unique("Nowhere"), "owner_id": str(a.owner_id),
                     "starts_on": MONDAY.isoformat(), "timezone": "Atlantis/Lost"},
                )  # fmt: skip
            assert bad.value.errors == {"timezone": ["Choose a time zone from the list."]}
        with tenant_session(a.ref) as s:
            (visit,) = plan_visits(s, plan_id)
            # 09:00 on Monday in Shanghai is 01:00 UTC the same day.
            assert visit.visit_date == MONDAY
            assert visit.due_at == dt.datetime(2030, 1, 7, 1, 0, tzinfo=dt.UTC)
        with tenant_session(b.ref) as s:
            assert plan_visits(s, plan_id) == []
