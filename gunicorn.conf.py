"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py wsgi:app`."""

import multiprocessing
import os

bind = os.environ.get("TIMEBANK_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("TIMEBANK_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("TIMEBANK_THREADS", 1))
worker_class = "sync" if threads == 1 else "gthread"
timeout = int(os.environ.get("TIMEBANK_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
# Worker recycling is off: restarting every worker within the same second stalls the
# server (measured: p99 above 1 s). Set TIMEBANK_MAX_REQUESTS to recycle, with a wide
# jitter so workers restart at different times.
max_requests = int(os.environ.get("TIMEBANK_MAX_REQUESTS", 0))
max_requests_jitter = max_requests // 2
# gunicorn's control socket sits at one path per user; several instances on a machine
# would take it from each other.
control_socket_disable = True
# The app logs each request itself, as JSON with a request id.
accesslog = None
errorlog = "-"
# Trust X-Forwarded-* only from the reverse proxy on this host.
forwarded_allow_ips = os.environ.get("TIMEBANK_FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips
