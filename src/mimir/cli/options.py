"""Command-line options shared by several commands (one definition each)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import typer

from mimir.optspec import Opt, OptionSet

# training (train and crossval) ---------------------------------------------------------

CACHE_IN = typer.Option(..., "--cache", help="Image cache.")
TARGETS = typer.Option(..., "--targets", help="Target table (CSV with 'name').")


def typer_option(opt: Opt) -> Any:
    """The typer option of one :class:`~mimir.optspec.Opt`: its flags, default and help
    (a bool that defaults to True gets ``--name/--no-name``)."""
    flags = list(opt.flags) or [opt.flag]
    if opt.type is bool and opt.default is True:
        flags[0] = f"{flags[0]}/--no-{flags[0][2:]}"
    return typer.Option(opt.default, *flags, help=opt.help, metavar=opt.metavar,
                        show_default=opt.default is not None and opt.type is not bool)


def spec_options(spec: OptionSet, into: str, skip: tuple[str, ...] = ()) -> Callable:
    """Decorator: give a command every CLI option of ``spec`` (less ``skip``), passed to
    it together as a dict in its parameter ``into`` (see :func:`add_options`)."""
    group = {o.name: (o.annotation, typer_option(o)) for o in spec
             if o.cli and o.name not in skip}
    return add_options(group, into)


def add_options(group: dict[str, tuple[Any, Any]], into: str) -> Callable:
    """Decorator: give a command the options of ``group`` (after its own), passed to it
    together as a dict in its parameter ``into``.

    Typer reads a command's options from its signature; this writes the group's
    parameters into that signature, so a group of options is defined once for every
    command that takes it.
    """
    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for n, p in sig.parameters.items() if n != into]
        extra = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt,
                                   annotation=kind) for n, (kind, opt) in group.items()]

        @functools.wraps(fn)
        def command(*args, **kwargs):
            bundle = {n: kwargs.pop(n) for n in group}
            return fn(*args, **kwargs, **{into: bundle})

        command.__signature__ = sig.replace(parameters=own + extra)  # type: ignore[attr-defined]
        command.__annotations__ = {**{n: a for n, a in fn.__annotations__.items()
                                      if n != into},
                                   **{n: kind for n, (kind, _) in group.items()}}
        return command
    return decorate
