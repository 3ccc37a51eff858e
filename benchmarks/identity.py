"""Time the identity stitcher and measure it against the truth (docs/identity.md).

Run: uv run python benchmarks/identity.py --scale S. The generator writes S 10k, M 100k or L 1M
customers as persons of many ids (`scrm generate --ids multi`,
orchestration/generated_identities.py): every source under the ids its system knows them by,
the identity_links source and, beside the raw folder, the truth of who is who. The raw folder
is loaded and one dbt build of the identity models and what they read follows; its person_ids
are compared with the truth pair by pair (generated_identities.pairwise):

- precision: of the pairs of ids the stitcher put in one person, the share that are one
  person in truth;
- recall: of the pairs of ids that are one person in truth, the share the stitcher put in one.

A walk-in phone, the store's test account and its staff's phones are each their own person in
the truth; a phone a family shares belongs to its holder, so the pairs it forms with the other
family member's ids count against precision when the stitcher joins them. Figures go to
benchmarks/results/identity-<scale>.json.
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

from orchestration.generated_identities import pairwise
from orchestration.generator import generate
from orchestration.project import DBT_PROJECT_DIR
from orchestration.raw_loader import load_raw_sources

DATA = Path(__file__).resolve().parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
SEED = 7
# The generator's last day, and a run started the morning after it.
AS_OF = "2026-10-31"
RUN_STARTED_AT = "2026-11-01 02:00:00"
SELECT = "+person_ids +identity_link_status +identity_blocked_ids +identity_large_persons"
STITCHER_MODELS = (
    "int_identity_links_validated",
    "int_identity_links_as_of",
    "int_identity_ids",
    "int_identity_persons",
)


def write_raw(raw: Path, persons: int) -> tuple[Path, dict[str, int]]:
    """The generator's raw folder of multi-id persons, and the truth's Parquet file."""
    summary = generate(
        raw, customers=persons, seed=SEED, file_format="parquet", progress=False, ids="multi"
    )
    truth = Path(summary["truth"])
    return truth, {
        "links": summary["rows"]["identity_links"],
        "truth_ids": pq.read_metadata(truth).num_rows,
        "customer_ids": summary["rows"]["customers"],
    }


def model_seconds(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
    return {
        result["unique_id"].split(".")[-1]: round(result["execution_time"], 2)
        for result in results["results"]
        if result["unique_id"].startswith("model.")
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
    load_raw_sources(base / "raw", home / "warehouse.duckdb", datetime(2026, 11, 1, 1, 0))
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
