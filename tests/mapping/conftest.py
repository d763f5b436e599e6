"""Fixtures for the mapping tests."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from _mapping_helpers import SHIPPED

from sfsync.mapping import MappingSet, ValidationReport, collect_mappings, load_mappings, validate_offline


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    def write(text: str, name: str = "demo.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def check_all(write_yaml: Callable[..., Path]) -> Callable[[str], ValidationReport]:
    """Load one YAML text and run every offline check; returns the whole report."""

    def run(text: str) -> ValidationReport:
        path = write_yaml(text)
        mapping_set, report = collect_mappings([path])
        return report.merge(validate_offline(mapping_set))

    return run


@pytest.fixture
def check(check_all: Callable[[str], ValidationReport]) -> Callable[[str], ValidationReport]:
    """Like ``check_all`` without the "field has no classification" error.

    The tests of one check write small mappings whose fields are not classified; the field
    policy checks have their own tests (test_mapping_policy.py) on ``check_all``.
    """

    def run(text: str) -> ValidationReport:
        report = check_all(text)
        report.problems = [p for p in report.problems if not (p.code == "policy" and "no classification" in p.message)]
        return report

    return run


@pytest.fixture(scope="session")
def shipped() -> MappingSet:
    return load_mappings([SHIPPED])
