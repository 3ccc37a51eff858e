"""A table's files: Parquet for programs, CSV and an Excel workbook for people.

Who reads a file decides how it is written (docs/segments.md). Files for people are for
Excel: the CSV starts with a UTF-8 byte-order mark and text a spreadsheet could run as a
formula is escaped. Files for programs carry every value exactly as it is. Every writer pins
what could vary, so the same table gives the same bytes, and returns the file's sha256.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xlsxwriter

from orchestration.csv_text import csv_lines
from orchestration.durable import sha256_file
from orchestration.publishing.errors import PublishError

logger = logging.getLogger(__name__)

# Who reads a file decides how it is written (docs/segments.md). Files for people, a segment's
# CSV, .xlsx and entered / left lists, are for Excel: the CSV starts with a UTF-8 byte-order
# mark (without one, Excel on Chinese Windows reads it as GBK) and text that a spreadsheet
# could run as a formula is escaped. Files for programs, the WeCom sync and mark_tag files,
# Parquet and JSON, carry every value exactly as it is.
UTF8_BOM: Final = b"\xef\xbb\xbf"
# OWASP "CSV Injection": a cell starting with one of these may be run as a formula by a
# spreadsheet, so in a file for people, text cells starting with one get a leading single
# quote. Numbers are left as they are (a negative number is data, not a formula).
FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# A segment of more rows gets no .xlsx (var export_xlsx_max_rows): XlsxWriter writes about
# 30,000 rows of 4 columns a second, and no one reads more rows than that in a spreadsheet.
XLSX_MAX_ROWS: Final = 100_000

_CSV_BATCH_ROWS: Final = 65_536
# Excel's limits: rows a sheet holds under its header, characters of a sheet name, digits of
# a number it keeps exactly, its first calendar year.
XLSX_SHEET_ROWS: Final = 1_048_575
_XLSX_TITLE_CHARS: Final = 31
_XLSX_EXACT_DIGITS: Final = 15
_XLSX_EXACT_UP_TO: Final = 10**_XLSX_EXACT_DIGITS - 1
_XLSX_FIRST_YEAR: Final = 1900
_XLSX_MIN_WIDTH: Final = 8
_XLSX_MAX_WIDTH: Final = 60

# Every option that could otherwise vary is pinned, so the same table gives the same bytes.
# Statistics are kept (readers use them) and are a pure function of the data.
_PARQUET_OPTIONS: Final[dict[str, Any]] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "data_page_version": "1.0",
    "data_page_size": 1 << 20,
    "row_group_size": 1 << 20,
    "write_page_index": False,
    "write_page_checksum": False,
    "store_schema": True,
    "use_compliant_nested_type": True,
    "use_deprecated_int96_timestamps": False,
}


def check_xlsx_max_rows(max_rows: Any) -> int:
    """The var export_xlsx_max_rows, checked: a whole number from 0 (no .xlsx) to the rows
    one Excel sheet holds under its header."""
    if (
        isinstance(max_rows, bool)
        or not isinstance(max_rows, int)
        or not 0 <= max_rows <= XLSX_SHEET_ROWS
    ):
        raise PublishError(
            f"export_xlsx_max_rows is {max_rows!r}: it must be a whole number from 0 (no .xlsx) "
            f"to {XLSX_SHEET_ROWS:,} (the rows an Excel sheet holds under its header)"
        )
    return max_rows


def write_table_files(
    directory: Path,
    name: str,
    table: pa.Table,
    readable: pa.Table,
    headers: Sequence[str],
    sheet_name: str,
    as_of: date,
    xlsx_max_rows: int,
    label: str,
) -> dict[str, str]:
    """A table's Parquet (``table``, for programs), and its CSV and .xlsx (``readable``, for
    people; no .xlsx over ``xlsx_max_rows`` rows): file name -> sha256."""
    files = {
        f"{name}.parquet": write_parquet(directory / f"{name}.parquet", table),
        f"{name}.csv": write_table_csv(directory / f"{name}.csv", readable, for_people=True),
    }
    if readable.num_rows <= xlsx_max_rows:
        files[f"{name}.xlsx"] = _write_xlsx(
            directory / f"{name}.xlsx",
            readable,
            headers,
            sheet_name=sheet_name,
            created=datetime.combine(as_of, time()),
        )
    else:
        logger.warning(
            "%s: %d rows, more than export_xlsx_max_rows (%d): no .xlsx, the CSV has them",
            label,
            readable.num_rows,
            xlsx_max_rows,
        )
    return files


def write_table_csv(path: Path, table: pa.Table, *, for_people: bool) -> str:
    """A table as CSV: UTF-8, a header of the column names, RFC 4180 line endings, minimal
    quoting; returns the file's sha256. For people, the file starts with a byte-order mark and
    formulas are escaped (FORMULA_PREFIXES); for programs, every value is written as it is.

    The lines are orchestration/csv_text.py's, the project's one CSV writer.
    """
    # The header is a row of one cell per column.
    header = [
        pa.array([_cell_text(name, escape=for_people)], type=pa.string())
        for name in table.column_names
    ]
    with path.open("wb") as handle:
        if for_people:
            handle.write(UTF8_BOM)
        handle.write(csv_lines(header))
        for batch in table.to_batches(max_chunksize=_CSV_BATCH_ROWS):
            handle.write(
                csv_lines([_column_cells(column, escape=for_people) for column in batch.columns])
            )
        return _close_csv(path, handle)


def _column_cells(column: pa.Array, *, escape: bool) -> pa.Array:
    """The CSV cells of a column, as _cell_text gives them, converted a whole column at once for
    the common types (text, integers, booleans); any other type goes value by value."""
    kind = column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.fill_null(column, "")
        if not escape:
            return text
        risky = pc.starts_with(text, FORMULA_PREFIXES[0])
        for prefix in FORMULA_PREFIXES[1:]:
            risky = pc.or_(risky, pc.starts_with(text, prefix))
        return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        # Arrow writes integers like str() and booleans as true / false, like plain_text.
        return pc.fill_null(pc.cast(column, pa.string()), "")
    if pa.types.is_decimal(kind) and kind.scale <= 6:
        # Arrow writes a decimal of up to 6 places without an exponent, as format(v, "f").
        return pc.fill_null(pc.cast(column, pa.string()), "")
    return pa.array(
        [_cell_text(value, escape=escape) for value in column.to_pylist()], type=pa.string()
    )


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def plain_text(value: Any) -> str:
    """A value as CSV text, before formula escaping; deterministic for every Arrow type."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")  # never exponent notation
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _cell_text(value: Any, *, escape: bool) -> str:
    """A CSV cell; escaped, text that a spreadsheet could run as a formula gets a leading
    quote."""
    text = plain_text(value)
    if escape and not is_number(value) and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _write_xlsx(
    path: Path, table: pa.Table, headers: Sequence[str], *, sheet_name: str, created: datetime
) -> str:
    """A table of at most XLSX_SHEET_ROWS rows as an Excel workbook for people; returns the
    file's sha256.

    One sheet named for the segment: the headers in bold in a frozen first row with a filter,
    columns as wide as their widest cell (to a limit), numbers, dates and booleans as such,
    and text always as text: a value a spreadsheet could run as a formula is a string cell
    with Excel's quote prefix, so it shows as it is and stays text when edited. Numbers Excel
    would round (more than 15 digits) are text too. The creation time is the night's, so the
    bytes depend on the data alone.
    """
    options = {
        # Row by row to a temporary file: memory stays flat however large the segment.
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "nan_inf_to_errors": True,
    }
    workbook = xlsxwriter.Workbook(str(path), options)
    workbook.set_properties({"created": created})
    formats = _XlsxFormats(workbook)
    writers = [_xlsx_cell_writer(field.type, formats) for field in table.schema]
    sheet = workbook.add_worksheet(_xlsx_sheet_title(sheet_name))
    for column, width in enumerate(_xlsx_widths(table, headers)):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, table.num_rows, len(headers) - 1)
    for column, header in enumerate(headers):
        sheet.write_string(0, column, header, formats.header)
    row = 1
    for batch in table.to_batches(max_chunksize=_CSV_BATCH_ROWS):
        values = [column.to_pylist() for column in batch.columns]
        for cells in zip(*values, strict=True):
            for column, (write, value) in enumerate(zip(writers, cells, strict=True)):
                if value is not None:
                    write(sheet, row, column, value)
            row += 1
    workbook.close()
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
    return sha256_file(path)


