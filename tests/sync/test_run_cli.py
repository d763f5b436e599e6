"""``sfsync run`` / ``sfsync status`` and ``SyncJob`` on a local org file (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from workspace_helpers import build_local_dir

from sfsync import RunReport, SyncJob
from sfsync.cli import main
from sfsync.errors import EXIT_OK, EXIT_USAGE
from sfsync.testing import FakeSalesforce


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    return build_local_dir(tmp_path)


def test_run_json_then_idle_rerun(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "run", "--json"]) == EXIT_OK
    first = json.loads(capsys.readouterr().out)
    created = {(s["mapping"], s["direction"]): s["created"] for s in first["summaries"]}
    assert created[("deal_registration", "push")] == 30
    # the Lead variant ships disabled (enable it instead of deal_registration in a PRM org)
    assert ("deal_registration_lead", "push") not in created
    assert created[("account_registration", "push")] == 4
    assert first["api_calls"] > 0
    assert main(["--config", config, "run", "--json"]) == EXIT_OK
    second = json.loads(capsys.readouterr().out)
    assert all(s["created"] == s["updated"] == s["written_back"] == 0 for s in second["summaries"])
    # the org file persisted the first run's records
    assert len(FakeSalesforce.load(local_dir / "org.json").records("Deal_Registration__c")) == 30


def test_status_shows_runs_and_watermarks(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(local_dir / "sfsync.toml")
    main(["--config", config, "run", "--json"])
    capsys.readouterr()
    assert main(["--config", config, "status", "--json"]) == EXIT_OK
    status = json.loads(capsys.readouterr().out)
    assert status["runs"][0]["outcome"] == "ok"
    assert {w["mapping"] for w in status["watermarks"]} >= {"deal_registration", "account_registration"}


def test_dry_run_prints_plan_and_changes_nothing(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "run", "--dry-run", "--mapping", "deal_registration"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "dry run" in out
    assert "create DR-000001" in out
    assert FakeSalesforce.load(local_dir / "org.json").records("Deal_Registration__c") == []
    assert not (local_dir / "state.db").exists() or "sfsync_runs" not in out


def test_bad_direction_is_usage_error(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(local_dir / "sfsync.toml"), "run", "--direction", "sideways"]) == EXIT_USAGE
    assert "Traceback" not in capsys.readouterr().err


def test_library_api_returns_a_typed_report(local_dir: Path) -> None:
    with SyncJob.from_config(local_dir / "sfsync.toml") as job:
        report = job.run(dry_run=True, mappings=["account_registration"])
    assert isinstance(report, RunReport)
    assert report.summary("account_registration", "push").created == 4
    assert report.exit_code == 0


def test_metrics_file_is_openmetrics(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    metrics = local_dir / "sfsync.prom"
    assert main(["--config", str(local_dir / "sfsync.toml"), "run", "--metrics-file", str(metrics)]) == EXIT_OK
    text = metrics.read_text()
    assert text.endswith("# EOF\n")
    assert 'sfsync_records_created{mapping="deal_registration",direction="push"} 30' in text
