"""A labelled evaluation set for the matcher, and the metrics over it.

``generate(n_customers, n_opportunities, seed)`` makes synthetic protected customers and
Opportunities whose accounts are known variants of them (or known non-matches):

positives (expected match kind in brackets)
    ``account_id`` [account_id], ``duns`` [duns], ``domain_only`` [domain: a different trading name,
    same website behind scheme/www/subdomain/path], and name-only [name]: ``suffix`` (legal form
    changed or dropped), ``abbreviation`` (International/Intl, Technologies/Tech, &/and, ...),
    ``word_order``, ``typo`` (one edit in a distinctive word), ``missing_word`` / ``extra_word``
    (Group, Holdings, Global, ...), ``case_accents`` (upper case, accents stripped, punctuation).
negatives
    ``near_miss`` (same distinctive word, another line of business: "Acme Foods" vs "Acme Tools"),
    ``other_country`` (the same name in another country, no shared identifier), ``unrelated``,
    ``junk`` (empty or meaningless account names, malformed websites).

Same seed, same set (``random.Random(seed)`` only; no global state, no clock).
"""

from __future__ import annotations

import gc
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sfsync.conflicts._index import CustomerIndex, Match, MatchQuery
from sfsync.conflicts._models import MatchKind, Opportunity, ProtectedCustomer, ProtectionSource
from sfsync.conflicts._normalize import normalize_name

__all__ = ["KindMetrics", "LabelledSet", "evaluate", "generate", "match_labelled"]

_CONSONANTS = "bcdfghjklmnprstvzk"
_VOWELS = "aeiou"
_ACCENTED = {"a": "á", "e": "é", "o": "ö", "u": "ü", "i": "í"}
_INDUSTRY = (
    "Foods", "Tools", "Motors", "Labs", "Energy", "Capital", "Logistics", "Pharma", "Textiles", "Media",
    "Software", "Electronics", "Chemicals", "Steel", "Mining", "Farms", "Dairy", "Brewing", "Retail",
    "Furniture", "Construction", "Realty", "Hotels", "Travel", "Health", "Medical", "Biotech",
    "Consulting", "Finance", "Marine", "Aviation", "Automotive", "Packaging", "Paper", "Plastics",
    "Robotics", "Networks", "Telecom", "Analytics", "Studios",
)
# Expanded form -> abbreviation; both spellings occur in real account names.
_ABBREVIATIONS = (
    ("International", "Intl"), ("Technologies", "Tech"), ("Manufacturing", "Mfg"), ("Services", "Svcs"),
    ("Systems", "Sys"), ("Laboratories", "Labs"), ("Brothers", "Bros"), ("Associates", "Assoc"),
    ("and", "&"), ("Industries", "Ind"), ("Solutions", "Soln"),
)
_GENERIC = ("Group", "Holdings", "Global", "Worldwide", "International")
_COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # country: (legal forms, top-level domains)
    "US": (("Inc", "Inc.", "LLC", "Corp.", "Corporation", "Co.", ""), ("com", "us", "io")),
    "GB": (("Ltd", "Limited", "PLC", "LLP", ""), ("co.uk", "com", "uk")),
    "DE": (("GmbH", "AG", "GmbH & Co. KG", "KG", "e.K.", ""), ("de", "com")),
    "FR": (("SA", "SARL", "S.A.S.", "SAS", ""), ("fr", "com")),
    "ES": (("S.A.", "S.L.", "SL", ""), ("es", "com")),
    "IT": (("S.p.A.", "S.r.l.", "SRL", ""), ("it", "com")),
    "NL": (("B.V.", "N.V.", "BV", ""), ("nl", "com")),
    "SE": (("AB", "Aktiebolag", ""), ("se", "com")),
    "PL": (("Sp. z o.o.", "S.A.", ""), ("pl", "com")),
    "JP": (("K.K.", "Kabushiki Kaisha", "Co., Ltd.", ""), ("co.jp", "jp", "com")),
    "BR": (("Ltda", "S.A.", ""), ("com.br", "com")),
    "AU": (("Pty Ltd", "Pty. Ltd.", "Limited", ""), ("com.au", "com")),
}
_COUNTRY_CODES = tuple(_COUNTRIES)
_COUNTRY_NAMES = {"US": "United States", "GB": "United Kingdom", "DE": "Germany", "FR": "France",
                  "NL": "Netherlands", "JP": "Japan"}

