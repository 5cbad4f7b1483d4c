"""List and search pages over 100,000 contacts in one tenant: server time, p50/p95.

One workspace is signed up as a visitor would, then filled in bulk: ``--contacts`` contacts
(default 100,000; one in ten with a Chinese, Japanese or Korean name) spread over
``--companies`` companies, inserted with multi-row INSERTs, then the search index is built with
the same ``reindex`` that ``rapport search reindex`` runs, and the tables are analysed.

Then each page is requested ``--samples`` times through the whole stack (Flask's test client:
session cookie, membership, tenant switch, query, template), signed in as the owner:

- ``list_page_1``: ``/<slug>/contacts/``, the default sort (name);
- ``list_page_500``: the same list 500 pages further, reached by following the pages' own "next"
  cursors once, then requested directly (keyset paging: it should cost what page 1 costs);
- ``list_search``: the contacts list narrowed by a surname (``?q=``);
- ``global_search``: the global search results page, a surname prefix across every type;
- ``global_search_cjk``: the same for two Chinese characters;
- ``suggest``: the top bar's JSON suggestions for a partial word.

    /tmp/venv/bin/python bench/bench_search.py --backend postgres
    /tmp/venv/bin/python bench/bench_search.py --backend sqlite
"""

from __future__ import annotations

import random
import re
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import deployment, make_app, parser, percentiles, save  # noqa: E402

FIRST = (
    "Anna", "Ben", "Chloé", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kai",
    "Lena", "Marco", "Nora", "Omar", "Paula", "Quentin", "Rosa", "Sven", "Tara", "Ugo", "Vera",
    "Wim", "Xavier", "Yara", "Zoé",
)  # fmt: skip
LAST = tuple(
    a + b
    for a in ("Berg", "Dahl", "Fern", "Gold", "Hart", "Lind", "Mar", "Nord", "Ros", "Wald")
    for b in ("mann", "strom", "ez", "ini", "sen", "ard", "ley", "ovic", "berg", "ton")
)  # 100 surnames: a surname matches about 1% of the contacts
CJK_FIRST = ("伟", "芳", "娜", "敏", "静", "翔太", "陽菜", "지훈", "서연", "민준")
CJK_LAST = ("王", "李", "张", "刘", "陈", "佐藤", "鈴木", "김", "이", "박")
CITIES = ("Lyon", "Berlin", "Oslo", "Porto", "上海", "東京", "서울", "Austin", "Lima", "Pune")
CJK_COMPANY = ("星河科技", "华南贸易", "東京精機", "대한물산", "北方电子")


def seed(session: Any, contacts: int, companies: int, rng: random.Random) -> dict[str, float]:
    """Bulk-insert companies and contacts, then build the search index; return the seconds."""
    from sqlalchemy import insert

    from rapport.platform.db import utcnow
    from rapport.platform.ids import new_id
    from rapport.tenants.companies.models import Company
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.search.index import reindex

    conn = session.connection()
    started = time.perf_counter()
    now = utcnow()
    company_ids = []
    rows = []
    for n in range(companies):
        cid = new_id()
        company_ids.append(cid)
        if n % 10 == 0:
            name = f"{rng.choice(CJK_COMPANY)}{n}有限公司"
        else:
            name = (
                f"{rng.choice(LAST)} {rng.choice(('Industries', 'Partners', 'Labs', 'GmbH'))} {n}"
            )
        rows.append(
            {"id": cid, "name": name, "city": rng.choice(CITIES), "custom": {},
             "created_at": now, "updated_at": now}
        )  # fmt: skip
    conn.execute(insert(Company.__table__), rows)
    batch: list[dict[str, Any]] = []
    for n in range(contacts):
        if n % 10 == 0:
            first, last = rng.choice(CJK_FIRST), rng.choice(CJK_LAST)
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
        batch.append(
            {"id": new_id(), "first_name": first, "last_name": last,
             "email": f"p{n}@{last.lower() if last.isascii() else 'cjk'}.example.com",
             "phone": f"+33 1 {n:08d}", "title": rng.choice(("CEO", "Buyer", "Engineer", None)),
             "company_id": rng.choice(company_ids), "custom": {},
             "created_at": now, "updated_at": now}
        )  # fmt: skip
        if len(batch) == 5000:
            conn.execute(insert(Contact.__table__), batch)
            batch = []
    if batch:
        conn.execute(insert(Contact.__table__), batch)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    counts = reindex(session)
    indexed = time.perf_counter() - started
    assert counts["contacts"] == contacts, counts
    return {"insert_s": round(inserted, 1), "index_build_s": round(indexed, 1)}


def planner_costs(url: str, random_page_cost: float) -> None:
    """Set the bench database's ``random_page_cost`` (every later connection plans with it)."""
    from sqlalchemy import create_engine, make_url

    database = make_url(url).database
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f'ALTER DATABASE "{database}" SET random_page_cost = {float(random_page_cost)}'
        )
    engine.dispose()


def analyse(app: Any, schema: str) -> None:
    from rapport.platform.tenancy.scope import tenancy

    runtime = tenancy(app)
    with runtime.owner_engine.connect() as conn:
        if runtime.is_postgres:
            conn.exec_driver_sql(f'ANALYZE "{schema}".contacts')
            conn.exec_driver_sql(f'ANALYZE "{schema}".companies')
            conn.exec_driver_sql(f'ANALYZE "{schema}".search_entries')
            conn.commit()


