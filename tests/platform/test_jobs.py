"""Background jobs: the outbox, both runners (RQ on Redis, in-process), the sweeper, the schedule.

Every test runs on both backends. ``app`` runs jobs inline (synchronously after the commit);
``bg_app`` is the same deployment with jobs in the background: on the postgres backend that is
RQ on the real Redis (drained by an in-process ``SimpleWorker``), on sqlite the thread pool.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.db import db
from rapport.platform.jobs import outbox
from rapport.platform.jobs.execute import PERFORM, perform
from rapport.platform.jobs.models import ControlOutboxEntry, OutboxEntry
from rapport.platform.jobs.registry import MissingTenant, job
from rapport.platform.jobs.runtime import drain, enqueue, jobs, start_embedded_runtime
from rapport.platform.jobs.schedule import Periodic, Schedule
from rapport.platform.jobs.sweeper import sweep
from rapport.platform.jobs.tasks import Task
from rapport.platform.tenancy.models import Tenant
from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.tenants.companies.models import Company

NOW = dt.timedelta(0)
ROOT = Path(__file__).resolve().parents[2]


# -- test jobs: each effect is a row someone would see --------------------------------------------
@job("default")
def add_company(session: Session, tenant, name: str, hold: dict | None = None) -> None:  # type: ignore[no-untyped-def]
    session.add(Company(name=name))
    session.flush()
    if hold:
        hold_once(hold)


@job("default", retries=2, backoff=(0,))
def flaky_company(session: Session, tenant, name: str, counter: str, fail_times: int) -> None:  # type: ignore[no-untyped-def]
    path = Path(counter)
    attempt = int(path.read_text() or "0") + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt <= fail_times:
        raise RuntimeError(f"transient failure {attempt}")
    session.add(Company(name=name))


@job("email", plane="control")
def platform_note(session: Session, note: str) -> None:
    audit.record_platform(session, "test.job", note=note)


def hold_once(hold: dict) -> None:
    """Stop here the first time (the test kills the process); carry on when run again."""
    reached = Path(hold["reached"])
    if reached.exists():
        return
    reached.touch()
    deadline = time.monotonic() + 120
    while not Path(hold["release"]).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the test never killed or released this job")
        time.sleep(0.05)


# -- helpers --------------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def companies(app, tenant, name: str) -> int:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return s.scalar(select(func.count()).select_from(Company).where(Company.name == name))


def outbox_row(app, tenant, key: str) -> OutboxEntry | None:  # type: ignore[no-untyped-def]
    with app.app_context(), tenant_session(tenant.ref) as s:
        return s.scalars(select(OutboxEntry).where(OutboxEntry.event_key == key)).first()


def notes(app, note: str) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(PlatformAuditEntry)
            .where(PlatformAuditEntry.note == note)
        )
        db.session.rollback()
        return count


def add_company_event(app, tenant, name: str, key: str | None = None, **extra) -> str:  # type: ignore[no-untyped-def]
    key = key or unique("evt")
    with app.app_context(), tenant_session(tenant.ref) as s:
        outbox.add(s, add_company, {"name": name, **extra}, event_key=key)
    return key


@pytest.fixture(scope="module")
def bg_app(app, backend_env):  # type: ignore[no-untyped-def]
    """The same deployment with background jobs (RQ on postgres, threads on sqlite)."""
    from rapport.platform.app import create_app

    background = create_app({**backend_env.overrides(), "run_jobs_inline": False})
    yield background
    jobs(background).close()
    tenancy(background).dispose()
    with background.app_context():
        db.engine.dispose()


@pytest.fixture(params=["inline", "background"])
def any_app(request, app, bg_app):  # type: ignore[no-untyped-def]
    return app if request.param == "inline" else bg_app


# -- tenant scope ---------------------------------------------------------------------------------
def test_a_tenant_job_without_a_tenant_refuses_to_run(app, bg_app, tenants):
    a, b = tenants
    name = unique("no-tenant")
    with app.app_context():
        with pytest.raises(MissingTenant, match="tenant id"):
            perform(None, add_company.job_name, payload={"name": name})
        with pytest.raises(MissingTenant):
            enqueue(add_company, None, name=name)
        # A tenant job cannot be written to the control plane's outbox either.
        with pytest.raises(ValueError, match="tenant plane"):
            outbox.add(db.session, add_company, {"name": name}, event_key=unique("evt"))
        db.session.rollback()
    runtime = jobs(bg_app)
    if runtime.uses_rq:
        # A job that reached Redis without a tenant (by a bug elsewhere) fails in the worker.
        queued = runtime.runner.queue("default").enqueue(
            PERFORM, args=(None, add_company.job_name), kwargs={"payload": {"name": name}}
        )
        drain(bg_app)
        queued.refresh()
        assert queued.get_status() == "failed"
        assert "MissingTenant" in (queued.latest_result().exc_string or "")
    assert companies(app, a, name) == 0 and companies(app, b, name) == 0


def test_a_tenant_job_writes_in_its_own_tenant_only(any_app, tenants):
    a, b = tenants
    name = unique("scoped")
    key = add_company_event(any_app, a, name)
    drain(any_app)
    assert companies(any_app, a, name) == 1
    assert companies(any_app, b, name) == 0
    row = outbox_row(any_app, a, key)
    assert row is not None and row.done_at is not None and row.attempts == 1
    assert outbox_row(any_app, b, key) is None


def test_direct_enqueue_runs_in_the_named_tenant(any_app, tenants):
    a, b = tenants
    name = unique("direct")
    with any_app.app_context():
        enqueue(add_company, b.ref.id, name=name)
    drain(any_app)
    assert companies(any_app, b, name) == 1 and companies(any_app, a, name) == 0


# -- the outbox -----------------------------------------------------------------------------------
def test_an_outbox_row_in_a_rolled_back_transaction_never_runs(any_app, tenants):
    a, _ = tenants
    name, key = unique("rolled-back"), unique("evt")
    with any_app.app_context():
        with pytest.raises(RuntimeError), tenant_session(a.ref) as s:
            outbox.add(s, add_company, {"name": name}, event_key=key)
            raise RuntimeError("the change failed after the outbox row was written")
        note = unique("control-rolled-back")
        outbox.add(db.session, platform_note, {"note": note}, event_key=unique("evt"))
        db.session.rollback()
        drain(any_app)
        sweep(older_than=NOW)
    drain(any_app)
    assert companies(any_app, a, name) == 0
    assert outbox_row(any_app, a, key) is None
    assert notes(any_app, note) == 0


def test_the_same_event_added_twice_runs_once(any_app, tenants):
    a, _ = tenants
    name, key = unique("twice"), unique("evt")
    with any_app.app_context():
        with tenant_session(a.ref) as s:
            first = outbox.add(s, add_company, {"name": name}, event_key=key)
            again = outbox.add(s, add_company, {"name": name}, event_key=key)
        with tenant_session(a.ref) as s:
            later = outbox.add(s, add_company, {"name": name}, event_key=key)
    drain(any_app)
    assert first is not None and again is None and later is None
    assert companies(any_app, a, name) == 1


def test_control_plane_outbox_runs_after_commit(any_app):
    note, key = unique("control"), unique("evt")
    with any_app.app_context():
        outbox.add(db.session, platform_note, {"note": note}, event_key=key)
        assert notes(any_app, note) == 0  # nothing leaves before the commit
        db.session.commit()
    drain(any_app)
    assert notes(any_app, note) == 1
    with any_app.app_context():
        row = db.session.scalars(
            select(ControlOutboxEntry).where(ControlOutboxEntry.event_key == key)
        ).one()
        assert row.done_at is not None
        db.session.rollback()


# -- failures and retries -------------------------------------------------------------------------
def test_a_failing_job_is_retried_with_its_attempts_recorded(bg_app, tenants, tmp_path):
    a, _ = tenants
    healed, broken = unique("healed"), unique("broken")
    key_healed = add_company_event_flaky(bg_app, a, healed, tmp_path / "healed", fail_times=1)
    key_broken = add_company_event_flaky(bg_app, a, broken, tmp_path / "broken", fail_times=99)
    drain(bg_app)
    assert companies(bg_app, a, healed) == 1
    row = outbox_row(bg_app, a, key_healed)
    assert row.done_at is not None and row.attempts == 2 and row.last_error is None
    # Three attempts (one plus two retries), then the row keeps the last error for an operator.
    assert companies(bg_app, a, broken) == 0
    row = outbox_row(bg_app, a, key_broken)
    assert row.done_at is None and row.attempts == 3
    assert row.last_error == "RuntimeError: transient failure 3"


def add_company_event_flaky(app, tenant, name: str, counter: Path, fail_times: int) -> str:  # type: ignore[no-untyped-def]
    key = unique("evt")
    payload = {"name": name, "counter": str(counter), "fail_times": fail_times}
    with app.app_context(), tenant_session(tenant.ref) as s:
        outbox.add(s, flaky_company, payload, event_key=key)
    return key


# -- killed mid-way --------------------------------------------------------------------------------
KILL_SCRIPT = """
import importlib.util, json, sys
args = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location(args["module"], args["path"])
tests = importlib.util.module_from_spec(spec)
sys.modules[args["module"]] = tests
spec.loader.exec_module(tests)