POSITIVE_VARIANTS = (
    "account_id", "duns", "domain_only", "suffix", "abbreviation", "word_order", "typo",
    "missing_word", "extra_word", "case_accents",
)
NEGATIVE_VARIANTS = ("near_miss", "other_country", "unrelated", "junk")
_EXPECTED_KIND = {"account_id": MatchKind.ACCOUNT_ID, "duns": MatchKind.DUNS, "domain_only": MatchKind.DOMAIN}
_WEIGHTS = {
    "account_id": 5, "duns": 5, "domain_only": 8, "suffix": 6, "abbreviation": 5, "word_order": 5,
    "typo": 6, "missing_word": 4, "extra_word": 4, "case_accents": 4,
    "near_miss": 14, "other_country": 10, "unrelated": 20, "junk": 4,
}


@dataclass(slots=True)
class _Entity:
    words: list[str]  # distinctive words + optional industry/abbreviable words
    legal: str
    country: str
    domain: str | None
    duns: str | None
    account_id: str | None
    postal: str

    def display(self, legal: str | None = None) -> str:
        suffix = self.legal if legal is None else legal
        return " ".join([*self.words, suffix]).strip()


@dataclass
class LabelledSet:
    """Protected customers, opportunities and the truth about which opportunity is which customer."""

    seed: int
    protected: list[ProtectedCustomer]
    opportunities: list[Opportunity]
    truth: dict[str, str | None]  # opportunity id -> customer key (None: should match nothing)
    variant: dict[str, str]  # opportunity id -> variant name
    expected_kind: dict[str, MatchKind]  # positives only


@dataclass
class KindMetrics:
    name: str
    true_positives: int = 0
    false_positives: int = 0
    true_negatives: int = 0  # opportunities that should match nothing and matched nothing
    false_negatives: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        denom = self.true_positives + self.false_positives
        return self.true_positives / denom if denom else 1.0

    @property
    def recall(self) -> float:
        denom = self.true_positives + self.false_negatives
        return self.true_positives / denom if denom else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


class _Gen:
    def __init__(self, seed: int, n_customers: int) -> None:
        self.rng = random.Random(seed)
        # Normalised names in use, world-wide: a name-only truth must be unambiguous.
        self.used_names: set[str] = set()
        self.used_domains: set[str] = set()
        self.serial = 0
        # Distinctive-word pools: customers draw from one, negatives from another, so an "unrelated"
        # account cannot be a protected company by accident. Pool size keeps words fairly rare.
        size = max(400, n_customers // 6)
        words = self._words(2 * size)
        self.customer_words = words[:size]
        self.other_words = words[size:]

    def _word(self) -> str:
        rng = self.rng
        syl = rng.choice((2, 3, 3, 4))
        text = "".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syl))
        if rng.random() < 0.3:
            text += rng.choice("nrstlm")
        return text.capitalize()

    def _words(self, count: int) -> list[str]:
        seen: set[str] = set()
        out: list[str] = []
        while len(out) < count:
            w = self._word()
            if w not in seen and w.casefold() not in {i.casefold() for i in _INDUSTRY}:
                seen.add(w)
                out.append(w)
        return out

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:012d}"

    def entity(self, pool: Sequence[str], country: str | None = None) -> _Entity:
        rng = self.rng
        while True:
            country = country or rng.choice(_COUNTRY_CODES)
            distinct = [rng.choice(pool)]
            if rng.random() < 0.45:
                distinct.append(rng.choice(pool))
            words = list(distinct)
            roll = rng.random()
            if roll < 0.55:
                words.append(rng.choice(_INDUSTRY))
            elif roll < 0.7:
                long, _short = rng.choice(_ABBREVIATIONS[:7])
                words.append(long)
            if rng.random() < 0.15:
                words.append(rng.choice(_GENERIC))
            if rng.random() < 0.1:
                i = rng.randrange(len(distinct))
                words[i] = "".join(_ACCENTED.get(c, c) if rng.random() < 0.3 else c for c in words[i])
            legal = rng.choice(_COUNTRIES[country][0])
            ent = _Entity(words, legal, country, None, None, None, f"{rng.randrange(10000, 99999)}")
            key = normalize_name(ent.display())
            if key and key not in self.used_names:
                self.used_names.add(key)
                return ent

    def website(self, ent: _Entity) -> str:
        base = "".join(ch for ch in normalize_name(" ".join(ent.words[:2])) if ch.isalnum()) or "site"
        tld = self.rng.choice(_COUNTRIES[ent.country][1])
        dom = f"{base}.{tld}"
        while dom in self.used_domains:
            dom = f"{base}{self.rng.randrange(1000)}.{tld}"
        self.used_domains.add(dom)
        return dom

    def duns(self) -> str:
        self.serial += 1
        return f"{100000000 + self.serial * 7919 % 899999999:09d}"


