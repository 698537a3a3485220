"""The `autopartgen` command line.

Each sub-command lives next to the code it drives: a module listed in ``COMMAND_MODULES`` exposes
``add_cli(subparsers)``, which adds its parser and sets ``func`` (a callable taking the parsed
arguments and returning an exit code). This file only assembles them, applies ``--threads`` once
(commands that have it: generate, serve, eval, bench), and turns a
:class:`~autopartgen.errors.PartGenError` into one line on stderr and a non-zero exit; a bad command
line is one line too (:class:`autopartgen.arguments.ArgumentParser`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
import threading

from autopartgen.arguments import ArgumentParser
from autopartgen.errors import PartGenError
from autopartgen.version import __version__

# Modules that contribute sub-commands (each defines ``add_cli(subparsers)``).
COMMAND_MODULES = [
    "autopartgen.api",  # generate
    "autopartgen.compat",  # compat-check
    "autopartgen.checkpoints",  # convert
    "autopartgen.info",  # info
    "autopartgen.eval.cli",  # eval
    "autopartgen.eval.bench",  # bench
    "autopartgen.data.cli",  # data generate | check | import
    "autopartgen.train.cli",  # train vae | dit | export
    "autopartgen.web.cli",  # serve
]


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="autopartgen", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"autopartgen {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(args.func, args)


def run_command(func, args) -> int:
    """Run a command function: logging set up, threads set, user errors as one line, Ctrl-C (or a
    SIGTERM, which unwinds the same way so that no temporary file is left) as exit 130."""
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        with _sigterm_as_interrupt():
            if hasattr(args, "threads"):
                from autopartgen.threads import configure_threads

                configure_threads(args.threads)
            return int(func(args) or 0)
    except PartGenError as error:
        print(f"autopartgen: error: {' '.join(str(error).split())}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("autopartgen: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the block runs (in the main thread), SIGTERM raises KeyboardInterrupt, so cleanup code runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def worker_signals() -> None:
    """Initializer of a command's worker processes: Ctrl-C is the parent's to handle, and the parent's
    terminate() (SIGTERM, as a pool sends its workers when it closes) ends the worker quietly. A forked
    worker would otherwise inherit :func:`_sigterm_as_interrupt`'s handler and print a KeyboardInterrupt
    traceback as the pool shuts down."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


if __name__ == "__main__":
    raise SystemExit(main())
