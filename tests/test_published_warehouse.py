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

from orchestration.project import dbt_project
from orchestration.publishing.errors import PublishError
from orchestration.publishing.lock import LOCK_FILE
from orchestration.publishing.warehouse import (
    MARTS_LINK,
    PUBLICATION_FILE,
    PUBLISH_PHASES,
    PUBLISHED_NAME,
    publish_warehouse,
    published_night,
    tables_kept_per_night,
    tables_published_by_month,
)
from orchestration.segments import load_manifest
from tests.conftest import CUSTOMER_MARTS_AS_OF, TINY_AS_OF, copy_warehouse, query

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


# What duckdb-engine lists as schemas: every schema of every attached database, named
# ``database.schema`` (duckdb_engine/__init__.py, get_schema_names). The copy is the database
# ``warehouse``; ``system`` and ``temp`` are DuckDB's own and always there.
LISTED_SCHEMAS = [
    "system.information_schema",
    "system.main",
    "temp.main",
    "warehouse.main",
    "warehouse.marts",
    "warehouse.predictive",
    "warehouse.published",
    "warehouse.reference",
    "warehouse.segments",
    "warehouse.tags",
]


RFM_SEGMENTS = {
    "A": "New",
    "C": "Cannot Lose Them",
    "D": "Loyal",
    "E": "About to Sleep",
    "F": "About to Sleep",
    "G": "Lost",
    "I": "At Risk",
    "J": "New",
}


def test_a_bi_tool_reflects_every_mart_through_sqlalchemy(customer_marts_warehouse, tmp_path):
    """What Superset's dataset editor does, with the schema names the inspector lists: list
    schemas and tables, reflect each table's columns, read a table whole, join two reflected
    tables, and run SQL naming the schema as the dialect quotes it."""
    import pandas as pd

    published = publish_warehouse(
        customer_marts_warehouse, tmp_path / "published", MARTS_NIGHT, "run1"
    ).warehouse
    engine = sa.create_engine(f"duckdb:///{published}", connect_args={"read_only": True})
    try:
        inspector = sa.inspect(engine)
        # No raw, audit or dbt_test__audit: the copy is without them.
        assert inspector.get_schema_names() == LISTED_SCHEMAS
        marts = "warehouse.marts"
        columns_in_order = (
            "select table_name, column_name from information_schema.columns "
            "where table_schema = 'marts' order by table_name, ordinal_position"
        )
        expected: dict[str, list[str]] = {}
        for table, column in query(customer_marts_warehouse, columns_in_order):
            expected.setdefault(table, []).append(column)
        assert set(inspector.get_table_names(schema=marts)) | set(
            inspector.get_view_names(schema=marts)
        ) == set(expected)
        for table, columns in expected.items():
            reflected = inspector.get_columns(table, schema=marts)
            assert [column["name"] for column in reflected] == columns, table
        # The schema as BI users write it in SQL, plain, reflects the same.
        assert [
            column["name"] for column in inspector.get_columns("customer_rfm", schema="marts")
        ] == expected["customer_rfm"]

        frame = pd.read_sql_table("customer_rfm", engine, schema=marts)
        metadata = sa.MetaData()
        profile = sa.Table("customer_profile", metadata, schema=marts, autoload_with=engine)
        rfm = sa.Table("customer_rfm", metadata, schema=marts, autoload_with=engine)
        joined = sa.select(profile.c.customer_id, rfm.c.rfm_segment).join_from(
            profile, rfm, profile.c.customer_id == rfm.c.customer_id
        )
        # How SQLAlchemy, and Superset's quote_table, quote a listed schema: part by part.
        quoted = engine.dialect.identifier_preparer.quote_schema(marts)
        with engine.connect() as connection:
            joined_rows = connection.execute(joined).all()
            counts = connection.execute(
                sa.text(f"select rfm_segment, count(*) from {quoted}.customer_rfm group by 1")
            ).all()
            written_by_hand = connection.execute(
                sa.text('select count(*) from "warehouse"."marts".customer_rfm')
            ).scalar_one()
        # Quoted whole, a listed schema names one schema called "warehouse.marts", which no
        # layout can provide: duckdb-engine splits a listed name on its dot (docs/bi.md).
        with engine.connect() as connection, pytest.raises(sa.exc.ProgrammingError):
            connection.execute(sa.text('select count(*) from "warehouse.marts".customer_rfm'))
    finally:
        engine.dispose()
    # The fixture's README, "RFM by hand": 8 scored customers of 10 (B and H never bought).
    assert dict(zip(frame["customer_id"], frame["rfm_segment"], strict=True)) == RFM_SEGMENTS
    assert dict(joined_rows) == RFM_SEGMENTS
    assert quoted == "warehouse.marts"
    assert dict(counts) == {
        "New": 2,
        "About to Sleep": 2,
        "Lost": 1,
        "Cannot Lose Them": 1,
        "Loyal": 1,
        "At Risk": 1,
    }
    assert written_by_hand == 8


