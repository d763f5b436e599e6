"""crypto/SPEC.md states the pinned normalisation data the code checks (§ 8.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sfsync.crypto._pinned import NORMALISATION_DATA, check_normalisation_data, normalisation_fingerprints
from sfsync.errors import ConfigError

SPEC = Path(__file__).resolve().parents[2] / "crypto" / "SPEC.md"


def test_spec_states_the_pinned_fingerprints() -> None:
    text = SPEC.read_text(encoding="utf-8")
    for shipped_in, digest in NORMALISATION_DATA.values():
        assert f"| {shipped_in} | `{digest}` |" in text


def test_installed_data_is_the_pinned_data() -> None:
    assert normalisation_fingerprints() == {name: digest for name, (_, digest) in NORMALISATION_DATA.items()}
    check_normalisation_data()


def test_other_data_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import sfsync.crypto._pinned as pinned

    monkeypatch.setitem(pinned.NORMALISATION_DATA, "legal_form_terms", ("cleanco 9.9", "0" * 64))
    with pytest.raises(ConfigError, match="legal_form_terms"):
        check_normalisation_data()
