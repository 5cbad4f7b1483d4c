"""``rapport worker``: RQ workers for the job queues, and the periodic schedule."""

from __future__ import annotations

import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from rapport.platform.jobs.registry import QUEUES


def _queues(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; "
            f"queues are {', '.join(QUEUES)}",
            param_hint="--queues",
        )
    return names


@click.command("worker")
@click.option(
    "--queues", "-q", default=",".join(QUEUES), show_default=True,
    help="Comma-separated queues to work on, highest priority first.",
)  # fmt: skip
@click.option("--burst", is_flag=True, help="Run what is queued now, then exit.")
@click.option(
    "--no-schedule", is_flag=True, help="Do not run the periodic schedule in this process."
)
@with_appcontext
def worker_command(queues: str, burst: bool, no_schedule: bool) -> None:
    """Run background jobs and the periodic schedule (needs Redis)."""
    from rq import Worker
    from rq.serializers import JSONSerializer

    from rapport.platform.jobs.runners import RQRunner
    from rapport.platform.jobs.schedule import RedisClaims, Scheduler, declared

    app = current_app._get_current_object()
    settings = app.config["RAPPORT"]
    if not settings.redis_url:
        raise click.ClickException(
            "rapport worker needs Redis: set RAPPORT_REDIS_URL. Without Redis (the embedded "
            "default), `rapport serve` runs jobs and the periodic schedule in its own process."
        )
    names = _queues(queues)
    runner = RQRunner(app, settings.redis_url)
    # The schedule only enqueues (Redis, no database), so the work horses forked below start
    # with no database connection inherited from this process.
    scheduler = Scheduler(declared(), RedisClaims(runner.connection), runner.submit)
    stop = threading.Event()
    ticker = None
    if not no_schedule:
        if burst:
            scheduler.tick()
        else:
            ticker = threading.Thread(
                target=scheduler.run, args=(stop,), name="rapport-schedule", daemon=True
            )
            ticker.start()
    worker = Worker(
        [runner.queue(name) for name in names],
        connection=runner.connection,
        serializer=JSONSerializer,
    )
    try:
        # with_scheduler: RQ's own scheduler moves retries waiting out their backoff back onto
        # their queue.
        worker.work(burst=burst, with_scheduler=True)
    finally:
        stop.set()
        if ticker is not None:
            ticker.join(timeout=5)


def register(group: click.Group) -> None:
    group.add_command(worker_command)
