"""A hard labelled corpus for the conflict matcher (bench and tests; not shipped in the package).

``generate(n_customers, n_opportunities, seed)`` makes protected customers and direct-rep
Opportunities whose accounts are, by category, the same customer written another way (positives)
or another company made to look alike (negatives). Categories follow what real CRM data holds:

positives
    account_id, duns, own_domain (another trading name, same website), suffix (legal form changed),
    abbreviation (Mt/Mount, St/Saint, Intl, Svcs, Gebr., Hnos, &/and, ... in ten countries'
    languages), typo (one edit in a distinctive word), legal_typo ("Limied"), word_order (same firm,
    words reordered, with a shared postal code or website), the_prefix ("The ..."), accents
    (dropped accents, ü/ue, Cyrillic vs Latin), dba (a trading name), division ("- Storage
    Division"), holding ("... Holdings"), tenant (the same shop/site on a shared platform),
    empty_fields (name only: no country, postal code or website on the Opportunity)
negatives
    shared_platform (two companies on one site builder / shop platform / social network / code
    host, often in two countries), free_mail (free-mail addresses as websites), near_word ("X
    Stowage" vs "X Storage": the distinctive word changed into another real word, own websites and
    postcodes differ), surname_swap ("Jones & Smith" vs "Smith & Jones", another firm),
    legal_word_name ("Brunel Company S.A.S." vs "Brunel Limited SAS"), other_country (the same
    name in another country), subsidiary (a sister company with its own website), near_miss
    (same word, other trade), unrelated, junk (garbage websites and names, mixed scripts)

Same seed, same corpus (``random.Random(seed)`` only). The bench tunes on seed 1 and reports an
untouched seed 2 beside it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from sfsync.conflicts import Opportunity, ProtectedCustomer, ProtectionSource
from sfsync.conflicts._normalize import normalize_name

POSITIVE = (
    "account_id", "duns", "own_domain", "suffix", "abbreviation", "typo", "legal_typo", "word_order",
    "the_prefix", "accents", "dba", "division", "holding", "tenant", "empty_fields",
)  # fmt: skip
NEGATIVE = (
    "shared_platform", "free_mail", "near_word", "surname_swap", "legal_word_name", "other_country",
    "subsidiary", "near_miss", "unrelated", "junk",
)  # fmt: skip
_WEIGHTS = {
    "account_id": 3, "duns": 3, "own_domain": 6, "suffix": 6, "abbreviation": 5, "typo": 5, "legal_typo": 3,
    "word_order": 3, "the_prefix": 2, "accents": 4, "dba": 2, "division": 2, "holding": 2, "tenant": 3,
    "empty_fields": 3,
    "shared_platform": 12, "free_mail": 4, "near_word": 5, "surname_swap": 3, "legal_word_name": 3,
    "other_country": 6, "subsidiary": 4, "near_miss": 6, "unrelated": 10, "junk": 3,
}  # fmt: skip

_C, _V = "bcdfghjklmnprstvz", "aeiou"
COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "US": (("Inc", "Inc.", "LLC", "Corp.", "Corporation", "Co."), ("com", "us")),
    "GB": (("Ltd", "Limited", "PLC", "LLP"), ("co.uk", "com")),
    "DE": (("GmbH", "AG", "GmbH & Co. KG", "KG"), ("de", "com")),
    "FR": (("SA", "SARL", "S.A.S.", "SAS"), ("fr", "com")),
    "ES": (("S.A.", "S.L.", "SL"), ("es", "com")),
    "IT": (("S.p.A.", "S.r.l.", "SRL"), ("it", "com")),
    "NL": (("B.V.", "N.V.", "BV"), ("nl", "com")),
    "SE": (("AB", "Aktiebolag"), ("se", "com")),
    "PL": (("Sp. z o.o.", "S.A."), ("pl", "com")),
    "BR": (("Ltda", "S.A."), ("com.br", "com")),
}
_COUNTRY_NAMES = {
    "US": "United States",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "NL": "Netherlands",
    "SE": "Sweden",
    "PL": "Poland",
    "BR": "Brazil",
    "ES": "Spain",
    "IT": "Italy",
}
_TRADES = (
    "Foods", "Tools", "Motors", "Energy", "Logistics", "Textiles", "Media", "Software", "Electronics",
    "Chemicals", "Steel", "Mining", "Farms", "Dairy", "Brewing", "Retail", "Furniture", "Realty", "Hotels",
    "Travel", "Health", "Biotech", "Consulting", "Marine", "Aviation", "Packaging", "Paper", "Plastics",
    "Robotics", "Networks", "Telecom", "Analytics", "Studios", "Storage", "Printing", "Trading", "Heating",
)  # fmt: skip
# Long form -> short forms seen in account names (per language).
_ABBREV = (
    ("Mount", "Mt"), ("Saint", "St"), ("International", "Intl"), ("Services", "Svcs"), ("Technologies", "Tech"),
    ("Manufacturing", "Mfg"), ("Brothers", "Bros"), ("Associates", "Assoc"), ("and", "&"), ("Group", "Grp"),
    ("Gebrüder", "Gebr."), ("Hermanos", "Hnos."), ("Fratelli", "F.lli"), ("Compagnie", "Cie"),
    ("Industries", "Ind."), ("Distribution", "Dist."), ("Engineering", "Eng."), ("Management", "Mgmt"),
)  # fmt: skip
# Pairs of real words one edit apart ("Stowage" / "Storage"): a changed word, not a typo.
_NEAR_WORDS = (
    ("Storage", "Stowage"), ("Mining", "Mixing"), ("Printing", "Painting"), ("Heating", "Seating"),
    ("Trading", "Grading"), ("Marine", "Martine"), ("Paper", "Pager"), ("Motors", "Mentors"),
    ("Dairy", "Daily"), ("Hotels", "Hostels"), ("Farms", "Forms"), ("Media", "Medic"), ("Steel", "Steep"),
    ("Tools", "Pools"), ("Travel", "Gravel"), ("Energy", "Energo"), ("Plastics", "Elastics"),
    ("Brewing", "Brewery"), ("Textiles", "Textile"), ("Studios", "Studies"),
)  # fmt: skip
_SURNAMES = (
    "Smith", "Jones", "Taylor", "Brown", "Walker", "Wright", "Hughes", "Edwards", "Green", "Hall", "Wood",
    "Harris", "Clarke", "Turner", "Baker", "Parker", "Mueller", "Schmidt", "Weber", "Wagner", "Becker",
    "Dubois", "Moreau", "Laurent", "Garcia", "Martinez", "Rossi", "Bianchi", "Jansen", "Bakker", "Nowak",
    "Kowalski", "Silva", "Santos", "Andersson", "Nilsson", "Lindqvist", "Romano", "Fischer", "Lefebvre",
)  # fmt: skip
PLATFORMS = (
    "https://{t}.myshopify.com", "https://sites.google.com/view/{t}", "{t}.github.io", "http://{t}.blogspot.com",
    "https://www.facebook.com/{t}", "https://www.linkedin.com/company/{t}", "{t}.wixsite.com/home",
    "https://{t}.squarespace.com", "https://{t}.wordpress.com", "https://www.etsy.com/shop/{t}",
    "https://{t}.netlify.app", "https://instagram.com/{t}",
)  # fmt: skip
_PLATFORM_MARKS = tuple(
    p.replace("{t}", "\0").split("\0")[1].split("/")[0].lstrip(".") or p.split("/")[2] for p in PLATFORMS
)
_FREE_MAIL = ("gmail.com", "hotmail.com", "yahoo.com", "outlook.com", "gmx.de", "orange.fr", "wp.pl", "libero.it")
_JUNK_SITES = (
    "n/a",
    "-",
    "none",
    "192.168.10.4",
    "http://10.0.0.1/shop",
    "mailto:",
    "www.",
    "http://",
    "https://example" + "/x" * 1000,
    "tbd",
    "???",
)
_JUNK_NAMES = ("Ltd", "GmbH & Co. KG", "", "-", "N/A", "S.A.", "Inc.", "??", "Ооо Ltd", "株式会社")
_CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "k": "к", "m": "м", "t": "т"})
_ACCENT = {"a": "á", "e": "é", "o": "ö", "u": "ü", "i": "í", "c": "ç", "n": "ñ"}


@dataclass(slots=True)
class _Company:
    words: list[str]
    legal: str
    country: str
    postal: str
    site: str | None
    duns: str | None
    account_id: str | None

    def name(self, legal: str | None = None) -> str:
        return " ".join([*self.words, self.legal if legal is None else legal]).strip()


@dataclass
class Corpus:
    seed: int
    protected: list[ProtectedCustomer]
    opportunities: list[Opportunity]
    truth: dict[str, str | None]  # opportunity id -> customer key (None: must match nothing)
    category: dict[str, str]  # opportunity id -> category
    examples: dict[str, tuple[str, str]] = field(default_factory=dict)  # category -> (protected, opportunity)


class _Gen:
    def __init__(self, seed: int, n_customers: int) -> None:
        self.rng = random.Random(seed)
        self.serial = 0
        self.used: set[str] = set()
        size = max(600, n_customers // 5)
        words: list[str] = []
        seen: set[str] = set()
        while len(words) < 2 * size:
            w = self._word()
            if w not in seen:
                seen.add(w)
                words.append(w)
        self.mine, self.theirs = words[:size], words[size:]
        self.postals = {c: [f"{self.rng.randrange(10000, 99999)}" for _ in range(3000)] for c in COUNTRIES}

    def _word(self) -> str:
        rng = self.rng
        text = "".join(rng.choice(_C) + rng.choice(_V) for _ in range(rng.choice((2, 3, 3, 4))))
        if rng.random() < 0.3:
            text += rng.choice("nrstlm")
        return text.capitalize()

    def next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{prefix}{self.serial:012d}"

    def duns(self) -> str:
        return f"{self.rng.randrange(100_000_000, 999_999_999)}"

    def own_site(self, words: Sequence[str], country: str) -> str:
        rng = self.rng
        base = "".join(c for c in normalize_name(" ".join(words[:2])) if c.isalnum()) or "site"
        base = f"{base}{rng.randrange(10, 99)}" if rng.random() < 0.3 else base
        dom = f"{base}.{rng.choice(COUNTRIES[country][1])}"
        return rng.choice((dom, f"www.{dom}", f"https://www.{dom}/", f"http://{dom}/about", f"https://shop.{dom}"))

    def platform_site(self, words: Sequence[str], pattern: str | None = None) -> str:
        tenant = "".join(w.casefold() for w in words[:2] if w.isalpha())[:20] or "shop"
        return (pattern or self.rng.choice(PLATFORMS)).format(t=tenant)

    def company(self, pool: Sequence[str], country: str | None = None, words: list[str] | None = None) -> _Company:
        rng = self.rng
        while True:
            cc = country or rng.choice(tuple(COUNTRIES))
            if words is None:
                chosen = [rng.choice(pool)]
                if rng.random() < 0.4:
                    chosen.append(rng.choice(pool))
                if rng.random() < 0.6:
                    chosen.append(rng.choice(_TRADES))
            else:
                chosen = list(words)
            legal = rng.choice(COUNTRIES[cc][0])
            # Normalised names are unique world-wide: a name-only truth must be unambiguous.
            key = normalize_name(" ".join(chosen))
            if words is not None or key not in self.used:
                self.used.add(key)
                break
        roll = rng.random()
        site = self.own_site(chosen, cc) if roll < 0.7 else self.platform_site(chosen) if roll < 0.85 else None
        return _Company(
            chosen,
            legal,
            cc,
            rng.choice(self.postals[cc]),
            site,
            self.duns() if rng.random() < 0.3 else None,
            self.next_id("001") + "AAA" if rng.random() < 0.25 else None,
        )


def _protected(gen: _Gen, co: _Company) -> ProtectedCustomer:
    key = gen.next_id("R")
    return ProtectedCustomer(
        key=key,
        source=ProtectionSource.DEAL_REGISTRATION,
        name=co.name(),
        website=co.site,
        country=gen.rng.choice((co.country, _COUNTRY_NAMES.get(co.country, co.country))),
        postal_code=co.postal,
        duns=co.duns,
        account_id=co.account_id,
        registration_number=key,
        partner_number="P1",
    )


def _opportunity(
    gen: _Gen,
    name: str | None,
    *,
    site: str | None,
    country: str | None,
    postal: str | None,
    duns: str | None = None,
    account_id: str | None = None,
) -> Opportunity:
    oid = gen.next_id("006")
    return Opportunity(
        id=oid,
        name=f"Deal {oid[-6:]}",
        account_id=account_id or gen.next_id("001"),
        account_name=name,
        account_website=site,
        account_country=country,
        account_postal_code=postal,
        account_duns=duns,
        owner_role="Direct Sales Rep",
        stage="Prospecting",
    )


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("swap", "drop", "double", "sub"))
    if op == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    if op == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(_V) + word[i + 1 :]


def _maybe(rng: random.Random, value: str | None, keep: float) -> str | None:
    return value if rng.random() < keep else None


def generate(n_customers: int, n_opportunities: int, seed: int) -> Corpus:
    gen = _Gen(seed, n_customers)
    rng = gen.rng
    companies = [gen.company(gen.mine) for _ in range(n_customers)]
    protected = [_protected(gen, co) for co in companies]
    cats = list(_WEIGHTS)
    weights = [_WEIGHTS[c] for c in cats]
    opps: list[Opportunity] = []
    truth: dict[str, str | None] = {}
    category: dict[str, str] = {}
    examples: dict[str, tuple[str, str]] = {}
    extra_protected: list[ProtectedCustomer] = []
    for _ in range(n_opportunities):
        cat = rng.choices(cats, weights)[0]
        idx = rng.randrange(n_customers)
        co, prot = companies[idx], protected[idx]
        target: str | None = prot.key if cat in POSITIVE else None
        try:
            opp = _make(gen, cat, co, prot, extra_protected)
        except _Collision:
            opp = None
        if opp is None:  # the category does not apply to this company: an unrelated account instead
            cat, target = "unrelated", None
            opp = _make(gen, cat, co, prot, extra_protected)
            assert opp is not None
        opps.append(opp)
        truth[opp.id] = truth_of(opp, target)
        category[opp.id] = cat
        examples.setdefault(cat, (str(protected[idx].name), str(opp.account_name)))
    return Corpus(seed, protected + extra_protected, opps, truth, category, examples)


def _make(
    gen: _Gen, cat: str, co: _Company, prot: ProtectedCustomer, extra: list[ProtectedCustomer]
) -> Opportunity | None:
    rng = gen.rng
    cc = co.country
    words = co.words
    same_postal = co.postal if rng.random() < 0.5 else None
    own = co.site if co.site and not any(mark in co.site for mark in _PLATFORM_MARKS) else None
    site_or_none = _maybe(rng, co.site, 0.5)

    def other_site(ws: Sequence[str], country: str) -> str:
        # Another company's own domain: a word of its own comes first, so the domain differs.
        return gen.own_site([gen.rng.choice(gen.theirs), *ws], country)

    def other_postal(country: str) -> str:
        return rng.choice(gen.postals[country])

    if cat == "account_id":
        if not co.account_id:
            return None
        return _opportunity(
            gen, " ".join(rng.sample(gen.theirs, 2)), site=None, country=cc, postal=None, account_id=co.account_id
        )
    if cat == "duns":
        if not co.duns:
            return None
        return _opportunity(
            gen,
            co.name(""),
            site=None,
            country=rng.choice((cc, None)),
            postal=None,
            duns=co.duns[:3] + "-" + co.duns[3:6] + "-" + co.duns[6:],
        )
    if cat == "own_domain":
        if own is None:
            return None
        trading = [words[0], rng.choice(_TRADES)] if rng.random() < 0.5 else [rng.choice(gen.theirs)]
        return _opportunity(
            gen,
            " ".join(trading),
            site=own.upper() if rng.random() < 0.2 else own,
            country=cc,
            postal=_maybe(rng, co.postal, 0.5),
        )
    if cat == "suffix":
        return _opportunity(
            gen, co.name(rng.choice((*COUNTRIES[cc][0], ""))), site=site_or_none, country=cc, postal=same_postal
        )
    if cat == "abbreviation":
        long, short = rng.choice(_ABBREV)
        fresh = [rng.choice(gen.theirs), rng.choice(gen.theirs), rng.choice(_TRADES)]
        pos = rng.randrange(len(fresh) + 1)
        extra.append(_replace(gen, prot, " ".join([*fresh[:pos], long, *fresh[pos:], co.legal])))
        return _retarget(_like(gen, extra[-1], " ".join([*fresh[:pos], short, *fresh[pos:]])), extra[-1])
    if cat == "typo":
        i = max(range(len(words)), key=lambda k: len(words[k]) if words[k] not in _TRADES else 0)
        if len(words[i]) < 6 or words[i] in _TRADES:
            return None
        changed = list(words)
        changed[i] = _typo(rng, words[i])
        return _opportunity(gen, " ".join(changed), site=site_or_none, country=cc, postal=same_postal)
    if cat == "legal_typo":
        form = rng.choice(("Limied", "Limted", "Corporaton", "Incorported", "Compnay", "Limitd", "Corportion"))
        return _opportunity(gen, " ".join([*words, form]), site=site_or_none, country=cc, postal=same_postal)
    if cat == "word_order":
        first, second = rng.sample(_SURNAMES, 2)
        extra.append(_replace(gen, prot, f"{first} & {second} {co.legal}"))
        # The same firm written the other way round, with a shared website or postal code.
        support = rng.random()
        opp = _opportunity(
            gen,
            f"{second} & {first} {co.legal}",
            site=extra[-1].website if support < 0.5 else None,
            country=cc,
            postal=extra[-1].postal_code if support >= 0.3 else None,
        )
        return _retarget(opp, extra[-1])
    if cat == "the_prefix":
        return _opportunity(gen, "The " + co.name(""), site=site_or_none, country=cc, postal=same_postal)
    if cat == "accents":
        roll = rng.random()
        fresh = [rng.choice(gen.theirs), rng.choice(gen.theirs)]
        if roll < 0.4:
            changed = ["".join(_ACCENT.get(c, c) if rng.random() < 0.3 else c for c in w) for w in fresh]
        elif roll < 0.7:
            changed = [w.upper() for w in fresh]
        else:
            changed = [w.casefold().translate(_CYRILLIC).capitalize() for w in fresh]
        extra.append(_replace(gen, prot, " ".join([*changed, co.legal])))
        return _retarget(_like(gen, extra[-1], " ".join(fresh)), extra[-1])
    if cat == "dba":
        holding = f"{rng.choice(gen.theirs)} Holdings {COUNTRIES[cc][0][0]}"
        return _opportunity(gen, f"{holding} dba {co.name('')}", site=site_or_none, country=cc, postal=same_postal)
    if cat == "division":
        unit = rng.choice(("Storage Division", "EMEA Branch", "Services Division", "Research Department"))
        return _opportunity(gen, f"{co.name()} - {unit}", site=site_or_none, country=cc, postal=same_postal)
    if cat == "holding":
        return _opportunity(
            gen,
            " ".join([*words, rng.choice(("Holdings", "Group", "Holding"))]),
            site=site_or_none,
            country=cc,
            postal=same_postal,
        )
    if cat == "tenant":
        if co.site is None or own is not None:
            return None
        return _opportunity(
            gen, co.name(rng.choice(COUNTRIES[cc][0])), site=co.site, country=cc, postal=_maybe(rng, co.postal, 0.5)
        )
    if cat == "empty_fields":
        return _opportunity(gen, co.name(), site=None, country=None, postal=None)
    # -- negatives ------------------------------------------------------------------------------
    if cat == "shared_platform":
        pattern = rng.choice(PLATFORMS)
        mine = [rng.choice(gen.theirs), rng.choice(gen.theirs), rng.choice(_TRADES)]
        extra.append(_replace(gen, prot, " ".join([*mine, co.legal]), website=gen.platform_site(mine, pattern)))
        other_cc = rng.choice(tuple(COUNTRIES))
        other = [rng.choice(gen.theirs), rng.choice(_TRADES)]
        opp = _opportunity(
            gen,
            " ".join(other),
            site=gen.platform_site(other, pattern),
            country=other_cc,
            postal=other_postal(other_cc),
        )
        return _retarget(opp, None)
    if cat == "free_mail":
        mail = rng.choice(_FREE_MAIL)
        mine = [rng.choice(gen.theirs), rng.choice(gen.theirs)]
        extra.append(_replace(gen, prot, " ".join([*mine, co.legal]), website=f"info.{mine[0].casefold()}@{mail}"))
        other = [rng.choice(gen.theirs), rng.choice(_TRADES)]
        opp = _opportunity(
            gen, " ".join(other), site=rng.choice((mail, f"sales@{mail}")), country=cc, postal=other_postal(cc)
        )
        return _retarget(opp, None)
    if cat == "near_word":
        a, b = rng.choice(_NEAR_WORDS)
        if rng.random() < 0.5:
            a, b = b, a
        base = [words[0], a]
        extra.append(_replace(gen, prot, " ".join([*base, co.legal]), website=gen.own_site(base, cc)))
        opp = _opportunity(
            gen,
            " ".join([words[0], b, rng.choice(COUNTRIES[cc][0])]),
            site=_maybe(rng, other_site([words[0], b], cc), 0.7),
            country=cc,
            postal=other_postal(cc),
        )
        return _retarget(opp, None)
    if cat == "surname_swap":
        first, second = rng.sample(_SURNAMES, 2)
        extra.append(_replace(gen, prot, f"{first} & {second} {co.legal}", website=gen.own_site([first, second], cc)))
        opp = _opportunity(
            gen,
            f"{second} & {first} {rng.choice(COUNTRIES[cc][0])}",
            site=_maybe(rng, gen.own_site([second, first, "law"], cc), 0.7),
            country=cc,
            postal=other_postal(cc),
        )
        return _retarget(opp, None)
    if cat == "legal_word_name":
        x, y = rng.sample(("Company", "Limited", "Corporation", "Incorporated"), 2)
        legal = rng.choice(COUNTRIES[cc][0])
        extra.append(_replace(gen, prot, f"{words[0]} {x} {legal}", website=gen.own_site([words[0], x], cc)))
        opp = _opportunity(
            gen,
            f"{words[0]} {y} {legal}",
            site=_maybe(rng, other_site([words[0], y], cc), 0.6),
            country=cc,
            postal=other_postal(cc),
        )
        return _retarget(opp, None)
    if cat == "other_country":
        other_cc = rng.choice([c for c in COUNTRIES if c != cc])
        site = rng.choice((None, other_site(words, other_cc), gen.platform_site([*words, "x"])))
        return _opportunity(
            gen, co.name(rng.choice(COUNTRIES[other_cc][0])), site=site, country=other_cc, postal=other_postal(other_cc)
        )
    if cat == "subsidiary":
        sister = [*words, rng.choice(gen.theirs)]
        return _opportunity(
            gen,
            " ".join([*sister, rng.choice(COUNTRIES[cc][0])]),
            site=gen.own_site(sister, cc),
            country=cc,
            postal=other_postal(cc),
        )
    if cat == "near_miss":
        trades = [t for t in _TRADES if t not in words]
        return _opportunity(
            gen,
            " ".join([*(w for w in words if w not in _TRADES), rng.choice(trades)]),
            site=_maybe(rng, other_site(words, cc), 0.5),
            country=cc,
            postal=other_postal(cc),
        )
    if cat == "unrelated":
        other = gen.company(gen.theirs)
        return _opportunity(gen, other.name(), site=other.site, country=other.country, postal=other.postal)
    if cat == "junk":
        return _opportunity(
            gen,
            rng.choice(_JUNK_NAMES),
            site=rng.choice(_JUNK_SITES),
            country=rng.choice((None, "Atlantis", cc)),
            postal=rng.choice((None, "", "00000")),
        )
    raise ValueError(cat)


class _Collision(Exception):
    """The category's extra customer would share a normalised name with another one."""


