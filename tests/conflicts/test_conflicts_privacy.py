"""Law 10 / issue 12 finding 1: what the scan publishes lets no reader test guesses against a
partner's confidential values (customer name, website, DUNS).

The attacker is a direct rep: they read every Channel_Conflict__c field (Evidence__c, Reason__c,
Score__c, Evidence_Hash__c, ...) and hold their own Account list. They try to recover the partner's
spelling of the customer name, the registered website and the DUNS number.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest
from conflict_builders import AS_OF, make_opp, make_reg

from sfsync.conflicts import Conflict, Rules, scan
from sfsync.crypto import BlindIndexer

SECRET_NAME = "Zentrova Kalimar Logistik GmbH"
SECRET_SITE = "https://zentrova-kalimar.de/impressum"
SECRET_DUNS = "314159265"
INDEX_KEY = bytes(range(32))


def _keyed(data: bytes) -> str:
    return BlindIndexer(INDEX_KEY).index(
        data.decode("utf-8"), "exact", 256, sobject="Channel_Conflict__c", field="Evidence_Hash__c"
    )


def _conflicts(rules: Rules, keyed: bool) -> list[Conflict]:
    regs = [
        make_reg("DR-1", customer_name=SECRET_NAME, customer_website=SECRET_SITE, customer_duns=SECRET_DUNS),
        make_reg(
            "DR-2",
            partner_number="P-200",
            partner_name="Contoso",
            customer_name="Zentrova Kalimar Logistik",
            customer_website=SECRET_SITE,
            customer_duns=SECRET_DUNS,
            submitted_at=AS_OF.replace(month=5, day=3),
        ),
    ]
    opps = [
        make_opp("006A", account_name="Zentrova Kalimar Logistics", account_duns=SECRET_DUNS),
        make_opp("006B", account_name="Zentrova Kalimar", account_website="zentrova-kalimar.de"),
    ]
    result = scan(opps, regs, rules, as_of=AS_OF, keyed_hash=_keyed if keyed else None)
    kinds = {c.kind.value for c in result.conflicts}
    assert {"deal_registration", "second_partner"} <= kinds
    return result.conflicts


def _published(conflict: Conflict) -> dict[str, Any]:
    return conflict.to_salesforce()


def test_published_fields_never_quote_the_partner_values(rules: Rules) -> None:
    for conflict in _conflicts(rules, keyed=True):
        text = json.dumps(_published(conflict), default=str).casefold()
        for secret in ("logistik", "zentrova-kalimar.de", "zentrova-kalimar", SECRET_DUNS, "314-159-265"):
            assert secret not in text, (conflict.key, secret)


def _guess_payloads(conflict: Conflict, field: str, guess: str) -> list[bytes]:
    """Every payload shape an attacker might try: the published facts plus the guessed value."""
    record = _published(conflict)
    evidence = json.loads(record["Evidence__c"])
    levels = {c["component"]: c["level"] for c in evidence["components"]}
    base: dict[str, Any] = {
        "kind": record["Kind__c"],
        "partner": conflict.partner_number,
        "source": record["Registration_Number__c"],
        "levels": levels,
        "product_lines": evidence.get("product_lines"),
    }
    shapes = [{**base, field: guess}, {**base, "evidence": {field: guess}}, {field: guess}, {"value": guess}]
    out = [json.dumps(s, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() for s in shapes]
    return [*out, guess.encode(), guess.casefold().encode()]


def _hashes(payload: bytes) -> set[str]:
    return {hashlib.sha256(payload).hexdigest(), hashlib.sha1(payload).hexdigest(), hashlib.md5(payload).hexdigest()}


def test_guessing_withheld_names_from_the_reps_own_accounts_recovers_nothing(rules: Rules) -> None:
    rng = random.Random(5)
    own_accounts = [f"Account {rng.randrange(10**6)}" for _ in range(300)]
    # The rep's list holds the right answer in several spellings: the guess is correct, still nothing.
    own_accounts += [SECRET_NAME, "Zentrova Kalimar Logistik", "zentrova kalimar logistik", "Zentrova Kalimar"]
    for conflict in _conflicts(rules, keyed=True):
        published = conflict.evidence_hash
        for guess in own_accounts:
            for field in ("name", "customer_name", "normalized"):
                for payload in _guess_payloads(conflict, field, guess):
                    assert published not in _hashes(payload), (conflict.key, guess)


def test_brute_forcing_a_withheld_duns_sample_recovers_nothing(rules: Rules) -> None:
    rng = random.Random(9)
    sample = {f"{rng.randrange(10**8, 10**9)}" for _ in range(3000)} | {SECRET_DUNS}
    for conflict in _conflicts(rules, keyed=True):
        published = conflict.evidence_hash
        hits = [
            duns
            for duns in sample
            for payload in _guess_payloads(conflict, "duns", duns)
            if published in _hashes(payload)
        ]
        assert hits == [], conflict.key


@pytest.mark.parametrize("keyed", [True, False])
def test_the_hash_depends_only_on_published_facts(rules: Rules, keyed: bool) -> None:
    """Unkeyed (no keyring): the hash is recomputable from the published record alone, so it carries
    nothing beyond what is published. Keyed: a different key gives another hash (an HMAC, not a digest)."""
    conflicts = _conflicts(rules, keyed=keyed)
    for conflict in conflicts:
        record = _published(conflict)
        evidence = json.loads(record["Evidence__c"])
        payload: dict[str, Any] = {
            "kind": record["Kind__c"],
            "partner": conflict.partner_number,
            "source": record["First_Registration__c"] or record["Registration_Number__c"],
            "levels": {c["component"]: c["level"] for c in evidence["components"]},
            "product_lines": evidence.get("product_lines"),
        }
        if conflict.kind.value == "second_partner":
            payload["second"] = record["Registration_Number__c"]
        data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
        if keyed:
            assert conflict.evidence_hash == _keyed(data)
            assert conflict.evidence_hash != hashlib.sha256(data).hexdigest()
        else:
            assert conflict.evidence_hash == hashlib.sha256(data).hexdigest()


def test_changing_a_withheld_value_that_compares_the_same_does_not_change_the_hash(rules: Rules) -> None:
    """The fingerprint follows the comparison, not the plaintext: a partner re-spelling the customer
    (same comparison levels) is not new evidence and tells a reader nothing."""
    opp = make_opp("006C", account_name="Acme Foods")
    first = scan([opp], [make_reg(customer_name="Acme Foods GmbH")], rules, as_of=AS_OF, keyed_hash=_keyed)
    again = scan([opp], [make_reg(customer_name="ACME FOODS G.m.b.H.")], rules, as_of=AS_OF, keyed_hash=_keyed)
    assert [c.evidence_hash for c in first.conflicts] == [c.evidence_hash for c in again.conflicts]
