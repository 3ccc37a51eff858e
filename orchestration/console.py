"""What a person running `scrm run` sees: one line per step, the warnings, and a failure's cause.

Everything else the night writes (Dagster's events, dbt's output, tracebacks) goes to a log
file in $SCRM_HOME/logs/, and stays in the Dagster instance (`make dev` shows it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dagster import DagsterEventType

from orchestration.language import _, padded

if TYPE_CHECKING:
    from dagster import EventLogEntry, ExecuteInProcessResult
    from dagster._utils.error import SerializableErrorInfo

LOGS_DIR = "logs"
LOGS_KEPT = 14

# Dagster's own wrappers around the error a step raised: the cause is inside them.
WRAPPER_ERRORS = {
    "DagsterExecutionStepExecutionError",
    "DagsterUserCodeExecutionError",
    "DagsterExecutionInterruptedError",
}
DBT_ERRORS_HEADING = "Errors parsed from dbt logs:"
DBT_ERRORS_SHOWN = 3


def night_log_path(home_dir: Path, as_of_date: str) -> Path:
    """A new log file for one run of a night, after pruning the folder to the newest
    LOGS_KEPT - 1 (as the dbt run folders are)."""
    logs = Path(home_dir) / LOGS_DIR
    logs.mkdir(parents=True, exist_ok=True)
    earlier = sorted(logs.glob("night-*.log"), key=lambda path: path.stat().st_mtime)
    for path in earlier[: max(len(earlier) - (LOGS_KEPT - 1), 0)]:
        path.unlink(missing_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    return logs / f"night-{as_of_date}-{stamp}-{os.getpid()}.log"


@contextlib.contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Send everything this process and its children write to stdout and stderr to
    `log_path`; yield a stream to the terminal's stdout, for the lines a person reads.

    At the file-descriptor level: dbt's output, Dagster's console logger and library warnings
    all write there, each in its own way.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    console = open(os.dup(saved_out), "w", encoding="utf-8", buffering=1)  # noqa: SIM115
    try:
        with open(log_path, "ab") as log:
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                yield console
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved_out, 1)
                os.dup2(saved_err, 2)
    finally:
        console.close()
        os.close(saved_out)
        os.close(saved_err)


class StepLines:
    """A Dagster event listener that prints one line per step, with its time, and the
    warnings logged during the step under it. On a terminal the running step's line counts
    its outputs as they come (a dbt build's models and tests) and its time so far."""

    # Seconds between two updates of the running step's line, and its progress bar's width.
    REFRESH_SECONDS = 0.5
    BAR_WIDTH = 20

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.steps = 0
        self.done = 0
        self.outputs: dict[str, int] = {}
        self.outputs_done: dict[str, int] = {}
        self.shown_at = 0.0
        self.started_at = time.monotonic()
        self.step_started_at: dict[str, float] = {}
        self.warnings: list[str] = []
        self.pending = False  # a step's "running" line, to be overwritten on a terminal
        self.live = out.isatty()

    def __call__(self, entry: EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None:
            if _level_number(entry.level) >= logging.WARNING:
                self.warnings.append(one_line(entry.user_message))
                if not entry.step_key:
                    self.flush_warnings()
            return
        if event.event_type == DagsterEventType.RUN_START:
            start_up = _("start-up (dbt parse, definitions)")
            self.line(f"  {padded(start_up, 44)} {padded(self.elapsed(), 7, right=True)}")
            return
        step = event.step_key or ""  # every step event has its key
        if event.is_step_start:
            self.step_started_at[step] = time.monotonic()
            if self.live:
                self.out.write(f"{self.prefix(self.done + 1)}{step} ...")
                self.out.flush()
                self.pending = True
        elif event.event_type == DagsterEventType.STEP_OUTPUT:
            self.outputs_done[step] = self.outputs_done.get(step, 0) + 1
            if self.pending and time.monotonic() - self.shown_at >= self.REFRESH_SECONDS:
                self.show_running(step)
        elif event.is_step_success or event.is_step_failure or event.is_step_skipped:
            self.done += 1
            started = self.step_started_at.get(step)
            seconds = f"{time.monotonic() - started:.1f} s" if started else ""
            outcome = {True: seconds}.get(event.is_step_success) or (
                _("FAILED after {seconds}").format(seconds=seconds)
                if event.is_step_failure
                else _("skipped")
            )
            self.line(f"{self.prefix(self.done)}{step:<38} {padded(outcome, 7, right=True)}")
            self.flush_warnings()

    def expect(self, outputs_by_step: Mapping[str, int]) -> None:
        """The job's steps and the number of outputs of each, known once it is loaded."""
        self.steps = len(outputs_by_step)
        self.outputs = dict(outputs_by_step)

    def show_running(self, step: str) -> None:
        """Rewrite the running step's line: its outputs so far, of how many, and its time."""
        done, total = self.outputs_done.get(step, 0), self.outputs.get(step)
        filled = round(self.BAR_WIDTH * min(done, total) / total) if total else 0
        bar = f"[{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] " if total else ""
        count = f"{bar}{done}/{total}" if total else str(done)
        seconds = time.monotonic() - self.step_started_at.get(step, self.started_at)
        self.out.write(f"\r\033[K{self.prefix(self.done + 1)}{step} ... {count} {seconds:.0f} s")
        self.out.flush()
        self.shown_at = time.monotonic()

    def prefix(self, number: int) -> str:
        return f"  [{number}/{self.steps}] "

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started_at:.1f} s"

    def line(self, text: str) -> None:
        if self.pending:
            self.out.write("\r\033[K")
            self.pending = False
        self.out.write(text + "\n")
        self.out.flush()

    def flush_warnings(self) -> None:
        for warning in self.warnings:
            self.line("      " + _("warning: {warning}").format(warning=warning))
        self.warnings.clear()


def one_line(text: str) -> str:
    return " ".join(text.split())


def _level_number(level: str | int) -> int:
    """A log entry's level as logging's number (Dagster records either)."""
    if isinstance(level, int):
        return level
    return logging.getLevelNamesMapping().get(level.upper(), logging.NOTSET)


def failure_cause(result: ExecuteInProcessResult) -> str:
    """The cause of a failed run in one line: the error of the first step that failed, or
    of the run itself, without Dagster's wrappers; a dbt build's failures by name."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error is not None:
            return error_cause(event.step_failure_data.error, event.step_key)
    for event in result.all_events:
        if event.is_run_failure and event.job_failure_data.error is not None:
            return error_cause(event.job_failure_data.error, None)
    return _("the run failed without an error (see the log)")


def error_cause(error: SerializableErrorInfo, step_key: str | None) -> str:
    while error.cls_name in WRAPPER_ERRORS and error.cause is not None:
        error = error.cause
    # "module.ClassName: message": the class says nothing a person needs.
    message = re.sub(rf"^[\w.]*\b{re.escape(error.cls_name or '')}: ", "", error.message.strip())
    if DBT_ERRORS_HEADING in message:
        message = dbt_failures(message.split(DBT_ERRORS_HEADING, 1)[1])
    elif error.cls_name == "DagsterDbtCliRuntimeError":
        message = message.split(". Check the stdout", 1)[0]
    where = f"{step_key}: " if step_key else ""
    return f"{where}{one_line(message)}"


def dbt_failures(messages: str) -> str:
    """dbt's error messages, each to its first paragraph, without the summary lines."""
    failures = []
    messages = re.sub(r"\x1b\[[0-9;]*m", "", messages)  # dbt's colours
    for paragraph in re.split(r"\n\s*\n", messages.strip()):
        text = one_line(paragraph)
        if text.startswith(("Completed with", "compiled code at", "See test failures")):
            continue
        if text and text not in failures:
            failures.append(text)
    shown = "; ".join(failures[:DBT_ERRORS_SHOWN])
    more = len(failures) - DBT_ERRORS_SHOWN
    # dbt's own messages stay as dbt writes them: they name models and tests, for whoever fixes
    # them; the words around them are the operator's.
    return f"dbt: {shown}" + (_("; and {count} more").format(count=more) if more > 0 else "")
