"""Shared pieces of the command line: consoles, progress bars, error handling."""

from __future__ import annotations

import functools
import sys
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

#: Progress and messages go to stderr; results and summaries to stdout.
err = Console(stderr=True)
out = Console()


class RateColumn(ProgressColumn):
    """Items per second."""

    def __init__(self, unit: str = "subj"):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text(f"-- {self.unit}/s", style="progress.data.speed")
        return Text(f"{speed:.2f} {self.unit}/s", style="progress.data.speed")


class _LineProgress(Progress):
    """Progress for logs (stderr not a terminal): a plain line every ``every`` seconds."""

    every = 30.0

    def __init__(self, *columns, **kwargs):
        super().__init__(*columns, **kwargs)
        self._last = 0.0

    def refresh(self) -> None:
        import time

        now = time.monotonic()
        if now - self._last < self.every:
            return
        self._last = now
        for t in self.tasks:
            rate = t.speed or 0.0
            eta = f"{t.time_remaining:.0f} s" if t.time_remaining is not None else "--"
            err.print(f"{t.description}: {t.completed:.0f}/{t.total:.0f} ({rate:.2f}/s, "
                      f"ETA {eta})", highlight=False)

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
        return _LineProgress(*columns, console=err, transient=False, disable=False,
                             auto_refresh=False)
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
