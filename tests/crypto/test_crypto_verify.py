"""verify_values and reencrypt_plan: what a security reviewer and a key rotation need."""

from __future__ import annotations

import json

import pytest

from sfsync.crypto import (
    DecryptionError,
    FieldCipher,
    FieldContext,
    Keyring,
    KeyState,
    StoredValue,
    reencrypt_plan,
    verify_values,
)

OBJ, FIELD, OTHER_FIELD = "Deal_Registration__c", "Competitive_Notes__c", "Pricing_Notes__c"
LEAK = "Planted plaintext: ACME pays 1.2M"


def _token(cipher: FieldCipher, text: str, record: str, field: str = FIELD, partner: str | None = None) -> str:
    return cipher.encrypt(text, FieldContext(OBJ, field, record), partner=partner)


@pytest.fixture
def org(keyring: Keyring) -> list[StoredValue]:
    """An org with one planted plaintext, one tampered value and one value moved between records."""
    cipher = FieldCipher(keyring)
    values = [StoredValue(OBJ, FIELD, f"DR-{n}", _token(cipher, f"note {n}", f"DR-{n}")) for n in range(10)]
    values.append(StoredValue(OBJ, FIELD, "DR-LEAK", LEAK))
    tampered = _token(cipher, "tamper me", "DR-TAMPER")
    values.append(StoredValue(OBJ, FIELD, "DR-TAMPER", tampered[:-4] + ("AAAA" if tampered[-4:] != "AAAA" else "BBBB")))
    values.append(StoredValue(OBJ, FIELD, "DR-MOVED-TO", _token(cipher, "moved", "DR-MOVED-FROM")))
    values.append(StoredValue(OBJ, FIELD, "DR-EMPTY", None))
    values.append(StoredValue(OBJ, FIELD, "DR-EMPTY2", ""))
    values.append(StoredValue(OBJ, OTHER_FIELD, "DR-1", _token(cipher, "other", "DR-1", OTHER_FIELD)))
    return values


def test_verify_reports_exactly_the_planted_problems(keyring: Keyring, org: list[StoredValue]) -> None:
    report = verify_values(org, keyring, decrypt_check=True)
    assert not report.clean
    notes = report.fields[(OBJ, FIELD)]
    assert (notes.total, notes.empty, notes.valid) == (15, 2, 10)
    assert (notes.not_a_token, notes.auth_failures, notes.unknown_key, notes.destroyed_key, notes.malformed) == (
        1,
        2,
        0,
        0,
        0,
    )
    assert sorted((f.kind, f.record_key) for f in notes.findings) == [
        ("auth_failure", "DR-MOVED-TO"),
        ("auth_failure", "DR-TAMPER"),
        ("not_a_token", "DR-LEAK"),
    ]
    leak = next(f for f in notes.findings if f.kind == "not_a_token")
    assert leak.length == len(LEAK) and leak.key_id is None
    assert notes.key_ids == {keyring.primary_id: 12}
    assert report.fields[(OBJ, OTHER_FIELD)].clean


def test_without_decrypt_check_only_structure_is_checked(keyring: Keyring, org: list[StoredValue]) -> None:
    notes = verify_values(org, keyring, decrypt_check=False).fields[(OBJ, FIELD)]
    assert notes.auth_failures == 0 and notes.valid == 12 and notes.not_a_token == 1


