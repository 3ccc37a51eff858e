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
from orchestration.raw_contract import SourceContract, load_contract

RAW_SCHEMA = "raw"
SUPPORTED_SUFFIXES = (".csv", ".parquet")
CSV_BLOCK_BYTES = 16 << 20
# Every delivery taken in, one row each: what makes a changed or removed delivery an error.
LEDGER = "audit.raw_deliveries"
# A delivery's name that starts with its day, with or without dashes.
DATED_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?!\d)")


class RawDataError(Exception):
    """A raw file breaks the contract in a way no row-level quarantine can absorb."""


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


def find_deliveries(raw_dir: Path, source: str) -> list[Delivery]:
    """The source's full file, or its folder's deliveries in name order."""
    candidates = [raw_dir / f"{source}{suffix}" for suffix in SUPPORTED_SUFFIXES]
    present = [path for path in candidates if path.is_file()]
    folder = raw_dir / source
    if len(present) > 1:
        raise RawDataError(
            f"source '{source}' has both {present[0]} and {present[1]}: keep exactly one"
        )
    if present and folder.is_dir():
        raise RawDataError(
            f"source '{source}' has both the full file {present[0]} and the delivery folder "
            f"{folder}: keep one (a full file replaces every delivery before it)"
        )
    if present:
        return [Delivery(present[0], present[0].name, is_full=True)]
    if not folder.is_dir():
        expected = " or ".join(str(path) for path in candidates)
        raise RawDataError(
            f"raw file for source '{source}' is missing: expected {expected}, "
            f"or a folder {folder}/ of deliveries"
        )
    deliveries = []
    # Hidden files are uploads in progress by convention; anything else must be a delivery.
    for path in sorted(folder.iterdir(), key=lambda path: path.name):
        if path.name.startswith("."):
            continue
        if not path.is_file() or path.suffix not in SUPPORTED_SUFFIXES:
            raise RawDataError(
                f"{path}: not a delivery (a .csv or .parquet file); move it out of {folder}"
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
        raise RawDataError(f"{path}: cannot be read: {error}") from error
    if header is None:
        raise RawDataError(f"{path}: the file is empty; a header row is required")
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
    deliveries: Sequence[CheckedDelivery], contract: SourceContract, loaded_at: datetime
) -> Iterator[pa.RecordBatch]:
    """The raw table's batches, delivery after delivery: absent optional columns as nulls,
    plus the loader's columns, the row number counted on across the deliveries."""
    next_row_number = 1
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
        raise RawDataError(f"{path}: column(s) {', '.join(duplicated)} appear more than once")
    missing = sorted(contract.required - set(header))
    if missing:
        raise RawDataError(
            f"{path}: required column(s) missing: {', '.join(missing)} "
            f"(the file has: {', '.join(header) or 'no columns'})"
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
    found = find_deliveries(raw_dir, contract.name)
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
    deliveries: Sequence[CheckedDelivery], contract: SourceContract, loaded_at: datetime
) -> str:
    """Every delivery's rows one after the other, numbered on across them."""
    selects, first_row = [], 1
    for delivery in deliveries:
        selects.append(_select_text_parquet(delivery, contract, loaded_at, first_row))
        first_row += pq.ParquetFile(delivery.path).metadata.num_rows
    return " union all ".join(selects)


def _drop_relation(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop last night's `raw.<name>`, a table or a view (each night's file decides which)."""
    found = connection.execute(
        "select table_type from information_schema.tables"
        " where table_catalog = current_database() and table_schema = ? and table_name = ?",
        [RAW_SCHEMA, name],
    ).fetchall()
    if found:
        kind = "view" if found[0][0] == "VIEW" else "table"
        connection.execute(f"drop {kind} {RAW_SCHEMA}.{name}")


@dataclass(frozen=True)
class _Recorded:
    """A delivery's latest row in the ledger."""

    is_full: bool
    sha256: str
    size_bytes: int
    modified_ns: int
    taken_in_night: date


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _recorded_deliveries(
    connection: duckdb.DuckDBPyConnection, source: str
) -> dict[str, _Recorded]:
    rows = connection.execute(
        f"""
        select delivery, is_full, sha256, size_bytes, modified_ns, taken_in_night
        from {LEDGER} where source_name = ?
        qualify row_number() over (partition by delivery order by taken_in_at desc) = 1
        """,
        [source],
    ).fetchall()
    return {row[0]: _Recorded(*row[1:]) for row in rows}


