"""Running a CLI's ``main`` in-process, for tests that check exit codes (importable from any test:
pytest puts tests/ on sys.path for its conftest)."""

from __future__ import annotations

import pytest


def run_main(main, argv) -> int:
    """``main(argv)``'s exit code: every CLI ends in SystemExit, 0 included."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code