def login(client: Any, email: str, password: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code in (302, 303), response.status_code


def walk_to_page(client: Any, start: str, pages: int) -> str:
    """Follow the pages' "next" links from ``start``; return the URL of page ``pages``."""
    url = start
    for _ in range(pages - 1):
        body = client.get(url).get_data(as_text=True)
        links = re.findall(r'<a[^>]*href="([^"]*cursor=[^"]*)"[^>]*>([^<]*)</a>', body)
        nexts = [h for h, label in links if "next" in label.lower() or "older" in label.lower()]
        if not nexts:
            raise SystemExit(f"no next link after {url}")
        url = nexts[-1].replace("&amp;", "&")
    return url


def timed(client: Any, url: str, samples: int, expect: str | None = None) -> dict[str, float]:
    for _ in range(5):  # warm
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        if expect is not None:
            assert expect in response.get_data(as_text=True), (url, expect)
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url)
        response.get_data()
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return percentiles(times)


def main() -> None:
    p = parser(__doc__.splitlines()[0], tenants=1)
    p.add_argument("--contacts", type=int, default=100_000)
    p.add_argument("--companies", type=int, default=5_000)
    p.add_argument("--samples", type=int, default=50)
    p.add_argument(
        "--random-page-cost",
        type=float,
        default=None,
        help="PostgreSQL: set the database's random_page_cost first (1.1 for SSD / cached data)",
    )
    args = p.parse_args()
    rng = random.Random(7)
    with deployment(args.backend) as overrides:
        if args.backend == "postgres" and args.random_page_cost is not None:
            planner_costs(overrides["database_url"], args.random_page_cost)
        app = make_app(overrides)
        from rapport.platform.identity import services as identity
        from rapport.platform.tenancy.scope import tenancy, tenant_session

        slug = f"bench-{secrets.token_hex(2)}"
        email, password = f"owner@{slug}.example.com", "a long bench passphrase " + slug
        with app.app_context():
            ref = identity.sign_up(
                company_name="Bench", slug=slug, owner_name="Bench", email=email,
                password=password,
            ).tenant  # fmt: skip
            with tenant_session(ref) as session:
                seeded = seed(session, args.contacts, args.companies, rng)
        analyse(app, ref.schema_name)
        client = app.test_client()
        login(client, email, password)
        base = f"/{slug}"
        surname = LAST[17]
        started = time.perf_counter()
        page_500 = walk_to_page(client, f"{base}/contacts/", 500)
        walk_s = time.perf_counter() - started
        cases = {
            "list_page_1": (f"{base}/contacts/", None),
            "list_page_500": (page_500, None),
            "list_search": (f"{base}/contacts/?q={surname}", surname),
            "global_search": (f"{base}/search/?q={surname[:5]}", surname[:5]),
            "global_search_cjk": (f"{base}/search/?q=星河", "星河"),
            "suggest": (f"{base}/search/suggest?q={surname[:4].lower()}", None),
        }
        results: dict[str, Any] = {}
        for name, (url, expect) in cases.items():
            results[name] = timed(client, url, args.samples, expect)
            print(name, results[name], file=sys.stderr)
        plan = list_plans = None
        with app.app_context():
            if tenancy().is_postgres:
                plan = explain(ref, surname[:5])
                list_plans = explain_list(ref, surname)
            tenancy().dispose()
        save(
            "search",
            {"backend": args.backend, "contacts": args.contacts, "companies": args.companies,
             "samples": args.samples, "random_page_cost": args.random_page_cost, "seed": seeded,
             "walk_to_page_500_s": round(walk_s, 1),
             "results": results, "global_search_plan": plan, "list_plans": list_plans},
        )  # fmt: skip


def explain(ref: Any, query: str) -> list[str]:
    """PostgreSQL's plan of the global search, to show the GIN index is used."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.search import queries
    from rapport.tenants.search.tokens import query_terms

    with tenant_session(ref) as session:
        terms = query_terms(query)
        stmt, _rank = queries._matching(session, terms)
        compiled = stmt.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        # The tenant's search_path is set for the transaction: the placeholder schema can go.
        sql = "EXPLAIN " + str(compiled).replace("tenant.", "").replace('"tenant".', "")
        rows = session.execute(text(sql)).scalars()
        return list(rows)


def explain_list(ref: Any, q: str) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE of the statements the contacts list runs: page 1, its count, quick search."""
    from sqlalchemy import func, select, text
    from sqlalchemy.dialects import postgresql

    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants import filtering, paging
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.search.queries import record_filter
    from rapport.web.listing import COUNT_CAP

    def plan(session: Any, stmt: Any) -> list[str]:
        compiled = stmt.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        sql = str(compiled).replace('"tenant".', "").replace("tenant.", "")
        return list(session.execute(text("EXPLAIN ANALYZE " + sql)).scalars())

    out = {}
    with tenant_session(ref) as session:
        key = filtering.sort_key(session, "contacts", "name")
        for label, stmt in (
            ("page", select(Contact)),
            ("search_page", select(Contact).where(record_filter("contacts", q))),
        ):
            out[label] = plan(session, stmt.order_by(key, Contact.id).limit(26))
            if label == "search_page":
                # What keyset_page runs when the count shows few matches (see paging._fenced).
                fenced, k, i = paging._fenced(session, stmt, key, Contact.id)
                out["search_page_fenced"] = plan(session, fenced.order_by(k, i).limit(26))
            counted = stmt.with_only_columns(Contact.id).limit(COUNT_CAP + 1).subquery()
            out[label + "_count"] = plan(session, select(func.count()).select_from(counted))
    return out


if __name__ == "__main__":
    main()