def test_parquet_per_mart_is_the_published_night(customer_marts_warehouse, tmp_path):
    published_dir = tmp_path / "published"
    manifest = load_manifest(dbt_project.manifest_path)
    kept = tables_kept_per_night(manifest)
    assert kept == {"customer_profile_history", "tag_changes", "segment_membership"}
    by_month = tables_published_by_month(manifest)
    assert by_month == {
        "fct_orders": "ordered_on",
        "fct_order_items": "ordered_on",
        "fct_purchase_days": "purchase_on",
        "fct_friend_events": "event_on",
        "fct_interactions": "interacted_on",
        "customer_timeline": "happened_at",
    }
    started = time.perf_counter()
    publication = publish_warehouse(
        customer_marts_warehouse,
        published_dir,
        MARTS_NIGHT,
        "run1",
        kept_per_night=kept,
        published_by_month=by_month,
    )
    elapsed = time.perf_counter() - started
    marts = {
        name
        for (name,) in query(
            customer_marts_warehouse,
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE'",
        )
    }
    parquet = published_dir / MARTS_LINK
    # One file per mart; a folder per table kept per night or published by month, a file per
    # night or month in it.
    assert {path.stem for path in parquet.glob("*.parquet")} == marts - kept - set(by_month)
    assert {path.name for path in parquet.iterdir() if path.is_dir()} == kept | set(by_month)
    months = query(
        customer_marts_warehouse,
        "select distinct strftime(interacted_on, '%Y-%m') from marts.fct_interactions order by 1",
    )
    assert len(months) > 1
    assert sorted(
        path.relative_to(parquet).as_posix() for path in parquet.glob("fct_interactions/*/*")
    ) == [f"fct_interactions/interacted_on_month={month}/data.parquet" for (month,) in months]
    nights = query(
        customer_marts_warehouse,
        "select distinct as_of_date from marts.segment_membership order by as_of_date",
    )
    assert len(nights) == 2  # the fixture keeps two nights
    assert sorted(
        path.relative_to(parquet).as_posix() for path in parquet.glob("segment_membership/*/*")
    ) == [f"segment_membership/as_of_date={night}/data.parquet" for (night,) in nights]
    assert set(publication.tables) == marts
    with duckdb.connect() as connection:
        for table, files in (
            ("customer_lifecycle", "customer_lifecycle.parquet"),
            ("raw_row_accounting", "raw_row_accounting.parquet"),
            ("segment_membership", "segment_membership/*/*.parquet"),
            ("fct_interactions", "fct_interactions/*/*.parquet"),
        ):
            # Columns by name, in the table's order: a Hive partition column is read last. A
            # table published by month leaves out the night and the build's bookkeeping.
            columns = ", ".join(
                name
                for (name,) in query(
                    customer_marts_warehouse,
                    "select column_name from information_schema.columns where table_schema = "
                    f"'marts' and table_name = '{table}' order by ordinal_position",
                )
                if table not in by_month or name not in {"as_of_date", "_written_at"}
            )
            in_table = query(customer_marts_warehouse, f"select {columns} from marts.{table}")
            from_file = connection.execute(
                f"select {columns} from read_parquet('{parquet / files}')"
            ).fetchall()
            assert sorted(from_file, key=repr) == sorted(in_table, key=repr)
            assert publication.tables[table] == len(from_file)
    described = json.loads((parquet / PUBLICATION_FILE).read_text(encoding="utf-8"))
    assert (described["as_of_date"], described["run_id"]) == (CUSTOMER_MARTS_AS_OF, "run1")
    assert query(
        published_dir / PUBLISHED_NAME, "select as_of_date, run_id from published.night"
    ) == [(MARTS_NIGHT, "run1")]
    assert published_night(published_dir) == MARTS_NIGHT
    assert published_night(tmp_path / "nothing_here") is None
    # The raw files as they came and the job's bookkeeping stay in the working warehouse; BI
    # users read validated rows.
    relations = (
        "select table_schema, count(*) from information_schema.tables "
        "where table_schema in ('raw', 'audit') group by 1 order by 1"
    )
    assert [schema for schema, _ in query(customer_marts_warehouse, relations)] == ["audit", "raw"]
    # The six sources the fixture delivers, and the optional identity_links, groups,
    # group_members, staff_tags and tag_library, taken in empty.
    assert query(customer_marts_warehouse, relations)[1] == ("raw", 11)
    assert query(published_dir / PUBLISHED_NAME, relations) == []
    # Every phase is timed, in order, within the call's own wall time: the copy and the
    # Parquet run at the same time, the sync after both.
    assert list(publication.seconds) == list(PUBLISH_PHASES)
    assert all(seconds >= 0 for seconds in publication.seconds.values())
    seconds = publication.seconds
    assert max(seconds["copy"], seconds["parquet"]) + seconds["sync"] <= elapsed + 0.01


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


