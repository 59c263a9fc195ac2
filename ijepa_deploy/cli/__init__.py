"""Command-line entry points. Each parses its arguments once into a dataclass and hands it to
one function; user errors print ``subject | problem. Note: expected ...`` and exit 1; Ctrl-C and
SIGTERM print one line and exit 128 + signal number (see ijepa_deploy.interrupts)."""

from __future__ import annotations

import argparse
import sys

from ijepa_deploy import interrupts
from ijepa_deploy.errors import IJepaDeployError, InputError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are ordinary user errors (exit 1, one line)."""

    def error(self, message: str):
        raise InputError(self.prog, message, f"the arguments in '{self.prog} --help'")


def run(main_fn, argv=None) -> int:
    """``main_fn(argv)`` with user errors and interrupts turned into one line on stderr and an exit
    code. ``argv`` None means this is the program itself (a console script): then a signal that
    comes after the command is done, during interpreter shutdown, ends the process quietly; an
    in-process caller passing its own argv gets its signal handlers back instead."""
    with interrupts.handling(then_exit_quietly=argv is None, held=True):
        try:
            code = int(interrupts.allowing(main_fn, argv) or 0)
            interrupts.check()  # a signal some library swallowed: the command did not finish as asked
            return code
        except IJepaDeployError as exc:
            print(f"error: {exc.format()}", file=sys.stderr)
            return 1
        except KeyboardInterrupt as exc:
            if not isinstance(exc, interrupts.Interrupted):
                exc = interrupts.Interrupted(interrupts.received())
            print(exc, file=sys.stderr, flush=True)
            return exc.exit_code
