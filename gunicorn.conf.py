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
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
# The app logs each request itself, as JSON with a request id.
accesslog = None
errorlog = "-"
# Trust X-Forwarded-* only from the reverse proxy on this host.
forwarded_allow_ips = os.environ.get("TIMEBANK_FORWARDED_ALLOW_IPS", "127.0.0.1")
proxy_allow_ips = forwarded_allow_ips
