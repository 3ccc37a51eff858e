"""What a person running `scrm run` sees of the steps (orchestration/console.py)."""

import io
from types import SimpleNamespace

from dagster import DagsterEventType

from orchestration.console import StepLines


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def step_event(event_type: DagsterEventType, step: str) -> SimpleNamespace:
    event = SimpleNamespace(
        event_type=event_type,
        step_key=step,
        is_step_start=event_type == DagsterEventType.STEP_START,
        is_step_success=event_type == DagsterEventType.STEP_SUCCESS,
        is_step_failure=event_type == DagsterEventType.STEP_FAILURE,
        is_step_skipped=event_type == DagsterEventType.STEP_SKIPPED,
    )
    return SimpleNamespace(dagster_event=event, level="DEBUG", step_key=step)


def test_the_running_step_counts_its_outputs_on_a_terminal(monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr("orchestration.console.time.monotonic", lambda: clock.now)
    out = Terminal()
    lines = StepLines(out)
    lines.expect({"raw_sources": 6, "scrm_dbt_models": 3})
    clock.now = 10.0
    lines(step_event(DagsterEventType.STEP_START, "scrm_dbt_models"))
    for now in (11.0, 11.2, 13.0):  # the second comes too soon after the first to be shown
        clock.now = now
        lines(step_event(DagsterEventType.STEP_OUTPUT, "scrm_dbt_models"))
    clock.now = 14.5
    lines(step_event(DagsterEventType.STEP_SUCCESS, "scrm_dbt_models"))
    assert out.getvalue().split("\r\033[K") == [
        "  [1/2] scrm_dbt_models ...",
        "  [1/2] scrm_dbt_models ... [#######.............] 1/3 1 s",
        "  [1/2] scrm_dbt_models ... [####################] 3/3 3 s",
        "  [1/2] scrm_dbt_models                          4.5 s\n",
    ]


def test_without_a_terminal_only_finished_steps_are_printed():
    out = io.StringIO()
    lines = StepLines(out)
    lines.expect({"scrm_dbt_models": 2})
    lines(step_event(DagsterEventType.STEP_START, "scrm_dbt_models"))
    lines(step_event(DagsterEventType.STEP_OUTPUT, "scrm_dbt_models"))
    lines(step_event(DagsterEventType.STEP_SUCCESS, "scrm_dbt_models"))
    assert out.getvalue().startswith("  [1/1] scrm_dbt_models ")
    assert out.getvalue().count("\n") == 1 and "..." not in out.getvalue()
