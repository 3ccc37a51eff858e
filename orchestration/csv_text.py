"""CSV text from Arrow columns: the one CSV writer of the project.

The export publisher's files for people and for programs (orchestration/publishing/
table_files.py) and the raw-data generator both write their CSV lines here. pyarrow's own writer
(pyarrow.csv.write_csv) cannot take its place: with quoting_style "needed" it quotes every
text cell, `"plain"` for `plain`, where csv.writer and every brand's export quote only what
needs it, and with "none" it refuses a cell holding a comma or a quote.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc


def csv_lines(columns: Sequence[pa.Array], *, eol: str = "\r\n") -> pa.Buffer:
    """The UTF-8 lines of rows of text cells (no nulls), each ending in `eol`, as csv.writer
    writes them with QUOTE_MINIMAL: a cell holding the delimiter, a quote, CR or LF is quoted
    with its quotes doubled, and a row whose only cell is empty is written as "" (not a blank
    line). Whole columns at a time, in Arrow: row by row, the csv module was most of a night's
    exports."""
    quoted = []
    for cells in columns:
        needs_quotes = pc.match_substring_regex(cells, '[,"\r\n]')
        if pc.any(needs_quotes).as_py():
            escaped = pc.replace_substring(cells, '"', '""')
            cells = pc.if_else(
                needs_quotes, pc.binary_join_element_wise('"', escaped, '"', ""), cells
            )
        quoted.append(cells)
    lines = pc.binary_join_element_wise(*quoted, ",")
    if len(quoted) == 1:
        lines = pc.if_else(pc.equal(lines, ""), '""', lines)
    lines = pc.binary_join_element_wise(lines, "", eol)
    # One string of every line: its bytes are written as they are, with no Python strings.
    offsets = pa.array([0, len(lines)], type=pa.int32())
    return pc.binary_join(pa.ListArray.from_arrays(offsets, lines), "")[0].as_buffer()
