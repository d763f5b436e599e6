"""Issue 12: the review's attacks, each re-run through the real CLI against a local org; none recovers anything.

Finding 1 (the evidence hash) is the conflict engineer's; here only the derived-key API it uses.
Every test works on a copy of one synced working directory whose mappings are a local copy of
the shipped ones (so a test can edit them as an attacker with write access would).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy import exc as sa_exc
from workspace_helpers import REPO, build_local_dir

from sfsync.cli import main
from sfsync.crypto import Keyring, LocalKeyringProvider, plan_blind_index_bits
from sfsync.errors import EXIT_FATAL, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, FatalError, database_reason
from sfsync.mapping import MappingSet, load_mappings
from sfsync.mapping._policy import field_policy, reidentification
from sfsync.sync._state import StateStore
from sfsync.testing import FakeSalesforce

DEALS = "Deal_Registration__c"
ACCOUNTS = "Account_Registration__c"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    local: Path = build_local_dir(tmp_path_factory.mktemp("findings"))
    shutil.copytree(REPO / "mappings", local / "mappings")
    config = local / "sfsync.toml"
    config.write_text(re.sub(r'paths = \[".*?"\]', 'paths = ["mappings"]', config.read_text()), encoding="utf-8")
    assert main(["--config", str(config), "run", "--json"]) == EXIT_OK
    return local


@pytest.fixture
def work(pristine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    local = tmp_path / "work"
    shutil.copytree(pristine, local)
    capsys.readouterr()
    return local


def cli(work: Path, *args: str) -> int:
    return main(["--config", str(work / "sfsync.toml"), *args])


def org(work: Path) -> FakeSalesforce:
    return FakeSalesforce.load(work / "org.json")


def portal_rows(work: Path, table: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(f"sqlite:///{work / 'portal.db'}")
    with engine.connect() as connection:
        rows = [dict(r) for r in connection.execute(sa.text(f"SELECT * FROM {table}")).mappings()]
    engine.dispose()
    return rows


def portal_execute(work: Path, sql: str, **params: Any) -> None:
    engine = sa.create_engine(f"sqlite:///{work / 'portal.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text(sql), params)
    engine.dispose()


def out_json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------------ finding 1 (API)


def test_derived_keys_are_per_purpose_stable_and_secret(tmp_path: Path) -> None:
    """The API the conflict scanner keys Evidence_Hash__c with: HMAC-SHA256 under derive_key(purpose)."""
    keyring = Keyring.generate()
    evidence = keyring.derive_key("conflict-evidence")
    assert len(evidence) == 32 and evidence == keyring.derive_key("conflict-evidence")
    assert evidence != keyring.derive_key("field-policy") and evidence != keyring.index_key
    assert all(evidence != k.secret for k in keyring.keys)
    # Rotation and a save/load keep it (stored digests stay comparable); another keyring differs.
    provider = LocalKeyringProvider(tmp_path / "k.json", SecretStr("x" * 32), scrypt_n=2**10)
    provider.save(keyring)
    keyring.rotate()
    assert provider.load().derive_key("conflict-evidence") == evidence == keyring.derive_key("conflict-evidence")
    assert Keyring.generate().derive_key("conflict-evidence") != evidence
    for bad in ("", "Has Spaces", "x" * 65):
        with pytest.raises(ValueError, match="purpose"):
            keyring.derive_key(bad)


# ------------------------------------------------------------------------------------ finding 2


def test_published_fields_single_out_no_registration(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rep's re-identification: shipped policy 0 singled out; the old clear country+postal code many."""
    assert cli(work, "crypto", "policy", "--reidentification", "--json") == EXIT_OK
    report = out_json(capsys)["reidentification"]
    assert report["singled_out"] == 0 and report["accounts"] >= 3
    assert report["mappings"]["deal_registration"]["registrations"] > 0
    assert (
        "End_Customer_Country__c (band) ~ Account.BillingCountry"
        in (report["mappings"]["deal_registration"]["compared_fields"])
    )

    # What the review measured: the pre-issue mapping published country and postal code in clear.
    text = (work / "mappings" / "deal_registration.yaml").read_text()
    old = text.replace(
        "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
        "    clear: the pre-issue-12 mapping sent it in clear\n",
    )
    old = old.replace(
        "    encrypt: {max_plaintext_bytes: 16, per_partner_key: true}\n    band:\n      field: End_Customer_Region__c",
        "    clear: the pre-issue-12 mapping sent it in clear\n    band_was:\n      field: End_Customer_Region__c",
    )
    old = re.sub(r"(?ms)^    band_was:.*?other: Other\n", "", old)
    (work / "old.yaml").write_text(old)
    old_mappings = load_mappings([work / "old.yaml"])
    published = [
        {
            "End_Customer_Country__c": r["end_customer_country"],
            "End_Customer_Postal_Code__c": r["end_customer_postal_code"],
        }
        for r in portal_rows(work, "deal_registrations")
        if r["deleted_at"] is None
    ]
    accounts = org(work).records("Account")
    attacked = reidentification(old_mappings, {DEALS: published}, accounts)
    assert attacked.singled_out > 0, attacked.to_dict()
    shipped = reidentification(
        load_mappings([work / "mappings"]),
        {DEALS: [{"End_Customer_Region__c": r.get("End_Customer_Region__c")} for r in org(work).records(DEALS)]},
        accounts,
    )
    assert shipped.singled_out == 0