class _XlsxFormats:
    """The few cell formats of an exported workbook, each added to it once."""

    def __init__(self, workbook: Any) -> None:
        self._workbook = workbook
        self.header = workbook.add_format({"bold": True})
        # Excel's quote prefix: the cell stays text when a person edits it.
        self.text_as_typed = workbook.add_format({"quote_prefix": True})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.timestamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._decimals: dict[int, Any] = {}

    def decimal(self, places: int) -> Any:
        """Shown with the column's places, as in the CSV (2.00, not 2)."""
        if places not in self._decimals:
            pattern = "0." + "0" * places if places > 0 else "0"
            self._decimals[places] = self._workbook.add_format({"num_format": pattern})
        return self._decimals[places]


def _xlsx_cell_writer(kind: pa.DataType, formats: _XlsxFormats) -> Any:
    """How a column of this Arrow type is written: (sheet, row, column, value) -> None."""

    def text(sheet: Any, row: int, column: int, value: str) -> None:
        risky = value.startswith(FORMULA_PREFIXES)
        sheet.write_string(row, column, value, formats.text_as_typed if risky else None)

    def integer(sheet: Any, row: int, column: int, value: int) -> None:
        if abs(value) <= _XLSX_EXACT_UP_TO:
            sheet.write_number(row, column, value)
        else:
            sheet.write_string(row, column, str(value))

    def decimal(sheet: Any, row: int, column: int, value: Decimal) -> None:
        if len(value.as_tuple().digits) <= _XLSX_EXACT_DIGITS:
            sheet.write_number(row, column, float(value), formats.decimal(kind.scale))
        else:
            sheet.write_string(row, column, format(value, "f"))

    def moment(cell_format: Any) -> Any:
        def write(sheet: Any, row: int, column: int, value: date) -> None:
            if value.year >= _XLSX_FIRST_YEAR:
                sheet.write_datetime(row, column, value, cell_format)
            else:  # before Excel's calendar starts
                sheet.write_string(row, column, value.isoformat())

        return write

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return text
    if pa.types.is_integer(kind):
        return integer
    if pa.types.is_decimal(kind):
        return decimal
    if pa.types.is_boolean(kind):
        return lambda sheet, row, column, value: sheet.write_boolean(row, column, value)
    if pa.types.is_floating(kind):
        return lambda sheet, row, column, value: sheet.write_number(row, column, value)
    if pa.types.is_date(kind):
        return moment(formats.date)
    if pa.types.is_timestamp(kind) and kind.tz is None:
        return moment(formats.timestamp)
    # Anything else (a time-zone aware timestamp, a list) as the CSV writes it.
    return lambda sheet, row, column, value: text(sheet, row, column, plain_text(value))


