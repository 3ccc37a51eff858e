"""docs/benchmarks.md is what benchmarks/render_results.py renders from benchmarks/results/.

A new result committed without the page rendered again fails here; so does a page edited by
hand. Render it with `uv run python benchmarks/render_results.py`.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RENDERER = ROOT / "benchmarks" / "render_results.py"


def renderer():
    spec = importlib.util.spec_from_file_location("render_results", RENDERER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(results_dir: Path = ROOT / "benchmarks" / "results") -> str:
    return str(renderer().render(results_dir))


def test_benchmarks_page_is_rendered_from_the_results() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == render(), (
        "docs/benchmarks.md differs from benchmarks/results/*.json: run "
        "`uv run python benchmarks/render_results.py` and commit the page"
    )


def test_a_noisy_result_is_marked_noisy(tmp_path: Path) -> None:
    # The committed M result on deliveries, once as taken (quiet) and once as if other work
    # had taken 40% of the CPU during its one-day night.
    result = json.loads(
        (ROOT / "benchmarks" / "results" / "nightly-deliveries-M.json").read_text("utf-8")
    )
    (tmp_path / "nightly-M.json").write_text(json.dumps(result), encoding="utf-8")
    result["one_day_night"]["noise"]["other_cpu_share"] = 0.4
    result["machine"]["quiet"] = False
    (tmp_path / "nightly-deliveries-M.json").write_text(json.dumps(result), encoding="utf-8")
    quiet, noisy = render(tmp_path).split("## Scale M, daily deliveries")[1:]
    assert "**Noisy** (`machine.quiet` false): other work took up to 40% of" in noisy
    assert "Quiet: other work took at most 1% of the CPU time." in quiet
    assert "**Noisy**" not in quiet


def test_the_wall_time_is_split_into_its_parts(tmp_path: Path) -> None:
    result = json.loads(
        (ROOT / "benchmarks" / "results" / "nightly-deliveries-M.json").read_text("utf-8")
    )
    parts = {"start_up_before_run": 15.5, "dbt_tests": 10.25, "python_steps": 11.6}
    result["night_without_new_deliveries"]["time_breakdown_seconds"] = parts
    (tmp_path / "nightly-deliveries-M.json").write_text(json.dumps(result), encoding="utf-8")
    page = render(tmp_path)
    assert "Where the wall time goes" in page
    # One row per part; the nights measured before the breakdown was have no figure.
    assert "| start-up before the run |  |  | 15.5 s |" in page
    assert "| dbt data tests |  |  | 10.2 s |" in page
