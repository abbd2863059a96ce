"""gunicorn settings for BackupManager (used by bin/run and deploy/backupmanager-web.service).

Read from the environment: BM_BIND (host:port, default 127.0.0.1:8000), BM_WEB_WORKERS
(processes, default 2 x CPUs + 1, at most 8), BM_WEB_THREADS (threads per process, default 4),
BM_LOG_FORMAT (plain or json, as the app's own lines), BM_ACCESS_LOG (true: one line per
request on stdout; default false).

Workers are threaded (gthread): a long download or upload streams in its thread while the
process keeps answering the master's heartbeat, so it is never killed for taking long.
"""

import os

_cpus = os.cpu_count() or 1
bind = os.environ.get("BM_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("BM_WEB_WORKERS") or min(2 * _cpus + 1, 8))
worker_class = "gthread"
threads = int(os.environ.get("BM_WEB_THREADS") or 4)
# Seconds a worker may miss its heartbeat (the request threads do not block it).
timeout = 60
# On SIGTERM: requests in flight get this long to finish.
graceful_timeout = 10
keepalive = 5
# Recycle processes now and then (bounded memory over months of uptime).
max_requests = 5000
max_requests_jitter = 500
wsgi_app = "backupmanager.wsgi:application"
proc_name = "backupmanager-web"
# No control socket (it would be left in the home folder): stop and reload with signals.
control_socket_disable = True
# The proxy in front (deploy/nginx.conf) sets X-Forwarded-*; Django decides whether to trust
# them (BM_BEHIND_PROXY), so gunicorn passes them through from any address.
forwarded_allow_ips = "*"

_json = os.environ.get("BM_LOG_FORMAT", "plain").strip().lower() == "json"
_access = os.environ.get("BM_ACCESS_LOG", "false").strip().lower() in {"1", "true", "yes", "on"}
accesslog = "-" if _access else None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "apps.common.logformat.JsonFormatter"},
    },
    "handlers": {
        "error": {"class": "logging.StreamHandler", "formatter": "json" if _json else "plain"},
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "json" if _json else "plain",
            "stream": "ext://sys.stdout",
        },
    },
    # Django's LOGGING configures the app's own loggers in each worker.
    "root": {"handlers": ["error"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
        "gunicorn.access": {
            "handlers": ["access"],
            "level": "INFO" if _access else "WARNING",
            "propagate": False,
        },
        # "body bytes on a no-body response" for every HEAD request: Django leaves HEAD's body to
        # the server, which drops it as it should.
        "gunicorn.http.wsgi": {"level": "ERROR"},
    },
}
