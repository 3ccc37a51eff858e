"""BI tools read the published copy through SQLAlchemy (duckdb-engine) while nights publish."""

import json
import signal
import subprocess
import sys
import time
from datetime import date

import duckdb
import pytest
import sqlalchemy as sa

from orchestration.publishing.lock import LOCK_FILE
from orchestration.publishing.warehouse import (
    MARTS_LINK,
    PUBLICATION_FILE,
    PUBLISHED_NAME,
    publish_warehouse,
    published_night,
)
from tests.conftest import CUSTOMER_MARTS_AS_OF, TINY_AS_OF, query

TINY_NIGHT = date.fromisoformat(TINY_AS_OF)
MARTS_NIGHT = date.fromisoformat(CUSTOMER_MARTS_AS_OF)

# A BI tool's loop: every read sees one whole night (the profile matches the customers of
# the same night) or the read fails, which must never happen.
READER = """
import json, sys, time
from pathlib import Path
import sqlalchemy as sa

published, stop = Path(sys.argv[1]), Path(sys.argv[2])
reads, errors, seen = 0, [], set()
while not stop.exists():
    engine = sa.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    try:
        with engine.connect() as connection:
            profile, customers, nights = connection.execute(sa.text(
                "select (select count(*) from marts.customer_profile),"
                " (select count(*) from marts.dim_customers),"
                " (select count(distinct as_of_date) from marts.customer_profile)"
            )).one()
            if profile != customers or nights != 1:
                errors.append(f"partial night: {profile} profiles, {customers} customers")
            seen.add(profile)
            reads += 1
    except Exception as error:
        errors.append(repr(error))
    finally:
        engine.dispose()
print(json.dumps({"reads": reads, "errors": errors[:5], "seen": sorted(seen)}))
"""


def test_readers_see_whole_nights_while_publishing(
    tiny_warehouse, customer_marts_warehouse, tmp_path
):
    published_dir = tmp_path / "published"
    published = publish_warehouse(tiny_warehouse, published_dir, TINY_NIGHT, "run0").warehouse
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(published), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        for night in range(6):
            source = customer_marts_warehouse if night % 2 == 0 else tiny_warehouse
            publish_warehouse(source, published_dir, TINY_NIGHT, f"run{night + 1}")
            time.sleep(0.3)
    finally:
        stop.touch()
        output, _ = reader.communicate(timeout=60)
    result = json.loads(output)
    assert result["errors"] == []
    assert result["reads"] > 10
    tiny_customers = query(tiny_warehouse, "select count(*) from marts.dim_customers")[0][0]
    # Both nights were read, whole.
    assert set(result["seen"]) == {tiny_customers, 10}
    # Nothing left over but the lock, the copy, and the Parquet of this night and the one before.
    names = sorted(path.name for path in published_dir.iterdir())
    assert names == [
        ".marts-2026-03-31-run5",
        ".marts-2026-03-31-run6",
        LOCK_FILE,
        MARTS_LINK,
        PUBLISHED_NAME,
    ]


def test_the_published_copy_is_the_night(customer_marts_warehouse, tmp_path):
    published = publish_warehouse(
        customer_marts_warehouse, tmp_path / "published", MARTS_NIGHT, "run1"
    ).warehouse
    engine = sa.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("select customer_id, lifecycle_stage from marts.customer_lifecycle")
        ).all()
    engine.dispose()
    assert sorted(rows) == sorted(
        query(
            customer_marts_warehouse,
            "select customer_id, lifecycle_stage from marts.customer_lifecycle",
        )
    )


