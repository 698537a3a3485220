"""argparse pieces the sub-commands share: one-line errors, checked numbers, and the generation flags.

* :class:`ArgumentParser` prints a bad command line as one line (``autopartgen: error: ...``) and exits 2.
* :func:`positive_int`, :func:`non_negative_int`, :func:`positive_float` are ``type=`` converters that
  refuse out-of-range values while parsing.
* :func:`add_option_arguments` turns every :class:`~autopartgen.options.GenerationOptions` field into a
  flag (dashed name, the underscore spelling as an alias, help from the field's metadata; booleans as
  ``--x`` / ``--no-x``); :func:`options_from_args` builds the options back from the parsed arguments.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields

from autopartgen.options import SCALAR_KINDS, GenerationOptions, flag_name, value_kind

# Flags of earlier releases, kept working: flag -> (field, value it sets).
LEGACY_BOOLEAN_FLAGS = {
    "no_post": ("postprocess", False),
    "write_whole": ("decode_whole", True),
}


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose errors are one line: ``<prog>: error: <what>; see <prog> --help``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}; see {self.prog} --help\n")


def _number(kind, low: float, inclusive: bool, what: str):
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value != value or value < low or (value == low and not inclusive):
            raise argparse.ArgumentTypeError(f"{text} is out of range; pass {what}")
        return value

    convert.__name__ = what  # argparse names the type in its messages
    return convert


positive_int = _number(int, 1, True, "a whole number of at least 1")
non_negative_int = _number(int, 0, True, "a whole number of at least 0")
positive_float = _number(float, 0.0, False, "a number above 0")


def _aliases(name: str) -> list[str]:
    """``--max-parts`` and ``--max_parts`` for the field ``max_parts``; one flag when they coincide."""
    dashed, underscored = flag_name(name), f"--{name}"
    return [dashed] if dashed == underscored else [dashed, underscored]


def _help(spec) -> str:
    text = spec.metadata.get("help", "")
    default = spec.default if spec.default is not MISSING else None
    if default is not None and not isinstance(default, bool):
        text += f" (default: {default})"
    return text.replace("%", "%%")


def add_option_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """Add one flag per :class:`GenerationOptions` field (except ``skip``) to ``parser``.

    Values left out on the command line are absent from the parsed namespace, so the dataclass default
    applies. Types and choices are checked by argparse; ranges by :meth:`GenerationOptions.validate`.
    Only fields of one number, flag or word become flags.
    """
    group = parser.add_argument_group("generation options")
    for spec in fields(GenerationOptions):
        if spec.name in skip:
            continue
        kind, _ = value_kind(spec)
        if kind not in SCALAR_KINDS:
            continue  # no flag for a structured field (tests/test_options.py notices)
        if kind == "bool":
            group.add_argument(*_aliases(spec.name), dest=spec.name, action="store_true", default=argparse.SUPPRESS,
                               help=_help(spec) + (" (default: on)" if spec.default else " (default: off)"))
            negated = [f"--no-{spec.name.replace('_', '-')}", f"--no_{spec.name}"]
            group.add_argument(*dict.fromkeys(negated), dest=spec.name, action="store_false",
                               default=argparse.SUPPRESS, help=f"turn {flag_name(spec.name)} off")
            continue
        group.add_argument(*_aliases(spec.name), dest=spec.name, type={"int": int, "float": float, "str": str}[kind],
                           choices=spec.metadata.get("choices"), default=argparse.SUPPRESS, help=_help(spec),
                           metavar=None if spec.metadata.get("choices") else spec.name.upper())
    for legacy, (name, value) in LEGACY_BOOLEAN_FLAGS.items():
        group.add_argument(*_aliases(legacy), dest=name, action="store_const", const=value,
                           default=argparse.SUPPRESS, help=f"same as {flag_name(name) if value else '--no-' + name}")


def options_from_args(args: argparse.Namespace, **fixed) -> GenerationOptions:
    """The :class:`GenerationOptions` of parsed arguments (flags not given keep their defaults), validated."""
    given = {spec.name: getattr(args, spec.name) for spec in fields(GenerationOptions) if hasattr(args, spec.name)}
    return GenerationOptions(**{**given, **fixed}).validate()

