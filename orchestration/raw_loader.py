"""Load the raw files of one night into the warehouse's `raw` schema, verbatim and as text.

A source arrives one of two ways. A single file `<raw>/<source>.csv|parquet` is a full
delivery: it replaces everything delivered before for that source. A folder `<raw>/<source>/`
holds deliveries (`*.csv`, `*.parquet`, the same columns), taken in in name order (e.g.
`2026-11-22.parquet`); `raw.<source>` is then every delivery, one after the other. A delivery is
immutable once taken in: the ledger `audit.raw_deliveries` records each one (source, name,
sha256, rows, the night that took it in), and a night that finds one changed or removed stops
with an error naming it, and takes in nothing.

Every value arrives as text so that nothing is lost or coerced before staging validates it;
each row gets its 1-based position (`_raw_row_number`, counted on across a source's
deliveries), the delivery's name (`_source_file`: `orders.csv`, or `orders/2026-11-22.csv` in a
folder) and the load time. Parquet files of text columns are not copied: `raw.<source>` is a
view that reads them where they lie (staging reads it a few times, which costs less than
writing 88 million rows into the warehouse every night), so the night's raw directory must stay
in place until the night's build is done. Any other file is streamed in batches through pyarrow
into a table, so a large file never has to fit in memory. All sources load in one transaction:
a bad file leaves the previous night's raw relations, and the ledger, untouched.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from orchestration import duckdb_settings
from orchestration.duckdb_settings import text_literal
from orchestration.language import _
from orchestration.raw_contract import SourceContract, load_contract

RAW_SCHEMA = "raw"
SUPPORTED_SUFFIXES = (".csv", ".parquet")
CSV_BLOCK_BYTES = 16 << 20
# Every delivery taken in, one row each: what makes a changed or removed delivery an error.
LEDGER = "audit.raw_deliveries"
# The deliveries each raw relation holds now, with when their rows were loaded: what lets a
# night append a folder's new deliveries only, and keep an unchanged full file as it was.
HELD = "audit.raw_held_deliveries"
# A delivery's name that starts with its day, with or without dashes.
DATED_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


class RawDataError(Exception):
    """A raw file breaks the contract in a way no row-level quarantine can absorb.

    The message is for whoever delivers the files, so it is in the operator's language
    (SCRM_LANG); paths, sources and columns in it stay as they are. The errors of a library
    reading the file (duckdb, pyarrow) are quoted as they come.
    """


@dataclass(frozen=True)
class Delivery:
    """One file of a source: the whole source (full), or one delivery of its folder."""

    path: Path
    # As recorded in `_source_file` and the ledger: `orders.csv`, `orders/2026-11-22.csv`.
    name: str
    is_full: bool

    @property
    def delivered_on(self) -> date | None:
        """The day a folder delivery's name starts with (`2026-11-22.parquet`,
        `20261122_orders.csv`): its versions date from it (`_delivered_on`). A full file, or a
        name without a date, dates nothing: its versions are as old as the first night."""
        match = None if self.is_full else DATED_NAME.match(self.path.name)
        if match is None:
            return None
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            return None


@dataclass(frozen=True)
class RawLoadResult:
    source: str
    path: Path
    rows: int
    absent_optional_columns: tuple[str, ...] = field(default=())
    ignored_columns: tuple[str, ...] = field(default=())
    deliveries: tuple[str, ...] = field(default=())
    # The deliveries this night took in for the first time (a full file: when it changed).
    new_deliveries: tuple[str, ...] = field(default=())


def find_deliveries(raw_dir: Path, source: str, is_optional: bool = False) -> list[Delivery]:
    """The source's full file, or its folder's deliveries in name order; none for an optional
    source that has neither."""
    candidates = [raw_dir / f"{source}{suffix}" for suffix in SUPPORTED_SUFFIXES]
    present = [path for path in candidates if path.is_file()]
    folder = raw_dir / source
    if len(present) > 1:
        raise RawDataError(
            _("source '{source}' has both {first} and {second}: keep exactly one").format(
                source=source, first=present[0], second=present[1]
            )
        )
    if present and folder.is_dir():
        raise RawDataError(
            _(
                "source '{source}' has both the full file {path} and the delivery folder "
                "{folder}: keep one (a full file replaces every delivery before it)"
            ).format(source=source, path=present[0], folder=folder)
        )
    if present:
        return [Delivery(present[0], present[0].name, is_full=True)]
    if not folder.is_dir():
        if is_optional:
            return []
        raise RawDataError(
            _(
                "raw file for source '{source}' is missing: expected {csv} or {parquet}, "
                "or a folder {folder}/ of deliveries"
            ).format(source=source, csv=candidates[0], parquet=candidates[1], folder=folder)
        )
    deliveries = []
    # Hidden files are uploads in progress by convention; anything else must be a delivery.
    for path in sorted(folder.iterdir(), key=lambda path: path.name):
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix not in SUPPORTED_SUFFIXES:
            raise RawDataError(
                _(
                    "{path}: not a delivery (a .csv or .parquet file); move it out of {folder}"
                ).format(path=path, folder=folder)
            )
        deliveries.append(Delivery(path, f"{source}/{path.name}", is_full=False))
    return deliveries


def read_header(path: Path) -> list[str]:
    """Column names as the file declares them."""
    try:
        if path.suffix == ".parquet":
            return list(pq.read_schema(path).names)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error, pa.ArrowException) as error:
        raise RawDataError(
            _("{path}: cannot be read: {error}").format(path=path, error=error)
        ) from error
    if header is None:
        raise RawDataError(
            _("{path}: the file is empty; a header row is required").format(path=path)
        )
    return [name.strip() for name in header]


def _text_batches(path: Path, columns: list[str]) -> Iterator[pa.RecordBatch]:
    """The file's contract columns as text, in file order."""
    if path.suffix == ".parquet":
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=columns, batch_size=256_000):
            yield pa.RecordBatch.from_arrays(
                [batch.column(name).cast(pa.string()) for name in columns], names=columns
            )
        return
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, encoding="utf8"),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in columns},
            include_columns=columns,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader


