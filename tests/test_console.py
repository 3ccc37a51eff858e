"""What a person running `scrm run` sees of the steps (orchestration/console.py), in the
operator's language (Chinese unless SCRM_LANG=en)."""

import io
from types import SimpleNamespace
from unittest.mock import patch

from dagster import DagsterEventType

from orchestration.console import StepLines, dbt_failures, failure_cause
from orchestration.language import display_width, padded, speaking


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


def log_entry(level: str, message: str, step: str | None) -> SimpleNamespace:
    return SimpleNamespace(dagster_event=None, level=level, user_message=message, step_key=step)


def shown_steps(language: str) -> list[str]:
    """A night's lines: start-up, a step with a warning, a failed and a skipped step."""
    clock = SimpleNamespace(now=0.0)
    out = io.StringIO()
    with speaking(language):
        lines = StepLines(out)
        lines.started_at = 0.0
        lines.expect({"raw_sources": 6, "btyd_predictions": 3, "scrm_dbt_models": 2, "x": 1})
        run_start = SimpleNamespace(event_type=DagsterEventType.RUN_START, step_key=None)
        with patch("orchestration.console.time.monotonic", lambda: clock.now):
            clock.now = 30.1
            lines(SimpleNamespace(dagster_event=run_start, level="DEBUG", step_key=None))
            for step, outcome, seconds in (
                ("btyd_predictions", DagsterEventType.STEP_SUCCESS, 0.4),
                ("scrm_dbt_models", DagsterEventType.STEP_FAILURE, 12.0),
                ("x", DagsterEventType.STEP_SKIPPED, 0.0),
            ):
                lines(step_event(DagsterEventType.STEP_START, step))
                if step == "btyd_predictions":
                    lines(log_entry("WARNING", "bg_nbd: not_fitted", step))
                clock.now += seconds
                lines(step_event(outcome, step))
    return out.getvalue().splitlines()


def test_the_step_lines_speak_chinese_by_default_and_english_on_request():
    """The words are the operator's; step names, times and the warning's text as they come.
    Chinese takes two columns a character: the lines keep their columns either way."""
    # Each finished line ends at column 54 in both languages; a failure runs past it.
    assert shown_steps("zh") == [
        "  启动（dbt 解析、加载定义）                    30.1 s",
        "  [1/4] btyd_predictions                         0.4 s",
        "      警告：bg_nbd: not_fitted",
        "  [2/4] scrm_dbt_models                        失败\uff0c用时 12.0 s",
        "  [3/4] x                                       已跳过",
    ]
    assert shown_steps("en") == [
        "  start-up (dbt parse, definitions)             30.1 s",
        "  [1/4] btyd_predictions                         0.4 s",
        "      warning: bg_nbd: not_fitted",
        "  [2/4] scrm_dbt_models                        FAILED after 12.0 s",
        "  [3/4] x                                      skipped",
    ]


def test_a_failures_cause_is_worded_around_dbts_own_messages():
    """dbt's messages as dbt writes them (they name the tests to fix); the count of the rest
    and a run without an error in the operator's language."""
    messages = "\n\n".join(f"Failure in test t{number}" for number in range(5))
    no_error = SimpleNamespace(all_events=[])
    with speaking("zh"):
        assert dbt_failures(messages) == (
            "dbt: Failure in test t0; Failure in test t1; Failure in test t2；另有 2 条"
        )
        assert failure_cause(no_error) == "运行失败\uff0c但没有报错信息（请查看日志）"
    with speaking("en"):
        assert dbt_failures(messages) == (
            "dbt: Failure in test t0; Failure in test t1; Failure in test t2; and 2 more"
        )
        assert failure_cause(no_error) == "the run failed without an error (see the log)"


def test_padding_counts_a_chinese_character_as_two_columns():
    assert display_width("数仓：") == 6
    assert padded("数仓：", 12) == "数仓：      "
    assert padded("report:", 12) == "report:     "
    assert padded("已跳过", 7, right=True) == " 已跳过"
