"""Time the full nightly job at a chosen scale, with the raw-scan floor beside it.

Run: uv run python benchmarks/nightly.py --scale S (or M, L; --customers N for any size).
Generates the scale's raw Parquet once into benchmarks/data/<scale>/raw (reused after), runs
the `nightly` job for its last day in a fresh home in a child process, and prints:

- wall time and the peak RSS of the largest process (the job, or dbt's child);
- the time of every Dagster step, and the ten slowest dbt models (run_results.json);
- the overhead: wall time less the dbt builds and the Python steps;
- raw rows per second, and the floor: one DuckDB query that reads every column of every raw
  file once. ours / floor says how far the whole job is from merely reading its input.

Figures go to benchmarks/results/nightly-<scale>.json. Not part of the test suite.
Still to come (issue 6): the incremental night and the pandas reference.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
END_DATE = date(2026, 10, 31)
SEED = 7
STEP_DONE = re.compile(r'Finished execution of step "([a-z_]+)" in ((?:[0-9.]+(?:ms|m|s))+)')
DURATION_PART = re.compile(r"([0-9.]+)(ms|m|s)")


def generate(raw: Path, customers: int) -> None:
    if raw.is_dir() and any(raw.glob("*.parquet")):
        return
    raw.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "generate", "--customers", str(customers),
         "--seed", str(SEED), "--format", "parquet", "--end-date", END_DATE.isoformat(),
         "--out", str(raw)],
        check=True,
    )  # fmt: skip


def floor_seconds(raw: Path) -> tuple[float, int]:
    """Read every column of every raw file once: the least any nightly job must do."""
    rows = 0
    started = time.perf_counter()
    with duckdb.connect() as connection:
        for path in sorted(raw.glob("*.parquet")):
            source = f"read_parquet('{path}')"
            rows += connection.execute(f"select count(*) from {source}").fetchone()[0]
            connection.execute(f"select max(hash(columns(*))) from {source}").fetchall()
    return time.perf_counter() - started, rows


def run_night(raw: Path, home: Path) -> tuple[float, int, str]:
    """The job in a child process: wall seconds, peak RSS of the largest process, its log."""
    if home.exists():
        shutil.rmtree(home)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "run", "--raw", str(raw), "--home", str(home),
         "--as-of", END_DATE.isoformat()],
        env={**os.environ, "SCRM_HOME": str(home)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"the night failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, peak_kib * 1024, result.stdout + result.stderr


def step_seconds(log: str) -> dict[str, float]:
    """Dagster's step durations ("9.02s", "1m2s", "38ms"), by step."""
    factor = {"ms": 0.001, "s": 1.0, "m": 60.0}
    steps: dict[str, float] = {}
    for name, duration in STEP_DONE.findall(log):
        seconds = sum(float(n) * factor[unit] for n, unit in DURATION_PART.findall(duration))
        steps[name] = steps.get(name, 0.0) + seconds
    return steps


def dbt_timings(since: float) -> tuple[list[tuple[str, float]], float, float]:
    """From the dbt builds written after `since` (dagster-dbt's target dirs): every model's
    time, slowest first; the node times summed (models, seeds, tests; dbt runs two threads, so
    this can exceed the wall time); and the builds' own elapsed time."""
    models, node_seconds, elapsed = [], 0.0, 0.0
    for path in (ROOT / "dbt_project" / "target").glob("*/run_results.json"):
        if path.stat().st_mtime < since:
            continue
        run_results = json.loads(path.read_text(encoding="utf-8"))
        elapsed += run_results["elapsed_time"]
        for result in run_results["results"]:
            node_seconds += result["execution_time"]
            if result["unique_id"].startswith("model."):
                models.append((result["unique_id"].split(".")[-1], result["execution_time"]))
    return sorted(models, key=lambda item: -item[1]), node_seconds, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--customers", type=int, help="any size instead of a named scale")
    arguments = parser.parse_args()
    customers = arguments.customers or SCALES[arguments.scale]
    label = arguments.scale if not arguments.customers else f"{customers}"
    raw = DATA / label / "raw"
    generate(raw, customers)

    floor, raw_rows = floor_seconds(raw)
    started = time.time()
    wall, peak_bytes, log = run_night(raw, DATA / label / "home")
    steps = step_seconds(log)
    models, node_seconds, dbt_elapsed = dbt_timings(started)
    # Outside dbt's build time and the Python steps: starting the process, `scrm prepare`,
    # Dagster, and each dbt invocation's start-up and parse.
    python_steps = sum(v for k, v in steps.items() if not k.startswith("scrm_dbt_models"))
    overhead = wall - dbt_elapsed - python_steps
    figures = {
        "scale": label,
        "customers": customers,
        "raw_rows": raw_rows,
        "machine": {
            "cpus": os.cpu_count(),
            "memory_limit": os.environ.get("SCRM_DUCKDB_MEMORY_LIMIT", "8GB"),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "full_night": {
            "wall_seconds": round(wall, 1),
            "peak_rss_bytes": peak_bytes,
            "raw_rows_per_second": round(raw_rows / wall),
            "steps_seconds": {name: round(seconds, 2) for name, seconds in steps.items()},
            "slowest_models_seconds": {name: round(seconds, 2) for name, seconds in models[:10]},
            "dbt_elapsed_seconds": round(dbt_elapsed, 1),
            "dbt_node_seconds_summed": round(node_seconds, 1),
            "python_steps_seconds": round(python_steps, 1),
            "overhead_seconds": round(overhead, 1),
        },
        "floor_seconds": round(floor, 2),
        "ours_over_floor": round(wall / floor, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"nightly-{label}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    print(f"scale {label}: {customers:,} customers, {raw_rows:,} raw rows")
    print(f"  full night   {wall:8.1f} s   peak RSS {peak_bytes / 2**30:.2f} GiB")
    print(f"  raw rows/s   {raw_rows / wall:10,.0f}")
    print(f"  floor        {floor:8.1f} s   (ours / floor = {wall / floor:.1f})")
    print(f"  dbt builds   {dbt_elapsed:8.1f} s   (node times, 2 threads: {node_seconds:.1f} s)")
    print(f"  Python steps {python_steps:8.1f} s")
    print(f"  overhead     {overhead:8.1f} s   (start-up: process, prepare, Dagster, dbt parse)")
    for name, seconds in steps.items():
        print(f"  step  {name:<40} {seconds:8.2f} s")
    for name, seconds in models[:10]:
        print(f"  model {name:<40} {seconds:8.2f} s")
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