from rapport.platform.app import create_app
from rapport.platform.jobs import outbox
from rapport.platform.jobs.runtime import drain
from rapport.platform.tenancy.scope import load_tenant, tenant_committed, tenant_session

app = create_app(args["overrides"])
with app.app_context():
    ref = load_tenant(tenant_id=args["tenant_id"])
    with tenant_session(ref) as s:
        outbox.add(s, tests.add_company, args["payload"], event_key=args["event_key"])

    def stop_after_commit(sender, **kw):
        tests.hold_once(args["hold"])

    if args["after_commit"]:
        tenant_committed.connect(stop_after_commit)
    drain(app)  # RQ: a SimpleWorker in this process; sqlite: the thread pool
"""


def run_and_kill(
    backend_env, tenant, tmp_path: Path, name: str, key: str, *, after_commit: bool
) -> None:  # type: ignore[no-untyped-def]
    """Run the job in a worker process and SIGKILL it at the chosen point."""
    hold = {"reached": str(tmp_path / "reached"), "release": str(tmp_path / "never-released")}
    payload = {"name": name} if after_commit else {"name": name, "hold": hold}
    args = {
        "module": __name__, "path": __file__, "tenant_id": str(tenant.ref.id), "event_key": key,
        "payload": payload, "hold": hold, "after_commit": after_commit,
        "overrides": {**backend_env.overrides(), "run_jobs_inline": False},
    }  # fmt: skip
    script = tmp_path / "worker.py"
    script.write_text(KILL_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), json.dumps(args)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not Path(hold["reached"]).exists():
            assert proc.poll() is None, "the worker exited before reaching the kill point"
            assert time.monotonic() < deadline, "the worker never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_job_killed_before_its_commit_is_swept_and_applied_once(
    bg_app, backend_env, tenants, tmp_path
):
    a, b = tenants
    name, key = unique("killed-mid-way"), unique("evt")
    run_and_kill(backend_env, a, tmp_path, name, key, after_commit=False)
    # The effect was written and flushed, never committed: nothing of it remains.
    assert companies(bg_app, a, name) == 0
    row = outbox_row(bg_app, a, key)
    assert row is not None and row.done_at is None
    with bg_app.app_context():
        assert db.session.get(Tenant, a.ref.id).outbox_pending
        db.session.rollback()
        report = sweep(older_than=NOW)
    assert report.tenant_rows >= 1
    drain(bg_app)
    assert companies(bg_app, a, name) == 1
    # Delivered once more (RQ is at-least-once): the done row makes it a no-op.
    jobs(bg_app).submit(Task(add_company.job_name, str(a.ref.id), str(row.id)), replace_stale=0)
    drain(bg_app)
    assert companies(bg_app, a, name) == 1
    assert companies(bg_app, b, name) == 0
    assert outbox_row(bg_app, a, key).attempts == 1


def test_a_job_killed_after_its_commit_is_not_applied_again(bg_app, backend_env, tenants, tmp_path):
    a, _ = tenants
    name, key = unique("killed-after-commit"), unique("evt")
    run_and_kill(backend_env, a, tmp_path, name, key, after_commit=True)
    assert companies(bg_app, a, name) == 1
    row = outbox_row(bg_app, a, key)
    assert row.done_at is not None
    # The queue never heard the job finish and delivers it again; the sweeper leaves it alone.
    jobs(bg_app).submit(Task(add_company.job_name, str(a.ref.id), str(row.id)), replace_stale=0)
    drain(bg_app)
    with bg_app.app_context():
        sweep(older_than=NOW)
    drain(bg_app)
    assert companies(bg_app, a, name) == 1


# -- the sweeper ----------------------------------------------------------------------------------
def commit_without_dispatch(app, tenant, name: str) -> str:  # type: ignore[no-untyped-def]
    """Write an outbox row and crash, in effect, between the commit and the enqueue."""
    key = unique("evt")
    with app.app_context():
        session = tenancy(app).open_session(tenant.ref)
        outbox.add(session, add_company, {"name": name}, event_key=key)
        session.commit()  # no tenant_committed signal: nothing is enqueued
        session.close()
    return key


def set_mark(app, tenant, value: bool) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db.session.execute(
            update(Tenant).where(Tenant.id == tenant.ref.id).values(outbox_pending=value)
        )
        db.session.commit()


def is_marked(app, tenant) -> bool:  # type: ignore[no-untyped-def]
    with app.app_context():
        value = db.session.scalar(select(Tenant.outbox_pending).where(Tenant.id == tenant.ref.id))
        db.session.rollback()
        return bool(value)


def test_the_sweeper_delivers_undelivered_rows_of_marked_tenants_only(app):
    from tests.conftest import make_tenant

    marked, unmarked = make_tenant(app, "Sweep Marked"), make_tenant(app, "Sweep Unmarked")
    name_m, name_u = unique("swept"), unique("not-visited")
    commit_without_dispatch(app, marked, name_m)
    commit_without_dispatch(app, unmarked, name_u)
    assert companies(app, marked, name_m) == 0 and is_marked(app, marked)
    # The unmarked tenant's row exists, but nothing tells the sweeper to look: it must not.
    set_mark(app, unmarked, False)
    with app.app_context():
        sweep(older_than=NOW, grace=NOW)
    assert companies(app, marked, name_m) == 1
    assert companies(app, unmarked, name_u) == 0
    assert is_marked(app, marked)  # the visit that re-enqueued the row cannot know it is done
    with app.app_context():
        report = sweep(older_than=NOW, grace=NOW)
    # Nothing left: the mark goes, so later sweeps skip the tenant.
    assert not is_marked(app, marked) and report.marks_cleared >= 1
    set_mark(app, unmarked, True)
    with app.app_context():
        sweep(older_than=NOW, grace=NOW)
    assert companies(app, unmarked, name_u) == 1
    assert companies(app, marked, name_m) == 1


def test_the_sweeper_leaves_fresh_rows_to_the_normal_dispatch(app, tenants):
    a, _ = tenants
    name = unique("fresh")
    commit_without_dispatch(app, a, name)
    with app.app_context():
        sweep(older_than=dt.timedelta(hours=1))
    assert companies(app, a, name) == 0
    with app.app_context():
        sweep(older_than=NOW)
    assert companies(app, a, name) == 1


def test_the_sweeper_delivers_the_control_plane_outbox(any_app):
    note = unique("control-swept")
    with any_app.app_context():
        # A session whose commit the outbox cannot see, like a crash between commit and enqueue.
        with Session(db.engine) as session, session.begin():
            outbox.add(session, platform_note, {"note": note}, event_key=unique("evt"))
        drain(any_app)
        assert notes(any_app, note) == 0
        sweep(older_than=NOW)
    drain(any_app)
    assert notes(any_app, note) == 1


# -- periodic work --------------------------------------------------------------------------------
@job("default", plane="control")
def periodic_note(session: Session) -> None:
    audit.record_platform(session, "test.periodic", note="periodic")


def periodic_runs(app) -> int:  # type: ignore[no-untyped-def]
    return notes(app, "periodic")


def test_periodic_schedule_registration_is_idempotent(bg_app):
    entry = Periodic(unique("test-periodic"), 60, periodic_note.job_name)
    schedule = Schedule([entry, entry])
    schedule.add(entry)
    assert list(schedule) == [entry]
    with pytest.raises(ValueError, match="already declared"):
        schedule.add(Periodic(entry.id, 30, periodic_note.job_name))

    before = periodic_runs(bg_app)
    runtime = jobs(bg_app)
    # Two schedulers: two worker processes, or one restarted within the slot.
    first, second = runtime.scheduler(schedule), runtime.scheduler(schedule)
    start = 1_700_000_000 - 1_700_000_000 % 60 + 5
    with bg_app.app_context():
        assert first.tick(start) == [entry.id]
        assert second.tick(start) == []
        assert first.tick(start + 30) == []
        assert second.tick(start + 60) == [entry.id]
    drain(bg_app)
    assert periodic_runs(bg_app) == before + 2


def test_the_declared_schedule_includes_the_outbox_sweeper():
    from rapport.platform.jobs.registry import get
    from rapport.platform.jobs.schedule import declared

    entries = {entry.id: entry for entry in declared()}
    assert get(entries["outbox-sweep"].job).plane == "control"


def test_the_embedded_runtime_runs_the_schedule_in_process(bg_app, backend):
    schedule = Schedule([Periodic(unique("embedded"), 3600, periodic_note.job_name)])
    before = periodic_runs(bg_app)
    runtime = start_embedded_runtime(bg_app, schedule)
    if backend == "postgres":
        assert runtime is None  # with Redis, `rapport worker` runs the schedule
        return
    assert runtime is not None
    runtime.stop()
    assert periodic_runs(bg_app) == before + 1


# -- rapport worker -------------------------------------------------------------------------------
def test_worker_refuses_to_start_without_redis(app, runner, backend):
    from rapport.platform.cli import main

    if backend == "postgres":
        pytest.skip("this deployment has Redis")
    result = runner.invoke(main, ["worker", "--burst"])
    assert result.exit_code != 0
    assert "needs Redis" in result.output and "rapport serve" in result.output


WORKER_SCRIPT = """
import importlib.util, json, sys
args = json.loads(sys.argv[1])
spec = importlib.util.spec_from_file_location(args["module"], args["path"])
tests = importlib.util.module_from_spec(spec)
sys.modules[args["module"]] = tests
spec.loader.exec_module(tests)

from rapport.platform.cli import main
main(["worker", "--burst", "--queues", "default,email"])
"""


def test_rapport_worker_runs_queued_jobs(bg_app, backend_env, backend, tenants, tmp_path):
    if backend != "postgres":
        pytest.skip("rapport worker runs RQ; the embedded default runs jobs in-process")
    a, b = tenants
    name = unique("worker")
    add_company_event(bg_app, a, name)
    assert companies(bg_app, a, name) == 0  # queued in Redis, not run yet
    env = {
        **os.environ,
        **{f"RAPPORT_{k.upper()}": str(v) for k, v in backend_env.overrides().items()},
    }
    env["RAPPORT_RUN_JOBS_INLINE"] = "false"
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), json.dumps({"module": __name__, "path": __file__})],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert companies(bg_app, a, name) == 1, done.stderr and companies(bg_app, b, name) == 0
