"""CI API check: our TensorRT code (and the checker's own lists) against the Python API that
TensorRT 11.x and 10.8 really have; how the check works is in trt_api_checker.py."""

from __future__ import annotations

import pytest
from trt_api_checker import CHECKED, REMOVED_ANYWHERE, REMOVED_BUILDER_FLAGS, REQUIRED_CHECKS, ROOT, check_source


def test_our_tensorrt_code_uses_only_apis_tensorrt_11_has(surfaces):
    all_problems, all_uses = [], []
    for path in CHECKED:
        problems, uses = check_source(path.read_text(), str(path.relative_to(ROOT)), surfaces)
        all_problems += problems
        all_uses += uses
    assert not all_problems, "TensorRT API problems:\n" + "\n".join(all_problems)
    print(
        f"checked {len(all_uses)} uses ({len({(u.owner, u.name) for u in all_uses})} distinct names) against "
        + ", ".join(f"TensorRT {s.version} ({s.mode})" for s in surfaces)
    )
    if surfaces[0].mode == "import":
        checked = {(u.owner, u.name) for u in all_uses}
        unresolved = sorted(REQUIRED_CHECKS - checked)
        assert not unresolved, f"the checker did not resolve these uses to their class: {unresolved}"


def test_api_names_are_all_known_to_the_surface(surfaces):
    # Every name in REQUIRED_CHECKS exists in 11.x: the list itself is not stale.
    newest = surfaces[0]
    missing = [(o, n) for o, n in sorted(REQUIRED_CHECKS) if not newest.has(o, n)]
    assert not missing


def test_removed_names_really_are_gone_from_tensorrt_11(surfaces):
    newest = surfaces[0]
    if newest.mode != "import":
        pytest.skip("needs the per-class surface")
    flags = newest.classes["BuilderFlag"]
    assert not REMOVED_BUILDER_FLAGS & set(flags)
    still_there = sorted(n for n in REMOVED_ANYWHERE if newest.has(None, n))
    assert not still_there, f"listed as removed but present in {newest.version}: {still_there}"
