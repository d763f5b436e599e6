"""The Python examples in the operator docs run as written (against a local org)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from workspace_helpers import REPO, build_local_dir

DOCS = [REPO / "docs" / "operations.md"]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_examples_execute(doc: Path, tmp_path: Path) -> None:
    blocks = python_blocks(doc)
    assert blocks, f"{doc} has no python example"
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)
    local = build_local_dir(tmp_path)
    result = namespace["sync_partner_registrations"](str(local / "sfsync.toml"))
    assert result["rejected"] == 0
    assert result["api_calls"] > 0
