"""Time two nightly jobs at a chosen scale, with the raw-scan floor and a pandas reference.

Run: uv run python benchmarks/nightly.py --scale S (or M, L; --customers N for any size).
Generates the scale's raw Parquet once into benchmarks/data/<scale>/raw (reused after), through
day D+1 (2026-10-31), and models an append-only export from it (split_nights):

- night 1 (the full night) runs as of D in a fresh home, on files holding every row dated up to
  D, in the original order: rows dated D+1 are removed (customers registered, products launched,
  orders placed, friend events and interactions on D+1, and the lines of those orders), and an
  order whose status changed on D+1 shows its status as of D (its D+1 timestamps emptied);
- night 2 (the incremental night) runs as of D+1 in the same home, on night 1's rows in the same
  order (orders with their D+1 state, at the same positions) with the D+1 rows appended;
- a third night runs as of D+2 on night 2's files unchanged: a night without new rows, what
  every night costs whatever the size of its new day.

For each night it prints the wall time and the peak RSS of that night's process tree (the job
and dbt's child, from wait4), raw rows per second, every Dagster step, the ten slowest dbt
models (run_results.json) and the overhead: wall time less the dbt builds and the Python steps.

Two references are measured in the same run, on night 1's files:
- the floor: one DuckDB query that reads every column of every raw file once. ours / floor says
  how far the whole job is from merely reading its input;
- pandas: benchmarks/pandas_reference.py in a child process, the RFM scores and one tag per
  category as a team's first script would write them in plain pandas, without the quarantine
  and point-in-time rules (the same values on clean files; tests/test_pandas_reference.py
  checks them). pandas / ours compares it with night 1.

With --deliveries it times the raw contract's other way instead: the scale's history generated
once as a landing folder of daily deliveries (`scrm generate --deliveries daily`, into
benchmarks/data/<scale>/deliveries), from which a landing folder for the nights is linked:

- the full night takes in every delivery up to D, as of D, in a fresh home;
- the one-day night takes in D+1's deliveries on top, as of D+1;
- the night without new deliveries runs on the same folder as of D+2.

Each measurement records the CPU time the machine spent on other work meanwhile (/proc/stat less
the child's own): figures taken while other work runs are noisy, and the JSON says so. Figures go to
benchmarks/results/nightly-<scale>.json (nightly-deliveries-<scale>.json with --deliveries). Not
part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pandas_reference import clean, parse_ts
from render_results import BREAKDOWN_TITLES

from orchestration import duckdb_settings
from orchestration.project import DBT_RUNS_DIR, dbt_project
from orchestration.publishing.warehouse import PUBLISH_PHASES_PREFIX

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
RESULTS = Path(__file__).resolve().parent / "results"
REFERENCE = Path(__file__).resolve().parent / "pandas_reference.py"
SCALES = {"S": 10_000, "M": 100_000, "L": 1_000_000}
END_DATE = date(2026, 10, 31)  # D+1: the generated data's last day, night 2's date
NIGHT_1 = END_DATE - timedelta(days=1)  # D
SEED = 7
QUIET_SHARE = 0.1  # other work's share of CPU time above which figures are called noisy
STEP_DONE = re.compile(r'Finished execution of step "([a-z_]+)" in ((?:[0-9.]+(?:ms|m|s))+)')
DURATION_PART = re.compile(r"([0-9.]+)(ms|m|s)")
PUBLISH_PHASES_LINE = re.compile(re.escape(PUBLISH_PHASES_PREFIX) + r"(.*)")
PUBLISH_PHASE = re.compile(r"([a-z_]+) ([0-9.]+) s")
# Dagster's lines that bound the run inside a night's process, timed as they arrive.
RUN_MARKS = ("RUN_START", "RUN_SUCCESS")
DBT_STEP = "scrm_dbt_models"  # the dbt builds' steps: this, and this with a suffix
# The column that dates a row of each source; order lines go with their order.
DATED_BY = {
    "customers": "registered_at",
    "products": "launched_at",
    "orders": "order_ts",
    "friend_events": "event_ts",
    "interactions": "interaction_ts",
}
# An order's status timestamps, the later lifecycle step first (it wins a tie, as in fct_orders).
STATUS_STAMPS = (
    ("refunded", "refunded_ts"),
    ("cancelled", "cancelled_ts"),
    ("confirmed", "confirmed_ts"),
    ("paid", "paid_ts"),
)


def generate(raw: Path, customers: int, deliveries: str = "full") -> None:
    """The scale's history, once: whole files, or a landing folder of daily deliveries (marked
    done by a file beside it, since a folder half written is not a history)."""
    done = raw.with_name(f"{raw.name}.done")
    if done.is_file() if deliveries == "daily" else raw.is_dir() and any(raw.glob("*.parquet")):
        return
    if deliveries == "daily":
        shutil.rmtree(raw, ignore_errors=True)
    raw.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "generate", "--customers", str(customers),
         "--seed", str(SEED), "--format", "parquet", "--end-date", END_DATE.isoformat(),
         "--deliveries", deliveries, "--out", str(raw)],
        check=True,
    )  # fmt: skip
    if deliveries == "daily":
        done.touch()


def land_deliveries(deliveries: Path, landing: Path, through: date) -> dict[str, int]:
    """Link every delivery dated up to `through` into the landing folder (a link keeps the
    file's bytes and modification time, as the ledger expects of a delivery taken in); returns
    the rows landed by this call, per source."""
    landed: dict[str, int] = {}
    for folder in sorted(path for path in deliveries.iterdir() if path.is_dir()):
        target = landing / folder.name
        target.mkdir(parents=True, exist_ok=True)
        landed[folder.name] = 0
        for path in sorted(folder.glob("*.parquet")):
            if date.fromisoformat(path.stem) > through or (target / path.name).exists():
                continue
            try:
                os.link(path, target / path.name)
            except OSError:  # another file system
                shutil.copy2(path, target / path.name)
            landed[folder.name] += pq.ParquetFile(path).metadata.num_rows
    return landed


def dated_on(column: pa.ChunkedArray, day: date):
    """True where the text is a timestamp on `day` (Asia/Shanghai), as a pandas boolean Series."""
    local = parse_ts(clean(column.to_pandas()))
    start = local.dt.normalize()
    return (start == str(day)).fillna(False)


def revert_orders(orders: pa.Table, day: date) -> pa.Table:
    """Orders as exported at the end of `day - 1`: status timestamps on `day` emptied, and the
    status set back to the latest step left (created when none is)."""
    frame = orders.to_pandas()
    late = {column: dated_on(orders[column], day).to_numpy() for _, column in STATUS_STAMPS}
    changed = sum(late.values()) > 0
    if not changed.any():
        return orders
    stamps = {}
    for status, column in STATUS_STAMPS:
        frame.loc[late[column], column] = None
        stamps[status] = parse_ts(clean(frame[column]))
    latest = pd.concat(list(stamps.values()), axis=1).max(axis=1)
    status = frame["status"].copy()
    status[changed] = "created"
    for name, stamp in reversed(stamps.items()):  # the later step wins a tie
        status[changed & (stamp == latest).fillna(False).to_numpy()] = name
    frame["status"] = status
    return pa.Table.from_pandas(frame, schema=orders.schema, preserve_index=False)


def split_nights(raw: Path, night_1: Path, night_2: Path, day: date) -> dict[str, int]:
    """Write the two nights' files (module docstring) from the full export; returns the rows
    dated `day` per source (night 2's new rows)."""
    marker = night_2 / "split.json"
    if marker.is_file():
        return json.loads(marker.read_text(encoding="utf-8"))
    for directory in (night_1, night_2):
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
    new_rows: dict[str, int] = {}
    new_orders = pa.array([], pa.string())
    for source in (*DATED_BY, "order_items"):
        # In batches, so that a large scale's files never have to fit in memory; only the
        # rows of one day are held until the end.
        file = pq.ParquetFile(raw / f"{source}.parquet")
        added: list[pa.Table] = []
        with (
            pq.ParquetWriter(night_1 / f"{source}.parquet", file.schema_arrow,
                             compression="zstd") as writer_1,
            pq.ParquetWriter(night_2 / f"{source}.parquet", file.schema_arrow,
                             compression="zstd") as writer_2,
        ):  # fmt: skip
            for batch in file.iter_batches(batch_size=1_000_000):
                table = pa.Table.from_batches([batch])
                if source == "order_items":
                    new = pc.fill_null(pc.is_in(table["order_id"], value_set=new_orders), False)
                else:
                    new = pa.array(dated_on(table[DATED_BY[source]], day).to_numpy())
                old = table.filter(pc.invert(new))
                added.append(table.filter(new))
                writer_1.write_table(revert_orders(old, day) if source == "orders" else old)
                writer_2.write_table(old)
            new_table = pa.concat_tables(added, promote_options="none") if added else None
            if new_table is not None and new_table.num_rows:
                writer_2.write_table(new_table)
        new_rows[source] = new_table.num_rows if new_table is not None else 0
        if source == "orders" and new_table is not None:
            new_orders = new_table["order_id"].combine_chunks()
    marker.write_text(json.dumps(new_rows), encoding="utf-8")
    return new_rows


def floor_seconds(raw: Path) -> tuple[float, int]:
    """Read every column of every raw file once: the least any nightly job must do."""
    rows = 0
    started = time.perf_counter()
    with duckdb_settings.connect() as connection:
        # A whole file per source, or a folder of deliveries per source.
        sources = sorted(raw.glob("*.parquet")) or sorted(p for p in raw.iterdir() if p.is_dir())
        for path in sources:
            files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
            if not files:
                continue
            source = f"read_parquet([{', '.join(repr(str(file)) for file in files)}])"
            rows += connection.execute(f"select count(*) from {source}").fetchone()[0]
            connection.execute(f"select max(hash(columns(*))) from {source}").fetchall()
    return time.perf_counter() - started, rows


def cpu_seconds() -> tuple[float, float] | None:
    """The whole machine's CPU seconds since boot (Linux): busy, and idle waiting on the disk;
    or None."""
    try:
        fields = Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq + steal) / tick, iowait / tick


def measured(command: list[str], log: Path, env: dict[str, str] | None = None):
    """Run a child: wall seconds, the peak RSS of its process tree (wait4 reports the largest
    of the child and the children it waited for), its exit code, and the noise: the CPU
    seconds the machine spent on other work meanwhile, as a share of all its CPU time, and the
    CPU time it sat idle waiting on the disk (the job's own writes included: a slow disk shows
    here, not in the other work)."""
    before = cpu_seconds()
    started = time.perf_counter()
    marks: dict[str, float] = {}
    # Line-buffered both ways: the marks are timed when their lines arrive, and the log can be
    # followed while the night runs.
    env = {**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"}
    with log.open("w", encoding="utf-8", buffering=1) as handle:
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, bufsize=0
        )
        assert child.stdout is not None
        # Each line into the log as it comes, the marks' first lines timed on arrival.
        for line in iter(child.stdout.readline, b""):
            text = line.decode("utf-8", errors="replace")
            handle.write(text)
            for mark in RUN_MARKS:
                if mark not in marks and mark in text:
                    marks[mark] = time.perf_counter() - started
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    after = cpu_seconds()
    noise = None
    if before is not None and after is not None:
        others = after[0] - before[0] - usage.ru_utime - usage.ru_stime
        io_wait = after[1] - before[1]
        capacity = wall * (os.cpu_count() or 1)
        noise = {
            "own_cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "other_cpu_seconds": round(max(0.0, others), 1),
            "other_cpu_share": round(max(0.0, others) / capacity, 3),
            "io_wait_cpu_seconds": round(io_wait, 1),
            "io_wait_share": round(io_wait / capacity, 3),
        }
    return wall, usage.ru_maxrss * 1024, child.returncode, noise, marks


def run_night(raw: Path, home: Path, as_of: date, log: Path) -> dict:
    """One night of the job in a child process, with its steps and dbt models."""
    started_at = time.time()
    run_started_at = f"{as_of + timedelta(days=1)} 08:00:00"  # the morning after, pinned
    # --verbose: the step and publish timings are read from Dagster's own log lines.
    wall, peak, code, noise, marks = measured(
        [sys.executable, "-m", "orchestration.cli", "run", "--raw", str(raw), "--home", str(home),
         "--as-of", as_of.isoformat(), "--run-started-at", run_started_at, "--verbose"],
        log,
        env={**os.environ, "SCRM_HOME": str(home)},
    )  # fmt: skip
    text = log.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        sys.exit(f"the night as of {as_of} failed (log: {log}):\n{text[-3000:]}")
    steps = step_seconds(text)
    if not steps:
        sys.exit(f"no step timings in the log of the night as of {as_of} ({log})")
    dbt = dbt_timings(home, started_at)
    # Outside dbt's build time and the Python steps: starting the process, `scrm prepare`,
    # Dagster, and each dbt invocation's start-up and parse.
    python_steps = sum(v for k, v in steps.items() if not k.startswith(DBT_STEP))
    return {
        "as_of": as_of.isoformat(),
        "wall_seconds": round(wall, 1),
        "peak_rss_bytes": peak,
        "steps_seconds": {name: round(seconds, 2) for name, seconds in steps.items()},
        "publish_phases_seconds": publish_phases(text),
        "slowest_models_seconds": {name: round(seconds, 2) for name, seconds in dbt["models"][:10]},
        "dbt_elapsed_seconds": round(dbt["elapsed"], 1),
        "dbt_node_seconds_summed": round(dbt["node_seconds"], 1),
        "dbt_node_seconds_by_layer": {
            layer: round(seconds, 1) for layer, seconds in dbt["node_seconds_by_layer"].items()
        },
        "python_steps_seconds": round(python_steps, 1),
        "overhead_seconds": round(wall - dbt["elapsed"] - python_steps, 1),
        "time_breakdown_seconds": time_breakdown(wall, marks, steps, dbt),
        "noise": noise,
    }


def time_breakdown(
    wall: float, marks: dict[str, float], steps: dict[str, float], dbt: dict
) -> dict[str, float]:
    """Where a night's wall time goes, in parts that add up to it: the fixed cost (start-up
    before Dagster's run starts, each dbt build's own start-up, Dagster between steps, the
    end), dbt's models and its data tests, and the Python steps."""
    run_start, run_end = marks.get("RUN_START"), marks.get("RUN_SUCCESS")
    if run_start is None or run_end is None:
        return {}
    dbt_steps = {name: value for name, value in steps.items() if name.startswith(DBT_STEP)}
    # A dbt step less its build's elapsed time: dbt's process, imports and manifest, and
    # dagster-dbt's handling of the events left when dbt ends.
    dbt_start_up = sum(
        value - dbt["elapsed_by_build"].get(name, 0.0) for name, value in dbt_steps.items()
    )
    tests = dbt["node_seconds_by_layer"].get("tests", 0.0)
    parts = {
        "start_up_before_run": run_start,
        "dbt_start_up": dbt_start_up,
        "dbt_models": dbt["node_seconds"] - tests,
        "dbt_tests": tests,
        "dbt_between_nodes": dbt["elapsed"] - dbt["node_seconds"],
        "python_steps": sum(steps.values()) - sum(dbt_steps.values()),
        "dagster_between_steps": run_end - run_start - sum(steps.values()),
        "after_run": wall - run_end,
    }
    return {name: round(value, 1) for name, value in parts.items()}


def run_pandas(raw: Path, as_of: date, log: Path) -> dict:
    """The pandas reference in a child process: its own compute time, wall and peak RSS."""
    wall, peak, code, noise, _ = measured(
        [sys.executable, str(REFERENCE), "--raw", str(raw), "--as-of", as_of.isoformat()], log
    )
    text = log.read_text(encoding="utf-8", errors="replace")
    if code != 0:  # e.g. out of memory at a large scale: say so, keep the other figures
        return {"failed": f"exit code {code}", "log_tail": text[-1000:], "wall_seconds": wall}
    figures = json.loads(text.strip().splitlines()[-1])
    return {
        "wall_seconds": round(wall, 1),
        "compute_seconds": figures["seconds"],
        "peak_rss_bytes": peak,
        "rfm_customers": figures["rfm_customers"],
        "known_customers": figures["known_customers"],
        "noise": noise,
    }


def step_seconds(log: str) -> dict[str, float]:
    """Dagster's step durations ("9.02s", "1m2s", "38ms"), by step."""
    factor = {"ms": 0.001, "s": 1.0, "m": 60.0}
    steps: dict[str, float] = {}
    for name, duration in STEP_DONE.findall(log):
        seconds = sum(float(n) * factor[unit] for n, unit in DURATION_PART.findall(duration))
        steps[name] = steps.get(name, 0.0) + seconds
    return steps


def publish_phases(log: str) -> dict[str, float]:
    """The publish's own phases (copy, parquet, sync), from the line the asset logs."""
    found = PUBLISH_PHASES_LINE.findall(log)
    if not found:
        return {}
    return {name: float(seconds) for name, seconds in PUBLISH_PHASE.findall(found[-1])}


def node_layer(node: dict | None) -> str:
    """Where a dbt node's time goes: a model or seed by its folder (the subfolder under marts),
    every data test as `tests`."""
    if node is None:
        return "other"
    if node["resource_type"] in ("test", "seed"):
        return node["resource_type"] + "s"
    folders = node["fqn"][1:-1]
    return "/".join(folders[:2] if folders[:1] == ["marts"] else folders[:1])


def dbt_timings(home: Path, since: float) -> dict:
    """From the dbt builds written after `since` (the home's dbt_runs/): every model's
    time, slowest first; the node times summed (models, seeds, tests; with more than one dbt
    thread this can exceed the wall time), and summed per layer (node_layer); and the builds' own
    elapsed time, in all and per build step."""
    manifest = json.loads(dbt_project.manifest_path.read_text("utf-8"))
    models, by_layer, elapsed, by_build = [], {}, 0.0, {}
    for path in (home / DBT_RUNS_DIR).glob("*/run_results.json"):
        if path.stat().st_mtime < since:
            continue
        run_results = json.loads(path.read_text(encoding="utf-8"))
        elapsed += run_results["elapsed_time"]
        # A build's folder is named <step>-<run id>-<suffix> (orchestration.project).
        step = path.parent.name.rsplit("-", 2)[0]
        by_build[step] = by_build.get(step, 0.0) + run_results["elapsed_time"]
        for result in run_results["results"]:
            layer = node_layer(manifest["nodes"].get(result["unique_id"]))
            by_layer[layer] = by_layer.get(layer, 0.0) + result["execution_time"]
            if result["unique_id"].startswith("model."):
                models.append((result["unique_id"].split(".")[-1], result["execution_time"]))
    return {
        "models": sorted(models, key=lambda item: -item[1]),
        "node_seconds": sum(by_layer.values()),
        "node_seconds_by_layer": dict(sorted(by_layer.items(), key=lambda item: -item[1])),
        "elapsed": elapsed,
        "elapsed_by_build": by_build,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="S")
    parser.add_argument("--customers", type=int, help="any size instead of a named scale")
    parser.add_argument(
        "--no-pandas",
        action="store_true",
        help="leave out the pandas reference (at L it runs out of memory after minutes)",
    )
    parser.add_argument(
        "--deliveries",
        action="store_true",
        help="time nights on a landing folder of daily deliveries instead of whole files",
    )
    arguments = parser.parse_args()
    customers = arguments.customers or SCALES[arguments.scale]
    label = arguments.scale if not arguments.customers else f"{customers}"
    base = DATA / label
    if arguments.deliveries:
        delivery_nights(base, label, customers)
        return
    raw = base / "raw"
    generate(raw, customers)
    night_1_raw, night_2_raw = base / "night_1", base / "night_2"
    new_rows = split_nights(raw, night_1_raw, night_2_raw, END_DATE)

    floor, night_1_rows = floor_seconds(night_1_raw)
    floor_2, night_2_rows = floor_seconds(night_2_raw)
    pandas = (
        {"skipped": "--no-pandas"}
        if arguments.no_pandas
        else run_pandas(night_1_raw, NIGHT_1, base / "pandas.log")
    )
    home = base / "home"
    shutil.rmtree(home, ignore_errors=True)
    full = run_night(night_1_raw, home, NIGHT_1, base / "night_1.log")
    full["raw_rows"] = night_1_rows
    full["raw_rows_per_second"] = round(night_1_rows / full["wall_seconds"])
    incremental = run_night(night_2_raw, home, END_DATE, base / "night_2.log")
    incremental["raw_rows"] = night_2_rows
    incremental["new_raw_rows"] = sum(new_rows.values())
    incremental["new_raw_rows_by_source"] = new_rows
    incremental["raw_rows_per_second"] = round(night_2_rows / incremental["wall_seconds"])
    # The same files a day later: what a night costs whatever the size of the new day.
    unchanged = run_night(night_2_raw, home, END_DATE + timedelta(days=1), base / "night_3.log")
    unchanged["raw_rows"] = night_2_rows
    unchanged["new_raw_rows"] = 0
    unchanged["raw_rows_per_second"] = round(night_2_rows / unchanged["wall_seconds"])

    shares = [
        m["noise"]["other_cpu_share"]
        for m in (full, incremental, unchanged, pandas)
        if m.get("noise")
    ]
    figures = {
        "scale": label,
        "customers": customers,
        "raw_rows": night_2_rows,
        "machine": machine(shares),
        "full_night": full,
        "incremental_night": incremental,
        "night_without_new_rows": unchanged,
        "floor_seconds": round(floor, 2),
        "floor_seconds_night_2": round(floor_2, 2),
        "ours_over_floor": round(full["wall_seconds"] / floor, 1),
        "pandas_reference": pandas,
    }
    if "compute_seconds" in pandas:
        figures["pandas_over_ours"] = round(pandas["wall_seconds"] / full["wall_seconds"], 3)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"nightly-{label}.json"
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report(figures)
    print(f"figures written to {out}")


def delivery_nights(base: Path, label: str, customers: int) -> None:
    """The three nights on daily deliveries (module docstring), into
    results/nightly-deliveries-<label>.json."""
    deliveries = base / "deliveries"
    generate(deliveries, customers, "daily")
    landing, home = base / "landing", base / "deliveries_home"
    shutil.rmtree(landing, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)

    full_rows = land_deliveries(deliveries, landing, NIGHT_1)
    floor, raw_rows = floor_seconds(landing)
    full = run_night(landing, home, NIGHT_1, base / "deliveries_night_1.log")
    full["raw_rows"] = raw_rows
    full["new_raw_rows"] = sum(full_rows.values())
    full["raw_rows_per_second"] = round(raw_rows / full["wall_seconds"])

    day_rows = land_deliveries(deliveries, landing, END_DATE)
    floor_2, raw_rows_2 = floor_seconds(landing)
    one_day = run_night(landing, home, END_DATE, base / "deliveries_night_2.log")
    one_day["raw_rows"] = raw_rows_2
    one_day["new_raw_rows"] = sum(day_rows.values())
    one_day["new_raw_rows_by_source"] = day_rows
    one_day["raw_rows_per_second"] = round(raw_rows_2 / one_day["wall_seconds"])

    nothing_new = run_night(
        landing, home, END_DATE + timedelta(days=1), base / "deliveries_night_3.log"
    )
    nothing_new["raw_rows"] = raw_rows_2
    nothing_new["new_raw_rows"] = 0
    nothing_new["raw_rows_per_second"] = round(raw_rows_2 / nothing_new["wall_seconds"])

    shares = [m["noise"]["other_cpu_share"] for m in (full, one_day, nothing_new) if m.get("noise")]
    figures = {
        "scale": label,
        "customers": customers,
        "raw_layout": "daily deliveries (scrm generate --deliveries daily)",
        "raw_rows": raw_rows_2,
        "delivery_files": sum(1 for _ in landing.glob("*/*.parquet")),
        "machine": machine(shares),
        "full_night": full,
        "one_day_night": one_day,
        "night_without_new_deliveries": nothing_new,
        "one_day_over_full": round(one_day["wall_seconds"] / full["wall_seconds"], 3),
        "floor_seconds": round(floor, 2),
        "floor_seconds_night_2": round(floor_2, 2),
        "ours_over_floor": round(full["wall_seconds"] / floor, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"nightly-deliveries-{label}.json"
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report(figures)
    print(f"figures written to {out}")


def machine(shares: list[float]) -> dict:
    """The machine the figures were taken on, and whether it was quiet meanwhile."""
    return {
        "cpus": os.cpu_count() or 1,
        "memory_limit": duckdb_settings.memory_limit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quiet": bool(shares) and max(shares) < QUIET_SHARE,
        "note": "noise.other_cpu_share is the machine's CPU time spent on other work "
        f"during a measurement; quiet is false when it reached {QUIET_SHARE} for any: "
        "the figures are then noisy (slower than on a quiet machine). noise.io_wait_share is "
        "the CPU time spent idle waiting on the disk, the job's own writes included: "
        "high when the disk is slow",
    }


# The nights a results file may hold, in the order they run.
NIGHT_TITLES = {
    "full_night": "full night",
    "incremental_night": "incremental night",
    "night_without_new_rows": "night without new rows",
    "one_day_night": "night taking in one day",
    "night_without_new_deliveries": "night without new deliveries",
}


def report(figures: dict) -> None:
    noise = "quiet machine" if figures["machine"]["quiet"] else "BUSY machine: noisy figures"
    print(f"scale {figures['scale']}: {figures['customers']:,} customers, "
          f"{figures['raw_rows']:,} raw rows ({noise})")  # fmt: skip
    nights = [(title, figures[key]) for key, title in NIGHT_TITLES.items() if key in figures]
    for title, night in nights:
        print(f"  {title} as of {night['as_of']}")
        print(f"    wall         {night['wall_seconds']:8.1f} s   "
              f"peak RSS {night['peak_rss_bytes'] / 2**30:.2f} GiB")  # fmt: skip
        print(f"    raw rows/s   {night['raw_rows_per_second']:10,}")
        print(f"    dbt builds   {night['dbt_elapsed_seconds']:8.1f} s   "
              f"(node times summed: {night['dbt_node_seconds_summed']:.1f} s)")  # fmt: skip
        print(f"    Python steps {night['python_steps_seconds']:8.1f} s")
        print(f"    overhead     {night['overhead_seconds']:8.1f} s   "
              "(start-up: process, prepare, Dagster, dbt parse)")  # fmt: skip
        if night.get("noise"):
            print(f"    other work   {night['noise']['other_cpu_share']:8.0%} of the CPU time")
            print(f"    disk wait    {night['noise']['io_wait_share']:8.0%} of the CPU time")
        for part, seconds in night.get("time_breakdown_seconds", {}).items():
            print(f"    time  {BREAKDOWN_TITLES.get(part, part):<40} {seconds:8.1f} s")
        for name, seconds in night["steps_seconds"].items():
            print(f"    step  {name:<40} {seconds:8.2f} s")
        for name, seconds in night["publish_phases_seconds"].items():
            print(f"      publish {name:<34} {seconds:8.2f} s")
        for name, seconds in night["slowest_models_seconds"].items():
            print(f"    model {name:<40} {seconds:8.2f} s")
    full, incremental = nights[0][1], nights[1][1]
    unchanged = nights[2][1] if len(nights) > 2 else {}
    print(f"  dbt node time by layer ({' -> '.join(title for title, _ in nights)};"
          " tests are every data test)")  # fmt: skip
    for layer, seconds in full.get("dbt_node_seconds_by_layer", {}).items():
        again = incremental.get("dbt_node_seconds_by_layer", {}).get(layer, 0.0)
        share = f"{again / seconds:5.0%}" if seconds else "     "
        line = f"    {layer:<28} {seconds:8.1f} s -> {again:8.1f} s  {share}"
        if unchanged:
            line += f" -> {unchanged.get('dbt_node_seconds_by_layer', {}).get(layer, 0.0):8.1f} s"
        print(line)
    for title, night in nights[1:]:
        print(f"  {title}: {night['wall_seconds'] / full['wall_seconds']:.0%} of the full night")
    print(f"  floor        {figures['floor_seconds']:8.2f} s   "
          f"(ours / floor = {figures['ours_over_floor']:.1f})")  # fmt: skip
    pandas = figures.get("pandas_reference", {"skipped": "not run on deliveries"})
    if "compute_seconds" in pandas:
        print(f"  pandas       {pandas['wall_seconds']:8.1f} s   "
              f"peak RSS {pandas['peak_rss_bytes'] / 2**30:.2f} GiB   "
              f"(pandas / ours = {figures['pandas_over_ours']:.2f}; "
              f"{pandas['compute_seconds']:.1f} s after start-up)")  # fmt: skip
    elif "skipped" in pandas:
        print(f"  pandas       not run ({pandas['skipped']})")
    else:
        print(f"  pandas       failed: {pandas['failed']}")


if __name__ == "__main__":
    main()
