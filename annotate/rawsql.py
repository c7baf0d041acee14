"""Model instances from hand-written SQL on the annotate loop's hot path.

The loop's few statements (claim the next item, look up a lease to submit)
are written by hand: the ORM's query building costs more CPU than PostgreSQL
takes to run them. These helpers keep the hand-written SQL in step with the
models: ``columns`` names every concrete column of a model, ``instance``
turns the selected values back into a model instance (applying the fields'
database converters, which a raw cursor skips: JSON arrives as text), and
``prefetched`` leaves related objects where ``.all()`` finds them, as
``prefetch_related`` would.
"""

from __future__ import annotations

import contextlib
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
    """``obj.<name>.all()`` returns ``related`` without a query (as after ``prefetch_related(name)``)."""
    queryset = getattr(obj, name).all()
    queryset._result_cache = related
    queryset._prefetch_done = True
    obj.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset


def savepoint_if_nested():
    """A savepoint inside a caller's transaction (so a unique clash leaves it usable); nothing in autocommit.

    A hand-written statement is atomic on its own: outside a transaction it
    needs no BEGIN/COMMIT round trips.
    """
    return transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