def _schema(contract: SourceContract) -> pa.Schema:
    return pa.schema(
        [(name, pa.string()) for name in contract.columns]
        + [
            ("_raw_row_number", pa.int64()),
            ("_source_file", pa.string()),
            ("_loaded_at", pa.timestamp("us")),
            ("_delivered_on", pa.date32()),
        ]
    )


def _numbered_batches(
    deliveries: Sequence[CheckedDelivery],
    contract: SourceContract,
    loaded_at: datetime,
    first_row: int = 1,
) -> Iterator[pa.RecordBatch]:
    """The raw table's batches, delivery after delivery: absent optional columns as nulls,
    plus the loader's columns, the row number counted on across the deliveries from
    `first_row`."""
    next_row_number = first_row
    loaded_at_value = pa.scalar(loaded_at, type=pa.timestamp("us"))
    schema = _schema(contract)
    for delivery in deliveries:
        source_file = pa.scalar(delivery.name, type=pa.string())
        delivered_on = pa.scalar(delivery.delivered_on, type=pa.date32())
        for batch in _text_batches(delivery.path, list(delivery.present_columns)):
            count = batch.num_rows
            arrays = [
                batch.column(name)
                if name in delivery.present_columns
                else pa.nulls(count, type=pa.string())
                for name in contract.columns
            ]
            arrays += [
                pa.array(np.arange(next_row_number, next_row_number + count, dtype=np.int64)),
                pa.repeat(source_file, count),
                pa.repeat(loaded_at_value, count),
                pa.repeat(delivered_on, count),
            ]
            next_row_number += count
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class CheckedDelivery(Delivery):
    """A delivery whose header meets the contract."""

    # The contract columns the file has, in contract order.
    present_columns: tuple[str, ...] = ()
    ignored_columns: tuple[str, ...] = ()


def check_header(delivery: Delivery, contract: SourceContract) -> CheckedDelivery:
    path = delivery.path
    header = read_header(path)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise RawDataError(
            _("{path}: column(s) {columns} appear more than once").format(
                path=path, columns=", ".join(duplicated)
            )
        )
    missing = sorted(contract.required - set(header))
    if missing:
        raise RawDataError(
            _("{path}: required column(s) missing: {missing} (the file has: {header})").format(
                path=path, missing=", ".join(missing), header=", ".join(header) or _("no columns")
            )
        )
    return CheckedDelivery(
        path,
        delivery.name,
        delivery.is_full,
        present_columns=tuple(name for name in contract.columns if name in header),
        ignored_columns=tuple(name for name in header if name not in contract.columns),
    )


