"""Model instances from hand-written SQL on the annotate loop's hot path.

The loop's few statements (claim the next item, look up a lease to submit)
are written by hand: the ORM's query building costs more CPU than PostgreSQL
takes to run them. These helpers keep the hand-written SQL in step with the
models: ``columns`` names every concrete column of a model, ``instance``
turns the selected values back into a model instance (applying the fields'
database converters, which a raw cursor skips: JSON arrives as text), and
``prefetched`` leaves related objects where ``.all()`` finds them, as
``prefetch_related`` would, and ``prepared_cursor`` runs them as prepared
statements.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable

from django.db import connection, models, transaction


def fields(model: type[models.Model]) -> list:
    return list(model._meta.concrete_fields)


def columns(model: type[models.Model], alias: str) -> str:
    """``alias."col", ...`` for every concrete field of ``model``, in field order."""
    return ", ".join(f'{alias}."{f.column}"' for f in model._meta.concrete_fields)


def instance(model: type[models.Model], values: Iterable) -> models.Model:
    """An instance of ``model`` from its columns' values (in ``columns`` order), as loaded from the database."""
    concrete = model._meta.concrete_fields
    converted = [
        f.from_db_value(value, None, connection) if value is not None and hasattr(f, "from_db_value") else value
        for f, value in zip(concrete, values, strict=True)
    ]
    return model.from_db(connection.alias, [f.attname for f in concrete], converted)


def instances(models_: Iterable[type[models.Model]], row) -> tuple[list[models.Model], tuple]:
    """One instance per model from consecutive runs of ``row`` (each as ``columns`` selected it), and the rest of the row."""
    out, start = [], 0
    for model in models_:
        width = len(model._meta.concrete_fields)
        out.append(instance(model, row[start : start + width]))
        start += width
    return out, tuple(row[start:])


def prefetched(obj: models.Model, name: str, related: list[models.Model]) -> None:
    """``obj.<name>.all()`` returns ``related`` without a query (as after ``prefetch_related(name)``).

    The cached queryset comes from the related manager, so a query chained on
    it (``obj.<name>.filter(...)``, ``.values_list(...)``) is still about ``obj`` only.
    """
    queryset = getattr(obj, name).all()
    queryset._result_cache = related
    queryset._prefetch_done = True
    obj.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


@functools.cache
def _prepared_cursor_class():
    from django.db.backends.postgresql.base import ServerBindingCursor

    class PreparedCursor(ServerBindingCursor):
        """Binds parameters on the server and prepares every statement it runs."""

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)

        def _send_query_prepared(self, name, pgq, *, binary=None):
            # Keep the statement where an unprepared execute leaves it, so Django's
            # query log (DEBUG, CaptureQueriesContext) shows it rather than None.
            self._query = pgq
            return super()._send_query_prepared(name, pgq, binary=binary)

    return PreparedCursor


@contextlib.contextmanager
def prepared_cursor():
    """A cursor like ``connection.cursor()``'s, except that its statements are prepared.

    The hand-written statements are planned once per database connection
    instead of on every request: PostgreSQL took longer to plan the claim and
    the lease lookup (~1 ms each, joins and sub-selects) than to run them.
    Django binds parameters on the client and, unless settings give psycopg a
    ``prepare_threshold`` (``DATABASE_PREPARED_STATEMENTS``, on by default),
    keeps it from preparing; this cursor binds on the server and asks psycopg
    to prepare, which keeps one prepared statement per distinct SQL text and
    parameter types per connection. One such cursor serves every statement of
    its connection (building a psycopg cursor copies the connection's adapters:
    a few percent of a request), wrapped each time as Django wraps its own
    (error translation, query logging under DEBUG); it is not closed on exit.
    """
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        # DATABASE_PREPARED_STATEMENTS=false: psycopg's preparing is off (a pooler in transaction mode).
        with connection.cursor() as cursor:
            yield cursor
        return
    held = connection.__dict__.get("_docket_prepared_cursor")
    if held is None or held[0] is not raw or held[1].closed:
        # Django's create_cursor builds the cursor from the psycopg connection's
        # factory; the connection belongs to this thread, so swapping it briefly is safe.
        factory, raw.cursor_factory = raw.cursor_factory, _prepared_cursor_class()
        try:
            with connection.wrap_database_errors:
                held = (raw, connection.create_cursor())
        finally:
            raw.cursor_factory = factory
        connection.__dict__["_docket_prepared_cursor"] = held
    connection.validate_thread_sharing()
    yield connection.make_debug_cursor(held[1]) if connection.queries_logged else connection.make_cursor(held[1])


def savepoint_if_nested():
    """A savepoint inside a caller's transaction (so a unique clash leaves it usable); nothing in autocommit.

    A hand-written statement is atomic on its own: outside a transaction it
    needs no BEGIN/COMMIT round trips.
    """
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
