"""Background jobs: RQ queues named by purpose, the outbox, periodic work."""