@dataclass(frozen=True)
class RawStream:
    """A source's deliveries checked against its contract, as the raw table's batches (all
    text)."""

    source: str
    # The full file, or the delivery folder.
    path: Path
    deliveries: tuple[CheckedDelivery, ...]
    batches: pa.RecordBatchReader
    # The contract columns some delivery has, in contract order.
    present_columns: tuple[str, ...]
    absent_optional_columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]


def open_raw_source(raw_dir: Path, contract: SourceContract, loaded_at: datetime) -> RawStream:
    """Check a source's deliveries against the contract and stream the raw table's rows.

    The one reader of raw files: the DuckDB loader below and the Spark loader
    (orchestration/spark.py) both take their rows from here.
    """
    found = find_deliveries(raw_dir, contract.name, contract.is_optional)
    deliveries = tuple(check_header(delivery, contract) for delivery in found)
    present = {name for delivery in deliveries for name in delivery.present_columns}
    ignored = {name for delivery in deliveries for name in delivery.ignored_columns}
    is_full = len(found) == 1 and found[0].is_full
    return RawStream(
        source=contract.name,
        path=found[0].path if is_full else raw_dir / contract.name,
        deliveries=deliveries,
        batches=pa.RecordBatchReader.from_batches(
            _schema(contract), _numbered_batches(deliveries, contract, loaded_at)
        ),
        present_columns=tuple(name for name in contract.columns if name in present),
        absent_optional_columns=tuple(n for n in contract.columns if n not in present),
        ignored_columns=tuple(sorted(ignored)),
    )


def _is_text_parquet(delivery: CheckedDelivery) -> bool:
    """A Parquet file whose contract columns are all text already (the generator's, and any
    export that writes text): DuckDB can then read it as it is, with nothing to convert."""
    if delivery.path.suffix != ".parquet":
        return False
    schema = pq.read_schema(delivery.path)
    return all(
        pa.types.is_string(schema.field(name).type)
        or pa.types.is_large_string(schema.field(name).type)
        for name in delivery.present_columns
    )


def _select_text_parquet(
    delivery: CheckedDelivery, contract: SourceContract, loaded_at: datetime, first_row: int
) -> str:
    """The raw rows of a text Parquet delivery, read by DuckDB: the same rows and columns as
    _numbered_batches gives, numbered from `first_row` (file_row_number counts from 0).
    Literals, not parameters: a view keeps its query."""
    columns = [
        f'"{name}"' if name in delivery.present_columns else f'cast(null as varchar) as "{name}"'
        for name in contract.columns
    ]
    delivered_on = (
        "null" if delivery.delivered_on is None else text_literal(delivery.delivered_on.isoformat())
    )
    return (
        f"select {', '.join(columns)}, "
        f"cast(file_row_number + {first_row} as bigint) as _raw_row_number, "
        f"cast({text_literal(delivery.name)} as varchar) as _source_file, "
        f"cast({text_literal(loaded_at.isoformat(sep=' '))} as timestamp) as _loaded_at, "
        f"cast({delivered_on} as date) as _delivered_on "
        f"from read_parquet({text_literal(str(delivery.path.resolve()))}, file_row_number = true)"
    )


def _select_text_parquet_deliveries(
    deliveries: Sequence[CheckedDelivery],
    contract: SourceContract,
    loaded_at: datetime,
    first_row: int = 1,
) -> str:
    """Every delivery's rows one after the other, numbered on across them from `first_row`."""
    selects = []
    for delivery in deliveries:
        selects.append(_select_text_parquet(delivery, contract, loaded_at, first_row))
        first_row += pq.ParquetFile(delivery.path).metadata.num_rows
    return " union all ".join(selects)


def _relation_columns(connection: duckdb.DuckDBPyConnection, name: str) -> tuple[str, str | None]:
    """Last night's `raw.<name>`: its kind (`table`, `view`, or "" when there is none) and its
    columns, comma-separated."""
    found = connection.execute(
        "select any_value(tables.table_type), string_agg(columns.column_name, ',' order by"
        " columns.ordinal_position) from information_schema.tables as tables"
        " inner join information_schema.columns as columns using"
        " (table_catalog, table_schema, table_name)"
        " where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [RAW_SCHEMA, name],
    ).fetchall()
    kind, columns = found[0] if found else (None, None)
    if kind is None:
        return "", None
    return ("view" if kind == "VIEW" else "table"), columns


