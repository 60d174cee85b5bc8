"""Shared pieces of the command line: consoles, progress bars, error handling."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mimir.errors import MimirError, UsageError


class _Console(Console):
    """A console that wraps lines to the terminal only: printed to a file or a pipe, a
    message stays on one line (a path is never split) and a table takes its natural
    width."""

    #: Width given to tables when the output is not a terminal.
    WIDE = 10_000

    def print(self, *objects, **kwargs) -> None:  # type: ignore[override]
        if self.is_terminal:
            super().print(*objects, **kwargs)
            return
        kwargs.setdefault("soft_wrap", True)
        width = self._width
        self.width = self.WIDE  # tables at their natural width, up to this
        try:
            super().print(*objects, **kwargs)
        finally:
            self._width = width


#: Progress and messages go to stderr; results and summaries to stdout.
err = _Console(stderr=True)
out = _Console()

#: Shortest elapsed time over which a rate is shown (shorter ones say nothing).
RATE_MIN_SECONDS = 1.0


def rate_text(task, unit: str) -> str:
    """The average rate of a progress task, or "" when it would mean nothing.

    Items are counted from the task's ``worked`` field where it has one (subjects that
    were actually preprocessed, not found in the cache), else its completed count. No
    rate is shown before :data:`RATE_MIN_SECONDS` or before any item was worked on: a
    cached cohort does not read "114191.75 subj/s", nor an idle start "0.00/s".
    """
    n = task.fields.get("worked", task.completed)
    elapsed = task.finished_time if task.finished else task.elapsed
    if not n or not elapsed or elapsed < RATE_MIN_SECONDS:
        return ""
    rate = n / elapsed
    return f"{rate:.2f} {unit}/s" if rate < 10 else f"{rate:.0f} {unit}/s"


class RateColumn(ProgressColumn):
    """Items per second (see :func:`rate_text`)."""

    def __init__(self, unit: str = "subj"):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        return Text(rate_text(task, self.unit), style="progress.data.speed")


class _LineProgress(Progress):
    """Progress for logs (stderr not a terminal): a plain line every ``every`` seconds."""

    every = 30.0

    def __init__(self, *columns, unit: str = "subj", **kwargs):
        super().__init__(*columns, **kwargs)
        self._last = 0.0
        self.unit = unit

    def refresh(self) -> None:
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        for t in self.tasks:
            extra = [x for x in (rate_text(t, self.unit),
                                 f"ETA {t.time_remaining:.0f} s"
                                 if t.time_remaining and not t.finished else "") if x]
            more = f" ({', '.join(extra)})" if extra else ""
            err.print(f"{t.description}: {t.completed:.0f}/{t.total:.0f}{more}",
                      highlight=False)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self.refresh()

    def update(self, task_id, **kwargs) -> None:
        super().update(task_id, **kwargs)
        self.refresh()

    def stop(self) -> None:
        self._last = 0.0
        self.refresh()
        super().stop()


def progress_bar(unit: str = "subj") -> Progress:
    """A progress bar with count, rate, elapsed time and ETA (on stderr); plain periodic
    lines when stderr is not a terminal (logs of background jobs)."""
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               RateColumn(unit), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    if not err.is_terminal:
        return _LineProgress(*columns, console=err, transient=True, disable=False,
                             auto_refresh=False, unit=unit)
    return Progress(*columns, console=err, transient=False)


def handle_errors(fn: Callable) -> Callable:
    """Turn MIMIR's usage errors into exit status 2 with a one-line message."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UsageError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
        except MimirError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: finished subjects are kept; rerun to "
                      "resume")
            raise typer.Exit(130) from None

    return wrapper


def fail(message: str, code: int = 2) -> None:
    """Print an error and exit."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def is_tty() -> bool:
    return sys.stderr.isatty()
