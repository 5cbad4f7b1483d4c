"""Background jobs: RQ queues named by purpose, the outbox, periodic work.

Declare a job (``registry``)::

    from rapport.platform.jobs.registry import job

    @job("webhooks")                        # tenant plane: fn(session, tenant, **payload)
    def deliver(session, tenant, webhook_id: str) -> None: ...

    @job("email", plane="control")          # control plane: fn(session, **payload)
    def send_welcome(session, user_id: str) -> None: ...

Cause it from a change, in the change's transaction (``outbox``)::

    from rapport.platform.jobs import outbox

    outbox.add(tenant_session, deliver, {"webhook_id": str(hook.id)}, event_key=f"hook:{event.id}")
    outbox.add(db.session, send_welcome, {"user_id": str(user.id)}, event_key=f"welcome:{user.id}")

The job runs after the commit (never if the transaction rolls back), once per ``event_key``.
Queues: ``default, workflows, webhooks, billing, imports, email``. Jobs flush and never commit;
the runner commits once and marks the outbox row done in the same transaction.

Elsewhere: ``runtime`` (``init_app``, ``jobs()``, ``enqueue``, ``drain``,
``start_embedded_runtime``), ``execute.perform`` (what every runner runs: tenant id first),
``runners`` (RQ and in-process), ``schedule`` (periodic work, declared in code), ``sweeper``
(re-enqueues what was not done), ``models`` (the two outbox tables).
"""
