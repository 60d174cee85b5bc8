"""Every command of the command line is a function of mimir.api, every option of a command
is a parameter of its function, and each option's default, type and help are the same on
the command line, in the API and in the options objects (one definition, in
mimir.optspec tables)."""

from __future__ import annotations

import inspect

import pytest
import typer

import mimir
import mimir.api as api
from mimir.cli.app import app
from mimir.execution.options import INFER_OPTIONS, InferOptions
from mimir.optspec import Opt, Options, OptionSet
from mimir.pipeline.options import PREPROCESS_OPTIONS, PreprocessOptions
from mimir.training.options import (
    CROSSVAL_OPTIONS,
    TRAIN_OPTIONS,
    TRAINING_OPTIONS,
    CrossvalOptions,
    TrainOptions,
)
from mimir.training.train import TrainConfig

#: command path -> API function
COMMANDS = {
    ("preprocess",): api.preprocess, ("show",): api.show, ("infer",): api.infer,
    ("merge",): api.merge, ("report",): api.report, ("qc",): api.qc,
    ("cache", "verify"): api.cache_verify, ("modules", "install"): api.modules_install,
    ("modules", "list"): api.modules_list, ("modules", "info"): api.modules_info,
    ("modules", "published"): api.modules_published, ("targets",): api.targets,
    ("split",): api.split,
    ("train",): api.train, ("crossval",): api.crossval,
    ("module", "create"): api.module_create, ("phantom",): api.phantom, ("demo",): api.demo,
    ("explain",): api.explain,
}
#: CLI parameter names of the required operands that the API spells otherwise
ALIASES = {
    None: {"out_dir": "out", "out_path": "out", "run_dir": "run"},
    ("modules", "info"): {"module": "module"},
    ("infer",): {"inputs": "paths_dicoms", "cache": "path_cache", "modules": "paths_modules",
                 "out_dir": "path_out"},
}
#: options classes and the option set they take their fields from
OPTION_CLASSES = [(InferOptions, INFER_OPTIONS), (PreprocessOptions, PREPROCESS_OPTIONS),
                  (TrainOptions, TRAIN_OPTIONS), (CrossvalOptions, CROSSVAL_OPTIONS)]


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer's own click types)
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


CLI = dict(_commands(typer.main.get_command(app)))


def _api_name(path: tuple, param: str) -> str:
    return ALIASES.get(path, {}).get(param) or ALIASES[None].get(param, param)


def test_every_command_has_its_api_function_with_every_option():
    assert set(CLI) == set(COMMANDS), set(CLI) ^ set(COMMANDS)
    for path, cmd in CLI.items():
        sig = inspect.signature(COMMANDS[path]).parameters
        for p in cmd.params:
            if p.name in ("help",):
                continue
            want = _api_name(path, p.name)
            assert want in sig, f"mimir {' '.join(path)}: option {p.name} has no API " \
                                f"parameter {want!r}"


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_each_option_has_one_default_type_and_help_on_the_cli_and_in_the_api(path):
    fn = COMMANDS[path]
    spec: OptionSet = getattr(fn, "options", OptionSet())
    sig = inspect.signature(fn).parameters
    cli = {p.name: p for p in CLI[path].params}
    for opt in spec:
        assert sig[opt.name].default == opt.default, (path, opt.name)
        assert sig[opt.name].kind in (inspect.Parameter.KEYWORD_ONLY,
                                      inspect.Parameter.POSITIONAL_OR_KEYWORD)
        assert f"{opt.name} : " in fn.__doc__ and opt.help in " ".join(fn.__doc__.split())
        if not opt.cli:
            assert opt.name not in cli, (path, opt.name)
            continue
        p = cli[opt.name]
        assert p.default == opt.default, f"mimir {' '.join(path)} {opt.flag}: CLI default " \
                                         f"{p.default!r}, API {opt.default!r}"
        assert p.help == opt.help, (path, opt.name)
        assert p.type_descriptor.annotation == opt.annotation, (path, opt.name)
        assert opt.flag in p.opts, (path, opt.name, p.opts)
    # every CLI option that is not an operand (a positional API parameter) comes from the
    # spec; an optional operand has the API's default
    for name, p in cli.items():
        if name in spec or name == "help" or p.required or "Argument" in type(p).__name__:
            continue
        api_param = sig.get(_api_name(path, name))
        if api_param is not None and api_param.kind == api_param.POSITIONAL_OR_KEYWORD:
            if api_param.default is not api_param.empty:
                assert p.default == api_param.default, (path, name)
            continue
        raise AssertionError(f"mimir {' '.join(path)}: option {name} is defined outside "
                             "its command's option set")


