"""A request whose database connection broke in flight runs again, once, on a new connection.

With ``CONN_HEALTH_CHECKS`` (on by default, see settings) a connection that
broke between requests (a restarted server, a killed backend, a failover) is
replaced before the request uses it. One that breaks *during* a request
raises ``OperationalError`` / ``InterfaceError`` from the view; where running
the view again is safe, this middleware closes the broken connection and
runs it again, once, instead of answering 500:

* ``GET`` and ``HEAD`` requests (the annotate page's GET leases an item, but
  the lease it finds again on a second run is the same one);
* views marked ``@retry_safe``: their writes are idempotent (a submission
  carries its idempotency key: a second run that finds the first one stored
  answers "Already saved", never stores it twice).

Only when the connection is really gone (``is_usable()`` fails) and no
transaction is open around the view (``ATOMIC_REQUESTS`` is off). Put it last
in ``MIDDLEWARE`` so it sees the view's exception first.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD"})


def retry_safe(view):
    """Mark ``view`` as safe to run twice for one request (its writes are idempotent)."""
    view.retry_safe = True
    return view


def _connection_lost() -> bool:
    if connection.in_atomic_block:
        return False
    if connection.connection is None:
        return True
    return not connection.is_usable()


class RetryLostConnectionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        match = getattr(request, "resolver_match", None)
        if match is None or getattr(request, "_docket_db_retried", False):
            return None
        if request.method not in SAFE_METHODS and not getattr(match.func, "retry_safe", False):
            return None
        if not _connection_lost():
            return None
        connection.close()
        request._docket_db_retried = True
        logger.warning("database connection lost during %s %s: running it again", request.method, request.path)
        return match.func(request, *match.args, **match.kwargs)
