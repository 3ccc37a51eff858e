"""Load the raw files of one night into the warehouse's `raw` schema, verbatim and as text.

Every value arrives as text so that nothing is lost or coerced before staging validates it;
each row gets its 1-based position in the file (`_raw_row_number`), the file name and the load
time. A Parquet file of text columns is not copied: `raw.<source>` is a view that reads the file
where it lies (staging reads it a few times, which costs less than writing 88 million rows into
the warehouse every night), so the night's raw directory must stay in place until the night's
build is done. Any other file is streamed in batches through pyarrow into a table, so a large
file never has to fit in memory. All sources load in one transaction: a bad file leaves the
previous night's raw relations untouched.
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
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


class RawDataError(Exception):
    """A raw file breaks the contract in a way no row-level quarantine can absorb."""


@dataclass(frozen=True)
class RawLoadResult:
    source: str
    path: Path
    rows: int
    absent_optional_columns: tuple[str, ...] = field(default=())
    ignored_columns: tuple[str, ...] = field(default=())


def find_raw_file(raw_dir: Path, source: str) -> Path:
    candidates = [raw_dir / f"{source}{suffix}" for suffix in SUPPORTED_SUFFIXES]
    present = [path for path in candidates if path.is_file()]
    if not present:
        expected = " or ".join(str(path) for path in candidates)
        raise RawDataError(f"raw file for source '{source}' is missing: expected {expected}")
    if len(present) > 1:
        raise RawDataError(
            f"source '{source}' has both {present[0]} and {present[1]}: keep exactly one"
        )
    return present[0]


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
        ]
    )


def _numbered_batches(
    path: Path, contract: SourceContract, present: list[str], loaded_at: datetime
) -> Iterator[pa.RecordBatch]:
    """The raw table's batches: absent optional columns as nulls, plus the loader's columns."""
    next_row_number = 1
    source_file = pa.scalar(path.name, type=pa.string())
    loaded_at_value = pa.scalar(loaded_at, type=pa.timestamp("us"))
    schema = _schema(contract)
    for batch in _text_batches(path, present):
        count = batch.num_rows
        arrays = [
            batch.column(name) if name in present else pa.nulls(count, type=pa.string())
            for name in contract.columns
        ]
        arrays += [
            pa.array(np.arange(next_row_number, next_row_number + count, dtype=np.int64)),
            pa.repeat(source_file, count),
            pa.repeat(loaded_at_value, count),
        ]
        next_row_number += count
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


@dataclass(frozen=True)
class RawStream:
    """One raw file checked against its contract, as the raw table's batches (all text)."""

    source: str
    path: Path
    batches: pa.RecordBatchReader
    # The contract columns the file has, in contract order.
    present_columns: tuple[str, ...]
    absent_optional_columns: tuple[str, ...]
    ignored_columns: tuple[str, ...]


def open_raw_source(raw_dir: Path, contract: SourceContract, loaded_at: datetime) -> RawStream:
    """Check a raw file's header against the contract and stream the raw table's rows.

    The one reader of raw files: the DuckDB loader below and the Spark loader
    (orchestration/spark.py) both take their rows from here.
    """
    path = find_raw_file(raw_dir, contract.name)
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
    present = [name for name in contract.columns if name in header]
    return RawStream(
        source=contract.name,
        path=path,
        batches=pa.RecordBatchReader.from_batches(
            _schema(contract), _numbered_batches(path, contract, present, loaded_at)
        ),
        present_columns=tuple(present),
        absent_optional_columns=tuple(n for n in contract.columns if n not in header),
        ignored_columns=tuple(n for n in header if n not in contract.columns),
    )


def _is_text_parquet(path: Path, columns: list[str]) -> bool:
    """A Parquet file whose contract columns are all text already (the generator's, and any
    export that writes text): DuckDB can then read it as it is, with nothing to convert."""
    if path.suffix != ".parquet":
        return False
    schema = pq.read_schema(path)
    return all(
        pa.types.is_string(schema.field(name).type)
        or pa.types.is_large_string(schema.field(name).type)
        for name in columns
    )


def _select_text_parquet(
    path: Path, contract: SourceContract, present: list[str], loaded_at: datetime
) -> str:
    """The raw rows of a text Parquet file, read by DuckDB: the same rows and columns as
    _numbered_batches gives (file_row_number counts from 0). Literals, not parameters: a view
    keeps its query."""
    columns = [
        f'"{name}"' if name in present else f'cast(null as varchar) as "{name}"'
        for name in contract.columns
    ]
    return (
        f"select {', '.join(columns)}, "
        "cast(file_row_number + 1 as bigint) as _raw_row_number, "
        f"cast({text_literal(path.name)} as varchar) as _source_file, "
        f"cast({text_literal(loaded_at.isoformat(sep=' '))} as timestamp) as _loaded_at "
        f"from read_parquet({text_literal(str(path.resolve()))}, file_row_number = true)"
    )


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


def load_raw_source(
    connection: duckdb.DuckDBPyConnection,
    raw_dir: Path,
    contract: SourceContract,
    loaded_at: datetime,
) -> RawLoadResult:
    raw = open_raw_source(raw_dir, contract, loaded_at)
    path = raw.path
    table = f"{RAW_SCHEMA}.{contract.name}"
    present = list(raw.present_columns)
    try:
        _drop_relation(connection, contract.name)
        if _is_text_parquet(path, present):
            # DuckDB reads the columns in parallel wherever the view is read, with nothing to
            # convert; the view's query is checked against the file here.
            connection.execute(
                f"create view {table} as {_select_text_parquet(path, contract, present, loaded_at)}"
            )
        else:
            connection.register("raw_file_stream", raw.batches)
            connection.execute(f"create table {table} as select * from raw_file_stream")
    except (duckdb.Error, pa.ArrowException) as error:
        raise RawDataError(f"{path}: cannot be read: {error}") from error
    finally:
        # In an aborted transaction this fails too; the rollback that follows cleans up.
        with contextlib.suppress(duckdb.Error):
            connection.unregister("raw_file_stream")
    ((rows,),) = connection.execute(f"select count(*) from {table}").fetchall()
    return RawLoadResult(
        source=contract.name,
        path=path,
        rows=rows,
        absent_optional_columns=raw.absent_optional_columns,
        ignored_columns=raw.ignored_columns,
    )


def load_raw_sources(
    raw_dir: Path, warehouse_path: Path, loaded_at: datetime
) -> dict[str, RawLoadResult]:
    """Load every source of the contract; all or nothing."""
    if not raw_dir.is_dir():
        raise RawDataError(f"raw directory {raw_dir} does not exist")
    warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, RawLoadResult] = {}
    with duckdb_settings.connect(warehouse_path) as connection:
        connection.execute(f"create schema if not exists {RAW_SCHEMA}")
        connection.execute("begin transaction")
        try:
            for contract in load_contract().values():
                results[contract.name] = load_raw_source(connection, raw_dir, contract, loaded_at)
        except BaseException:
            connection.execute("rollback")
            raise
        connection.execute("commit")
    return results
