from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfsync.conflicts import (
    normalize_country,
    normalize_duns,
    normalize_name,
    normalize_postal,
    normalize_product_lines,
    registrable_domain,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # English-speaking legal forms
        ("Acme Corp.", "acme"),
        ("ACME Corporation", "acme"),
        ("Acme, Inc.", "acme"),
        ("Acme Incorporated", "acme"),
        ("Acme LLC", "acme"),
        ("Acme Ltd", "acme"),
        ("Acme Limited", "acme"),
        ("Acme PLC", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Tata Pvt. Ltd.", "tata"),
        ("Acme Co.", "acme"),
        # German, Austrian, Swiss
        ("Müller GmbH", "muller"),
        ("Müller AG", "muller"),
        ("Acme Holdings GmbH & Co. KG", "acme"),
        ("Kahisu e.K.", "kahisu"),
        # French, Spanish, Italian, Portuguese, Latin America
        ("Société Générale S.A.", "societe generale"),
        ("Dupont S.A.R.L.", "dupont"),
        ("Dupont SAS", "dupont"),
        ("Telefónica S.L.", "telefonica"),
        ("Bar S.p.A.", "bar"),
        ("Bar S.r.l.", "bar"),
        ("Vale Ltda", "vale"),
        ("Grupo Bimbo S.A.B. de C.V.", "bimbo"),
        # Dutch, Nordic, Polish, Japanese
        ("Foo B.V.", "foo"),
        ("Foo N.V.", "foo"),
        ("Nokia Oyj", "nokia"),
        ("AB Volvo", "volvo"),
        ("Volvo Aktiebolag", "volvo"),
        ("Kowalski Sp. z o.o.", "kowalski"),
        ("Toyota Kabushiki Kaisha", "toyota"),
        ("Sony K.K.", "sony"),
        # accents, &, punctuation, initials, generic words
        ("Łódź Ørsted Straße", "lodz orsted strasse"),
        ("Daddy & Sons, Ltd.", "daddy and sons"),
        ("Daddy and Sons", "daddy and sons"),
        ("I.B.M.", "ibm"),
        ("I B M", "ibm"),
        ("O'Neil's Bakery", "oneils bakery"),
        ("The Acme Group", "acme"),
        ("Acme Global Foods", "acme foods"),
        ("Acme International Mfg", "acme manufacturing"),
        ("Acme Intl Manufacturing", "acme manufacturing"),
        ("Coca-Cola Company", "coca cola"),
        # nothing but a legal form or generic word: kept rather than emptied
        ("Group", "group"),
        ("Ltd", ""),  # only a legal form: no name to match on
        # junk
        ("", ""),
        ("!!!", ""),
        ("   ", ""),
    ],
)
def test_normalize_name_table(raw: str, expected: str) -> None:
    assert normalize_name(raw) == expected


def test_normalize_name_none() -> None:
    assert normalize_name(None) == ""


@given(st.text(max_size=60))
def test_normalize_name_never_crashes_and_is_idempotent_on_its_output(text: str) -> None:
    once = normalize_name(text)
    assert normalize_name(once) == normalize_name(normalize_name(once))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("https://www.shop.acme.co.uk/en/contact?x=1#top", "acme.co.uk"),
        ("HTTP://WWW.ACME.DE/", "acme.de"),
        ("acme.com:8443/path", "acme.com"),
        ("bob@acme.fr", "acme.fr"),
        ("mailto:bob@acme.fr", "acme.fr"),
        ("a.b.c.acme.co.jp", "acme.co.jp"),
        ("acme.com.", "acme.com"),
        ("müller.de", "xn--mller-kva.de"),
        ("xn--mller-kva.de", "xn--mller-kva.de"),
        # malformed or not registrable: None, never an exception
        ("", None),
        ("not a website", None),
        ("http://", None),
        ("localhost", None),
        ("www.", None),
        ("1.2.3.4", None),
        ("acme", None),
        ("co.uk", None),
        ("acme.notarealtld", None),
        (None, None),
    ],
)
def test_registrable_domain(raw: str | None, expected: str | None) -> None:
    assert registrable_domain(raw) == expected


def test_duns_country_postal_product_lines() -> None:
    assert normalize_duns("12-345-6789") == "123456789"
    assert normalize_duns(123456789) == "123456789"
    assert normalize_duns("12345") is None
    assert normalize_duns("000000000") is None
    assert normalize_country("Deutschland") == "DE"
    assert normalize_country("U.S.A.") == "US"
    assert normalize_country("gbr") == "GB"
    assert normalize_country("fr") == "FR"
    assert normalize_country("Atlantis") is None
    assert normalize_country(None) is None
    assert normalize_postal("sw1a 1aa") == "SW1A1AA"
    assert normalize_product_lines("Servers; storage ;;") == frozenset({"servers", "storage"})
    assert normalize_product_lines(["PCs"]) == frozenset({"pcs"})
