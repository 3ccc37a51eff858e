"""A source delivered as a folder of files is the same source as one whole file."""

from pathlib import Path

from orchestration.cli import run_night
from tests.conftest import TINY_AS_OF, TINY_RAW, TINY_RUN_STARTED_AT, query
from tests.test_point_in_time import assert_same_night


def split_into_deliveries(source_file: Path, folder: Path) -> list[Path]:
    """The file's rows in two deliveries, the header on each, the first named earlier."""
    header, *rows = source_file.read_text(encoding="utf-8").splitlines()
    middle = len(rows) // 2
    folder.mkdir(parents=True)
    written = []
    for name, part in (("2026-03-30.csv", rows[:middle]), ("2026-03-31.csv", rows[middle:])):
        (folder / name).write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
        written.append(folder / name)
    return written


def test_every_source_delivered_in_two_files_gives_the_same_night(tiny_warehouse, tmp_path):
    raw = tmp_path / "landing"
    raw.mkdir()
    for source_file in sorted(TINY_RAW.glob("*.csv")):
        split_into_deliveries(source_file, raw / source_file.stem)
    home = tmp_path / "home"
    result = run_night(raw, home, TINY_AS_OF, TINY_RUN_STARTED_AT)
    assert result.success
    # Every computed table, the row accounting included: the same rows, whole file or not.
    assert_same_night(tiny_warehouse, home / "warehouse.duckdb", TINY_AS_OF, set())
    assert query(
        home / "warehouse.duckdb",
        "select count(*), count(distinct source_name), sum(rows) from audit.raw_deliveries",
    ) == [(12, 6, 63)]