def _drop_relation(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop last night's `raw.<name>`, a table or a view (each night's file decides which)."""
    kind, _ = _relation_columns(connection, name)
    if kind:
        connection.execute(f"drop {kind} {RAW_SCHEMA}.{name}")


@dataclass(frozen=True)
class _Recorded:
    """A delivery's latest row in the ledger."""

    is_full: bool
    sha256: str
    size_bytes: int
    modified_ns: int
    taken_in_night: date
    taken_in_at: datetime


@dataclass(frozen=True)
class _Held:
    """A delivery the raw relation of its source holds (HELD)."""

    is_full: bool
    sha256: str
    loaded_at: datetime


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _recorded_deliveries(
    connection: duckdb.DuckDBPyConnection, source: str
) -> dict[str, _Recorded]:
    rows = connection.execute(
        f"""
        select delivery, is_full, sha256, size_bytes, modified_ns, taken_in_night, taken_in_at
        from {LEDGER} where source_name = ?
        qualify row_number() over (partition by delivery order by taken_in_at desc) = 1
        """,
        [source],
    ).fetchall()
    return {row[0]: _Recorded(*row[1:]) for row in rows}


def _held_deliveries(connection: duckdb.DuckDBPyConnection, source: str) -> dict[str, _Held]:
    rows = connection.execute(
        f"select delivery, is_full, sha256, loaded_at from {HELD} where source_name = ?",
        [source],
    ).fetchall()
    return {row[0]: _Held(*row[1:]) for row in rows}


def _checked_deliveries(
    connection: duckdb.DuckDBPyConnection, source: str, deliveries: Sequence[CheckedDelivery]
) -> tuple[dict[str, str], list[CheckedDelivery]]:
    """The sha256 of every delivery, and those the ledger does not hold yet; RawDataError for
    one taken in before that changed or went missing. A file whose size and modification time
    are those recorded is not read again."""
    recorded = _recorded_deliveries(connection, source)
    if not deliveries and recorded:
        latest = max(recorded.items(), key=lambda item: item[1].taken_in_at)
        raise RawDataError(
            _(
                "source '{source}' has no file or folder now, but {delivery} was taken in on "
                "the night of {night}: a delivery is immutable once taken in. Put it back, or "
                "deliver an empty full file (the header alone) to empty the source"
            ).format(source=source, delivery=latest[0], night=latest[1].taken_in_night)
        )
    present = {delivery.name: delivery for delivery in deliveries}
    is_folder = not (len(deliveries) == 1 and deliveries[0].is_full)
    if is_folder:
        # A full delivery replaced every delivery taken in before it.
        replaced_until = max(
            (entry.taken_in_at for entry in recorded.values() if entry.is_full), default=None
        )
        for name, entry in sorted(recorded.items()):
            is_replaced = replaced_until is not None and entry.taken_in_at < replaced_until
            if not entry.is_full and not is_replaced and name not in present:
                raise RawDataError(
                    _(
                        "delivery {delivery} was taken in on the night of {night} and is "
                        "missing now: a delivery is immutable once taken in. Put it back, or "
                        "deliver the source again as one full file, which replaces every "
                        "delivery"
                    ).format(delivery=name, night=entry.taken_in_night)
                )
    shas, new = {}, []
    for delivery in deliveries:
        stat = delivery.path.stat()
        before = recorded.get(delivery.name)
        if before is not None and (before.size_bytes, before.modified_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        ):
            shas[delivery.name] = before.sha256
            continue
        shas[delivery.name] = sha256 = _sha256(delivery.path)
        if before is not None and before.sha256 == sha256:
            continue
        if before is not None and not delivery.is_full:
            raise RawDataError(
                _(
                    "{path}: changed since the night of {night} took it in (sha256 {before}…, "
                    "now {now}…): a delivery is immutable once taken in; deliver the change as "
                    "a new file"
                ).format(
                    path=delivery.path,
                    night=before.taken_in_night,
                    before=before.sha256[:12],
                    now=sha256[:12],
                )
            )
        new.append(delivery)
    return shas, new


