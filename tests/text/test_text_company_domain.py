"""sfsync.text: the blind-index normalisers stay bit-identical (versioned); the matcher's rules move on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sfsync.crypto import normalize_for_index
from sfsync.text.company import blind_index_company_name_v1, company_name
from sfsync.text.domain import SharedHost, SharedHosts, TenantRule, blind_index_domain_v1, site_identity

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# Computed with sfsync/crypto/_blind.py as it was before the rules moved to sfsync.text (commit d3601e4).
FROZEN = json.loads((HERE / "blind_index_v1_frozen.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("value", "expected"), sorted(FROZEN["names"].items()))
def test_blind_index_company_name_v1_is_frozen(value: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            blind_index_company_name_v1(value)
    else:
        assert blind_index_company_name_v1(value) == expected


@pytest.mark.parametrize(("value", "expected"), sorted(FROZEN["domains"].items()))
def test_blind_index_domain_v1_is_frozen_and_ignores_the_private_section(value: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            blind_index_domain_v1(value)
    else:
        assert blind_index_domain_v1(value) == expected


def test_blind_index_vectors_still_hold_through_the_crypto_api() -> None:
    vectors = json.loads((REPO / "crypto" / "vectors" / "blind_index.json").read_text(encoding="utf-8"))["vectors"]
    for vector in vectors:
        if vector["kind"] in ("domain", "company_name"):
            assert normalize_for_index(vector["value"], vector["kind"]) == vector["normalized"], vector["name"]


def test_one_offline_extractor_with_the_private_section() -> None:
    from sfsync.text.domain import _extractor

    extractor = _extractor()
    assert extractor is _extractor()
    assert extractor.suffix_list_urls == ()
    assert extractor.include_psl_private_domains is True


SHARED = SharedHosts(
    [
        SharedHost("sites.google.com", "site builder", TenantRule.PATH, ("view", "site")),
        SharedHost("linkedin.com", "social network", TenantRule.PATH, ("company",)),
        SharedHost("facebook.com", "social network", TenantRule.PATH),
        SharedHost("squarespace.com", "site builder", TenantRule.SUBDOMAIN),
        SharedHost("gmail.com", "free mail", TenantRule.NONE),
    ]
)


@pytest.mark.parametrize(
    ("value", "key", "platform"),
    [
        ("https://www.Shop.Acme.co.uk/x", "acme.co.uk", None),
        ("acme.github.io", "github.io/acme", "github.io"),
        ("https://acme.myshopify.com/products/1", "myshopify.com/acme", "myshopify.com"),
        ("http://acme.blogspot.com", "blogspot.com/acme", "blogspot.com"),
        ("https://sites.google.com/view/Acme/home", "sites.google.com/view/acme", "sites.google.com"),
        ("linkedin.com/company/acme-gmbh/about", "linkedin.com/company/acme-gmbh", "linkedin.com"),
        ("https://www.facebook.com/acmefoods?ref=x", "facebook.com/acmefoods", "facebook.com"),
        ("https://acme.squarespace.com", "squarespace.com/acme", "squarespace.com"),
        ("sales@acme.de", "acme.de", None),
        ("mailto:sales@acme.de", "acme.de", None),
    ],
)
def test_site_identity(value: str, key: str, platform: str | None) -> None:
    site = site_identity(value, SHARED)
    assert site is not None and (site.key, site.platform) == (key, platform)


@pytest.mark.parametrize(
    "value",
    [
        "n/a",
        "-",
        "",
        "   ",
        "192.168.1.10",
        "http://10.0.0.1/shop",
        "[::1]",
        "mailto:",
        "gmail.com",
        "jane@gmail.com",
        "sites.google.com",
        "https://www.facebook.com/",
        "facebook.com/pages",
        "www.",
        "http://",
        "not a url",
        "https://" + "x/" * 1000,
        "x" * 5000,
        "localhost",
        "ftp//broken",
    ],
)
def test_garbage_websites_identify_nothing(value: str) -> None:
    assert site_identity(value, SHARED) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Mt Olympus Storage Ltd", "Mount Olympus Storage Limited"),
        ("St. George Mfg", "Saint George Manufacturing"),
        ("Acme Intl Svcs", "ACME International Services"),
        ("Gebr. Weber GmbH", "Gebrüder Weber"),
        ("Hnos. Garcia S.L.", "Hermanos García"),
        ("Müller Maschinenbau", "Mueller Masch."),
        ("The Acme Group", "Acme"),
        ("Acme Limied", "Acme Ltd"),
        ("Acme Corporaton", "Acme Corp."),
        ("Acme Foods (Europe)", "Acme Foods"),
        ("Acme Foods - Storage Division", "Acme Foods Inc"),
        ("Сocа Cola", "Coca Cola"),  # Cyrillic look-alike letters inside Latin words
    ],
)
def test_matcher_normaliser_equates_spellings(a: str, b: str) -> None:
    assert company_name(a).tokens == company_name(b).tokens


def test_matcher_normaliser_keeps_legal_words_used_as_names_and_dba_names() -> None:
    assert company_name("Brunel Company S.A.S.").legal_words == ("company",)
    assert company_name("Brunel Limited SAS").legal_words == ("limited",)
    dba = company_name("Acme Holdings LLC d/b/a Roadrunner Supplies")
    assert dba.tokens == ("acme",) and dba.alternates == (("roadrunner", "supplies"),)
    assert company_name("GmbH & Co. KG").tokens == ()
    assert company_name("x" * 3000).tokens  # a 3 KB name is cut, not a crash


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        # One-letter words: runs of initials join, a connective between two words reads "and", a
        # lone letter at either end stays as written (the tokeniser's fast path must keep all of it).
        ("I B M Corp", ("ibm",)),
        ("I.B.M. Corp", ("ibm",)),
        ("Smith e Jones", ("smith", "and", "jones")),
        ("e Motors Ltd", ("e", "motors")),
        ("Acme & Sons", ("acme", "and", "sons")),
        ("Acme+Sons", ("acme", "and", "sons")),
        ("O'Neil`s Bakery", ("oneils", "bakery")),
        ("O’Neil Svcs", ("oneil", "services")),
    ],
)
def test_matcher_tokens_of_initials_connectives_and_punctuation(name: str, tokens: tuple[str, ...]) -> None:
    assert company_name(name).tokens == tokens


@pytest.mark.parametrize(
    "host",
    [
        "acme.com", "shop.acme.co.uk", "co.uk", "com", "acme.github.io", "github.io", "b.a.github.io",
        "www.ck", "a.www.ck", "x.ck", "b.x.ck", "kawasaki.jp", "city.kawasaki.jp", "b.a.kawasaki.jp",
        "a.b.s3.dualstack.us-east-1.amazonaws.com", "q.x.compute.amazonaws.com", "999.1.1.1", "a.b.c.unknowntld",
        "acme.xn--p1ai", "xn--80ak6aa92e.com", "x.blogspot.com", "acme.myshopify.com",
    ],
)  # fmt: skip
def test_registrable_domain_walk_equals_tldextract(host: str) -> None:
    # The matcher walks tldextract's suffix trie itself (a million websites per large index): the answer
    # must be tldextract's own, wildcard and exception rules and the private section included.
    from sfsync.text import domain

    parts = domain._extractor()(host)
    expected = (f"{parts.domain}.{parts.suffix}", bool(parts.is_private)) if parts.domain and parts.suffix else None
    got = domain._registrable.__wrapped__(host)
    assert (got if got[0] is not None else None) == expected
    assert domain._suffix_trie() is not None  # the fast walk is the one under test, not the fallback