def test_a_write_ahead_log_left_behind_is_folded_into_the_copy(tiny_warehouse, tmp_path):
    warehouse = copy_warehouse(tiny_warehouse, tmp_path / "home")
    customers = "select count(*) from marts.dim_customers"
    (before,) = query(warehouse, customers)[0]
    with duckdb.connect(str(warehouse)) as connection:
        # A writer that stopped before its checkpoint: the deletion lives in the log alone.
        connection.execute("pragma disable_checkpoint_on_shutdown")
        connection.execute(
            "delete from marts.dim_customers"
            " where customer_id = (select min(customer_id) from marts.dim_customers)"
        )
    assert warehouse.with_name(f"{warehouse.name}.wal").exists()
    publish_warehouse(warehouse, tmp_path / "published", TINY_NIGHT, "wal")
    assert query(tmp_path / "published" / PUBLISHED_NAME, customers) == [(before - 1,)]


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


def _tag_history(warehouse, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(sql)


def _partition_files(published_dir, table: str, key: str) -> dict[str, tuple[int, list[tuple]]]:
    """Partition → (inode of its file, its rows) in a published table's folder."""
    folder = published_dir / MARTS_LINK / table
    files = {}
    with duckdb.connect() as connection:
        for path in sorted(folder.glob(f"{key}=*/data.parquet")):
            rows = connection.execute(
                f"select * from read_parquet('{path}', hive_partitioning = false) order by all"
            ).fetchall()
            files[path.parent.name.removeprefix(f"{key}=")] = (path.stat().st_ino, rows)
    return files


def _night_files(published_dir) -> dict[str, tuple[int, list[tuple]]]:
    """Night → (inode of its file, its rows) in the published history folder."""
    return _partition_files(published_dir, "history", "as_of_date")


def test_a_night_kept_is_linked_while_unchanged_and_written_again_when_it_changes(tmp_path):
    warehouse, published_dir = tmp_path / "warehouse.duckdb", tmp_path / "published"
    _tag_history(
        warehouse,
        "create schema marts;"
        "create table marts.history (customer_id varchar, tag_value varchar, as_of_date date);"
        "insert into marts.history values ('C1', 'new', '2026-10-29'), ('C2', 'new', "
        "'2026-10-29'), ('C1', 'active', '2026-10-30'), ('C2', 'new', '2026-10-30');"
        "create table marts.profile as select 'C1' as customer_id;",
    )

    def publish(night: str, run_id: str):
        return publish_warehouse(
            warehouse, published_dir, date.fromisoformat(night), run_id, kept_per_night={"history"}
        )

    first = publish("2026-10-30", "run1")
    assert (first.nights_written, first.nights_linked) == ({"history": 2}, {"history": 0})
    assert first.tables == {"history": 4, "profile": 1}
    night_1 = _night_files(published_dir)
    assert {night: rows for night, (_, rows) in night_1.items()} == {
        "2026-10-29": [("C1", "new"), ("C2", "new")],
        "2026-10-30": [("C1", "active"), ("C2", "new")],
    }

    # A new night, and 2026-10-29 rebuilt with a different value: 10-30 alone is reused.
    _tag_history(
        warehouse,
        "update marts.history set tag_value = 'lost' "
        "where as_of_date = '2026-10-29' and customer_id = 'C2';"
        "insert into marts.history values ('C1', 'active', '2026-10-31');",
    )
    second = publish("2026-10-31", "run2")
    assert (second.nights_written, second.nights_linked) == ({"history": 2}, {"history": 1})
    night_2 = _night_files(published_dir)
    assert night_2["2026-10-30"] == night_1["2026-10-30"]  # the same file, linked
    assert night_2["2026-10-29"][0] != night_1["2026-10-29"][0]
    assert night_2["2026-10-29"][1] == [("C1", "new"), ("C2", "lost")]
    assert night_2["2026-10-31"][1] == [("C1", "active")]
    described = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
    assert {
        night: record["linked"] for night, record in described["nights"]["history"].items()
    } == {
        "2026-10-29": False,
        "2026-10-30": True,
        "2026-10-31": False,
    }

    # A night deleted from the table leaves the folder; the rest is linked, and still reads
    # once the directories it was first written to are pruned.
    _tag_history(warehouse, "delete from marts.history where as_of_date = '2026-10-29'")
    publish("2026-10-31", "run3")
    publish("2026-10-31", "run4")
    night_4 = _night_files(published_dir)
    assert sorted(night_4) == ["2026-10-30", "2026-10-31"]
    assert night_4["2026-10-30"] == night_1["2026-10-30"]
    assert not any(path.name.endswith("-run1") for path in published_dir.iterdir())
    with duckdb.connect() as connection:
        assert connection.execute(
            "select customer_id, tag_value, as_of_date from read_parquet("
            f"'{published_dir / MARTS_LINK}/history/*/*.parquet') order by all"
        ).fetchall() == query(warehouse, "select * from marts.history order by all")

    # A new column changes every night's file: all are written again.
    _tag_history(warehouse, "alter table marts.history add column score integer")
    fifth = publish("2026-10-31", "run5")
    assert (fifth.nights_written, fifth.nights_linked) == ({"history": 2}, {"history": 0})
    assert all(len(rows[0]) == 3 for _, rows in _night_files(published_dir).values())
    # So does a new type whose values hash the same (an integer widened).
    _tag_history(warehouse, "alter table marts.history alter score type bigint")
    sixth = publish("2026-10-31", "run6")
    assert (sixth.nights_written, sixth.nights_linked) == ({"history": 2}, {"history": 0})
    with duckdb.connect() as connection:
        assert connection.execute(
            "select distinct type from parquet_schema("
            f"'{published_dir / MARTS_LINK}/history/*/*.parquet') where name = 'score'"
        ).fetchall() == [("INT64",)]


def test_a_table_kept_per_night_needs_its_night_column(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    _tag_history(warehouse, "create schema marts; create table marts.history as select 1 as x")
    with pytest.raises(PublishError, match=r"history is kept per night but has no as_of_date"):
        publish_warehouse(
            warehouse, tmp_path / "published", TINY_NIGHT, "run1", kept_per_night={"history"}
        )


def test_an_empty_table_kept_per_night_still_has_its_folder_and_columns(tmp_path):
    warehouse, published_dir = tmp_path / "warehouse.duckdb", tmp_path / "published"
    _tag_history(
        warehouse,
        "create schema marts;"
        "create table marts.changes (customer_id varchar, new_value varchar, as_of_date date)",
    )
    publication = publish_warehouse(
        warehouse, published_dir, TINY_NIGHT, "run1", kept_per_night={"changes"}
    )
    assert (publication.tables, publication.nights_written) == ({"changes": 0}, {"changes": 1})
    files = list((published_dir / MARTS_LINK / "changes").glob("*/*.parquet"))
    assert [path.parent.name for path in files] == [f"as_of_date={TINY_AS_OF}"]
    with duckdb.connect() as connection:
        read = connection.execute(
            f"describe select * from read_parquet('{files[0].parent.parent}/*/*.parquet')"
        ).fetchall()
        assert [(name, data_type) for name, data_type, *_ in read] == [
            ("customer_id", "VARCHAR"),
            ("new_value", "VARCHAR"),
            ("as_of_date", "DATE"),
        ]
        assert connection.execute(
            f"select count(*) from read_parquet('{files[0]}')"
        ).fetchone() == (0,)


def _month_files(published_dir) -> dict[str, tuple[int, list[tuple]]]:
    """Month → (inode of its file, its rows) in the published facts folder."""
    return _partition_files(published_dir, "facts", "happened_on_month")


def _facts(warehouse, *rows: str) -> None:
    """A warehouse whose one mart, `marts.facts`, is published by month of `happened_on`."""
    _tag_history(
        warehouse,
        "create schema marts;"
        "create table marts.facts (fact_id varchar, happened_on date, amount integer,"
        " as_of_date date, _written_at timestamp);"
        f"insert into marts.facts values {', '.join(rows)};",
    )


def _publish_facts(warehouse, published_dir, night: str, run_id: str):
    return publish_warehouse(
        warehouse,
        published_dir,
        date.fromisoformat(night),
        run_id,
        published_by_month={"facts": "happened_on"},
    )


def test_a_fact_published_by_month_links_the_months_that_did_not_change(tmp_path):
    """The night and `_written_at` change on every row every night; they are not in the files,
    so a month whose rows are the same is linked."""
    warehouse, published_dir = tmp_path / "warehouse.duckdb", tmp_path / "published"
    _facts(
        warehouse,
        "('F1', '2026-09-30', 10, '2026-10-30', '2026-10-30 20:00:00')",
        "('F2', '2026-10-01', 20, '2026-10-30', '2026-10-30 20:00:00')",
        "('F3', '2026-10-30', 30, '2026-10-30', '2026-10-30 20:00:00')",
    )

    def publish(night: str, run_id: str):
        return _publish_facts(warehouse, published_dir, night, run_id)

    first = publish("2026-10-30", "run1")
    assert (first.months_written, first.months_linked) == ({"facts": 2}, {"facts": 0})
    assert (first.nights_written, first.tables) == ({}, {"facts": 3})
    month_1 = _month_files(published_dir)
    assert {month: rows for month, (_, rows) in month_1.items()} == {
        "2026-09": [("F1", date(2026, 9, 30), 10)],
        "2026-10": [("F2", date(2026, 10, 1), 20), ("F3", date(2026, 10, 30), 30)],
    }

    # The next night: every row restamped, one row appended to October.
    _tag_history(
        warehouse,
        "update marts.facts set as_of_date = '2026-10-31', _written_at = '2026-10-31 20:00:00';"
        "insert into marts.facts values"
        " ('F4', '2026-10-31', 40, '2026-10-31', '2026-10-31 20:00:00');",
    )
    second = publish("2026-10-31", "run2")
    assert (second.months_written, second.months_linked) == ({"facts": 1}, {"facts": 1})
    month_2 = _month_files(published_dir)
    assert month_2["2026-09"] == month_1["2026-09"]  # the same file, linked
    assert month_2["2026-10"][1][-1] == ("F4", date(2026, 10, 31), 40)
    described = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
    assert {month: record["linked"] for month, record in described["months"]["facts"].items()} == {
        "2026-09": True,
        "2026-10": False,
    }

    # A row moved from October to September changes both months; the folder reads as the table.
    _tag_history(
        warehouse, "update marts.facts set happened_on = '2026-09-29' where fact_id = 'F2'"
    )
    third = publish("2026-10-31", "run3")
    assert (third.months_written, third.months_linked) == ({"facts": 2}, {"facts": 0})
    with duckdb.connect() as connection:
        assert connection.execute(
            "select fact_id, happened_on, amount, happened_on_month from read_parquet("
            f"'{published_dir / MARTS_LINK}/facts/*/*.parquet') order by all"
        ).fetchall() == [
            ("F1", date(2026, 9, 30), 10, "2026-09"),
            ("F2", date(2026, 9, 29), 20, "2026-09"),
            ("F3", date(2026, 10, 30), 30, "2026-10"),
            ("F4", date(2026, 10, 31), 40, "2026-10"),
        ]

    _tag_history(warehouse, "insert into marts.facts (fact_id) values ('F5')")
    with pytest.raises(PublishError, match=r"marts.facts has rows without happened_on"):
        publish("2026-10-31", "run4")


def test_a_month_is_judged_by_when_its_rows_were_written_then_by_its_rows(tmp_path):
    """The incremental models write a row whole or delete it, never change it in place: a
    month with the row count and latest `_written_at` it had is linked without being hashed.
    A month written again is hashed, and linked if its rows are the same."""
    warehouse, published_dir = tmp_path / "warehouse.duckdb", tmp_path / "published"
    _facts(
        warehouse,
        "('F1', '2026-08-30', 10, '2026-10-30', '2026-10-30 20:00:00')",
        "('F2', '2026-09-01', 20, '2026-10-30', '2026-10-30 20:00:00')",
        "('F3', '2026-10-30', 30, '2026-10-30', '2026-10-30 20:00:00')",
    )

    def publish(night: str, run_id: str):
        return _publish_facts(warehouse, published_dir, night, run_id)

    first = publish("2026-10-30", "run1")
    recorded = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
    assert {
        month: record["written_through"] for month, record in recorded["months"]["facts"].items()
    } == {month: "2026-10-30 20:00:00" for month in ("2026-08", "2026-09", "2026-10")}
    assert first.months_written == {"facts": 3}

    # The next night: August untouched; September's row deleted and written again, the same;
    # October's row written again with a new amount.
    _tag_history(
        warehouse,
        "update marts.facts set as_of_date = '2026-10-31';"
        "delete from marts.facts where fact_id in ('F2', 'F3');"
        "insert into marts.facts values"
        " ('F2', '2026-09-01', 20, '2026-10-31', '2026-10-31 20:00:00'),"
        " ('F3', '2026-10-30', 31, '2026-10-31', '2026-10-31 20:00:00');",
    )
    second = publish("2026-10-31", "run2")
    assert (second.months_written, second.months_linked) == ({"facts": 1}, {"facts": 2})
    described = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
    months = described["months"]["facts"]
    assert {month: record["linked"] for month, record in months.items()} == {
        "2026-08": True,
        "2026-09": True,
        "2026-10": False,
    }
    # A month linked by when it was written keeps the fingerprint of its rows.
    assert months["2026-08"]["fingerprint"] == recorded["months"]["facts"]["2026-08"]["fingerprint"]
    assert months["2026-09"]["written_through"] == "2026-10-31 20:00:00"
    assert _month_files(published_dir)["2026-10"][1] == [("F3", date(2026, 10, 30), 31)]

    # A change in place, which the models never make, keeps August's count and latest write:
    # its rows are not read again. The same change in a table without `_written_at` is seen.
    _tag_history(warehouse, "update marts.facts set amount = 11 where fact_id = 'F1'")
    third = publish("2026-10-31", "run3")
    assert third.months_linked == {"facts": 3}
    assert _month_files(published_dir)["2026-08"][1] == [("F1", date(2026, 8, 30), 10)]
    _tag_history(warehouse, "alter table marts.facts drop column _written_at")
    fourth = publish("2026-10-31", "run4")
    assert (fourth.months_written, fourth.months_linked) == ({"facts": 1}, {"facts": 2})
    assert _month_files(published_dir)["2026-08"][1] == [("F1", date(2026, 8, 30), 11)]


def test_a_month_written_takes_its_fingerprint_from_its_file(tmp_path):
    """A new month, or one whose row count moved, is certainly written: it is not hashed in the
    table, and its fingerprint is read back from its file. It must equal the table's hash of the
    same rows for every column type the marts use, or a month written again unchanged the next
    night would be written instead of linked."""
    warehouse, published_dir = tmp_path / "warehouse.duckdb", tmp_path / "published"
    _tag_history(
        warehouse,
        "create schema marts;"
        "create table marts.facts (fact_id varchar, happened_on date, amount decimal(18, 2),"
        " happened_at timestamp, is_paid boolean, units bigint, share double, tags varchar[],"
        " as_of_date date, _written_at timestamp);"
        "insert into marts.facts values"
        " ('F1', '2026-09-01', 12.30, '2026-09-01 10:00:00', true, 3, 0.25, ['a', 'b'],"
        "  '2026-10-30', '2026-10-30 20:00:00'),"
        " ('F2', '2026-10-02', null, null, null, null, null, null,"
        "  '2026-10-30', '2026-10-30 20:00:00');",
    )
    columns = "fact_id, happened_on, amount, happened_at, is_paid, units, share, tags"

    def table_fingerprints() -> dict[str, str]:
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            rows = connection.execute(
                f"select strftime(happened_on, '%Y-%m'), sum(hash({columns}))::varchar "
                "from marts.facts group by 1"
            ).fetchall()
        return dict(rows)

    def recorded() -> dict[str, dict]:
        document = json.loads((published_dir / MARTS_LINK / PUBLICATION_FILE).read_text("utf-8"))
        return document["months"]["facts"]

    first = _publish_facts(warehouse, published_dir, "2026-10-30", "run1")
    assert first.months_written == {"facts": 2}
    assert {month: record["fingerprint"] for month, record in recorded().items()} == (
        table_fingerprints()
    )

    # September written again with the same row (same count, a later write): hashed in the
    # table and linked. October gains a row: written, its fingerprint from the new file.
    _tag_history(
        warehouse,
        "update marts.facts set as_of_date = '2026-10-31';"
        "update marts.facts set _written_at = '2026-10-31 20:00:00' where fact_id = 'F1';"
        "insert into marts.facts values ('F3', '2026-10-31', 1.05, '2026-10-31 09:30:00',"
        " false, 1, 1.5, [], '2026-10-31', '2026-10-31 20:00:00');",
    )
    second = _publish_facts(warehouse, published_dir, "2026-10-31", "run2")
    assert (second.months_written, second.months_linked) == ({"facts": 1}, {"facts": 1})
    assert {month: record["linked"] for month, record in recorded().items()} == {
        "2026-09": True,
        "2026-10": False,
    }
    assert {month: record["fingerprint"] for month, record in recorded().items()} == (
        table_fingerprints()
    )
