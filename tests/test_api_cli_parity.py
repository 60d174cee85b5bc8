"""Every command of the command line is a function of mimir.api, and every option of a
command is a parameter of its function (the CLI only parses and calls the API)."""

from __future__ import annotations

import inspect

import typer

import mimir
import mimir.api as api
from mimir.cli.app import app

#: command path -> API function
COMMANDS = {
    ("preprocess",): api.preprocess, ("show",): api.show, ("infer",): api.infer,
    ("merge",): api.merge, ("report",): api.report, ("qc",): api.qc,
    ("cache", "verify"): api.cache_verify, ("modules", "install"): api.modules_install,
    ("modules", "list"): api.modules_list, ("targets",): api.targets, ("split",): api.split,
    ("train",): api.train, ("crossval",): api.crossval,
    ("module", "create"): api.module_create, ("phantom",): api.phantom, ("demo",): api.demo,
}
#: CLI parameter names that the API spells otherwise, by command (None: every command)
ALIASES = {
    None: {"out_dir": "out", "out_path": "out", "run_dir": "run",
           "crossval_dir": "crossval"},
    ("infer",): {"inputs": "paths_dicoms", "cache": "path_cache", "modules": "paths_modules",
                 "out_dir": "path_out"},
    ("cache", "verify"): {"no_sources": "check_sources"},
}


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):  # a group (typer's own click types)
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


def _api_name(path: tuple, param: str, sig) -> str:
    name = ALIASES.get(path, {}).get(param) or ALIASES[None].get(param, param)
    if name.startswith("max_"):
        return "limits"  # the --max-* options make one Limits
    if name not in sig and name.startswith("no_"):
        return name[3:]  # --no-report -> report=False
    return name


def test_every_command_has_its_api_function_with_every_option():
    cli = dict(_commands(typer.main.get_command(app)))
    assert set(cli) == set(COMMANDS), set(cli) ^ set(COMMANDS)
    for path, cmd in cli.items():
        sig = inspect.signature(COMMANDS[path]).parameters
        for p in cmd.params:
            if p.name in ("help",):
                continue
            want = _api_name(path, p.name, sig)
            assert want in sig, f"mimir {' '.join(path)}: option {p.name} has no API " \
                                f"parameter {want!r}"


def test_every_api_function_is_a_command_and_reachable_from_mimir():
    assert set(api.__all__) == {f.__name__ for f in COMMANDS.values()}
    subpackages = {"report", "qc", "phantom", "demo"}  # mimir.<name> is the package
    for name in set(api.__all__) - subpackages:
        assert getattr(mimir, name) is getattr(api, name)
