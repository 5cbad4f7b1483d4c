"""Gunicorn settings for Rapport's web process.

Run:  gunicorn --config infra/gunicorn.conf.py 'rapport.platform.app:create_app()'
Every value can be overridden from the environment (GUNICORN_*), so one image fits any host.
"""

import os

# Containers often see the host's CPUs; the affinity mask is what this process may actually use.
_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The usual 2 x CPU + 1 for a mostly I/O-bound app. Each worker holds its own connection pool
# (RAPPORT_POOL_SIZE plus as many overflow connections), so workers x pool x containers must stay
# under PostgreSQL's max_connections (or put PgBouncer in transaction mode in between: tenant
# switches are transaction-local, so transaction pooling is safe).
workers = int(os.environ.get("GUNICORN_WORKERS", 2 * _cpus + 1))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# Preload stays off, and the app factory never touches the database or Redis: with preload the
# factory would run once in the master and every forked worker would inherit its sockets. Two
# processes talking over one PostgreSQL or Redis connection interleave their protocol messages
# and corrupt each other's results (and SQLite locks are not fork-safe). Built after the fork,
# each worker opens its own connections lazily on its first request.
preload_app = False

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Retire workers now and then: bounded caches aside, a long-lived process accumulates memory,
# and a PostgreSQL backend keeps catalog cache for every tenant schema it has touched.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = max_requests // 10

# Heartbeat files on tmpfs: a container's overlay filesystem can stall workers into timeouts.
# (Gunicorn creates them with mkstemp, so a shared directory is safe here.)
_SHM = "/dev/shm"  # noqa: S108
worker_tmp_dir = _SHM if os.path.isdir(_SHM) else None

# The TLS proxy sets X-Forwarded-Proto; trust it only from the proxy's network. In compose the web
# port is not published, so only the proxy can reach it.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Request ids come from the proxy (X-Request-ID) and are echoed by the app; log them.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
