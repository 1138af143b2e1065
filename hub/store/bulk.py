"""Statements a write transaction runs with many rows at once, sent to the DB-API cursor directly.

SQLAlchemy's executemany builds each row's parameters through its compiled-statement machinery,
which costs more than the database's own work on the rows (measured: a third of a chunk of
receipts' CPU under SQLite's write lock, which every worker and web process waits for). Here the
statement is compiled once per dialect and each value goes through its column type's own bind
processor only: the database receives what SQLAlchemy would have sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import UpdateBase

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class CompiledWrite:
    """One statement compiled for one dialect, with how each of its parameters is converted."""

    sql: str
    #: Parameter names in the statement's order (qmark drivers); None: passed by name.
    order: tuple[str, ...] | None
    processors: dict[str, Processor]
    #: Parameters the statement itself gives a value (`.values(status="skipped")`).
    constants: dict[str, Any]

    @classmethod
    def of(cls, statement: UpdateBase, dialect: Dialect) -> CompiledWrite:
        compiled = statement.compile(dialect=dialect)
        # By the names the SQL uses (`binds` also holds anonymous parameters by their raw keys).
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        return cls(
            sql=str(compiled),
            order=tuple(compiled.positiontup or ()) if compiled.positional else None,
            processors={
                name: bind.type.dialect_impl(dialect).bind_processor(dialect) for name, bind in binds.items()
            },
            constants={name: bind.effective_value for name, bind in binds.items() if not bind.required},
        )

    def converted(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """`row`'s parameters as the driver takes them (the statement's constants filled in)."""
        values: dict[str, Any] = {}
        for name, process in self.processors.items():
            value = row[name] if name in row else self.constants[name]
            values[name] = process(value) if process is not None else value
        return values

    def arguments(self, row: Mapping[str, Any]) -> Any:
        values = self.converted(row)
        return tuple(values[name] for name in self.order) if self.order is not None else values


class BulkWrite:
    """An UPDATE (or any write whose parameters it names) run with many rows (executemany) on the
    connection's DB-API cursor."""

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[str, CompiledWrite] = {}

    def compiled(self, dialect: Dialect) -> CompiledWrite:
        found = self._compiled.get(dialect.name)
        if found is None:
            found = self._compiled[dialect.name] = CompiledWrite.of(self.statement, dialect)
        return found

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        compiled = self.compiled(connection.dialect)
        connection.exec_driver_sql(compiled.sql, [compiled.arguments(row) for row in rows])


class BulkInsert:
    """Rows inserted into `table` with one executemany on the DB-API cursor. As with SQLAlchemy's
    own `insert(table)`, the columns are the rows' keys: the rows are the one list of them.

    `skip_conflicts`: a row that would break a unique index is left out (ON CONFLICT DO NOTHING,
    with every unique index as arbiter). `upsert_on`: the columns of the unique index a row may
    collide on; the stored row then takes the new row's other columns (ON CONFLICT DO UPDATE).
    """

    def __init__(self, table: Table, *, skip_conflicts: bool = False, upsert_on: Sequence[str] = ()) -> None:
        if skip_conflicts and upsert_on:
            raise ValueError("a conflict is either skipped or updated, not both")
        self.table = table
        self.skip_conflicts = skip_conflicts
        self.upsert_on = tuple(upsert_on)
        self._compiled: dict[tuple[str, tuple[str, ...]], CompiledWrite] = {}

    def _statement(self, dialect: Dialect, columns: tuple[str, ...]) -> UpdateBase:
        values: dict[str, Any] = {column: bindparam(column) for column in columns}
        if not (self.skip_conflicts or self.upsert_on):
            return insert(self.table).values(values)
        dialect_insert = postgresql_insert if dialect.name == "postgresql" else sqlite_insert
        statement = dialect_insert(self.table).values(values)
        if self.skip_conflicts:
            return statement.on_conflict_do_nothing()
        return statement.on_conflict_do_update(
            index_elements=[self.table.c[column] for column in self.upsert_on],
            set_={column: statement.excluded[column] for column in columns if column not in self.upsert_on},
        )

    def execute(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        dialect = connection.dialect
        columns = tuple(rows[0])
        compiled = self._compiled.get((dialect.name, columns))
        if compiled is None:
            compiled = CompiledWrite.of(self._statement(dialect, columns), dialect)
            self._compiled[(dialect.name, columns)] = compiled
        connection.exec_driver_sql(compiled.sql, [compiled.arguments(row) for row in rows])
