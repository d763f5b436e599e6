"""Failure telemetry of ``sfsync run``: a crashed or fatal run is recorded at once, still writes its
metrics (atomically) and a JSON error, and every log line carries the run's fields."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
import sqlalchemy.exc
from workspace_helpers import build_local_dir

from sfsync.cli import main
from sfsync.cli._common import write_atomically
from sfsync.errors import EXIT_FATAL, EXIT_OK
from sfsync.sync._engine import SyncEngine

SECRET_VALUE = "Acme secret pipeline 4711"


@pytest.fixture
def local_dir(tmp_path: Path) -> Path:
    return build_local_dir(tmp_path)


@pytest.fixture
def org_refusing_every_session(local_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The working directory pointed at a token-auth org that answers every call with 401."""
    config = local_dir / "sfsync.toml"
    text = config.read_text(encoding="utf-8").replace(
        'fake_org = "org.json"', 'auth = "token"\ninstance_url = "https://acme.my.salesforce.com"\nmax_attempts = 1'
    )
    config.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SFSYNC_SALESFORCE__ACCESS_TOKEN", "00Dxx!revoked-token")
    body = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            mocked.add(method, re.compile(r"https://acme\.my\.salesforce\.com/.*"), status=401, json=body)
        yield local_dir


def _crash_with_database_error(self: SyncEngine, *args: Any, **kwargs: Any) -> Any:
    # What SQLAlchemy raises for the NOT NULL case in issue 13: its text holds the SQL and parameters.
    raise sqlalchemy.exc.IntegrityError(
        "UPDATE deal_registrations SET status=? WHERE id=?",
        (SECRET_VALUE, 7),
        sqlite3.IntegrityError("NOT NULL constraint failed: deal_registrations.status"),
    )


