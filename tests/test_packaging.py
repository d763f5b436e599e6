"""What the wheel and the sdist carry: the licence, the docs and the crypto specification with its vectors
(sdist), the shipped mappings (wheel), and no pytest plugin registered for every environment."""

from __future__ import annotations

import tarfile
import zipfile

from packaging_helpers import REPO, Distributions


def test_the_sdist_carries_licence_docs_and_the_crypto_specification(sfsync_distributions: Distributions) -> None:
    with tarfile.open(sfsync_distributions.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = {"LICENSE", "README.md", "Makefile", "docs/operations.md", "crypto/SPEC.md", "crypto/THREAT_MODEL.md"}
    expected |= {f"crypto/vectors/{p.name}" for p in (REPO / "crypto" / "vectors").iterdir()}
    expected |= {"crypto/make_vectors.py", "crypto/verify_vectors.py", "mappings/deal_registration.yaml"}
    assert expected <= names, sorted(expected - names)


def test_the_wheel_carries_the_licence_and_registers_no_pytest_plugin(sfsync_distributions: Distributions) -> None:
    with zipfile.ZipFile(sfsync_distributions.wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        declared = archive.read(entry_points).decode()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "pytest11" not in declared
    assert "sfsync = sfsync.cli:main" in declared
    assert "License-Expression: Apache-2.0" in metadata
    assert "sfsync/_data/mappings/deal_registration.yaml" in names


def test_the_licence_is_the_apache_2_0_text() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
