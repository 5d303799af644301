"""Every ``unsr`` subcommand module registers the same way."""

from __future__ import annotations

import argparse
import inspect

from engine.cli import COMMANDS, build_parser


def test_every_module_registers_one_parser_with_a_func() -> None:
    for module in COMMANDS:
        parser = argparse.ArgumentParser(prog="unsr")
        sub = parser.add_subparsers(dest="command")
        module.register(sub)
        assert len(sub.choices) == 1, module
        ((name, child),) = sub.choices.items()
        func = child.get_default("func")
        assert callable(func), f"{name} sets no func"
        params = list(inspect.signature(func).parameters)
        assert params[:3] == ["args", "out", "err"], (name, params)
        assert child.get_default("handler") is None, name


def test_the_table_lists_each_command_once_in_help_order() -> None:
    help_text = build_parser().format_help()
    names = ["upscale", "fit", "methods", "runs", "eval", "train", "models"]
    positions = [help_text.index(f"    {name}") for name in names]
    assert positions == sorted(positions)
    assert len(COMMANDS) == len(names)


def test_the_top_help_lines_are_the_modules_own() -> None:
    # `unsr --help` lists commands without importing their modules; the help
    # lines it shows must be the ones the modules register.
    full = build_parser()
    (sub,) = [a for a in full._actions if isinstance(a, argparse._SubParsersAction)]
    shown = {choice.dest: choice.help for choice in sub._choices_actions}
    assert shown == {c.name: c.help for c in COMMANDS}


def test_a_command_builds_only_its_own_parser() -> None:
    parser = build_parser(["methods"])
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert sub.choices["methods"].get_default("func") is not None
    assert sub.choices["upscale"].get_default("func") is None