def test_parquet_per_mart_is_the_published_night(customer_marts_warehouse, tmp_path):
    published_dir = tmp_path / "published"
    publication = publish_warehouse(customer_marts_warehouse, published_dir, MARTS_NIGHT, "run1")
    marts = {
        name
        for (name,) in query(
            customer_marts_warehouse,
            "select table_name from information_schema.tables where table_schema = 'marts'",
        )
    }
    parquet = published_dir / MARTS_LINK
    assert {path.stem for path in parquet.glob("*.parquet")} == marts
    assert set(publication.tables) == marts
    with duckdb.connect() as connection:
        for table in ("customer_lifecycle", "segment_membership", "raw_row_accounting"):
            from_file = connection.execute(
                f"select * from read_parquet('{parquet / table}.parquet')"
            ).fetchall()
            assert sorted(from_file, key=repr) == sorted(
                query(customer_marts_warehouse, f"select * from marts.{table}"), key=repr
            )
            assert publication.tables[table] == len(from_file)
    described = json.loads((parquet / PUBLICATION_FILE).read_text(encoding="utf-8"))
    assert (described["as_of_date"], described["run_id"]) == (CUSTOMER_MARTS_AS_OF, "run1")
    assert query(
        published_dir / PUBLISHED_NAME, "select as_of_date, run_id from published.night"
    ) == [(MARTS_NIGHT, "run1")]
    assert published_night(published_dir) == MARTS_NIGHT
    assert published_night(tmp_path / "nothing_here") is None


# Publishes one night in its own process, for the test to kill at some moment.
PUBLISH = """
import sys
from datetime import date
from pathlib import Path
from orchestration.publishing.warehouse import publish_warehouse

warehouse, published_dir, night, run_id = sys.argv[1:]
publish_warehouse(Path(warehouse), Path(published_dir), date.fromisoformat(night), run_id)
"""


@pytest.mark.parametrize("kill_after_seconds", [0.0, 0.3, 0.6, 0.9, 1.2, 1.6, 2.2])
def test_a_killed_publish_leaves_the_previous_night_whole(
    tiny_warehouse, customer_marts_warehouse, tmp_path, kill_after_seconds
):
    published_dir = tmp_path / "published"
    publish_warehouse(tiny_warehouse, published_dir, TINY_NIGHT, "before")
    publisher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            PUBLISH,
            str(customer_marts_warehouse),
            str(published_dir),
            CUSTOMER_MARTS_AS_OF,
            "killed",
        ]
    )
    time.sleep(kill_after_seconds)
    publisher.send_signal(signal.SIGKILL)
    publisher.wait(timeout=30)

    # Whatever the moment, each path holds one whole night: the old one or the new one.
    night = published_night(published_dir)
    assert night in {TINY_NIGHT, MARTS_NIGHT}
    customers = query(published_dir / PUBLISHED_NAME, "select count(*) from marts.dim_customers")
    expected = query(
        tiny_warehouse if night == TINY_NIGHT else customer_marts_warehouse,
        "select count(*) from marts.dim_customers",
    )
    assert customers == expected
    described = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
    assert described["run_id"] in {"before", "killed"}
    # The next publish succeeds and tidies up what the killed one left.
    publish_warehouse(customer_marts_warehouse, published_dir, MARTS_NIGHT, "after")
    assert published_night(published_dir) == MARTS_NIGHT
    leftovers = {path.name for path in published_dir.iterdir()} - {
        LOCK_FILE,
        MARTS_LINK,
        PUBLISHED_NAME,
        ".marts-2026-06-30-after",
    }
    assert len(leftovers) <= 1 and all(name.startswith(".marts-") for name in leftovers)


def test_a_publish_removes_what_a_killed_publisher_left(tiny_warehouse, tmp_path):
    published_dir = tmp_path / "published"
    published_dir.mkdir()
    # A copy half made, its DuckDB write-ahead log, a link being swapped, a Parquet folder.
    left = [".warehouse.duckdb.999.tmp", ".warehouse.duckdb.999.tmp.wal", ".marts.link.tmp"]
    for name in left:
        (published_dir / name).write_bytes(b"half")
    (published_dir / ".marts-2026-03-30-killed").mkdir()
    publish_warehouse(tiny_warehouse, published_dir, TINY_NIGHT, "next")
    assert sorted(path.name for path in published_dir.iterdir()) == [
        ".marts-2026-03-31-next",
        LOCK_FILE,
        MARTS_LINK,
        PUBLISHED_NAME,
    ]
