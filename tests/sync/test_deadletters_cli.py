"""``sfsync deadletters list | show | retry | discard`` through the real CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from sfsync.cli import app, main
from sfsync.sync._state import DeadLetter, StateStore

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def state_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no stray sfsync.toml
    monkeypatch.delenv("SFSYNC_CONFIG", raising=False)
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("SFSYNC_STATE__URL", url)
    return url


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def seed(url: str) -> list[DeadLetter]:
    with StateStore(url, clock=lambda: T0) as store:
        letters = [
            store.record_dead_letter(
                DeadLetter(
                    mapping=m,
                    direction="push",
                    record_key=k,
                    status_code=code,
                    message=f"{code}: Partner_Notes__c is too long",
                    fields=("Partner_Notes__c",),
                )
            )
            for m, k, code in [
                ("deals", "R-1", "STRING_TOO_LONG"),
                ("deals", "R-2", "DUPLICATE_VALUE"),
                ("accounts", "A-1", "INVALID_FIELD"),
            ]
        ]
    return letters


def test_list_without_a_store_does_not_create_one(runner: CliRunner, state_url: str, tmp_path: Path) -> None:
    result = runner.invoke(app, ["deadletters", "list"])
    assert result.exit_code == 0, result.output
    assert "no dead letters" in result.output
    assert not (tmp_path / "state.db").exists()
    result = runner.invoke(app, ["deadletters", "list", "--json"])
    assert json.loads(result.output) == []


def test_list_table_and_json(runner: CliRunner, state_url: str) -> None:
    seed(state_url)
    result = runner.invoke(app, ["deadletters", "list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for text in ("R-1", "R-2", "A-1", "STRING_TOO_LONG", "DUPLICATE_VALUE", "3 dead letter(s)"):
        assert text in result.output
    result = runner.invoke(app, ["deadletters", "list", "--mapping", "deals", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert [d["record_key"] for d in data] == ["R-1", "R-2"]
    assert data[0]["fields"] == ["Partner_Notes__c"]
    assert data[0]["status_code"] == "STRING_TOO_LONG"
    assert data[0]["first_seen"].startswith("2024-03-01T12:00:00")


def test_show(runner: CliRunner, state_url: str) -> None:
    letters = seed(state_url)
    result = runner.invoke(app, ["deadletters", "show", str(letters[1].id)])
    assert result.exit_code == 0, result.output
    assert "DUPLICATE_VALUE" in result.output and "Partner_Notes__c" in result.output
    assert "2024-03-01T12:00:00+00:00" in result.output
    result = runner.invoke(app, ["deadletters", "show", str(letters[1].id), "--json"])
    assert json.loads(result.output)["record_key"] == "R-2"
    result = runner.invoke(app, ["deadletters", "show", "999"])
    assert result.exit_code == 2
    assert "no dead letter with id 999" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_retry_one_and_all(runner: CliRunner, state_url: str) -> None:
    letters = seed(state_url)
    result = runner.invoke(app, ["deadletters", "retry", str(letters[0].id)])
    assert result.exit_code == 0, result.output
    assert "1 dead letter(s) marked for retry" in result.output
    with StateStore(state_url) as store:
        retried = store.dead_letter(letters[0].id or 0)
        assert retried is not None and retried.state == "retry_requested"
        assert len(store.due_dead_letters("deals", "push", T0, max_attempts=5)) == 1
    result = runner.invoke(app, ["deadletters", "retry", "--all"])
    assert result.exit_code == 0
    assert "2 dead letter(s) marked" in result.output
    assert runner.invoke(app, ["deadletters", "retry", "999"]).exit_code == 2
    for args in ([], ["1", "--all"]):
        result = runner.invoke(app, ["deadletters", "retry", *args])
        assert result.exit_code == 2
        assert "either a dead letter ID or --all" in result.output


def test_discard(runner: CliRunner, state_url: str) -> None:
    letters = seed(state_url)
    target = str(letters[2].id)
    result = runner.invoke(app, ["deadletters", "discard", target], input="n\n")
    assert result.exit_code != 0
    with StateStore(state_url) as store:
        assert [d.record_key for d in store.dead_letters()] == ["R-1", "R-2", "A-1"]
    result = runner.invoke(app, ["deadletters", "discard", target], input="y\n")
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["deadletters", "discard", str(letters[1].id), "--yes"])
    assert result.exit_code == 0
    assert f"dead letter {letters[1].id} discarded" in result.output
    listed = runner.invoke(app, ["deadletters", "list", "--json"])
    assert [d["record_key"] for d in json.loads(listed.output)] == ["R-1"]
    everything = runner.invoke(app, ["deadletters", "list", "--all", "--json"])
    assert {d["record_key"]: d["state"] for d in json.loads(everything.output)} == {
        "R-1": "open",
        "R-2": "discarded",
        "A-1": "discarded",
    }
    assert runner.invoke(app, ["deadletters", "discard", "999", "--yes"]).exit_code == 2


def test_exit_codes_through_main(state_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    letters = seed(state_url)
    assert main(["deadletters", "list"]) == 0
    assert main(["deadletters", "show", "12345"]) == 2
    assert main(["deadletters", "retry", "--all"]) == 0
    assert main(["deadletters", "discard", str(letters[0].id), "--yes"]) == 0
    assert main(["deadletters", "show", "not-a-number"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_store_from_newer_sfsync_exits_2_without_traceback(
    runner: CliRunner, state_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(state_url)
    engine = sa.create_engine(state_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO sfsync_schema_version VALUES (42, 'future', '2030-01-01 00:00:00')"))
    engine.dispose()
    result = runner.invoke(app, ["deadletters", "list"])
    assert result.exit_code == 2
    assert "newer sfsync" in result.output
    assert "Traceback" not in result.output
    assert main(["deadletters", "list"]) == 2
    err = capsys.readouterr().err
    assert "newer sfsync" in err and "Traceback" not in err


def test_unreachable_store_exits_3(runner: CliRunner, state_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSYNC_STATE__URL", "postgresql+psycopg2://u:hunter2@127.0.0.1:1/x?connect_timeout=2")
    result = runner.invoke(app, ["deadletters", "list"])
    assert result.exit_code == 3
    assert "hunter2" not in result.output
    assert "Traceback" not in result.output


def test_list_by_direction_and_retry_discard_pull_letters(runner: CliRunner, state_url: str) -> None:
    seed(state_url)
    with StateStore(state_url, clock=lambda: T0) as store:
        pulled = store.record_dead_letter(
            DeadLetter(
                mapping="deals",
                direction="pull",
                record_key="R-9",
                status_code="PORTAL_REJECTED",
                message="the portal refused the write to 'deals': NOT NULL constraint failed: deals.status",
                fields=("status",),
            )
        )
    result = runner.invoke(app, ["deadletters", "list", "--direction", "pull", "--json"])
    assert result.exit_code == 0, result.output
    assert [(d["record_key"], d["direction"]) for d in json.loads(result.output)] == [("R-9", "pull")]
    result = runner.invoke(app, ["deadletters", "list", "--direction", "push", "--json"])
    assert {d["direction"] for d in json.loads(result.output)} == {"push"} and len(json.loads(result.output)) == 3
    bad = runner.invoke(app, ["deadletters", "list", "--direction", "sideways"])
    assert bad.exit_code == 2 and "push" in bad.output and "pull" in bad.output
    assert runner.invoke(app, ["deadletters", "retry", str(pulled.id)]).exit_code == 0
    with StateStore(state_url) as store:
        [letter] = store.due_dead_letters("deals", "pull", datetime.now(UTC), 5)
        assert letter.state == "retry_requested"
    assert runner.invoke(app, ["deadletters", "discard", str(pulled.id), "--yes"]).exit_code == 0
    result = runner.invoke(app, ["deadletters", "list", "--direction", "pull", "--json"])
    assert json.loads(result.output) == []