def _xlsx_widths(table: pa.Table, headers: Sequence[str]) -> list[int]:
    """Each column's width in Excel's units (about one Latin letter; a Chinese character takes
    two): its widest cell or header, with a margin, within limits."""
    widths = []
    for header, column in zip(headers, table.columns, strict=True):
        widest = _display_width(pa.array([header]))
        for chunk in column.chunks:
            widest = max(widest, _display_width(_column_cells(chunk, escape=False)))
        widths.append(min(max(widest + 2, _XLSX_MIN_WIDTH), _XLSX_MAX_WIDTH))
    return widths


def _display_width(cells: pa.Array) -> int:
    """The widest cell: (UTF-8 bytes + characters) / 2 counts 1 for a Latin letter (1 byte)
    and 2 for a Chinese character (3 bytes)."""
    if len(cells) == 0:
        return 0
    halves = pc.add(pc.binary_length(cells), pc.utf8_length(cells))
    return (pc.max(halves).as_py() or 0) // 2


def _xlsx_sheet_title(name: str) -> str:
    """A sheet name Excel accepts: without []:*?/\\ and at most 31 characters."""
    title = re.sub(r"[\[\]:*?/\\]", " ", name).strip().strip("'")[:_XLSX_TITLE_CHARS]
    return title or "Sheet1"


def _close_csv(path: Path, handle: Any) -> str:
    handle.flush()
    os.fsync(handle.fileno())
    return sha256_file(path)


def write_parquet(path: Path, table: pa.Table) -> str:
    """Raw values with pinned writer options; returns the file's sha256."""
    with path.open("wb") as handle:
        pq.write_table(table, handle, **_PARQUET_OPTIONS)
        handle.flush()
        os.fsync(handle.fileno())
    return sha256_file(path)