def test_policy_markdown_is_the_reviewers_table(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(work, "crypto", "policy", "--markdown") == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith("# Field policy")
    assert "| End_Customer_Postal_Code__c | end_customer_postal_code | encrypt | yes |" in out
    assert "| Product_Lines__c | product_lines | clear | no | the value itself | Program rules act on it" in out
    assert "Approval: approved" in out and "the mappings match it." in out


def test_amount_is_ciphertext_and_only_its_band_is_public(work: Path) -> None:
    deals = {r["registration_number"]: r for r in portal_rows(work, "deal_registrations")}
    for record in org(work).records(DEALS):
        amount = str(record["Amount__c"])
        assert amount.startswith("sfe1."), "the amount is ciphertext"
        row = deals[str(record["Registration_Number__c"])]
        assert record["Amount_Band__c"] in ("<50k", "50k-75k", "75k-100k", "100k-250k", "250k-500k", "500k-1M", ">=1M")
        assert str(row["amount"]) not in json.dumps(record)
        assert record["End_Customer_Region__c"] in ("AMER", "EMEA", "APAC", "Other")
        assert re.fullmatch(r"\d{4}-Q[1-4]", str(record["Expected_Close_Quarter__c"]))


# ------------------------------------------------------------------------------------ finding 3


def test_destroy_partner_shreds_exactly_that_partners_values(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(work, "crypto", "status", "--json") == EXIT_OK
    status = out_json(capsys)
    owner = {k["key_id"]: k["partner"] for k in status["keys"]}
    # Per-partner keys were created on first use; nothing is under the shared (default-group) key.
    assert all(owner[key_id] for key_id in status["values_per_key"]), status["values_per_key"]
    partners_with_rows = {
        r["partner_number"] for t in ("deal_registrations", "account_registrations") for r in portal_rows(work, t)
    }
    assert {p for p in owner.values() if p} == partners_with_rows

    victim = sorted(partners_with_rows)[1]
    victim_records = {
        r["registration_number"]
        for t in ("deal_registrations", "account_registrations")
        for r in portal_rows(work, t)
        if r["partner_number"] == victim
    }
    assert cli(work, "crypto", "destroy", "--partner", victim, "--yes") == EXIT_OK
    capsys.readouterr()
    assert cli(work, "crypto", "verify", "--decrypt-check", "--json") == EXIT_REJECTED
    report = out_json(capsys)
    findings = [(f["kind"], f["record_key"]) for field in report["fields"] for f in field["findings"]]
    assert findings and {kind for kind, _ in findings} == {"destroyed_key"}
    assert {key for _, key in findings} == victim_records
    assert sum(f["valid"] for f in report["fields"]) > 0  # everyone else's values still decrypt

    # The shredded partner edits a registration: it is dead-lettered, never re-keyed or sent under the shared key.
    number = sorted(r for r in victim_records if r.startswith("DR"))[0]
    portal_execute(
        work,
        "UPDATE deal_registrations SET competitive_notes = 'new notes', updated_at = :t WHERE registration_number = :n",
        t="2026-11-21 00:00:00",
        n=number,
    )
    before = {r["Registration_Number__c"]: r for r in org(work).records(DEALS)}[number]
    assert cli(work, "run", "--json") == EXIT_REJECTED
    capsys.readouterr()
    assert {r["Registration_Number__c"]: r for r in org(work).records(DEALS)}[number] == before
    assert cli(work, "deadletters", "list", "--json") == EXIT_OK
    letters = out_json(capsys)
    assert any(victim in json.dumps(letter) and "crypto-shredded" in json.dumps(letter) for letter in letters)
    assert cli(work, "crypto", "status", "--json", "--no-usage") == EXIT_OK
    assert not [k for k in out_json(capsys)["keys"] if k["partner"] == victim and k["state"] != "destroyed"]


# ------------------------------------------------------------------------------------ finding 4


def test_downgrade_is_refused_and_verify_checks_the_pinned_policy(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = work / "mappings" / "deal_registration.yaml"
    path.write_text(
        path.read_text().replace(
            "    encrypt: {max_plaintext_bytes: 32, per_partner_key: true}\n",
            "    clear: an attacker says it is harmless\n",
        )
    )
    assert cli(work, "mappings", "validate") == EXIT_OK  # a classified mapping is valid...
    portal_execute(work, "UPDATE deal_registrations SET updated_at = :t", t="2026-11-21 00:00:00")
    before = org(work).records(DEALS)
    capsys.readouterr()
    assert cli(work, "run", "--json") == EXIT_FATAL  # ...but it is weaker than approved
    err = capsys.readouterr().err
    assert "less protected than the approved field policy" in err
    assert "End_Customer_Postal_Code__c would be sent as clear, approved as encrypt" in err
    assert org(work).records(DEALS) == before  # nothing was sent

    # Plaintext that reached the org some other way is found, though the mapping no longer encrypts it.
    fake = org(work)
    leaked = sorted(fake.records(DEALS), key=lambda r: str(r["Registration_Number__c"]))[0]
    fake.update(DEALS, leaked["Id"], {"End_Customer_Postal_Code__c": "10001"})
    fake.save(work / "org.json")
    assert cli(work, "crypto", "verify", "--decrypt-check", "--json") == EXIT_REJECTED
    report = out_json(capsys)
    postal = next(f for f in report["fields"] if f["field"] == "End_Customer_Postal_Code__c")
    assert postal["not_a_token"] == 1 and postal["findings"][0]["record_key"] == leaked["Registration_Number__c"]

    # Only a key holder's approval lets the weaker policy run.
    assert cli(work, "crypto", "policy", "approve", "--yes") == EXIT_OK
    assert "weaker: deal_registration: Deal_Registration__c.End_Customer_Postal_Code__c" in capsys.readouterr().err
    assert cli(work, "run", "--json") == EXIT_OK


def test_an_edited_approval_does_not_authenticate(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with StateStore(f"sqlite:///{work / 'state.db'}") as store:
        stored = store.get_pin("field_policy")
        assert stored is not None
        store.set_pin("field_policy", stored.replace('"protection": "encrypt"', '"protection": "clear"'))
    assert cli(work, "run") == EXIT_FATAL
    assert "does not authenticate" in capsys.readouterr().err
    with StateStore(f"sqlite:///{work / 'state.db'}") as store, store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM sfsync_pin WHERE name = 'field_policy'"))
    assert cli(work, "run") == EXIT_FATAL
    assert "no approved field policy" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ finding 5


def _plant_bytes(work: Path, number: str, column: str, raw: bytes) -> None:
    connection = sqlite3.connect(work / "portal.db")
    with connection:
        connection.execute(
            f"UPDATE deal_registrations SET {column} = CAST(? AS TEXT), updated_at = ? WHERE registration_number = ?",
            (raw, "2026-11-21 00:00:00", number),
        )
    connection.close()


def _everything_written(work: Path) -> bytes:
    """Every byte sfsync keeps locally: the state database (and its WAL)."""
    return b"".join(p.read_bytes() for p in work.glob("state.db*"))


def test_undecodable_bytes_dead_letter_their_record_and_the_run_goes_on(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = b"Dr Secret \xe9\xff notes"
    numbers = sorted(r["registration_number"] for r in portal_rows(work, "deal_registrations"))
    _plant_bytes(work, numbers[0], "competitive_notes", secret)
    portal_execute(
        work,
        "UPDATE deal_registrations SET customer_contact_name = 'Changed Name', updated_at = :t "
        "WHERE registration_number = :n",
        t="2026-11-21 00:00:00",
        n=numbers[1],
    )
    assert cli(work, "-vv", "run", "--json") == EXIT_REJECTED
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    push = next(s for s in summary["summaries"] if s["mapping"] == "deal_registration" and s["direction"] == "push")
    assert push["rejected"] == 1 and push["updated"] >= 1  # one record out, the others went on
    assert cli(work, "deadletters", "list", "--json") == EXIT_OK
    letters = capsys.readouterr().out
    assert numbers[0] in letters and "not valid UTF-8" in letters and "competitive_notes" in letters
    assert cli(work, "status", "--json") == EXIT_OK
    status = capsys.readouterr().out
    for text in (captured.out, captured.err, letters, status):
        assert "Secret" not in text
    assert b"Secret" not in _everything_written(work)


def test_database_errors_never_carry_statements_or_parameters(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (v TEXT UNIQUE)"))
        connection.execute(sa.text("INSERT INTO t VALUES ('Acme Secret Customer')"))
    with pytest.raises(sa_exc.IntegrityError) as excinfo, engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO t VALUES (:v)"), {"v": "Acme Secret Customer"})
    assert "Acme Secret Customer" in str(excinfo.value)  # what SQLAlchemy itself would print
    reason = database_reason(excinfo.value)
    assert "Secret" not in reason and "INSERT" not in reason and "IntegrityError" in reason
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    with pytest.raises(FatalError) as fatal, store._db("writing"):
        raise excinfo.value
    assert "Secret" not in str(fatal.value) and "INSERT" not in str(fatal.value)
    store.close()
    engine.dispose()


CANARY = "CNRY7q"


def test_canary_in_every_mapped_field_appears_nowhere_but_clear_salesforce_fields(
    work: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = load_mappings([work / "mappings"])
    deal = mappings.get("deal_registration")
    numbers = sorted(r["registration_number"] for r in portal_rows(work, "deal_registrations"))
    # The portal's own constraints keep a canary out of the country (CHAR(2)) and the partner (a key).
    columns = [
        c for fm in deal.portal_owned() for c in fm.columns if c not in ("end_customer_country", "partner_number")
    ]
    canaries = {c: f"{CANARY}-{c}" for c in columns} | {"end_customer_duns": f"{CANARY}999"}
    # Row 1: a canary in every other mapped column (numbers and dates too): it is rejected.
    everything = ", ".join(f"{c} = :{c}" for c in columns)
    portal_execute(
        work,
        f"UPDATE deal_registrations SET {everything}, updated_at = :t WHERE registration_number = :n",
        t="2026-11-21 00:00:00",
        n=numbers[2],
        **canaries,
    )
    # Row 2: a canary in every text column that accepts any text: it is synced (encrypted).
    free = [
        fm.columns[0]
        for fm in deal.portal_owned()
        if (fm.encrypted and fm.type in ("string", "textarea") and fm.band is None and not fm.steps[-1:])
        or fm.field
        in (
            "End_Customer_Name__c",
            "Competitive_Notes__c",
            "Customer_Contact_Name__c",
            "End_Customer_Postal_Code__c",
            "End_Customer_Website__c",
            "Customer_Contact_Phone__c",
        )
    ]
    sets = ", ".join(f"{c} = :{c}" for c in free)
    portal_execute(
        work,
        f"UPDATE deal_registrations SET {sets}, updated_at = :t WHERE registration_number = :n",
        t="2026-11-21 00:00:00",
        n=numbers[3],
        **{c: canaries[c] for c in free},
    )
    # Row 3: an oversized value (past max_plaintext_bytes) is rejected without quoting it.
    portal_execute(
        work,
        "UPDATE deal_registrations SET customer_contact_name = :v, updated_at = :t WHERE registration_number = :n",
        v=CANARY + "x" * 400,
        t="2026-11-21 00:00:00",
        n=numbers[4],
    )

    outputs: list[str] = []

    def run(*args: str, expect: int = EXIT_OK) -> None:
        assert cli(work, *args) == expect, args
        captured = capsys.readouterr()
        outputs.extend([captured.out, captured.err])

    run("-vv", "--log-format", "json", "run", "--json", expect=EXIT_REJECTED)
    run("-vv", "run", "--json", "--dry-run")
    run("status", "--json")
    run("deadletters", "list", "--json")
    run("crypto", "verify", "--decrypt-check", "--json")
    run("crypto", "status", "--json")
    run("crypto", "policy", "--json", "--reidentification")
    run("mappings", "preview", "-m", "deal_registration", "--portal-id", numbers[3], "--json")
    joined = "\n".join(outputs)
    assert numbers[2] in joined and numbers[4] in joined  # the rejected records are named...
    assert CANARY not in joined  # ...their values never
    assert CANARY.encode() not in _everything_written(work)

    synced = {r["Registration_Number__c"]: r for r in org(work).records(DEALS)}[numbers[3]]
    policy = {e.field: e for e in field_policy(MappingSet([deal])).entries}
    for field, value in synced.items():
        if field in policy and policy[field].protection != "clear":
            assert CANARY not in str(value), field
    assert str(synced["End_Customer_Name__c"]).startswith("sfe1.")
    assert not [f for f, v in synced.items() if f != "Id" and CANARY in str(v)]


# ------------------------------------------------------------------------------------ finding 6


def test_master_key_file_readable_by_others_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.chmod(work / "keys" / "master.key", 0o644)
    assert cli(work, "crypto", "status", "--no-usage") == EXIT_USAGE
    assert "chmod 600" in capsys.readouterr().err


def test_rewrap_to_a_new_master_key(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new_key = work / "elsewhere" / "new.key"
    new_key.parent.mkdir()
    new_key.write_text(Keyring.generate().primary_id * 5)
    os.chmod(new_key, 0o644)
    assert cli(work, "crypto", "rewrap", "--new-master-key-file", str(new_key)) == EXIT_USAGE
    assert "chmod 600" in capsys.readouterr().err
    os.chmod(new_key, 0o600)
    assert cli(work, "crypto", "rewrap", "--new-master-key-file", str(new_key)) == EXIT_OK
    capsys.readouterr()
    assert cli(work, "crypto", "status", "--no-usage") == EXIT_FATAL  # the old master key opens nothing now
    assert "wrong master key" in capsys.readouterr().err
    config = work / "sfsync.toml"
    config.write_text(
        config.read_text().replace('master_key_file = "keys/master.key"', f'master_key_file = "{new_key}"')
    )
    assert cli(work, "crypto", "verify", "--decrypt-check") == EXIT_OK


def test_an_older_keyring_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Copying back an older keyring file used to revive destroyed keys."""
    keyring_file = work / "keys" / "keyring.json"
    backup = work / "keyring.backup"
    shutil.copy2(keyring_file, backup)
    partner = sorted(r["partner_number"] for r in portal_rows(work, "deal_registrations"))[0]
    assert cli(work, "crypto", "destroy", "--partner", partner, "--yes") == EXIT_OK
    shutil.copy2(backup, keyring_file)
    capsys.readouterr()
    for command in (["crypto", "verify", "--decrypt-check"], ["run"], ["crypto", "status", "--no-usage"]):
        assert cli(work, *command) == EXIT_FATAL, command
        assert "older than the one sfsync last used" in capsys.readouterr().err


# ------------------------------------------------------------------------------------ finding 7


def test_no_blind_index_is_written_without_a_reader(work: Path) -> None:
    for obj in (DEALS, ACCOUNTS):
        for record in org(work).records(obj):
            assert not [f for f in record if f.endswith("_BIdx__c")]
    # Where an index has a reader, the planner sizes it so a value never points at one plaintext.
    for rows in (1_000, 50_000, 1_000_000):
        bits = plan_blind_index_bits(rows, min_false_positives=2.0)
        assert rows / 2**bits >= 2.0 > rows / 2 ** (bits + 1) / 2


# ------------------------------------------------------------------------------------ finding 8


@pytest.mark.parametrize("typo", ["feilds:", "Fields:"])
def test_misspelled_fields_stops_the_run_with_a_position(
    work: Path, capsys: pytest.CaptureFixture[str], typo: str
) -> None:
    path = work / "mappings" / "account_registration.yaml"
    path.write_text(path.read_text().replace("\nfields:\n", f"\n{typo}\n"))
    assert cli(work, "run") == EXIT_USAGE
    err = capsys.readouterr().err
    assert re.search(r"account_registration\.yaml:\d+:\d+", err) and "Traceback" not in err


def test_stray_yaml_in_the_mappings_folder_is_an_error(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "mappings" / "notes.yaml").write_text("todo: [review the amount band]\n")
    assert cli(work, "run") == EXIT_USAGE
    assert "notes.yaml:1:1" in capsys.readouterr().err