def test_unknown_destroyed_and_malformed(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    old = keyring.primary_id
    under_old = _token(cipher, "old", "DR-1")
    keyring.rotate()
    foreign = FieldCipher(Keyring.generate())
    values = [
        StoredValue(OBJ, FIELD, "DR-1", under_old),
        StoredValue(OBJ, FIELD, "DR-2", foreign.encrypt("x", FieldContext(OBJ, FIELD, "DR-2"))),
        StoredValue(OBJ, FIELD, "DR-3", "sfe1.kabc.!!notbase64!!"),
        StoredValue(OBJ, FIELD, "DR-4", _token(cipher, "new", "DR-4")),
    ]
    assert verify_values(values, keyring, decrypt_check=True).fields[(OBJ, FIELD)].unknown_key == 1
    keyring.set_state(old, KeyState.DESTROYED)
    notes = verify_values(values, keyring, decrypt_check=True).fields[(OBJ, FIELD)]
    assert (notes.destroyed_key, notes.unknown_key, notes.malformed, notes.valid) == (1, 1, 1, 1)
    assert {f.kind for f in notes.findings} == {"destroyed_key", "unknown_key", "malformed"}


def test_clean_org_and_key_distribution(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    values = [StoredValue(OBJ, FIELD, f"DR-{n}", _token(cipher, "a", f"DR-{n}")) for n in range(3)]
    new = keyring.rotate()
    values += [StoredValue(OBJ, FIELD, f"DR-N{n}", _token(cipher, "b", f"DR-N{n}")) for n in range(2)]
    report = verify_values(values, keyring, decrypt_check=True)
    assert report.clean and report.total == 5
    assert report.key_ids()[new] == 2 and sum(report.key_ids().values()) == 5


def test_reports_never_contain_values(keyring: Keyring, org: list[StoredValue]) -> None:
    report = verify_values(org, keyring, decrypt_check=True)
    outputs = [report.to_json(), report.to_markdown(), repr(report), repr(org)]
    secrets_ = [LEAK, "note 1", "tamper me", "moved"] + [v.value for v in org if v.value]
    for text in outputs:
        for secret in secrets_:
            assert secret not in text
    document = json.loads(report.to_json())
    assert document["clean"] is False and document["decrypt_checked"] is True
    assert "DR-LEAK" in report.to_markdown() and "not_a_token" in report.to_markdown()


def test_findings_are_capped(keyring: Keyring) -> None:
    from sfsync.crypto._verify import MAX_FINDINGS_PER_FIELD

    values = [StoredValue(OBJ, FIELD, f"DR-{n}", "plain") for n in range(MAX_FINDINGS_PER_FIELD + 5)]
    notes = verify_values(values, keyring, decrypt_check=False).fields[(OBJ, FIELD)]
    assert notes.not_a_token == MAX_FINDINGS_PER_FIELD + 5
    assert len(notes.findings) == MAX_FINDINGS_PER_FIELD and notes.findings_truncated == 5


def test_reencrypt_plan_is_idempotent_and_complete(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    old = keyring.primary_id
    values = [StoredValue(OBJ, FIELD, f"DR-{n}", _token(cipher, f"v{n}", f"DR-{n}")) for n in range(5)]
    values.append(StoredValue(OBJ, FIELD, "DR-E", None))
    assert reencrypt_plan(values, keyring) == []
    new = keyring.rotate()
    values.append(StoredValue(OBJ, FIELD, "DR-NEW", _token(cipher, "fresh", "DR-NEW")))
    plan = reencrypt_plan(values, keyring)
    assert [p.record_key for p in plan] == [f"DR-{n}" for n in range(5)]
    assert {(p.old_key_id, p.new_key_id) for p in plan} == {(old, new)}
    for item in plan:
        assert cipher.decrypt(item.token, FieldContext(item.sobject, item.field, item.record_key)).startswith("v")
        assert item.token not in repr(item)
    # Apply half the plan (an interrupted run), plan again: only the rest remains.
    applied = {p.record_key: p.token for p in plan[:2]}
    after = [StoredValue(v.sobject, v.field, v.record_key, applied.get(v.record_key, v.value)) for v in values]
    assert [p.record_key for p in reencrypt_plan(after, keyring)] == ["DR-2", "DR-3", "DR-4"]
    done = {p.record_key: p.token for p in plan}
    final = [StoredValue(v.sobject, v.field, v.record_key, done.get(v.record_key, v.value)) for v in values]
    assert reencrypt_plan(final, keyring) == []
    # Once nothing is left under the old key, it can be destroyed safely.
    keyring.set_state(old, KeyState.DESTROYED)
    assert verify_values(final, keyring, decrypt_check=True).clean


def test_reencrypt_plan_errors(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    moved = StoredValue(OBJ, FIELD, "DR-2", _token(cipher, "x", "DR-1"))
    keyring.rotate()
    with pytest.raises(DecryptionError) as info:
        reencrypt_plan([moved], keyring)
    assert "DR-2" in str(info.value)
    assert reencrypt_plan([moved, StoredValue(OBJ, FIELD, "DR-3", "plain")], keyring, on_error="skip") == []


def test_reencrypt_plan_skips_shredded_partner_values(keyring: Keyring) -> None:
    cipher = FieldCipher(keyring)
    keyring.rotate("acme")
    shredded = StoredValue(OBJ, FIELD, "DR-1", _token(cipher, "partner secret", "DR-1", partner="acme"))
    old_default = StoredValue(OBJ, FIELD, "DR-2", _token(cipher, "default", "DR-2"))
    keyring.rotate()
    keyring.destroy_partner("acme")
    plan = reencrypt_plan([shredded, old_default], keyring)
    assert [p.record_key for p in plan] == ["DR-2"]
    assert verify_values([shredded], keyring, decrypt_check=True).fields[(OBJ, FIELD)].destroyed_key == 1


def test_skipped_values_are_logged_without_values(keyring: Keyring, caplog: pytest.LogCaptureFixture) -> None:
    cipher = FieldCipher(keyring)
    moved = StoredValue(OBJ, FIELD, "DR-2", _token(cipher, "moved secret", "DR-1"))
    keyring.rotate()
    with caplog.at_level("DEBUG", logger="sfsync"):
        assert reencrypt_plan([moved, StoredValue(OBJ, FIELD, "DR-3", LEAK)], keyring, on_error="skip") == []
    assert "DR-2" in caplog.text and "DR-3" in caplog.text
    assert "moved secret" not in caplog.text and LEAK not in caplog.text and str(moved.value) not in caplog.text


def test_reencrypt_plan_names_why_each_value_is_skipped(keyring: Keyring) -> None:
    from sfsync.crypto import ReencryptSkip

    cipher = FieldCipher(keyring)
    good = _token(cipher, "fine", "DR-1")
    moved = _token(cipher, "moved secret", "DR-9")
    prefix, _, payload = good.split(".")
    values = [
        StoredValue(OBJ, FIELD, "DR-1", good),
        StoredValue(OBJ, FIELD, "DR-2", LEAK),
        StoredValue(OBJ, FIELD, "DR-3", good[:30]),
        StoredValue(OBJ, FIELD, "DR-4", f"{prefix}.kmissing1.{payload}"),
        StoredValue(OBJ, FIELD, "DR-5", moved),
    ]
    keyring.rotate()
    skipped: list[ReencryptSkip] = []
    plan = reencrypt_plan(values, keyring, on_error="skip", skipped=skipped)
    assert [p.record_key for p in plan] == ["DR-1"]
    assert [(s.record_key, s.reason, s.key_id) for s in skipped] == [
        ("DR-2", "not_a_token", None),
        ("DR-3", "malformed", None),
        ("DR-4", "unknown_key", "kmissing1"),
        ("DR-5", "auth_failure", moved.split(".")[1]),
    ]
    assert "kmissing1" in skipped[2].explanation
    for skip in skipped:
        assert skip.to_dict()["record_key"] == skip.record_key
        assert LEAK not in skip.explanation and "moved secret" not in repr(skip)
    # raising names the place and the reason, never the value, and nothing is planned
    for value in values[1:]:
        with pytest.raises(DecryptionError) as info:
            reencrypt_plan([values[0], value], keyring)
        text = str(info.value)
        assert value.record_key in text and OBJ in text and FIELD in text and "nothing was written" in text
        assert str(value.value) not in text
