"""The Python examples in the operator docs run as written (against a local org)."""

from __future__ import annotations

import json
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


def _blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_every_test_file_the_docs_name_exists() -> None:
    for doc in [*DOCS, REPO / "README.md"]:
        for named in re.findall(r"\btests/[\w/]+\.py\b", doc.read_text(encoding="utf-8")):
            assert (REPO / named).is_file(), f"{doc.name} names {named}, which does not exist"


def test_the_kubernetes_example_mounts_the_keyring_from_a_0600_secret_and_its_run_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from sfsync.cli import main

    (manifest,) = _blocks(DOCS[0], "yaml")
    cron_job = yaml.safe_load(manifest)
    pod = cron_job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {item["name"]: item.get("value") for item in container["env"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    keyring = Path(env["SFSYNC_CRYPTO__KEYRING"])
    keyring_volume = volumes[mounts[str(keyring.parent)]]
    assert "secret" in keyring_volume, "the keyring must come from a Secret, not a ConfigMap"
    assert keyring_volume["secret"]["defaultMode"] == 0o600  # YAML 0600 is octal
    assert keyring.name in {item["path"] for item in keyring_volume["secret"]["items"]}
    config_volume = volumes[mounts[str(Path(env["SFSYNC_CONFIG"]).parent)]]
    assert "configMap" in config_volume
    assert "fsGroup" not in json_dump(pod)

    # The container's arguments, run as written against a local org (paths moved into tmp_path).
    (tmp_path / "work").mkdir()
    local = build_local_dir(tmp_path / "work")
    capsys.readouterr()  # what building the workspace printed (crypto keygen)
    args = list(container["args"])
    metrics = tmp_path / "metrics" / "sfsync.prom"
    args[args.index("--metrics-file") + 1] = str(metrics)
    monkeypatch.setenv("SFSYNC_CONFIG", str(local / "sfsync.toml"))
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "ok"
    assert metrics.read_text(encoding="utf-8").endswith("# EOF\n")


def test_the_cron_example_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import shlex

    from sfsync.cli import main

    (cron,) = _blocks(DOCS[0], "cron")
    line = " ".join(part.strip() for part in cron.replace("\\\n", " ").splitlines() if not part.startswith("#"))
    words = shlex.split(line.split(">>")[0])
    args = words[next(i for i, w in enumerate(words) if w.endswith("/bin/sfsync")) + 1 :]
    metrics = tmp_path / "textfile" / "sfsync.prom"
    args[args.index("--metrics-file") + 1] = str(metrics)
    (tmp_path / "srv").mkdir()
    local = build_local_dir(tmp_path / "srv")
    capsys.readouterr()  # what building the workspace printed (crypto keygen)
    monkeypatch.chdir(local)  # the cron line does `cd /srv/sfsync`: ./sfsync.toml is found
    monkeypatch.delenv("SFSYNC_CONFIG", raising=False)
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "ok"
    assert "sfsync_run_success 1" in metrics.read_text(encoding="utf-8")


def json_dump(value: Any) -> str:
    return json.dumps(value, default=str)
