"""Command-line entry points. Each parses its arguments once into a dataclass and hands it to
one function; user errors print ``subject | problem. Note: expected ...`` and exit 1."""

from __future__ import annotations

import argparse
import sys

from ijepa_deploy.errors import IJepaDeployError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are ordinary user errors (exit 1, one line)."""

    def error(self, message: str):
        raise IJepaDeployError(self.prog, message, f"the arguments in '{self.prog} --help'")


def run(main_fn, argv=None) -> int:
    try:
        return int(main_fn(argv) or 0)
    except IJepaDeployError as exc:
        print(f"error: {exc.format()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