def _replace(gen: _Gen, prot: ProtectedCustomer, name: str | None, **changes: str | None) -> ProtectedCustomer:
    """A further protected customer shaped like ``prot`` (the category's own pair)."""
    norm = normalize_name(name)
    if not norm or norm in gen.used:
        raise _Collision(norm)
    gen.used.add(norm)
    key = gen.next_id("R")
    country = next((c for c, n in _COUNTRY_NAMES.items() if prot.country in (c, n)), "US")
    words = (name or "x").split()[:2]
    base = {
        "name": name,
        "website": gen.own_site([*words, gen.rng.choice(gen.theirs)], country),
        "country": prot.country,
        "postal_code": gen.rng.choice(gen.postals[country]),
        "duns": None,
        "account_id": None,
    }
    base.update(changes)
    return ProtectedCustomer(key=key, source=prot.source, registration_number=key, partner_number="P1", **base)


def _like(gen: _Gen, prot: ProtectedCustomer, name: str) -> Opportunity:
    """An opportunity account for ``prot`` under another spelling, some fields missing."""
    rng = gen.rng
    return _opportunity(
        gen, name, site=_maybe(rng, prot.website, 0.5), country=prot.country, postal=_maybe(rng, prot.postal_code, 0.5)
    )


def _retarget(opp: Opportunity, prot: ProtectedCustomer | None) -> Opportunity:
    """Record which protected customer the opportunity belongs to (None: nobody) on the object."""
    return opp.model_copy(update={"fields": {**opp.fields, "target": prot.key if prot else ""}})


def truth_of(opp: Opportunity, default: str | None) -> str | None:
    if "target" in opp.fields:
        return opp.fields["target"] or None
    return default
