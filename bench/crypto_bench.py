"""Field-encryption figures for the shipped ``deal_registration`` mapping (issue 5, item 9).

For every ``encrypt`` field of the mapping, with values from the demo data generator
(``sfsync.services.demo_data.create_portal``, transformed by the mapping as the push does):

* encrypt throughput (sfsync ``FieldCipher.encrypt``) and the overhead ratio against bare
  ``AESGCM.encrypt`` calls made in the same process (same key, data and AAD; fresh nonce);
* blind-index throughput, split into normalisation and HMAC, for fields that have one;
* decrypt throughput and its ratio against bare ``AESGCM.decrypt``;
* per record: ``KeyringProtector.protect`` (every encrypt field + blind indexes, what the push
  does) against the record's bare AESGCM calls;
* ``verify_values`` throughput, structure only and with ``--decrypt-check``;
* the company-name normaliser before (``cleanco.basename`` on every call) and after (term
  index), and a check that both give identical output on a generated corpus.

    .venv/bin/python bench/crypto_bench.py [--records 5000] [--repeat 5] [--corpus 50000]

Figures are best-of-``repeat`` wall-clock on this machine, single thread.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cleanco import basename
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sfsync.crypto import (
    FieldCipher,
    FieldContext,
    Keyring,
    StoredValue,
    build_aad,
    normalize_for_index,
    plan_blind_index_bits,
    verify_values,
)
from sfsync.crypto._blind import _LEGAL_WORDS_RE
from sfsync.crypto._format import split_token
from sfsync.mapping import load_mappings
from sfsync.services.demo_data import create_portal
from sfsync.sync._protect import KeyringProtector

REPO = Path(__file__).resolve().parents[1]
MAPPING = "deal_registration"


def best(repeat: int, run: Callable[[], object]) -> float:
    """Best wall-clock seconds of ``repeat`` runs (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def demo_rows(records: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="sfsync-crypto-bench-") as root:
        url = f"sqlite:///{Path(root) / 'portal.db'}"
        create_portal(
            url,
            REPO / "mappings" / "portal_schema.sql",
            seed=11,
            now=datetime(2026, 11, 1, tzinfo=UTC),
            deals=records,
            accounts=1,
        )
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            rows = [dict(r) for r in connection.execute(sa.text("SELECT * FROM deal_registrations")).mappings()]
        engine.dispose()
    return rows


def reference_company_name(text: str) -> str:
    """The company-name normaliser as it was: cleanco.basename (all ~320 terms) on every call."""
    value = unicodedata.normalize("NFKC", text).strip()
    for _ in range(5):
        stripped = str(basename(value)).strip()
        if not stripped or stripped == value:
            break
        value = stripped
    value = value.casefold()
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    value = value.replace("&", " and ").replace("+", " and ")
    value = _LEGAL_WORDS_RE.sub(" ", value).replace("_", " ")
    words = value.split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    result = " ".join(words)
    if not result:
        raise ValueError("company name is empty after normalisation")
    return result


def corpus(seed: int, count: int) -> list[str]:
    """Company names built from cleanco's own legal terms in many spellings, plus odd unicode."""
    from cleanco.clean import get_unique_terms

    from sfsync.services.demo_data import make_customers

    terms = sorted(get_unique_terms())
    words = (
        "Acme",
        "Globex",
        "Société",
        "Générale",
        "Müller",
        "東京",
        "The",
        "and",
        "Co",
        "Holding",
        "Ltd",
        "Straße",
        "İstanbul",
        "ﬁrst",
        "\u00a8",
        "\u00a0",
        "&",
        "-",
        ",",
        ".",
    )
    rng = random.Random(seed)
    names = [c.name for c in make_customers(rng, min(count // 4, 8000))]
    while len(names) < count:
        parts = [rng.choice(words) for _ in range(rng.randint(0, 3))]
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            term = rng.choice(terms)
            parts.append(rng.choice((term, term.upper(), term.replace(".", ""), term + ",")))
        names.append(rng.choice((" ", ", ", " & ")).join(parts) + rng.choice(("", ".", " ")))
    return names[:count]


def outcome(function: Callable[[str], str], text: str) -> str:
    try:
        return function(text)
    except ValueError:
        return "<ValueError>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--corpus", type=int, default=50_000, help="names for the normaliser equality check")
    args = parser.parse_args()

    mapping = load_mappings([REPO / "mappings"]).get(MAPPING)
    sobject = mapping.salesforce.object
    rows = demo_rows(args.records)
    keyring = Keyring.generate()
    cipher = FieldCipher(keyring)
    indexer = keyring.blind_indexer()
    primary = keyring.get(keyring.primary_id)
    if primary is None or primary.secret is None:
        raise SystemExit("no primary key")
    bare = AESGCM(primary.secret)
    ext_column = mapping.portal.external_id_column
    ext_ids = [str(r[ext_column]).strip() for r in rows]

    print(f"sfsync crypto bench: mapping {MAPPING} ({sobject}), {len(rows)} demo records, best of {args.repeat}")
    print()
    header = (
        f"{'field':<28} {'values':>6} {'avg B':>6} {'enc/s':>9} {'bare/s':>9} {'ratio':>6} "
        f"{'bidx/s':>9} {'norm µs':>8} {'hmac µs':>8} {'dec/s':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    payloads: list[dict[str, Any]] = [{} for _ in rows]
    stored: list[StoredValue] = []
    for fm in mapping.encrypted_fields():
        values: list[tuple[int, str]] = []
        for position, row in enumerate(rows):
            value, problem = mapping.outbound_value(fm, row)
            if problem is None and value not in (None, ""):
                values.append((position, str(value)))
                payloads[position][fm.field] = value
        if not values:
            continue
        contexts = [FieldContext(sobject, fm.field, ext_ids[p]) for p, _ in values]
        texts = [v for _, v in values]
        datas = [t.encode("utf-8") for t in texts]
        aads = [build_aad(keyring.primary_id, sobject, fm.field, c.record_key) for c in contexts]
        n = len(texts)

        def enc(texts: list[str] = texts, contexts: list[FieldContext] = contexts) -> list[str]:
            return [cipher.encrypt(t, c) for t, c in zip(texts, contexts, strict=True)]

        def bare_enc(datas: list[bytes] = datas, aads: list[bytes] = aads) -> None:
            for d, a in zip(datas, aads, strict=True):
                bare.encrypt(os.urandom(12), d, a)

        t_enc = best(args.repeat, enc)
        t_bare = best(args.repeat, bare_enc)
        tokens = enc()
        stored += [StoredValue(sobject, fm.field, c.record_key, tok) for c, tok in zip(contexts, tokens, strict=True)]
        raws: list[tuple[bytes, bytes]] = []
        for token in tokens:
            parts = split_token(token)
            if parts is not None:
                raws.append((parts[1], parts[2]))

        def dec(tokens: list[str] = tokens, contexts: list[FieldContext] = contexts) -> None:
            for tok, c in zip(tokens, contexts, strict=True):
                cipher.decrypt(tok, c)

        def bare_dec(raws: list[tuple[bytes, bytes]] = raws, aads: list[bytes] = aads) -> None:
            for (nonce, sealed), a in zip(raws, aads, strict=True):
                bare.decrypt(nonce, sealed, a)

        t_dec = best(args.repeat, dec)
        t_bare_dec = best(args.repeat, bare_dec)
        index = fm.blind_index
        bidx = norm = mac = "–"
        if index is not None:
            bits = index.bits or plan_blind_index_bits(index.expected_rows)
            kind = index.normalizer

            def idx(texts: list[str] = texts, kind: str = kind, bits: int = bits, field: str = index.field) -> None:
                for t in texts:
                    indexer.index(t, kind, bits, sobject=sobject, field=field)

            def nrm(texts: list[str] = texts, kind: str = kind) -> None:
                for t in texts:
                    normalize_for_index(t, kind)

            normalized = [normalize_for_index(t, kind) for t in texts]

            def hmac_only(normalized: list[str] = normalized, bits: int = bits, field: str = index.field) -> None:
                # "exact" leaves the already normalised text as it is: message + HMAC + truncation only.
                for t in normalized:
                    indexer.index(t, "exact", bits, sobject=sobject, field=field)

            t_idx = best(args.repeat, idx)
            t_norm = best(args.repeat, nrm)
            t_mac = best(args.repeat, hmac_only)
            bidx = f"{n / t_idx:9.0f}"
            norm = f"{t_norm / n * 1e6:8.1f}"
            mac = f"{t_mac / n * 1e6:8.1f}"
        avg = sum(len(d) for d in datas) / n
        print(
            f"{fm.field:<28} {n:>6} {avg:>6.0f} {n / t_enc:>9.0f} {n / t_bare:>9.0f} {t_enc / t_bare:>6.2f} "
            f"{bidx:>9} {norm:>8} {mac:>8} {n / t_dec:>9.0f} {t_dec / t_bare_dec:>6.2f}"
        )

    # -- per record: what the push does for each record ---------------------------------------
    protector = KeyringProtector(keyring)
    records = list(zip(ext_ids, payloads, strict=True))

    def protect() -> None:
        for ext, payload in records:
            protector.protect(mapping, ext, payload)

    prepared = [
        [(str(v).encode("utf-8"), build_aad(keyring.primary_id, sobject, f, ext)) for f, v in payload.items()]
        for ext, payload in records
    ]

    def bare_record() -> None:
        for fields in prepared:
            for data, aad in fields:
                bare.encrypt(os.urandom(12), data, aad)

    t_protect = best(args.repeat, protect)
    t_bare_rec = best(args.repeat, bare_record)
    fields_per_record = sum(len(p) for p in payloads) / len(payloads)
    print()
    print(
        f"per record ({fields_per_record:.1f} encrypted fields, 3 blind indexes): "
        f"{len(records) / t_protect:,.0f} records/s ({t_protect / len(records) * 1e6:.0f} µs/record); "
        f"bare AESGCM {len(records) / t_bare_rec:,.0f} records/s; overhead ratio {t_protect / t_bare_rec:.1f}x"
    )

    # -- verify -------------------------------------------------------------------------------
    t_verify = best(args.repeat, lambda: verify_values(stored, keyring, decrypt_check=False))
    t_verify_dc = best(args.repeat, lambda: verify_values(stored, keyring, decrypt_check=True))
    print(
        f"verify: {len(stored) / t_verify:,.0f} values/s structure only; "
        f"{len(stored) / t_verify_dc:,.0f} values/s with --decrypt-check ({len(stored)} values)"
    )

    # -- company-name normaliser: before / after ----------------------------------------------
    names = [str(r["end_customer_name"]) for r in rows]
    t_before = best(args.repeat, lambda: [reference_company_name(n) for n in names])
    t_after = best(args.repeat, lambda: [normalize_for_index(n, "company_name") for n in names])
    print()
    print(
        f"company_name normaliser on {len(names)} demo names: before (cleanco.basename) "
        f"{t_before / len(names) * 1e6:.1f} µs/name, after (term index) {t_after / len(names) * 1e6:.1f} µs/name, "
        f"{t_before / t_after:.1f}x faster"
    )
    generated = corpus(20261125, args.corpus)
    start = time.perf_counter()
    differences = sum(
        outcome(reference_company_name, n) != outcome(lambda t: normalize_for_index(t, "company_name"), n)
        for n in generated
        if n.strip()
    )
    print(
        f"equality check on {len(generated):,} generated names: {differences} differences "
        f"({time.perf_counter() - start:.1f} s)"
    )


if __name__ == "__main__":
    main()