def _deliveries_to_record(
    connection: duckdb.DuckDBPyConnection, source: str, deliveries: Sequence[CheckedDelivery]
) -> list[tuple[CheckedDelivery, str]]:
    """The deliveries the ledger does not hold yet, with their sha256; RawDataError for one
    taken in before that changed or went missing. A file whose size and modification time are
    those recorded is not read again."""
    recorded = _recorded_deliveries(connection, source)
    present = {delivery.name: delivery for delivery in deliveries}
    is_folder = not (len(deliveries) == 1 and deliveries[0].is_full)
    if is_folder:
        for name, entry in sorted(recorded.items()):
            if not entry.is_full and name not in present:
                raise RawDataError(
                    f"delivery {name} was taken in on the night of {entry.taken_in_night} and "
                    "is missing now: a delivery is immutable once taken in. Put it back, or "
                    "deliver the source again as one full file, which replaces every delivery"
                )
    new = []
    for delivery in deliveries:
        stat = delivery.path.stat()
        before = recorded.get(delivery.name)
        if before is not None and (before.size_bytes, before.modified_ns) == (
            stat.st_size,
            stat.st_mtime_ns,
        ):
            continue
        sha256 = _sha256(delivery.path)
        if before is not None and before.sha256 == sha256:
            continue
        if before is not None and not delivery.is_full:
            raise RawDataError(
                f"{delivery.path}: changed since the night of {before.taken_in_night} took it "
                f"in (sha256 {before.sha256[:12]}…, now {sha256[:12]}…): a delivery is "
                "immutable once taken in; deliver the change as a new file"
            )
        new.append((delivery, sha256))
    return new


def _record_deliveries(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    new: Sequence[tuple[CheckedDelivery, str]],
    night: date,
    loaded_at: datetime,
) -> None:
    """Add the night's new deliveries to the ledger, with the rows each brought."""
    if not new:
        return
    rows_by_delivery = dict(
        connection.execute(
            f"select _source_file, count(*) from {table} group by _source_file"
        ).fetchall()
    )
    recorded = []
    for delivery, sha256 in new:
        stat = delivery.path.stat()
        recorded.append(
            (
                table.split(".")[1],
                delivery.name,
                delivery.is_full,
                sha256,
                stat.st_size,
                stat.st_mtime_ns,
                rows_by_delivery.get(delivery.name, 0),
                night,
                loaded_at,
            )
        )
    connection.executemany(f"insert into {LEDGER} values (?, ?, ?, ?, ?, ?, ?, ?, ?)", recorded)


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
    new = _deliveries_to_record(connection, contract.name, raw.deliveries)
    try:
        _drop_relation(connection, contract.name)
        if raw.deliveries and all(_is_text_parquet(delivery) for delivery in raw.deliveries):
            # DuckDB reads the columns in parallel wherever the view is read, with nothing to
            # convert; the view's query is checked against the files here.
            select = _select_text_parquet_deliveries(raw.deliveries, contract, loaded_at)
            connection.execute(f"create view {table} as {select}")
        else:
            connection.register("raw_file_stream", raw.batches)
            connection.execute(f"create table {table} as select * from raw_file_stream")
    except (duckdb.Error, pa.ArrowException) as error:
        raise RawDataError(f"{path}: cannot be read: {error}") from error
    finally:
        # In an aborted transaction this fails too; the rollback that follows cleans up.
        with contextlib.suppress(duckdb.Error):
            connection.unregister("raw_file_stream")
    _record_deliveries(connection, table, new, night or loaded_at.date(), loaded_at)
    ((rows,),) = connection.execute(f"select count(*) from {table}").fetchall()
    return RawLoadResult(
        source=contract.name,
        path=path,
        rows=rows,
        absent_optional_columns=raw.absent_optional_columns,
        ignored_columns=raw.ignored_columns,
        deliveries=tuple(delivery.name for delivery in raw.deliveries),
        new_deliveries=tuple(delivery.name for delivery, _ in new),
    )


def load_raw_sources(
    raw_dir: Path, warehouse_path: Path, loaded_at: datetime, night: date | None = None
) -> dict[str, RawLoadResult]:
    """Load every source of the contract, and record the new deliveries in the ledger as taken
    in on `night` (default: the day of `loaded_at`); all or nothing."""
    if not raw_dir.is_dir():
        raise RawDataError(f"raw directory {raw_dir} does not exist")
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
