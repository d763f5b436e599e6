from __future__ import annotations

from pathlib import Path

import pytest
from conflict_corpus import generate
from conflict_evaluation import match_all_pairs

from sfsync.conflicts import (
    Agreement,
    CountryGuard,
    CustomerIndex,
    MatchKind,
    MatchQuery,
    ProtectedCustomer,
    ProtectionSource,
    load_rules,
    token_alignment_score,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = load_rules(REPO / "mappings" / "conflict_rules.yaml").matching


def cust(key: str, name: str | None, **kw: str | None) -> ProtectedCustomer:
    return ProtectedCustomer(
        key=key,
        source=ProtectionSource.DEAL_REGISTRATION,
        name=name,
        registration_number=key,
        partner_number="P1",
        **kw,
    )  # type: ignore[arg-type]


CUSTOMERS = [
    cust(
        "R1",
        "Acme Foods GmbH",
        website="acmefoods.de",
        country="DE",
        postal_code="10115",
        duns="123456789",
        account_id="001000000000001AAA",
    ),
    cust("R2", "Zentrova Kalimar Logistics Ltd", country="GB", postal_code="EC1A 1BB"),
    cust("R3", "Bellweather Analytics Inc", website="https://bellweather.io/", country="US"),
    cust("R4", "Acme Tools AG", country="DE"),
    cust("R5", "Quintessa Pharma SA", country="FR"),
    cust(
        "R6", "Olympus Storage Ltd", website="https://olympus-storage.myshopify.com", country="GB", postal_code="M1 1AA"
    ),
    cust("R7", "Pelargo Design", website="https://sites.google.com/view/pelargo", country="FR"),
    cust("R8", "Jones & Smith LLP", website="jonessmith.co.uk", country="GB", postal_code="LS1 4AP"),
    cust("R9", "Brunel Company S.A.S.", website="brunelcompany.fr", country="FR", postal_code="75001"),
    cust("R10", "Mount Kelvar Storage Limited", country="GB", postal_code="G1 1XQ"),
    cust("R11", "Varnholt Stowage Ltd", website="varnholt-stowage.co.uk", country="GB", postal_code="SO14 2AA"),
]


def index(**rules: object) -> CustomerIndex:
    return CustomerIndex(CUSTOMERS, SHIPPED.model_copy(update=rules))


def keys(matches: list) -> list[str]:  # type: ignore[type-arg]
    return sorted(m.customer.key for m in matches)


def test_account_id_match_with_typed_evidence() -> None:
    [m] = index().match(MatchQuery(name="Something Else Entirely", account_id="001000000000001AAA", country="DE"))
    assert (m.customer.key, m.kind) == ("R1", MatchKind.ACCOUNT_ID)
    account = m.evidence.component("account_id")
    assert account is not None and account.agreement is Agreement.AGREED and account.weight > 0
    name = m.evidence.component("name")
    assert name is not None and name.agreement is Agreement.DISAGREED and name.weight < 0
    assert 0 < m.evidence.probability <= 1 and m.score == round(100 * m.probability, 1)


def test_duns_match_across_formatting() -> None:
    [m] = index().match(MatchQuery(name="Acme Foods", duns="12-345-6789", country="DE"))
    assert (m.customer.key, m.kind) == ("R1", MatchKind.DUNS)


def test_own_domain_match_from_messy_website() -> None:
    [m] = index().match(MatchQuery(name="Bellweather", website="HTTPS://www.eu.bellweather.io/about", country="US"))
    assert (m.customer.key, m.kind) == ("R3", MatchKind.DOMAIN)
    assert m.evidence.component("website").level == "own_agree"  # type: ignore[union-attr]


def test_no_website_or_name_alone_crosses_two_countries() -> None:
    assert index().match(MatchQuery(name="Acme Foods", country="FR")) == []
    assert index().match(MatchQuery(name="BW Insights", website="bellweather.io", country="FR")) == []


def test_shared_platform_is_a_tenant_not_a_company() -> None:
    idx = index()
    # another shop on the same platform, another country: nothing (the old scanner filed Block 100)
    assert idx.match(MatchQuery(name="Zeta Candles", website="zeta.myshopify.com", country="US")) == []
    assert idx.match(MatchQuery(name="Other Studio", website="sites.google.com/view/other", country="FR")) == []
    # the same shop: a match, but weaker than an own domain, and said so without the shop's name
    [m] = idx.match(MatchQuery(name="Olympus Storage", website="olympus-storage.myshopify.com", country="UK"))
    site = m.evidence.component("website")
    assert site is not None and site.level == "tenant_agree"
    assert "myshopify.com" in site.explanation and "olympus" not in site.explanation.casefold()
    assert site.weight < idx._weights[(site_component(), "own_agree")]


def site_component():  # type: ignore[no-untyped-def]
    from sfsync.conflicts import Component

    return Component.WEBSITE


def test_same_platform_different_tenant_is_evidence_against() -> None:
    idx = index()
    query = MatchQuery(name="Pelargo Design", website="sites.google.com/view/pelargo-paris", country="FR")
    position = next(i for i, c in enumerate(idx.customers) if c.key == "R7")
    vector, _ = idx.compare(idx.prepare(query), position)
    assert vector[2] == "same_platform"
    assert idx._weights[(site_component(), "same_platform")] < 0
    # the same name on another site of the same site builder: not enough to file a conflict
    assert idx.match(query) == []


@pytest.mark.parametrize(
    "site",
    ["gmail.com", "info@gmail.com", "n/a", "-", "192.168.0.1", "mailto:", "https://" + "x/" * 1000, "http://", "www."],
)
def test_garbage_and_free_mail_websites_never_match_alone(site: str) -> None:
    idx = CustomerIndex([cust("G", "Gee Mail User", website="gmail.com", country="US")], SHIPPED)
    assert idx.match(MatchQuery(name="Totally Other", website=site, country="US")) == []


@pytest.mark.parametrize("name", ["Ltd", "GmbH & Co. KG", "", "   ", "S.A.", "株式会社", "Ооо"])
def test_names_that_are_only_a_legal_form_or_empty_never_match(name: str) -> None:
    idx = CustomerIndex([cust("L", "Ltd", country="GB"), cust("K", "GmbH & Co. KG", country="DE")], SHIPPED)
    assert idx.match(MatchQuery(name=name, country="GB")) == []
    assert idx.match(MatchQuery(name=name, country="DE")) == []


def test_abbreviation_mt_mount_same_postcode() -> None:
    assert keys(index().match(MatchQuery(name="Mt Kelvar Storage Ltd", country="GB", postal_code="g11xq"))) == ["R10"]


def test_typo_inside_the_legal_form() -> None:
    assert keys(index().match(MatchQuery(name="Zentrova Kalimar Logistics Limied", country="GB"))) == ["R2"]


def test_reversed_surnames_need_support() -> None:
    idx = index()
    # another firm: the surnames reversed, its own website and postcode
    assert (
        idx.match(
            MatchQuery(name="Smith & Jones Ltd", website="smithjones.co.uk", country="GB", postal_code="EC2A 2BB")
        )
        == []
    )
    # the same firm written the other way round, same postcode
    assert keys(idx.match(MatchQuery(name="Smith and Jones", country="GB", postal_code="LS1 4AP"))) == ["R8"]


def test_legal_form_word_used_as_the_name() -> None:
    m = index().match(
        MatchQuery(name="Brunel Limited SAS", website="brunel-limited.fr", country="FR", postal_code="69001")
    )
    assert m == []


def test_near_word_with_different_own_domains_is_not_a_match() -> None:
    assert (
        index().match(
            MatchQuery(
                name="Varnholt Storage Ltd", website="varnholt-storage.co.uk", country="GB", postal_code="SO15 1AA"
            )
        )
        == []
    )


def test_unknown_country_allowed_or_blocked_by_rule() -> None:
    assert keys(index().match(MatchQuery(name="Acme Foods", country="Atlantis"))) == ["R1"]
    blocked = index(unknown_country=CountryGuard.BLOCK)
    assert blocked.match(MatchQuery(name="Acme Foods")) == []
    assert keys(blocked.match(MatchQuery(name="Acme Foods", website="acmefoods.de"))) == ["R1"]


def test_near_miss_distractors_not_matched() -> None:
    idx = index()
    assert keys(idx.match(MatchQuery(name="Acme Tools", country="DE"))) == ["R4"]
    assert idx.match(MatchQuery(name="Acme Motors", country="DE")) == []
    assert keys(idx.match(MatchQuery(name="Acme Foosd", country="DE"))) == ["R1"]  # a typo, not a business
    assert idx.match(MatchQuery(name="Bellweather Pharma", country="US")) == []


def test_token_alignment_scores() -> None:
    assert token_alignment_score(["acme", "foods"], ["foods", "acme"]) == 100.0
    assert token_alignment_score(["coca", "cola"], ["cocacola"]) == 100.0
    assert token_alignment_score(["kalimar"], ["kalimer"]) == 92.0
    assert token_alignment_score([], ["x"]) == 0.0


@pytest.mark.parametrize("seed", [3, 11])
def test_blocking_finds_the_same_matches_as_all_pairs(seed: int) -> None:
    corpus = generate(150, 80, seed)
    idx = CustomerIndex(corpus.protected, SHIPPED)
    for opp in corpus.opportunities:
        q = MatchQuery.from_opportunity(opp)
        fast = sorted((m.customer.key, m.score) for m in idx.match(q))
        slow = sorted((m.customer.key, m.score) for m in match_all_pairs(idx, q))
        assert fast == slow, opp.account_name


def test_joined_and_split_spellings_are_candidates() -> None:
    idx = CustomerIndex(
        [cust("C1", "Coca Cola Bottling", country="US"), cust("C2", "Pepsicola Inc", country="US")], SHIPPED
    )
    assert keys(idx.match(MatchQuery(name="CocaCola Bottling", country="US"))) == ["C1"]
    assert keys(idx.match(MatchQuery(name="Pepsi Cola", country="US"))) == ["C2"]


def _decisions(idx: CustomerIndex, queries: list[MatchQuery]) -> list[list[tuple[str, str, str]]]:
    return [[(m.customer.key, repr(m.probability), m.evidence.to_json()) for m in idx.match(q)] for q in queries]


def test_vectorised_prefilter_drops_candidates_but_no_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 11 speed: the numpy pre-filter (large indexes) must leave every decision as the loop makes it.
    from sfsync.conflicts import _index

    monkeypatch.setattr(_index, "_MIN_VECTOR_CANDIDATES", 1)
    corpus = generate(800, 1000, 3)
    queries = [MatchQuery.from_opportunity(o) for o in corpus.opportunities]
    plain = CustomerIndex(corpus.protected, SHIPPED, vectorised=False)
    vector = CustomerIndex(corpus.protected, SHIPPED, vectorised=True)
    assert vector._vectors is not None and plain._vectors is None
    prepared = [vector.prepare(q) for q in queries if vector.prepare(q).has_evidence]
    considered = sum(len(vector.candidates(p)) for p in prepared)
    kept = sum(len(list(vector._vectors.survivors(p, vector.candidates(p)))) for p in prepared)
    assert kept < considered / 2  # it does drop most candidates ...
    assert _decisions(vector, queries) == _decisions(plain, queries)  # ... and changes no decision


def test_parallel_normalisation_builds_the_same_index(monkeypatch: pytest.MonkeyPatch) -> None:
    from sfsync.conflicts import _index

    monkeypatch.setattr(_index, "_PARALLEL_MIN", 0)
    corpus = generate(300, 10, 4)
    one = CustomerIndex(corpus.protected, SHIPPED, workers=1)
    two = CustomerIndex(corpus.protected, SHIPPED, workers=3)
    for column in ("_names", "_site", "_postal", "_country", "_duns", "_account"):
        assert getattr(two, column) == getattr(one, column), column
    assert len(two._names) == len(corpus.protected)
    assert (two.postings, two.by_site, two.by_duns, two.by_account) == (
        one.postings,
        one.by_site,
        one.by_duns,
        one.by_account,
    )


def test_repeated_raw_websites_and_postcodes_normalise_as_each_alone() -> None:
    # Issue 11 speed: the build normalises each distinct raw website / postal code once; every
    # customer still gets what normalising its own value gives, repeats and near-repeats alike.
    from sfsync.conflicts._index import _normalise
    from sfsync.conflicts._normalize import normalize_postal
    from sfsync.text.domain import site_identity

    websites = ["acme.com", "https://shop.acme.com", "acme.com", "ACME.com", "x.myshopify.com", "n/a", "acme.com"]
    postcodes = ["ec1a 1bb", "EC1A1BB", "ec1a 1bb", "10115", "", "10115", "ec1a 1bb"]
    customers = [
        cust(f"R{i}", "Acme Ltd", website=w, postal_code=p or None)
        for i, (w, p) in enumerate(zip(websites, postcodes, strict=True))
    ]
    hosts = SHIPPED.hosts()
    _names, _country, postal, _account, _duns, site = _normalise(customers, hosts)
    assert site == [site_identity(w, hosts) for w in websites]
    assert postal == [normalize_postal(p) if p else None for p in postcodes]
    assert site[0] is not None and site[5] is None and site[4] is not None and site[4].is_tenant
