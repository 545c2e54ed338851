"""Bulk inserts for the sweeps: rows given as tuples, written with PostgreSQL's COPY.

`Model.objects.bulk_create()` spends most of its time in Python, preparing every value of every
model instance (tens of microseconds a row); a sweep releasing 100,000 milestones writes about a
million rows (events, notifications, ledger entries, payouts). COPY takes plain tuples and costs
a few microseconds a row. Other databases (SQLite for a local run) fall back to bulk_create, so
callers do not care which one they talk to.

Only for plain columns: values must already be what the database stores (ints, strings,
aware datetimes, booleans, None). Columns left out get the field's default, and `auto_now` /
`auto_now_add` columns the current time, as `save()` would set them. No signals are sent.
"""

import zlib
from collections.abc import Iterable, Sequence

from django.db import connection, models
from django.utils import timezone


def _fill(model: type[models.Model], fields: Sequence[str]) -> tuple[list[str], list]:
    """The columns not given, with what to put in them: (attnames, values or callables)."""
    given = set(fields)
    names, values = [], []
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if field.primary_key or field.attname in given:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            names.append(field.attname)
            values.append(now)
        elif field.has_default() and callable(field.default):
            names.append(field.attname)
            values.append(field.default)  # called per row
        else:
            names.append(field.attname)
            values.append(field.get_default())
    return names, values


def reserve_ids(model: type[models.Model], count: int) -> list[int] | None:
    """`count` new primary keys from the table's sequence (PostgreSQL), for rows that others
    point at (a ledger transaction's entries); None on other databases."""
    if connection.vendor != "postgresql" or count == 0:
        return [] if count == 0 else None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def insert_rows(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Iterable[Sequence],
    *,
    ignore_conflicts: bool = False,
) -> int:
    """Insert `rows` (tuples in the order of `fields`, attnames such as "order_id"; "id" may be
    one of them with ids from `reserve_ids`). With `ignore_conflicts`, rows that break a unique
    constraint are skipped, as `bulk_create(ignore_conflicts=True)` does. Returns the rows given."""
    extra_names, extra_values = _fill(model, fields)
    per_row = [i for i, value in enumerate(extra_values) if callable(value)]
    names = list(fields) + extra_names

    def complete(row: Sequence) -> tuple:
        extra = list(extra_values)
        for i in per_row:
            extra[i] = extra_values[i]()
        return (*row, *extra)

    rows = [complete(row) for row in rows] if extra_names else list(rows)
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(names, row, strict=True))) for row in rows], ignore_conflicts=ignore_conflicts
        )
        return len(rows)

    table = connection.ops.quote_name(model._meta.db_table)
    # get_field() knows attnames ("order_id") too.
    columns = ", ".join(connection.ops.quote_name(model._meta.get_field(n).column) for n in names)
    with connection.cursor() as cursor, connection.wrap_database_errors:  # IntegrityError etc., as Django raises
        target = table
        if ignore_conflicts:
            # COPY has no ON CONFLICT: copy into a scratch table, then insert what is new.
            target = connection.ops.quote_name(f"_copy_{model._meta.db_table}_{zlib.crc32(columns.encode()):08x}")
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {target} ON COMMIT DELETE ROWS AS "  # noqa: S608
                f"SELECT {columns} FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {target}")
        # Identifiers only, quoted by the backend from model metadata; the values go through COPY.
        with cursor.cursor.copy(f"COPY {target} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if ignore_conflicts:
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {target} ON CONFLICT DO NOTHING")  # noqa: S608
    return len(rows)
