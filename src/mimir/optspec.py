"""Options defined once: name, type, default, help and check, for the CLI and the API.

Every command's options are an :class:`OptionSet` of :class:`Opt` entries, kept beside
the code that uses them (``pipeline.options``, ``execution.options``,
``training.options``, and ``api`` for the small commands). From that one definition:

- the options object (a subclass of :class:`Options`) takes its fields, defaults and
  checks: building it validates every value and raises
  :class:`~mimir.errors.UsageError` for the first mistake, before anything is read or
  written;
- the Python API function gets its keyword parameters, defaults and the "Options"
  section of its docstring (:func:`api_options`);
- the command line gets its flags, defaults and help (``mimir.cli.options``).

A test (``tests/test_api_cli_parity.py``) checks that the three agree, so a default can
only be written in one place. Adding an option to a command is one :class:`Opt` entry
plus the code that reads it.

Examples
--------
>>> class Colour(Options):
...     SPEC = OptionSet(Opt("level", 3, "How much.", minimum=1))
>>> Colour(level=5).level
5
>>> Colour(level=0)
Traceback (most recent call last):
...
mimir.errors.UsageError: --level must be at least 1, got 0
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mimir.errors import UsageError

#: The value types an option can have (a list type is written ``list``).
TYPES = (bool, int, float, str, Path, list)


@dataclass(frozen=True)
class Opt:
    """One option of a command.

    Attributes
    ----------
    name : str
        The Python name (API keyword, options attribute); the CLI flag is ``--name`` with
        ``-`` for ``_`` unless ``flags`` says otherwise.
    default
        The default (None: not set).
    help : str
        One or two sentences for people (CLI help, API docstring).
    type : type, optional
        One of :data:`TYPES`; taken from the default when it is a bool, int, float or str.
    choices : tuple, optional
        The allowed values.
    minimum, maximum : number, optional
        Bounds for int and float options.
    check : callable, optional
        ``check(value) -> value``: further checks (raising UsageError) or normalisation.
    coerce : callable, optional
        ``coerce(value) -> value``, applied first to a value not of the option's type (e.g.
        the API's ``(3, 10)`` for the CLI's ``3/10``).
    flags : tuple of str, optional
        CLI spellings, e.g. ``("--batch-size", "-b")``.
    cli : bool
        Offered on the command line (False: API only).
    metavar : str, optional
        The value's placeholder in CLI help.
    """

    name: str
    default: Any
    help: str
    type: Any = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], Any] | None = None
    coerce: Callable[[Any], Any] | None = None
    flags: tuple[str, ...] = ()
    cli: bool = True
    metavar: str | None = None

    def __post_init__(self):
        if self.type is None:
            if isinstance(self.default, (bool, int, float, str)):
                object.__setattr__(self, "type", type(self.default))
            else:
                raise TypeError(f"option {self.name}: give its type")
        if self.type not in TYPES:
            raise TypeError(f"option {self.name}: type {self.type!r} not in {TYPES}")
        if not self.help.strip():
            raise TypeError(f"option {self.name}: help text missing")

    @property
    def flag(self) -> str:
        """The main CLI spelling (used in error messages)."""
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")

    @property
    def annotation(self) -> Any:
        """The type as a Python annotation (``list[str]`` for lists)."""
        return list[str] if self.type is list else self.type

    def validate(self, value: Any, full: bool = True) -> Any:
        """``value`` checked (and normalised: ints as floats, paths as Path); with
        ``full`` False, without :attr:`check`.

        Raises
        ------
        UsageError
            Naming the flag, what it must be, and the value given.
        """
        if value is None:
            if self.default is None:
                return None
            raise UsageError(f"{self.flag} must be given a value")
        what = self.flag
        accepted = (int, float) if self.type is float else self.type
        if self.coerce is not None and not isinstance(value, accepted):
            value = self.coerce(value)
        if self.type is bool:
            if not isinstance(value, bool):
                raise UsageError(f"{what} must be True or False, got {value!r}")
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"{what} must be a whole number, got {value!r}")
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UsageError(f"{what} must be a number, got {value!r}")
            value = float(value)
            if not math.isfinite(value):
                raise UsageError(f"{what} must be a finite number, got {value!r}")
        elif self.type is str:
            if not isinstance(value, str):
                raise UsageError(f"{what} must be text, got {value!r}")
        elif self.type is Path:
            if not isinstance(value, (str, os.PathLike)) or not str(value):
                raise UsageError(f"{what} must be a path, got {value!r}")
            value = Path(value)
        elif self.type is list:
            if isinstance(value, (str, os.PathLike)):
                value = [value]
            if not isinstance(value, (list, tuple)):
                raise UsageError(f"{what} must be a list, got {value!r}")
            value = [str(v) for v in value]
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"{what} must be one of {', '.join(map(str, self.choices))}, "
                             f"got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise UsageError(f"{what} must be at least {self.minimum}, got {value}")
        if self.maximum is not None and value > self.maximum:
            raise UsageError(f"{what} must be at most {self.maximum}, got {value}")
        if full and self.check is not None:
            value = self.check(value)
        return value

    def describe(self) -> str:
        """The docstring entry of this option (numpy style)."""
        kind = "list of str" if self.type is list else self.type.__name__
        if self.type is Path:
            kind = "path-like"
        extra = f", one of {self.choices}" if self.choices else ""
        return f"{self.name} : {kind}, default {self.default!r}{extra}\n    {self.help}"


@dataclass(frozen=True)
class OptionSet:
    """An ordered set of options (a command's, or a group several commands share)."""

    options: tuple[Opt, ...] = field(default_factory=tuple)

    def __init__(self, *options: Opt | OptionSet):
        flat: list[Opt] = []
        for o in options:
            flat.extend(o.options if isinstance(o, OptionSet) else (o,))
        names = [o.name for o in flat]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise TypeError(f"options defined twice: {sorted(dup)}")
        object.__setattr__(self, "options", tuple(flat))

    def __iter__(self) -> Iterator[Opt]:
        return iter(self.options)

    def __contains__(self, name: object) -> bool:
        return any(o.name == name for o in self.options)

    def __getitem__(self, name: str) -> Opt:
        for o in self.options:
            if o.name == name:
                return o
        raise KeyError(name)

    def __add__(self, other: OptionSet) -> OptionSet:
        return OptionSet(self, other)

    def names(self) -> list[str]:
        return [o.name for o in self.options]

    def default(self, name: str) -> Any:
        """The default of one option."""
        return self[name].default

    def without(self, *names: str) -> OptionSet:
        """These options less some."""
        return OptionSet(*(o for o in self.options if o.name not in names))

    def build(self, **values: Any) -> Options:
        """Validated values of these options (for a command without its own
        :class:`Options` class)."""
        return type("Values", (Options,), {"SPEC": self})(**values)

    def docs(self) -> str:
        """The numpy-style "Options" section for an API docstring."""
        return "\n".join(o.describe() for o in self.options)


class Options:
    """Validated option values of one command; subclasses set :attr:`SPEC`.

    Building one checks every value's type and range (:meth:`Opt.validate`), then the
    rules that involve several options (:meth:`check`), then each option's own further
    check (:attr:`Opt.check`, e.g. that a file exists). Values are plain attributes; the object pickles
    (it travels to worker processes and Dask workers).
    """

    SPEC: ClassVar[OptionSet] = OptionSet()

    def __init__(self, **values: Any):
        unknown = sorted(set(values) - set(self.SPEC.names()))
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)}; the options are: "
                             f"{', '.join(self.SPEC.names())}")
        for o in self.SPEC:
            value = values.get(o.name, o.default)
            if isinstance(value, list):
                value = list(value)  # never share a mutable default
            self.__dict__[o.name] = o.validate(value, full=False)
        self.check()
        for o in self.SPEC:
            if o.check is not None and self.__dict__[o.name] is not None:
                self.__dict__[o.name] = o.check(self.__dict__[o.name])

    def check(self) -> None:
        """Rules over several options (subclasses); raise UsageError."""

    def as_dict(self) -> dict[str, Any]:
        """Option name -> value."""
        return {n: self.__dict__[n] for n in self.SPEC.names()}

    def replace(self, **changes: Any) -> Options:
        """A copy with some values changed (validated again)."""
        return type(self)(**{**self.as_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.as_dict() == other.as_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(map(repr, self.as_dict().items()))))

    def __repr__(self) -> str:
        changed = ", ".join(f"{n}={self.__dict__[n]!r}" for n in self.SPEC.names()
                            if self.__dict__.get(n, self.SPEC.default(n))
                            != self.SPEC.default(n))
        return f"{type(self).__name__}({changed})"

    def __getattr__(self, name: str) -> Any:  # only for names that are not options
        raise AttributeError(f"{type(self).__name__} has no option {name!r}")


def api_options(spec: OptionSet) -> Callable:
    """Decorator: give an API function the options of ``spec`` as keyword parameters.

    The function takes them through ``**options``; its signature (what ``help()``,
    ``inspect`` and notebooks show) lists each with its default, and its docstring gains
    an "Options" section with each help text. A parameter the function spells out itself
    must have the option's default.
    """
    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())
        own = {p.name: p for p in params}
        for name, p in own.items():
            if name in spec and p.default is not spec.default(name) \
                    and p.default != spec.default(name):
                raise TypeError(f"{fn.__qualname__}: {name} defaults to {p.default!r}, "
                                f"its option to {spec.default(name)!r}")
        head = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        tail = [p for p in params if p.kind == p.KEYWORD_ONLY]
        extra = [inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default,
                                   annotation=o.annotation)
                 for o in spec if o.name not in own]
        fn.__signature__ = sig.replace(parameters=head + extra + tail)  # type: ignore[attr-defined]
        fn.__doc__ = (inspect.cleandoc(fn.__doc__ or "") + "\n\nOptions\n-------\n"
                      + spec.docs() + "\n")
        fn.options = spec  # type: ignore[attr-defined]
        return fn
    return decorate
