"""docs/benchmarks.md is what benchmarks/render_results.py renders from benchmarks/results/.

A new result committed without the page rendered again fails here; so does a page edited by
hand. Render it with `uv run python benchmarks/render_results.py`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RENDERER = ROOT / "benchmarks" / "render_results.py"


def render() -> str:
    spec = importlib.util.spec_from_file_location("render_results", RENDERER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.render(ROOT / "benchmarks" / "results"))


def test_benchmarks_page_is_rendered_from_the_results() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == render(), (
        "docs/benchmarks.md differs from benchmarks/results/*.json: run "
        "`uv run python benchmarks/render_results.py` and commit the page"
    )


def test_a_noisy_result_is_marked_noisy() -> None:
    page = render()
    deliveries = page[page.index("## Scale S, daily deliveries") :]
    assert "**Noisy** (`machine.quiet` false)" in deliveries
    assert "**Noisy**" not in page[page.index("## Scale S\n") : page.index("## Scale M")]