def _record_deliveries(
    connection: duckdb.DuckDBPyConnection,
    source: str,
    new: Sequence[CheckedDelivery],
    shas: dict[str, str],
    rows_by_delivery: dict[str, int],
    night: date,
    loaded_at: datetime,
) -> None:
    """Add the night's new deliveries to the ledger, with the rows each brought."""
    recorded = []
    for delivery in new:
        stat = delivery.path.stat()
        recorded.append(
            (
                source,
                delivery.name,
                delivery.is_full,
                shas[delivery.name],
                stat.st_size,
                stat.st_mtime_ns,
                rows_by_delivery.get(delivery.name, 0),
                night,
                loaded_at,
            )
        )
    if recorded:
        connection.executemany(f"insert into {LEDGER} values (?, ?, ?, ?, ?, ?, ?, ?, ?)", recorded)


def _insert_rows(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    deliveries: Sequence[CheckedDelivery],
    contract: SourceContract,
    loaded_at: datetime,
    first_row: int,
) -> None:
    """Append the deliveries' rows to the raw table, numbered on from `first_row`."""
    if not deliveries:
        return
    if all(_is_text_parquet(delivery) for delivery in deliveries):
        # DuckDB reads the columns in parallel, with nothing to convert.
        select = _select_text_parquet_deliveries(deliveries, contract, loaded_at, first_row)
        connection.execute(f"insert into {table} {select}")
        return
    batches = pa.RecordBatchReader.from_batches(
        _schema(contract), _numbered_batches(deliveries, contract, loaded_at, first_row)
    )
    connection.register("raw_file_stream", batches)
    try:
        connection.execute(f"insert into {table} select * from raw_file_stream")
    finally:
        # In an aborted transaction this fails too; the rollback that follows cleans up.
        with contextlib.suppress(duckdb.Error):
            connection.unregister("raw_file_stream")


def _create_table(
    connection: duckdb.DuckDBPyConnection, table: str, contract: SourceContract
) -> None:
    columns = [f'"{name}" varchar' for name in contract.columns]
    columns += [
        "_raw_row_number bigint",
        "_source_file varchar",
        "_loaded_at timestamp",
        "_delivered_on date",
    ]
    connection.execute(f"create table {table} ({', '.join(columns)})")


def _load_full_delivery(
    connection: duckdb.DuckDBPyConnection,
    raw: RawStream,
    contract: SourceContract,
    held: dict[str, _Held],
    sha256: str,
    loaded_at: datetime,
) -> datetime:
    """Make `raw.<source>` the full delivery's rows; the moment its rows count as loaded at:
    when this content was first taken in, for an unchanged file, so that staging finds nothing
    new in it."""
    (delivery,) = raw.deliveries
    table = f"{RAW_SCHEMA}.{contract.name}"
    kind, columns = _relation_columns(connection, contract.name)
    before = held.get(delivery.name)
    is_unchanged = (
        len(held) == 1
        and before is not None
        and before.is_full
        and before.sha256 == sha256
        and columns == ",".join(_schema(contract).names)
    )
    rows_loaded_at = before.loaded_at if is_unchanged and before is not None else loaded_at
    if is_unchanged and kind == "table":
        return rows_loaded_at
    _drop_relation(connection, contract.name)
    if _is_text_parquet(delivery):
        # A view that reads the file where it lies (module docstring); the view's query is
        # checked against the file here.
        select = _select_text_parquet_deliveries(raw.deliveries, contract, rows_loaded_at)
        connection.execute(f"create view {table} as {select}")
    else:
        _create_table(connection, table, contract)
        _insert_rows(connection, table, raw.deliveries, contract, rows_loaded_at, 1)
    return rows_loaded_at


def _load_delivery_folder(
    connection: duckdb.DuckDBPyConnection,
    raw: RawStream,
    contract: SourceContract,
    held: dict[str, _Held],
    loaded_at: datetime,
) -> list[CheckedDelivery]:
    """Append the folder's deliveries `raw.<source>` does not hold yet, numbered on after its
    rows; the table is made anew from every delivery when it holds a full delivery or was
    made for other contract columns. Returns the deliveries appended."""
    table = f"{RAW_SCHEMA}.{contract.name}"
    kind, columns = _relation_columns(connection, contract.name)
    keeps_table = (
        kind == "table"
        and bool(held)
        and not any(entry.is_full for entry in held.values())
        and columns == ",".join(_schema(contract).names)
    )
    if not keeps_table:
        _drop_relation(connection, contract.name)
        _create_table(connection, table, contract)
        held = {}
    appended = [delivery for delivery in raw.deliveries if delivery.name not in held]
    ((last_row,),) = connection.execute(
        f"select coalesce(max(_raw_row_number), 0) from {table}"
    ).fetchall()
    _insert_rows(connection, table, appended, contract, loaded_at, last_row + 1)
    return appended