@pytest.mark.parametrize("cls,spec", OPTION_CLASSES)
def test_options_objects_take_their_defaults_from_the_same_definition(cls, spec):
    made = cls()
    for opt in spec:
        assert getattr(made, opt.name) == opt.default, (cls.__name__, opt.name)


def test_train_config_defaults_are_the_training_options():
    cfg = TrainConfig()
    for opt in TRAINING_OPTIONS:
        assert getattr(cfg, opt.name) == opt.default, opt.name


def test_a_cli_default_that_differs_is_caught():
    # the check above compares real values: a hand-written typer default that differs
    # from its option's would be reported
    opt = INFER_OPTIONS["batch_size"]
    wrong = typer.main.get_command(_app_with_default(16))
    p = {q.name: q for q in wrong.params}["batch_size"]
    assert p.default != opt.default


def _app_with_default(default: int) -> typer.Typer:
    a = typer.Typer()

    @a.command()
    def cmd(batch_size: int = typer.Option(default, "--batch-size")):
        """x"""

    return a


def test_an_api_default_that_differs_is_refused_at_import():
    from mimir.optspec import api_options

    spec = OptionSet(Opt("level", 3, "How much."))
    with pytest.raises(TypeError, match="defaults to 4"):
        @api_options(spec)
        def f(level: int = 4, **options):
            """x"""


def test_options_refuse_unknown_names_and_bad_values():
    from mimir.errors import UsageError

    with pytest.raises(UsageError, match="unknown option"):
        InferOptions(batchsize=3)
    with pytest.raises(UsageError, match="--digits"):
        InferOptions(digits=0)
    assert isinstance(InferOptions(), Options)


#: API functions that are not commands
API_ONLY = {"read_results"}


def test_every_command_is_a_function_of_the_same_name_in_mimir():
    """``mimir modules install`` is ``mimir.modules_install``; ``mimir.qc`` (a name it
    shares with a subpackage) is the function too, and the subpackage stays importable."""
    assert set(api.__all__) == {f.__name__ for f in COMMANDS.values()} | API_ONLY
    for path, fn in COMMANDS.items():
        assert fn.__name__ == "_".join(path)
    subpackages = {"report", "qc", "phantom", "demo", "explain"}
    for name in api.__all__:
        got = getattr(mimir, name)
        assert callable(got) and got.__name__ == name
        if name in subpackages:  # a thin wrapper with the function's signature and doc
            assert got.__doc__ == getattr(api, name).__doc__
            assert inspect.signature(got) == inspect.signature(getattr(api, name))
        else:
            assert got is getattr(api, name)
    import mimir.qc.flags as flags
    from mimir.report import build

    assert callable(mimir.qc) and mimir.qc.flags is flags and build.REPORT_NAME
    assert set(api.__all__) <= set(dir(mimir)) and set(api.__all__) <= set(mimir.__all__)


def test_help_lists_the_commands():
    import pydoc

    text = pydoc.render_doc(mimir, renderer=pydoc.plaintext)
    functions = text.split("FUNCTIONS")[1]
    for name in api.__all__:
        assert f"\n    {name}(" in functions, name


def test_import_mimir_is_cheap():
    """``import mimir`` loads no command (nor numpy or pandas) until one is used."""
    import subprocess
    import sys

    code = ("import sys, mimir; dir(mimir); print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('mimir', 'numpy', 'pandas', 'torch')))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip() == "['mimir', 'mimir._version']"