def _typo(word: str, rng: random.Random) -> str:
    op = rng.choice(("sub", "del", "ins", "swap"))
    i = rng.randrange(1, len(word) - 1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    if op == "sub":
        return word[:i] + rng.choice([c for c in letters if c != word[i].lower()]) + word[i + 1 :]
    if op == "del":
        return word[:i] + word[i + 1 :]
    if op == "ins":
        return word[:i] + rng.choice(letters) + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _strip_accents(text: str) -> str:
    back = {v: k for k, v in _ACCENTED.items()}
    return "".join(back.get(c, c) for c in text)


def _name_variant(variant: str, ent: _Entity, gen: _Gen) -> str:
    rng = gen.rng
    words = list(ent.words)
    legal_options = [f for f in _COUNTRIES[ent.country][0] if f != ent.legal]
    if variant == "suffix":
        return " ".join([*words, rng.choice(legal_options)]).strip()
    if variant == "abbreviation":
        for i, w in enumerate(words):
            for long, short in _ABBREVIATIONS:
                if w == long:
                    words[i] = short
                    return " ".join([*words, ent.legal]).strip()
                if w == short:
                    words[i] = long
                    return " ".join([*words, ent.legal]).strip()
        # No abbreviable word: spell the legal form the other way round.
        swaps = {"Corporation": "Corp.", "Corp.": "Corporation", "Limited": "Ltd", "Ltd": "Limited",
                 "Incorporated": "Inc.", "Inc": "Incorporated"}
        return " ".join([*words, swaps.get(ent.legal, rng.choice(legal_options))]).strip()
    if variant == "word_order":
        if len(words) >= 2:
            i = rng.randrange(len(words) - 1)
            words[i], words[i + 1] = words[i + 1], words[i]
        return " ".join([*words, ent.legal]).strip()
    if variant == "typo":
        longest = max(range(len(words)), key=lambda k: (len(words[k]) if words[k] not in _INDUSTRY else 0))
        if len(words[longest]) >= 5:
            words[longest] = _typo(words[longest], rng)
        return " ".join([*words, ent.legal]).strip()
    if variant == "missing_word":
        generic = [w for w in words if w in _GENERIC]
        if generic:
            words.remove(generic[0])
            return " ".join([*words, ent.legal]).strip()
        return " ".join(words)  # drop the legal form
    if variant == "extra_word":
        words.insert(len(words), rng.choice([g for g in _GENERIC if g not in words]))
        return " ".join([*words, ent.legal]).strip()
    # case_accents
    text = _strip_accents(ent.display()).upper()
    return text.replace(" ", rng.choice((" ", ", ", " - ", "  "))) if rng.random() < 0.5 else text


def _website_variant(domain: str, rng: random.Random) -> str:
    return rng.choice((
        f"https://www.{domain}/", f"http://{domain}", f"www.{domain}", f"https://shop.{domain}/en/contact",
        f"HTTPS://WWW.{domain.upper()}/About?x=1", f"{domain}",
    ))


def generate(n_customers: int, n_opportunities: int, seed: int = 0) -> LabelledSet:
    """A deterministic labelled set: ``n_customers`` protected customers, ``n_opportunities`` accounts."""
    if n_customers < 1 or n_opportunities < 0:
        raise ValueError("need at least one customer and a non-negative number of opportunities")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of acyclic objects: see CustomerIndex
    try:
        return _generate(n_customers, n_opportunities, seed)
    finally:
        if gc_was_enabled:
            gc.enable()


def _generate(n_customers: int, n_opportunities: int, seed: int) -> LabelledSet:
    gen = _Gen(seed, n_customers)
    rng = gen.rng
    entities: list[_Entity] = []
    protected: list[ProtectedCustomer] = []
    for _ in range(n_customers):
        ent = gen.entity(gen.customer_words)
        if rng.random() < 0.7:
            ent.domain = gen.website(ent)
        if rng.random() < 0.4:
            ent.duns = gen.duns()
        if rng.random() < 0.3:
            ent.account_id = gen.next_id("001")
        entities.append(ent)
        protected.append(ProtectedCustomer(
            key=f"REG-{len(protected):07d}",
            source=ProtectionSource.DEAL_REGISTRATION,
            name=ent.display(),
            website=ent.domain,
            country=_COUNTRY_NAMES.get(ent.country, ent.country) if rng.random() < 0.5 else ent.country,
            postal_code=ent.postal,
            duns=ent.duns,
            account_id=ent.account_id,
            partner_number=f"P{rng.randrange(1, 500):04d}",
            partner_name="Partner",
            registration_number=f"REG-{len(protected):07d}",
        ))
    variants = list(_WEIGHTS)
    weights = [_WEIGHTS[v] for v in variants]
    opportunities: list[Opportunity] = []
    truth: dict[str, str | None] = {}
    variant_of: dict[str, str] = {}
    expected: dict[str, MatchKind] = {}
    for _ in range(n_opportunities):
        variant = rng.choices(variants, weights)[0]
        opp_id = gen.next_id("006")
        idx = rng.randrange(n_customers)
        ent = entities[idx]
        target: str | None = protected[idx].key
        name: str | None = ent.display()
        website: str | None = None
        country: str | None = ent.country
        duns: str | None = None
        account_id: str | None = None
        postal: str | None = ent.postal if rng.random() < 0.3 else None
        if variant == "account_id":
            if ent.account_id is None:
                variant = "suffix"
            else:
                account_id = ent.account_id
                name = _name_variant(rng.choice(("suffix", "typo", "case_accents")), ent, gen)
        elif variant == "duns":
            if ent.duns is None:
                variant = "typo"
            else:
                duns = f"{ent.duns[:2]}-{ent.duns[2:5]}-{ent.duns[5:]}" if rng.random() < 0.5 else ent.duns
                name = _name_variant("suffix", ent, gen)
        elif variant == "domain_only":
            if ent.domain is None:
                variant = "word_order"
            else:
                website = _website_variant(ent.domain, rng)
                brand = gen.entity(gen.other_words)
                name = brand.display()
                country = rng.choice((ent.country, brand.country))
        if variant in POSITIVE_VARIANTS and variant not in _EXPECTED_KIND:
            name = _name_variant(variant, ent, gen)
            if rng.random() < 0.1:
                country = None
        elif variant == "near_miss":
            target = None
            # Another line of business: every descriptive word replaced by a different industry.
            descriptive = set(_INDUSTRY) | set(_GENERIC) | {w for pair in _ABBREVIATIONS for w in pair}
            others = [w for w in _INDUSTRY if w not in ent.words]
            words = [w for w in ent.words if w not in descriptive]
            name = " ".join([*words, rng.choice(others), ent.legal]).strip()
            postal = None
            if normalize_name(name) in gen.used_names:
                variant, name = "unrelated", None
        elif variant == "other_country":
            target = None
            country = rng.choice([c for c in _COUNTRY_CODES if c != ent.country])
            name = " ".join([*ent.words, rng.choice(_COUNTRIES[country][0])]).strip()
            postal = None
        if variant == "unrelated":
            target = None
            other = gen.entity(gen.other_words)
            name, country = other.display(), other.country
            website = gen.website(other) if rng.random() < 0.6 else None
            postal = None
        elif variant == "junk":
            target = None
            name = rng.choice(("", "???", "n/a", "-", "Test", None))
            website = rng.choice((None, "not a website", "http://", "localhost", "www.", "mailto:"))
            country = rng.choice((None, "Atlantis", "??"))
            postal = None
        if country is not None and rng.random() < 0.3:
            country = _COUNTRY_NAMES.get(country, country)
        opportunities.append(Opportunity.model_construct(
            id=opp_id, name=f"Opportunity {opp_id}", account_id=account_id, account_name=name,
            account_website=website, account_country=country, account_postal_code=postal,
            account_duns=duns, owner_role="Direct Sales", owner_profile=None, stage="Prospecting",
            amount=None, product_lines=frozenset(), system_modstamp=None, fields={},
        ))
        truth[opp_id] = target
        variant_of[opp_id] = variant
        if target is not None:
            expected[opp_id] = _EXPECTED_KIND.get(variant, MatchKind.NAME)
    return LabelledSet(seed, protected, opportunities, truth, variant_of, expected)


def evaluate(
    labelled: LabelledSet,
    matches: Iterable[tuple[str, Sequence[Match]]],
) -> dict[str, KindMetrics]:
    """Precision/recall/F1 per match kind, per variant and overall.

    ``matches`` pairs each opportunity id with the matches found for it. A predicted pair is a true
    positive when it names the labelled customer. Per match kind, precision counts predictions made
    *by* that kind and recall counts labels *expecting* that kind (found by any path).
    """
    table: dict[str, KindMetrics] = defaultdict(lambda: KindMetrics(""))
    seen: set[str] = set()

    def bump(name: str, attr: str, example: str | None = None) -> None:
        metrics = table[name]
        metrics.name = name
        setattr(metrics, attr, getattr(metrics, attr) + 1)
        if example and len(metrics.examples) < 5:
            metrics.examples.append(example)

    for opp_id, found in matches:
        seen.add(opp_id)
        target = labelled.truth.get(opp_id)
        variant = labelled.variant.get(opp_id, "?")
        hit = False
        for m in found:
            correct = m.customer.key == target
            hit = hit or correct
            attr = "true_positives" if correct else "false_positives"
            example = None if correct else f"{opp_id} {variant}: {m.evidence.get('name', m.evidence)}"
            bump("overall", attr, example)
            bump(f"kind:{m.kind.value}", attr, example)
            bump(f"variant:{variant}", attr, example)
        if target is None and not found:
            bump(f"variant:{variant}", "true_negatives")
            bump("overall", "true_negatives")
        if target is not None and not hit:
            bump("overall", "false_negatives", f"{opp_id} {variant}")
            bump(f"kind:{labelled.expected_kind[opp_id].value}", "false_negatives", f"{opp_id} {variant}")
            bump(f"variant:{variant}", "false_negatives", f"{opp_id} {variant}")
    for opp_id, target in labelled.truth.items():
        if opp_id not in seen and target is not None:
            bump("overall", "false_negatives")
            bump(f"kind:{labelled.expected_kind[opp_id].value}", "false_negatives")
    return dict(table)


def match_labelled(index: CustomerIndex, labelled: LabelledSet) -> list[tuple[str, list[Match]]]:
    """Run ``index.match`` over every opportunity of a labelled set."""
    return [(opp.id, index.match(MatchQuery.from_opportunity(opp))) for opp in labelled.opportunities]

