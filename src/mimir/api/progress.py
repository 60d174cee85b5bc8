"""Progress bars for API calls (notebooks and terminals).

The command line draws its own bars; a Python caller gets these when it passes no
progress hooks of its own and leaves ``progress=True``. They are rich progress bars on
stderr, shown only where they can be drawn in place: in a Jupyter notebook or a
terminal (a script whose stderr goes to a log file gets none).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def _live_console() -> Console | None:
    """A stderr console where a bar can be drawn in place, else None."""
    console = Console(stderr=True)
    return console if console.is_jupyter or console.is_terminal else None


@contextmanager
def _live_bar(enabled: bool) -> Iterator[Progress | None]:
    """A running progress display on a console that can draw it in place; None when
    disabled or when nowhere to draw."""
    console = _live_console() if enabled else None
    if console is None:
        yield None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        yield bar


@contextmanager
def infer_progress(enabled: bool) -> Iterator[dict]:
    """Hooks for :func:`mimir.api.infer` (``on_start``, ``on_preprocessed``,
    ``on_module``) drawing a bar for preprocessing and one per module; {} when disabled
    or when nowhere to draw."""
    with _live_bar(enabled) as bar:
        if bar is None:
            yield {}
            return
        tasks: dict = {}

        def on_start(n_pre: int, n_pred: int) -> None:
            tasks["pre"] = bar.add_task("preprocess", total=n_pre)
            tasks["_total"] = n_pred

        def on_module(name: str, n: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=tasks["_total"])
            bar.advance(tasks[name], n)

        yield {"on_start": on_start, "on_preprocessed": lambda _r: bar.advance(tasks["pre"]),
               "on_module": on_module}


@contextmanager
def preprocess_progress(enabled: bool) -> Iterator[dict]:
    """Hooks for :func:`mimir.api.preprocess` (``on_start``, ``on_record``); {} when
    disabled or when nowhere to draw."""
    with _live_bar(enabled) as bar:
        if bar is None:
            yield {}
            return
        tasks: dict = {}
        yield {"on_start": lambda n: tasks.setdefault("t", bar.add_task("preprocess",
                                                                         total=n)),
               "on_record": lambda _r: bar.advance(tasks["t"])}
