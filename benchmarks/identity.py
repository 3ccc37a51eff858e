"""Time the identity stitcher and measure it against the truth (docs/identity.md).

Run: uv run python benchmarks/identity.py --scale L. Simulated persons (S 10k, M 100k, L 1M;
orchestration/generated_identities.py) give the identity_links source and a customers file of
their shop and WeCom ids; the other sources are empty. One dbt build of the identity models
follows, and its person_ids are compared with the truth pair by pair:

- precision: of the pairs of ids the stitcher put in one person, the share that are one
  person in truth;
- recall: of the pairs of ids that are one person in truth, the share the stitcher put in one.

A walk-in phone is its own person in the truth; a phone a family shares belongs to the person
who had it first, so the pairs it forms with the other family member count against precision
when the stitcher joins them. Figures go to benchmarks/results/identity-<scale>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nightly import machine, measured

from orchestration import duckdb_settings
from orchestration.generated_identities import generate_identities
from orchestration.project import DBT_PROJECT_DIR
from orchestration.raw_contract import load_contract
from orchestration.raw_loader import load_raw_sources

DATA = Path(__file__).resolve().parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
AS_OF = "2026-06-30"
RUN_STARTED_AT = "2026-07-01 02:00:00"
SELECT = "+person_ids +identity_link_status +identity_blocked_ids +identity_large_persons"
STITCHER_MODELS = (
    "int_identity_links_validated",
    "int_identity_links_as_of",
    "int_identity_ids",
    "int_identity_persons",
)


def write_raw(raw: Path, persons: int) -> tuple[Path, dict[str, int]]:
    """The raw folder (links, customers, empty other sources) and the truth's Parquet file."""
    generated = generate_identities(persons)
    raw.mkdir(parents=True)
    for name, contract in load_contract().items():
        if name in ("identity_links", "customers"):
            continue
        (raw / f"{name}.csv").write_text(",".join(sorted(contract.required)) + "\n", "utf-8")
    pq.write_table(generated.links, raw / "identity_links.parquet")
    pq.write_table(generated.customers, raw / "customers.parquet")
    truth = raw.parent / "truth.parquet"
    pq.write_table(generated.truth, truth)
    return truth, {
        "links": generated.links.num_rows,
        "truth_ids": generated.truth.num_rows,
        "customer_ids": generated.customers.num_rows,
    }


def model_seconds(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    return {
        result["unique_id"].split(".")[-1]: round(result["execution_time"], 2)
        for result in results["results"]
        if result["unique_id"].startswith("model.")
    }


def pairwise(warehouse: Path, truth: Path) -> dict[str, float | int]:
    """Pairwise precision and recall over the ids of the truth."""
    with duckdb_settings.connect(warehouse, read_only=True) as connection:
        ((true_pairs, found_pairs, right_pairs, ids),) = connection.execute(
            f"""
            with joined as (
                select truth.id, truth.person, persons.person_id
                from read_parquet('{truth}') as truth
                inner join marts.person_ids as persons on truth.id = persons.id
            ),
            cells as (select person, person_id, count(*) as n from joined group by all),
            true_sets as (select count(*) as n from joined group by person),
            found_sets as (select count(*) as n from joined group by person_id)
            select
                (select sum(n * (n - 1) / 2) from true_sets),
                (select sum(n * (n - 1) / 2) from found_sets),
                (select sum(n * (n - 1) / 2) from cells),
                (select count(*) from joined)
            """
        ).fetchall()
    return {
        "ids_compared": ids,
        "true_pairs": int(true_pairs),
        "stitched_pairs": int(found_pairs),
        "right_pairs": int(right_pairs),
        "precision": round(right_pairs / found_pairs, 5) if found_pairs else 1.0,
        "recall": round(right_pairs / true_pairs, 5) if true_pairs else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="S")
    scale = parser.parse_args().scale
    base = DATA / f"identity-{scale}"
    shutil.rmtree(base, ignore_errors=True)
    started = time.perf_counter()
    truth, sizes = write_raw(base / "raw", SCALES[scale])
    generate_seconds = time.perf_counter() - started
    home = base / "home"
    started = time.perf_counter()
    load_raw_sources(base / "raw", home / "warehouse.duckdb", datetime(2026, 7, 1, 1, 0))
    load_seconds = time.perf_counter() - started
    target = base / "target"
    command = [
        sys.executable, "-m", "dbt.cli.main", "build", "--select", SELECT,
        "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(target),
        "--vars", json.dumps({"as_of_date": AS_OF, "run_started_at": RUN_STARTED_AT}),
    ]  # fmt: skip
    wall, peak_rss, code, noise, _ = measured(
        command, base / "dbt.log", env={**os.environ, "SCRM_HOME": str(home)}
    )
    if code != 0:
        sys.exit(f"dbt build failed: see {base / 'dbt.log'}")
    models = model_seconds(target)
    figures = {
        "scale": scale,
        "persons": SCALES[scale],
        **sizes,
        "generate_seconds": round(generate_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "dbt_build_wall_seconds": round(wall, 1),
        "dbt_peak_rss_bytes": peak_rss,
        "stitching_seconds": round(sum(models.get(name, 0.0) for name in STITCHER_MODELS), 1),
        "model_seconds": {name: models[name] for name in STITCHER_MODELS if name in models},
        "quality": pairwise(home / "warehouse.duckdb", truth),
        "noise": noise,
        "machine": machine([noise["other_cpu_share"]] if noise else []),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"identity-{scale}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    quality = figures["quality"]
    print(
        f"identity {scale}: {figures['persons']:,} persons, {figures['truth_ids']:,} ids, "
        f"{figures['links']:,} links; stitching {figures['stitching_seconds']} s "
        f"(dbt build {figures['dbt_build_wall_seconds']} s, peak RSS "
        f"{peak_rss / 2**30:.2f} GiB); precision {quality['precision']:.4f}, recall "
        f"{quality['recall']:.4f}; written to {out}"
    )


if __name__ == "__main__":
    main()