def load_raw_source(
    connection: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    contract: SourceContract,
    loaded_at: datetime,
    night: date | None = None,
) -> RawLoadResult:
    raw = open_raw_source(raw_dir, contract, loaded_at)
    path = raw.path
    table = f"{RAW_SCHEMA}.{contract.name}"
    shas, new = _checked_deliveries(connection, contract.name, raw.deliveries)
    held = _held_deliveries(connection, contract.name)
    is_full = len(raw.deliveries) == 1 and raw.deliveries[0].is_full
    try:
        if is_full:
            (delivery,) = raw.deliveries
            rows_loaded_at = _load_full_delivery(
                connection, raw, contract, held, shas[delivery.name], loaded_at
            )
            held = {delivery.name: _Held(True, shas[delivery.name], rows_loaded_at)}
        else:
            appended = _load_delivery_folder(connection, raw, contract, held, loaded_at)
            appended_names = {delivery.name for delivery in appended}
            held = {
                delivery.name: held[delivery.name]
                if delivery.name in held and delivery.name not in appended_names
                else _Held(False, shas[delivery.name], loaded_at)
                for delivery in raw.deliveries
            }
    except (duckdb.Error, pa.ArrowException) as error:
        raise RawDataError(
            _("{path}: cannot be read: {error}").format(path=path, error=error)
        ) from error
    # The ledger's row counts, of the deliveries taken in tonight (none: no scan).
    rows_by_delivery = (
        dict(
            connection.execute(
                f"select _source_file, count(*) from {table}"
                f" where _loaded_at = cast(? as timestamp) group by _source_file",
                [loaded_at],
            ).fetchall()
        )
        if new
        else {}
    )
    _record_deliveries(
        connection, contract.name, new, shas, rows_by_delivery, night or loaded_at.date(), loaded_at
    )
    connection.execute(f"delete from {HELD} where source_name = ?", [contract.name])
    if held:
        connection.executemany(
            f"insert into {HELD} values (?, ?, ?, ?, ?)",
            [
                (contract.name, name, entry.is_full, entry.sha256, entry.loaded_at)
                for name, entry in held.items()
            ],
        )
    ((rows,),) = connection.execute(f"select count(*) from {table}").fetchall()
    return RawLoadResult(
        source=contract.name,
        path=path,
        rows=rows,
        absent_optional_columns=raw.absent_optional_columns,
        ignored_columns=raw.ignored_columns,
        deliveries=tuple(delivery.name for delivery in raw.deliveries),
        new_deliveries=tuple(delivery.name for delivery in new),
    )


def load_raw_sources(
    raw_dir: Path, warehouse_path: Path, loaded_at: datetime, night: date | None = None
) -> dict[str, RawLoadResult]:
    """Load every source of the contract, and record the new deliveries in the ledger as taken
    in on `night` (default: the day of `loaded_at`); all or nothing."""
    if not raw_dir.is_dir():
        raise RawDataError(_("raw directory {path} does not exist").format(path=raw_dir))
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, RawLoadResult] = {}
    with duckdb_settings.connect(warehouse_path) as connection:
        connection.execute(f"create schema if not exists {RAW_SCHEMA}")
        connection.execute(f"create schema if not exists {LEDGER.split('.')[0]}")
        connection.execute(
            f"""
            create table if not exists {LEDGER} (
                source_name varchar, delivery varchar, is_full boolean, sha256 varchar,
                size_bytes bigint, modified_ns bigint, rows bigint, taken_in_night date,
                taken_in_at timestamp
            )
            """
        )
        connection.execute(
            f"""
            create table if not exists {HELD} (
                source_name varchar, delivery varchar, is_full boolean, sha256 varchar,
                loaded_at timestamp
            )
            """
        )
        connection.execute("begin transaction")
        try:
            for contract in load_contract().values():
                results[contract.name] = load_raw_source(
                    connection, raw_dir, contract, loaded_at, night
                )
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")
    return results
