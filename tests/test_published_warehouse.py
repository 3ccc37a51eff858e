"""BI tools read the published copy through SQLAlchemy (duckdb-engine) while nights publish."""

import json
import subprocess
import sys
import time

import sqlalchemy as sa

from orchestration.publishing.warehouse import publish_warehouse
from tests.conftest import query

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
    published = publish_warehouse(tiny_warehouse, published_dir)
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
            publish_warehouse(source, published_dir)
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
    assert sorted(path.name for path in published_dir.iterdir()) == ["warehouse.duckdb"]


def test_the_published_copy_is_the_night(customer_marts_warehouse, tmp_path):
    published = publish_warehouse(customer_marts_warehouse, tmp_path / "published")
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
