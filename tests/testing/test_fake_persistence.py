"""save/load round trip and the pytest fixtures the plugin provides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import simple_salesforce

from sfsync.config import Settings
from sfsync.testing import FakeSalesforce
from sfsync.testing._schema import OrgSchema


def test_save_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "org.json"
    with FakeSalesforce() as fake:
        partner = fake.insert("Account", {"Name": "P", "Partner_Number__c": "P-1"})
        gone = fake.insert("Account", {"Name": "Gone"})
        fake.delete("Account", gone)
        fake.insert(
            "Opportunity",
            {"Name": "O", "StageName": "Prospecting", "CloseDate": "2024-01-01", "Partner_Account__c": partner},
        )
        sf = simple_salesforce.Salesforce(
            instance_url=fake.instance_url, session_id=fake.access_token, version=fake.api_version
        )
        sf.query("SELECT Id FROM Account")
        fake.save(path)
        saved_records = fake.records("Account", include_deleted=True)
        calls = fake.api_calls
    restored = FakeSalesforce.load(path, page_size=50)
    assert restored.page_size == 50
    assert restored.records("Account", include_deleted=True) == saved_records
    assert restored.api_calls == calls
    with restored:
        new_id = restored.insert("Account", {"Name": "After"})
        assert new_id not in {r["Id"] for r in saved_records}  # the Id counter continues
        sf = simple_salesforce.Salesforce(
            instance_url=restored.instance_url, session_id=restored.access_token, version=restored.api_version
        )
        rows = sf.query("SELECT Name, Partner_Account__r.Partner_Number__c FROM Opportunity")["records"]
        assert rows[0]["Partner_Account__r"]["Partner_Number__c"] == "P-1"
        assert sf.query("SELECT Id FROM Account WHERE Name = 'Gone'")["totalSize"] == 0
        assert restored.api_calls == calls + 2


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ValueError, match="not a FakeSalesforce save file"):
        FakeSalesforce.load(path)


def test_fake_salesforce_fixture(fake_salesforce: FakeSalesforce) -> None:
    sf = simple_salesforce.Salesforce(
        instance_url=fake_salesforce.instance_url,
        session_id=fake_salesforce.access_token,
        version=fake_salesforce.api_version,
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 1


def test_fake_salesforce_env_fixture(
    fake_salesforce_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, fake_salesforce: FakeSalesforce
) -> None:
    for key, value in fake_salesforce_env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.salesforce.auth.value == "token"
    assert settings.salesforce.instance_url == fake_salesforce.instance_url
    assert settings.salesforce.access_token is not None
    assert settings.salesforce.access_token.get_secret_value() == fake_salesforce.access_token


def test_install_into_a_caller_owned_mock() -> None:
    import requests
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, "https://portal.example/ping", json={"ok": True})
        fake = FakeSalesforce()
        fake.install(mock)
        assert requests.get("https://portal.example/ping", timeout=5).json() == {"ok": True}
        response = requests.get(
            f"{fake.instance_url}/services/data/v60.0/limits",
            timeout=5,
            headers={"Authorization": f"Bearer {fake.access_token}"},
        )
        assert response.status_code == 200


def test_start_twice_is_an_error() -> None:
    fake = FakeSalesforce()
    fake.start()
    try:
        with pytest.raises(RuntimeError):
            fake.start()
    finally:
        fake.stop()


def test_save_file_holds_one_record_a_line(tmp_path: Path) -> None:
    # Readable and diffable, and written by the C JSON encoder (a scan saves thousands of records).
    import json

    path = tmp_path / "org.json"
    fake = FakeSalesforce()
    ids = [fake.insert("Account", {"Name": f'Account {n} "quoted"\\n second line'}) for n in range(3)]
    fake.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    record_lines = [line for line in lines if any(i in line for i in ids)]
    assert len(record_lines) == 3 and all(json.loads(line.strip().rstrip(","))["Id"] in ids for line in record_lines)
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "sfsync-fake-salesforce/1"
    assert FakeSalesforce.load(path).records("Account") == fake.records("Account")


def test_default_schema_is_saved_and_reused_while_the_package_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 11 (scan start-up): reloading a default-schema org does not export and parse the shipped
    # metadata again; the schema it gets is the one a rebuild gives.
    from sfsync.testing import _fake

    fake = FakeSalesforce()
    fake.save(tmp_path / "org.json")
    saved = json.loads((tmp_path / "org.json").read_text(encoding="utf-8"))
    assert saved["default_schema"]["package"] == _fake._package_digest()

    def no_rebuild() -> None:
        raise AssertionError("the default schema was rebuilt")

    with monkeypatch.context() as patch:
        patch.setattr(_fake, "default_org_schema", no_rebuild)
        reloaded = FakeSalesforce.load(tmp_path / "org.json")
    assert reloaded.schema == fake.schema
    reloaded.save(tmp_path / "again.json")  # still the default schema: saved with it again
    assert "default_schema" in json.loads((tmp_path / "again.json").read_text(encoding="utf-8"))


def test_default_schema_is_rebuilt_when_the_package_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sfsync.testing import _fake

    FakeSalesforce().save(tmp_path / "org.json")
    rebuilt: list[bool] = []
    real = _fake.default_org_schema

    def counting() -> OrgSchema:
        rebuilt.append(True)
        return real()

    monkeypatch.setattr(_fake, "_package_digest", lambda: "another package")
    monkeypatch.setattr(_fake, "default_org_schema", counting)
    reloaded = FakeSalesforce.load(tmp_path / "org.json")
    assert rebuilt == [True]
    assert reloaded.schema == real()


def test_an_explicit_schema_is_not_saved_as_the_default(tmp_path: Path) -> None:
    from sfsync.testing._metadata_org import standard_org_schema

    FakeSalesforce(standard_org_schema()).save(tmp_path / "org.json")
    assert "default_schema" not in json.loads((tmp_path / "org.json").read_text(encoding="utf-8"))
