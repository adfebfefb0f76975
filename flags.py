"""One way to turn a config into command-line flags: a dataclass whose fields carry their help.

    @dataclass
    class Config:
        steps: int = flag(100, "optimiser steps", min=1)
        lr: float = flag(1e-6, "learning rate", min=0.0, above=True)
        algo: str = flag("grpo", "which method", choices=("grpo", "rft"))

    parser = argparse.ArgumentParser(); add_flags(parser, Config)
    cfg = config_from(Config, parser.parse_args())

Every script builds its parser this way, so a setting is declared once (name, default, meaning, valid
range) and `--help` shows it. A value out of range stops the parse with a usage error that names the
flag ("argument --steps: must be >= 1, got 0"), before any work starts: a negative clip norm trains by
ascent, a zero shard size writes empty files forever, a zero temperature divides by zero. Infinite and
NaN numbers are refused everywhere. A subclass may change a default by declaring the field again
(grpo.py's config shares the trainer's fields this way). Standard library only.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import MISSING, field, fields

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def flag(default, help: str, type=None, *, min=None, max=None, above: bool = False, choices=None,
         alias: str | None = None, nargs: str | None = None, const=None, append: bool = False,
         required: bool = False):
    """A dataclass field that is also a flag. min/max: inclusive bounds (above=True: strictly above min);
    choices: the allowed values; alias: a short spelling ("-G"); nargs "*" for a list, "?" with `const` for
    a flag whose value may be left out (--resume: "latest"); append: the flag may be repeated, each value
    added to a list (--data a.jsonl --data b.jsonl); a bool field is a switch (--name / --no-name)."""
    meta = {"help": help, "type": type, "min": min, "max": max, "above": above, "choices": choices,
            "alias": alias, "nargs": nargs, "const": const, "append": append, "required": required}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


def _value_type(f):
    """The type a flag's text is parsed as: the explicit one, else the annotation's ("int | None" -> int)."""
    if f.metadata.get("type"):
        return f.metadata["type"]
    if isinstance(f.type, type):  # a module without `from __future__ import annotations`
        return f.type if f.type in _TYPES.values() else str
    names = [part.strip() for part in str(f.type).replace("list[", "").replace("]", "").split("|")]
    return next((_TYPES[n] for n in names if n in _TYPES), str)


def checked(name: str, kind, min=None, max=None, above: bool = False):
    """An argparse `type` that parses with `kind` and enforces the bounds, naming nothing itself:
    argparse prefixes "argument --name:"."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            if kind is not int:
                raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
            try:  # counts read better in scientific notation: --total-tokens 500e9
                number = float(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
            if not math.isfinite(number) or number != int(number):
                raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
            value = int(number)
        if kind in (int, float):
            if isinstance(value, float) and not math.isfinite(value):
                raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
            if min is not None and (value <= min if above else value < min):
                raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {min}, got {text}")
            if max is not None and value > max:
                raise argparse.ArgumentTypeError(f"must be <= {max}, got {text}")
        return value
    parse.__name__ = name  # argparse's error messages show the type's name
    return parse


def add_flags(parser: argparse.ArgumentParser, *configs, group: bool = True, defaults=None) -> None:
    """Add one flag per field of each config class (a group per class in --help). `defaults`: an instance
    of one of the classes whose values are its flags' defaults instead of the fields' (bench.py's --quick
    sizes)."""
    for cls in configs:
        target = parser.add_argument_group(cls.__name__) if group else parser
        for f in fields(cls):
            meta = f.metadata
            if "help" not in meta:
                continue  # a field that is not a flag (set by the script itself)
            names = ["--" + f.name.replace("_", "-")] + ([meta["alias"]] if meta.get("alias") else [])
            if isinstance(defaults, cls):
                default = getattr(defaults, f.name)
            else:
                default = f.default if f.default is not MISSING else f.default_factory()
            kind = _value_type(f)
            if kind is bool:
                target.add_argument(*names, action=argparse.BooleanOptionalAction, default=default,
                                    help=meta["help"])
                continue
            bounds = {k: meta.get(k) for k in ("min", "max", "above")}
            kwargs = dict(type=checked(f.name, kind, **bounds), help=meta["help"] + " (default: %(default)s)")
            if meta.get("choices"):
                kwargs["choices"] = meta["choices"]
            if meta.get("nargs"):
                kwargs["nargs"] = meta["nargs"]
            if meta.get("const") is not None:
                kwargs["const"] = meta["const"]
            if meta.get("append"):
                kwargs["action"] = "append"
            if meta.get("required"):
                kwargs["required"] = True
            else:
                kwargs["default"] = default
            target.add_argument(*names, **kwargs)


def check_ranges(cfg) -> None:
    """The bounds of every flag field of a config built in code (tests, bench.py, other scripts), with the
    same messages as at parse time."""
    for f in fields(cfg):
        value, meta = getattr(cfg, f.name), f.metadata
        if "help" not in meta or value is None or isinstance(value, (bool, list)):
            continue
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"--{f.name.replace('_', '-')} must be one of {tuple(meta['choices'])}, got "
                             f"{value!r}")
        if isinstance(value, (int, float)):
            try:
                checked(f.name, type(value), meta.get("min"), meta.get("max"), meta.get("above"))(repr(value))
            except argparse.ArgumentTypeError as e:
                raise ValueError(f"--{f.name.replace('_', '-')} {e}") from None


def command_parser(description: str, commands: dict) -> argparse.ArgumentParser:
    """The parser of a script of several commands: {name: (help, config class, run function)}."""
    parser = argparse.ArgumentParser(description=description)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help, cls, _) in commands.items():
        add_flags(sub.add_parser(name, help=help), cls)
    return parser


def run_command(description: str, commands: dict, argv=None):
    """Parse `argv` for one of `commands` ({name: (help, config class, run function)}) and run it on its
    config."""
    args = command_parser(description, commands).parse_args(argv)
    _, cls, run = commands[args.command]
    return run(config_from(cls, args))


def config_from(cls, args: argparse.Namespace, **overrides):
    """The fields of `cls` from parsed flags (missing ones keep their defaults), then `overrides`."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})


# the errors a user causes (a missing or broken file, a setting that does not fit, an --out in use):
# one line each
USER_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError,
               ValueError, UnicodeDecodeError)


def run_cli(main):
    """Run a script's main() from the command line: an expected error (a missing or corrupt file, a value
    that does not fit) is one line naming it and exit status 2, not a traceback. Called code and tests
    see the exceptions themselves."""
    try:
        status = main()
    except USER_ERRORS as e:
        print(f"{sys.argv[0].rsplit('/', 1)[-1]}: error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status if isinstance(status, int) else 0)  # a main() may return its exit status, or its results