def _status(config: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["--config", config, "status", "--json"]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def test_a_crashed_run_shows_failed_in_status_at_once_without_sql_or_values(
    local_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = str(local_dir / "sfsync.toml")
    monkeypatch.setattr(SyncEngine, "_push", _crash_with_database_error)
    assert main(["--config", config, "run"]) == EXIT_FATAL
    captured = capsys.readouterr()
    assert "NOT NULL constraint failed: deal_registrations.status" in captured.err
    for leaked in (SECRET_VALUE, "UPDATE deal_registrations", "parameters"):
        assert leaked not in captured.err + captured.out
    latest = _status(config, capsys)["runs"][0]
    assert latest["outcome"] == "failed"
    assert latest["ended_at"] is not None
    assert "NOT NULL constraint failed" in latest["summary"]["error"]
    assert SECRET_VALUE not in json.dumps(latest)


def test_a_fatal_run_writes_metrics_and_a_json_error_object(
    org_refusing_every_session: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = org_refusing_every_session
    metrics = root / "metrics" / "sfsync.prom"
    code = main(
        ["--config", str(root / "sfsync.toml"), "--log-format", "json", "run", "--json", "--metrics-file", str(metrics)]
    )
    assert code == EXIT_FATAL
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["outcome"] == "fatal"
    assert printed["exit_code"] == EXIT_FATAL
    assert printed["error_type"] == "AuthenticationError"
    assert printed["error_code"] == "INVALID_SESSION_ID"
    assert "access token expired or was revoked" in printed["error"]
    error_lines = [json.loads(line) for line in captured.err.strip().splitlines()]
    assert error_lines[-1]["level"] == "error"
    assert error_lines[-1]["exit_code"] == EXIT_FATAL
    assert error_lines[-1]["run_id"] == printed["run_id"]
    assert "00Dxx!revoked-token" not in captured.err + captured.out
    text = metrics.read_text(encoding="utf-8")
    assert "sfsync_run_success 0\n" in text
    assert f"sfsync_run_exit_code {EXIT_FATAL}\n" in text
    assert text.endswith("# EOF\n")
    assert [p.name for p in metrics.parent.iterdir()] == ["sfsync.prom"]  # no temporary file left behind
    latest = _status(str(root / "sfsync.toml"), capsys)["runs"][0]
    assert latest["run_id"] == printed["run_id"]
    assert latest["outcome"] == "fatal"


def test_a_run_that_cannot_even_load_its_configuration_still_writes_metrics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "sfsync.toml"
    config.write_text("[salesforce]\nread_timeout = -1\n", encoding="utf-8")
    metrics = tmp_path / "m.prom"
    assert main(["--config", str(config), "run", "--json", "--metrics-file", str(metrics)]) == 2
    printed = json.loads(capsys.readouterr().out)
    assert printed["outcome"] == "fatal"
    assert printed["exit_code"] == 2
    assert "read_timeout" in printed["error"]
    assert "sfsync_run_exit_code 2\n" in metrics.read_text(encoding="utf-8")


def test_json_log_lines_carry_run_mapping_direction_and_counts(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "-v", "--log-format", "json", "run", "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    run_id = json.loads(captured.out)["run_id"]
    lines = [json.loads(line) for line in captured.err.strip().splitlines()]
    assert lines, "-v logged nothing"
    assert all(line["run_id"] == run_id for line in lines if line["logger"].startswith("sfsync.sync"))
    messages = [line["message"] for line in lines]
    assert any(m.startswith(f"run {run_id[:8]} started") for m in messages)
    assert any(m.startswith(f"run {run_id[:8]} finished: ok") for m in messages)
    finished = [line for line in lines if line["message"].startswith("mapping deal_registration push: read")]
    assert len(finished) == 1
    assert finished[0]["mapping"] == "deal_registration"
    assert finished[0]["direction"] == "push"
    assert finished[0]["counts"]["read"] == 30
    assert finished[0]["counts"]["created"] == 30
    progress = [
        line for line in lines if line.get("mapping") == "account_registration" and "more row" in line["message"]
    ]
    assert progress and all(line["direction"] in ("push", "pull") for line in progress)


def test_text_logs_at_v_show_start_progress_and_summary(local_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(local_dir / "sfsync.toml"), "run", "-v"]) == EXIT_OK  # -v after the command
    err = capsys.readouterr().err
    assert " started: direction both" in err
    assert "mapping deal_registration push: started [run=" in err
    assert "mapping=deal_registration direction=push]" in err
    assert " finished: ok" in err


def test_metrics_are_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "sfsync.prom"
    write_atomically(target, "old\n")
    assert target.read_text() == "old\n"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)  # node_exporter runs as another user

    def crash(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new\n")
    assert target.read_text() == "old\n"  # a reader never sees half a file
    assert [p.name for p in tmp_path.iterdir()] == ["sfsync.prom"]


def test_a_prompt_without_a_terminal_exits_2_saying_pass_yes(tmp_path: Path) -> None:
    import subprocess
    import sys

    from sfsync.sync._state import DeadLetter, StateStore

    (tmp_path / "sfsync.toml").write_text(f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n', encoding="utf-8")
    with StateStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        letter = store.record_dead_letter(
            DeadLetter(
                mapping="deal_registration",
                direction="push",
                record_key="DR-1",
                status_code="INVALID_FIELD",
                message="INVALID_FIELD: no such field",
                fields=(),
            )
        )
        letter_id = letter.id
    result = subprocess.run(
        [sys.executable, "-m", "sfsync.cli", "deadletters", "discard", str(letter_id)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "pass --yes" in result.stderr
    assert "Traceback" not in result.stderr


def test_sigterm_ends_the_run_with_its_outcome_recorded(
    local_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal
    import time

    def terminated_mid_push(self: SyncEngine, *args: Any, **kwargs: Any) -> Any:
        os.kill(os.getpid(), signal.SIGTERM)  # what Kubernetes sends at the job's deadline
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(SyncEngine, "_push", terminated_mid_push)
    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "run"]) == 130
    assert "terminated (SIGTERM)" in capsys.readouterr().err
    latest = _status(config, capsys)["runs"][0]
    assert latest["outcome"] == "failed"
    assert latest["summary"]["error"] == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed after the run


_HOLD_A_RUN = """
import sys, time
from sfsync.sync._lock import run_holder
from sfsync.sync._state import StateStore
from sfsync.text.time import utc_now

store = StateStore(sys.argv[1])
run_id = "feedfacecafe" + "0" * 20
with store.lock("sync", holder=run_holder(run_id), lease_seconds=900, timeout_seconds=0):
    store.start_run(run_id, utc_now(), {})
    print(run_id, flush=True)
    time.sleep(120)
"""


def test_a_run_killed_outright_shows_crashed_in_status_at_once(
    local_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL leaves no chance to record the end, and the lease would keep the lock for 15 minutes:
    status checks the holder's process instead of waiting for the next run to notice."""
    import signal
    import subprocess
    import sys

    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "run"]) == EXIT_OK  # creates the state store
    state_url = f"sqlite:///{local_dir / 'state.db'}"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_A_RUN, state_url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        run_id = holder.stdout.readline().strip()
        alive = _status(config, capsys)["runs"][0]
        assert (alive["run_id"], alive["outcome"]) == (run_id, "running")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        dead = _status(config, capsys)["runs"][0]
        assert (dead["run_id"], dead["outcome"]) == (run_id, "crashed")
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_log_lines_from_the_push_worker_threads_carry_the_run_fields(
    local_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uploads run in worker threads (the pipeline overlaps them with reading the next batch); their log
    lines — every API call at -vv — must carry the run's fields like the main thread's."""
    import threading

    from sfsync.text import logfields

    threads: set[str] = set()
    original = logfields.current_log_fields

    def noting_thread() -> dict[str, object]:
        threads.add(threading.current_thread().name)
        return original()

    monkeypatch.setattr(logfields, "current_log_fields", noting_thread)
    config = str(local_dir / "sfsync.toml")
    assert main(["--config", config, "-vv", "--log-format", "json", "run", "--json"]) == EXIT_OK
    captured = capsys.readouterr()
    run_id = json.loads(captured.out)["run_id"]
    lines = [json.loads(line) for line in captured.err.strip().splitlines()]
    calls = [line for line in lines if line["logger"].startswith("sfsync.salesforce")]
    assert any(name.startswith("sfsync-push") for name in threads), threads  # the uploads did run in workers
    assert calls and all(line.get("run_id") == run_id for line in calls), [
        line["message"] for line in calls if line.get("run_id") != run_id
    ][:5]
    pushes = [line for line in calls if "composite/sobjects" in line["message"] and line.get("direction") == "push"]
    assert pushes and all(line["mapping"] in ("deal_registration", "account_registration") for line in pushes)
