"""The candidate index and the scored comparison of candidates.

Blocking (so a scan costs ~ opportunities x a small candidate set, not x customers), per protected
customer:

* exact ``AccountId``, DUNS and *site* (an own registrable domain, or a tenant key on a shared
  host such as ``myshopify.com/acme``; the PSL private section and ``matching.shared_hosts`` decide);
* every *rare* name token (document frequency <= ``max_df``), of the name and of its trading (DBA)
  names. Names made only of common words are keyed by their whole normalised form;
* typo tolerance without indexing every misspelling: a deletion-neighbourhood index over the
  *vocabulary*. A query token missing from the vocabulary is looked up by its one-character
  deletions, which finds every vocabulary word within one edit.

Each candidate is then compared component by component and scored with one Fellegi–Sunter model
(``_weights.py``): the match probability decides, not the first rule that fired. Two guards come on
top (law 11): a pair whose known countries differ needs an identifier (AccountId, DUNS) or the same
own domain *and* name; with ``unknown_country: block`` a pair with an unknown country needs an
identifier or an own domain.
"""

from __future__ import annotations

import gc
import math
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from rapidfuzz.distance import OSA

from sfsync.text.company import CompanyName, company_name
from sfsync.text.domain import SharedHosts, Site, site_identity

from ._models import Agreement, EvidenceComponent, MatchEvidence, MatchKind, Opportunity, ProtectedCustomer
from ._normalize import COMMON_BUSINESS_WORDS, normalize_country, normalize_duns, normalize_postal
from ._rules import CountryGuard, MatchingRules
from ._score import token_alignment_score
from ._weights import COMPONENT_LEVELS, MISSING, Component, MatchModel

__all__ = ["CustomerIndex", "Match", "MatchQuery", "compare_names"]

_MIN_FUZZY_LEN = 5
_COMPONENTS = tuple(COMPONENT_LEVELS)
_CLOSE = 90.0
_MIN_JOINED_TYPO = 8
_PARTIAL = 80.0


@dataclass(frozen=True, slots=True)
class MatchQuery:
    """The account identity of one side: an Opportunity's account, a registration's customer, ..."""

    name: str | None = None
    website: str | None = None
    country: str | None = None
    postal_code: str | None = None
    duns: str | None = None
    account_id: str | None = None
    side: str = "opportunity"  # how the evidence names this side

    @classmethod
    def from_opportunity(cls, opp: Opportunity) -> MatchQuery:
        return cls(
            name=opp.account_name,
            website=opp.account_website,
            country=opp.account_country,
            postal_code=opp.account_postal_code,
            duns=opp.account_duns,
            account_id=opp.account_id,
        )

    @classmethod
    def from_customer(cls, cust: ProtectedCustomer, side: str = "registration") -> MatchQuery:
        return cls(
            name=cust.name,
            website=cust.website,
            country=cust.country,
            postal_code=cust.postal_code,
            duns=cust.duns,
            account_id=cust.account_id,
            side=side,
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    raw: MatchQuery
    name: CompanyName
    site: Site | None
    duns: str | None
    account_id: str | None
    country: str | None
    postal: str | None

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.name.tokens

    @property
    def has_evidence(self) -> bool:
        return bool(self.name.tokens or self.site or self.duns or self.account_id)


@dataclass(frozen=True, slots=True)
class Match:
    customer: ProtectedCustomer
    position: int
    kind: MatchKind
    score: float  # match probability in percent
    probability: float
    evidence: MatchEvidence


def _deletions(token: str) -> Iterable[str]:
    return (token[:i] + token[i + 1 :] for i in range(len(token)))


def compare_names(a: CompanyName, b: CompanyName, common_words: frozenset[str] = frozenset()) -> tuple[str, float]:
    """(name level, 0..100 similarity) of two normalised names; see ``COMPONENT_LEVELS``."""
    if not a.tokens or not b.tokens:
        return MISSING, 0.0
    conflict = bool(a.legal_words and b.legal_words and a.legal_words != b.legal_words)
    if a.tokens == b.tokens or "".join(a.tokens) == "".join(b.tokens):
        return ("legal_conflict" if conflict else "exact"), 100.0
    if sorted(a.tokens) == sorted(b.tokens):
        return ("legal_conflict" if conflict else "reordered"), 100.0
    if (a.alternates or b.alternates) and (
        set(a.alternates) & ({b.tokens} | set(b.alternates)) or b.tokens in a.alternates or a.tokens in b.alternates
    ):
        return "alternate", 100.0
    score = token_alignment_score(a.tokens, b.tokens, common_words)
    shorter, longer = sorted((set(a.tokens), set(b.tokens)), key=len)
    if (
        score < _PARTIAL
        and shorter < longer
        and any(t not in common_words for t in shorter)
        and all(t in common_words for t in longer - shorter)
    ):
        # "Bellweather" / "Bellweather Analytics": the distinctive words agree, one side adds a trade word.
        return "partial", score
    if score >= _CLOSE:
        return ("legal_conflict" if conflict else "close"), score
    if score >= _PARTIAL:
        return "partial", score
    joined_a, joined_b = "".join(a.tokens), "".join(b.tokens)
    if min(len(joined_a), len(joined_b)) >= _MIN_JOINED_TYPO and OSA.distance(joined_a, joined_b, score_cutoff=1) <= 1:
        # One edit in the whole name ("Zeivo Retail" / "Zeiovo Retail"): the token scorer refuses short
        # invented words one edit apart as a typo; the other components decide.
        return "partial", score
    return "weak", score


_EXPLAIN: dict[tuple[Component, str], str] = {
    (Component.ACCOUNT_ID, "agree"): "the same Salesforce account",
    (Component.ACCOUNT_ID, "disagree"): "two different Salesforce accounts",
    (Component.DUNS, "agree"): "the same D-U-N-S number",
    (Component.DUNS, "disagree"): "two different D-U-N-S numbers",
    (Component.WEBSITE, "own_agree"): "the same own website domain",
    (Component.WEBSITE, "own_disagree"): "two different own website domains",
    (Component.NAME, "exact"): "the same company name once legal form, case and accents are set aside",
    (Component.NAME, "reordered"): "the same name words in another order",
    (Component.NAME, "alternate"): "a trading (DBA) name equals the other company name",
    (Component.NAME, "close"): "a similar company name (a small spelling difference)",
    (Component.NAME, "legal_conflict"): "names that differ only in legal-form words each keeps as part of its name",
    (Component.NAME, "partial"): "partly similar company names",
    (Component.NAME, "weak"): "different company names",
    (Component.POSTAL_CODE, "agree"): "the same postal code",
    (Component.POSTAL_CODE, "disagree"): "different postal codes",
    (Component.COUNTRY, "agree"): "the same country",
    (Component.COUNTRY, "disagree"): "two different countries",
}
_AGREEMENT: dict[str, Agreement] = {
    "agree": Agreement.AGREED, "own_agree": Agreement.AGREED, "exact": Agreement.AGREED,
    "reordered": Agreement.AGREED, "alternate": Agreement.AGREED, "tenant_agree": Agreement.PARTLY,
    "close": Agreement.PARTLY, "partial": Agreement.PARTLY, "disagree": Agreement.DISAGREED,
    "own_disagree": Agreement.DISAGREED, "same_platform": Agreement.DISAGREED,
    "legal_conflict": Agreement.DISAGREED, "weak": Agreement.DISAGREED, MISSING: Agreement.MISSING,
}  # fmt: skip
_MISSING_TEXT = {
    Component.ACCOUNT_ID: "no Salesforce account on one side",
    Component.DUNS: "no D-U-N-S number on one side",
    Component.WEBSITE: "no usable own website on one side (none, free mail, a shared host without a tenant, junk)",
    Component.NAME: "no usable company name on one side",
    Component.POSTAL_CODE: "no postal code on one side",
    Component.COUNTRY: "no known country on one side",
}


def _explain(component: Component, level: str, platform: str | None, category: str | None) -> str:
    if level == MISSING:
        return _MISSING_TEXT[component]
    if component is Component.WEBSITE and platform is not None:
        what = category or "shared host"
        if level == "tenant_agree":
            return f"the same tenant on a {what} ({platform}): weaker than an own domain"
        if level == "same_platform":
            return f"the same {what} ({platform}), a different site on it"
    return _EXPLAIN[(component, level)]


class CustomerIndex:
    """Blocking index over protected customers (or named accounts, or registrations)."""

    def __init__(
        self,
        customers: Sequence[ProtectedCustomer],
        matching: MatchingRules | None = None,
        *,
        max_df: int | None = None,
        workers: int = 1,
        vectorised: bool | None = None,
    ) -> None:
        """``workers`` > 1: normalise the customers' names and websites in that many processes
        (forked, POSIX; only from ``_PARALLEL_MIN`` customers on) -- the same functions, the same
        index, in less wall time on several cores. ``vectorised``: pre-filter each query's candidates
        with numpy before the per-pair comparison (default: from ``_VECTOR_MIN`` customers on); the
        decisions are the same either way."""
        started = time.perf_counter()
        # Millions of small containers: the cyclic GC would rescan them again and again. Nothing
        # built here forms reference cycles.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build_index(customers, matching, max_df, workers, vectorised)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.build_seconds = time.perf_counter() - started

    def _build_index(
        self,
        customers: Sequence[ProtectedCustomer],
        matching: MatchingRules | None,
        max_df: int | None,
        workers: int,
        vectorised: bool | None,
    ) -> None:
        self.customers = customers
        self.matching = matching or MatchingRules()
        # A word in more than ~1 % of the names (a trade word, a common surname) is no blocking key: it
        # would make every "... Storage" a candidate of every other. Between 20 and 500 names.
        self.max_df = max_df if max_df is not None else max(20, min(500, len(customers) // 100))
        max_df = self.max_df
        self.hosts: SharedHosts = self.matching.hosts()
        self.model: MatchModel = self.matching.match_model()
        self._weights = {(c, lv): self.model.weight(c, lv) for c, lvs in COMPONENT_LEVELS.items() for lv in lvs}
        # Law 11: a tenant on a shared host is weaker evidence than an own domain, whatever a fit says.
        own = self._weights[(Component.WEBSITE, "own_agree")]
        tenant = (Component.WEBSITE, "tenant_agree")
        self._weights[tenant] = min(self._weights[tenant], own - 2.0)
        # Two firms of the same partners are named "Smith & Jones" and "Jones & Smith": words in another
        # order are never stronger evidence than a partly similar name, whatever a fit says.
        partial = self._weights[(Component.NAME, "partial")]
        reordered = (Component.NAME, "reordered")
        self._weights[reordered] = min(self._weights[reordered], partial)
        self._prior = self.model.prior_weight
        # Per component (in _COMPONENTS order), weight by level; and the best a name can add.
        self._weight_of: list[dict[str, float]] = [
            {lv: self._weights[(c, lv)] for lv in COMPONENT_LEVELS[c]} for c in _COMPONENTS
        ]
        self._best_name_weight = max(self._weight_of[_COMPONENTS.index(Component.NAME)].values())
        self._review = self.matching.review_probability
        n = len(customers)
        self.by_account: dict[str, list[int]] = {}
        self.by_duns: dict[str, list[int]] = {}
        self.by_site: dict[str, list[int]] = {}
        self._names, self._country, self._postal, self._account, self._duns, self._site = _normalise_all(
            customers, self.hosts, workers
        )
        for key_of, by_key in ((self._account, self.by_account), (self._duns, self.by_duns)):
            for i, key in enumerate(key_of):
                if key is not None:
                    bucket = by_key.get(key)
                    if bucket is None:
                        by_key[key] = [i]
                    else:
                        bucket.append(i)
        by_site = self.by_site
        for i, site in enumerate(self._site):
            if site is not None:
                bucket = by_site.get(site.key)
                if bucket is None:
                    by_site[site.key] = [i]
                else:
                    bucket.append(i)
        names = self._names
        # A name's tokens, then its trading names' (the tuple itself when it has none: no copy).
        all_tokens = [
            nm.tokens if not nm.alternates else (*nm.tokens, *chain.from_iterable(nm.alternates)) for nm in names
        ]
        # Token occurrences (a word repeated in one name counts twice: rare, and harmless here).
        df: Counter[str] = Counter(chain.from_iterable(all_tokens))
        self.df = df
        common_df = max(25, n // 2000)
        self.common_words = frozenset(t for t, c in df.items() if c >= common_df) | COMMON_BUSINESS_WORDS
        postings: dict[str, list[int]] = {}
        rare = {t for t, c in df.items() if c <= max_df}
        get = postings.get
        for i, toks in enumerate(all_tokens):
            keyed = False
            for key in toks:
                if key in rare:
                    keyed = True
                    bucket = get(key)
                    if bucket is None:
                        postings[key] = [i]
                    elif bucket[-1] != i:  # a word twice in one name: one posting
                        bucket.append(i)
            if not keyed and toks:
                key = "=" + names[i].norm
                bucket = get(key)
                if bucket is None:
                    postings[key] = [i]
                else:
                    bucket.append(i)
        self.postings = postings
        deletions: dict[str, list[str]] = {}
        known = deletions.get
        for tok, count in df.items():
            if count <= max_df and len(tok) >= _MIN_FUZZY_LEN:
                for cut in range(len(tok)):  # _deletions(tok), inlined: a million-name vocabulary
                    variant = tok[:cut] + tok[cut + 1 :]
                    lst = known(variant)
                    if lst is None:
                        deletions[variant] = [tok]
                    else:
                        lst.append(tok)
        self.deletions = deletions
        self._vectors: _Vectors | None = None
        if vectorised if vectorised is not None else n >= _VECTOR_MIN and _numpy_available():
            self._vectors = _Vectors.build(self)

    # -- queries -------------------------------------------------------------------------------

    def prepare(self, query: MatchQuery) -> _Prepared:
        return _Prepared(
            raw=query,
            name=company_name(query.name),
            site=site_identity(query.website, self.hosts),
            duns=normalize_duns(query.duns),
            account_id=query.account_id.strip()[:15] if query.account_id else None,
            country=normalize_country(query.country),
            postal=normalize_postal(query.postal_code),
        )

    def _name_keys(self, tokens: Sequence[str], norm: str) -> set[str]:
        df = self.df
        max_df = self.max_df
        keys: set[str] = {"=" + norm}
        if len(tokens) > 1:
            joined = "".join(tokens)  # "Coca Cola" may be indexed as "cocacola"
            if df.get(joined, max_df + 1) <= max_df:
                keys.add(joined)
        for tok in set(tokens):
            count = df.get(tok)
            if count is not None:
                if count <= max_df:
                    keys.add(tok)
                continue
            # "Cocacola" may be indexed as "coca cola": known words the unknown one splits into.
            for cut in range(2, len(tok) - 1):
                head, tail = tok[:cut], tok[cut:]
                if head in df and tail in df:
                    keys.update(t for t in (head, tail) if df[t] <= max_df)
            if len(tok) < _MIN_FUZZY_LEN:
                continue
            # Unknown word: probably a typo. Vocabulary words within one edit of it:
            near = list(self.deletions.get(tok, ()))  # tok lost a letter
            for variant in _deletions(tok):
                if variant in df:  # tok gained a letter
                    near.append(variant)
                near.extend(self.deletions.get(variant, ()))  # substitution / transposition
            keys.update(t for t in near if df[t] <= max_df)
        return keys

    def candidates(self, prepared: _Prepared) -> set[int]:
        found: set[int] = set()
        if prepared.account_id:
            found.update(self.by_account.get(prepared.account_id, ()))
        if prepared.duns:
            found.update(self.by_duns.get(prepared.duns, ()))
        if prepared.site:
            found.update(self.by_site.get(prepared.site.key, ()))
        postings = self.postings
        for tokens in (prepared.name.tokens, *prepared.name.alternates):
            if not tokens:
                continue
            for key in self._name_keys(tokens, " ".join(tokens)):
                bucket = postings.get(key)
                if bucket:
                    found.update(bucket)
        return found

    def match(self, query: MatchQuery | _Prepared) -> list[Match]:
        prepared = query if isinstance(query, _Prepared) else self.prepare(query)
        if not prepared.has_evidence:
            return []
        return self.evaluate(prepared, self.candidates(prepared))

    # -- comparison ----------------------------------------------------------------------------

    def _levels_without_name(self, q: _Prepared, i: int) -> tuple[str, str, str, str, str]:
        """(account, duns, site, postal, country) levels of a query and customer ``i``: cheap, unlike the name."""
        acc = self._account[i]
        account = MISSING if not q.account_id or not acc else ("agree" if q.account_id == acc else "disagree")
        duns_i = self._duns[i]
        duns = MISSING if not q.duns or not duns_i else ("agree" if q.duns == duns_i else "disagree")
        site = _site_level(q.site, self._site[i])
        postal_i = self._postal[i]
        postal = MISSING if not q.postal or not postal_i else ("agree" if q.postal == postal_i else "disagree")
        cc = self._country[i]
        country = MISSING if not q.country or not cc else ("agree" if q.country == cc else "disagree")
        return account, duns, site, postal, country

    def compare(self, q: _Prepared, i: int) -> tuple[tuple[str, ...], float]:
        """The comparison vector (one level per component) of a query and customer ``i``, and the
        name similarity."""
        account, duns, site, postal, country = self._levels_without_name(q, i)
        name, similarity = compare_names(q.name, self._names[i], self.common_words)
        return (account, duns, site, name, postal, country), similarity

    def _guard(self, vector: tuple[str, ...]) -> bool:
        """Law 11 on top of the score: False when the pair must not match whatever it scores."""
        account, duns, site, name, _postal, country = vector
        identified = account == "agree" or duns == "agree"
        if identified:
            return True
        if name in ("weak", MISSING) and site not in ("own_agree", "tenant_agree"):
            # A postal code and a country locate a building, they do not identify a company.
            return False
        if country == "disagree":
            # No website or name alone crosses two different known countries.
            return site == "own_agree" and name in ("exact", "reordered", "alternate", "close")
        if country == MISSING and self.matching.unknown_country is CountryGuard.BLOCK:
            return site == "own_agree"
        return True

    def evaluate(self, q: _Prepared, candidates: Iterable[int]) -> list[Match]:
        out: list[Match] = []
        weights = self._weights
        by_level = self._weight_of
        best_name = self._best_name_weight
        prior = self._prior
        review = self._review
        block_unknown = self.matching.unknown_country is CountryGuard.BLOCK
        # The component levels of _levels_without_name, inlined: this loop runs for every blocked
        # candidate (tens of millions at a million customers), most of which are dropped right here.
        q_account, q_duns, q_site, q_postal, q_country = q.account_id, q.duns, q.site, q.postal, q.country
        accounts, dunses, sites, postals, countries = self._account, self._duns, self._site, self._postal, self._country
        account_w, duns_w, site_w, _, postal_w, country_w = by_level
        if self._vectors is not None:
            # Drops, with numpy, candidates the loop below would drop before comparing names (never one
            # it would keep: see _Vectors.survivors); the loop then decides exactly as without it.
            candidates = self._vectors.survivors(q, candidates)
        for i in sorted(candidates):
            value = accounts[i]
            account = MISSING if not q_account or not value else ("agree" if q_account == value else "disagree")
            value = dunses[i]
            duns = MISSING if not q_duns or not value else ("agree" if q_duns == value else "disagree")
            other_site = sites[i]
            site = MISSING if q_site is None or other_site is None else _site_level(q_site, other_site)
            value = postals[i]
            postal = MISSING if not q_postal or not value else ("agree" if q_postal == value else "disagree")
            value = countries[i]
            country = MISSING if not q_country or not value else ("agree" if q_country == value else "disagree")
            # Most blocked candidates are out whatever their names say: a guard that no name level can
            # pass, or a score below review even with the best name level. Skipping the (costly) name
            # comparison for them changes no decision: the guard below is unchanged, and the bound is
            # summed in the same order as the total with the name weight at its maximum (float
            # addition is monotone), so total <= bound.
            unidentified = account != "agree" and duns != "agree" and site != "own_agree"
            if unidentified and (country == "disagree" or (country == MISSING and block_unknown)):
                continue
            bound = prior + (
                account_w[account] + duns_w[duns] + site_w[site] + best_name + postal_w[postal] + country_w[country]
            )
            if MatchModel.probability_of(bound) < review:
                continue
            name, similarity = compare_names(q.name, self._names[i], self.common_words)
            vector = (account, duns, site, name, postal, country)
            if not self._guard(vector):
                continue
            total = prior + sum(weights[(c, lv)] for c, lv in zip(_COMPONENTS, vector, strict=True))
            probability = MatchModel.probability_of(total)
            if probability < review:
                continue
            out.append(self._build(q, i, vector, total, probability, similarity))
        return out

    def _build(
        self, q: _Prepared, i: int, vector: tuple[str, ...], total: float, probability: float, similarity: float
    ) -> Match:
        cust = self.customers[i]
        site = q.site if q.site is not None and q.site.is_tenant else self._site[i]
        platform = site.platform if site is not None else None
        category = site.category if site is not None else None
        components: list[EvidenceComponent] = []
        for comp, level in zip(_COMPONENTS, vector, strict=True):
            # Built from checked values (a known level, its agreement, a float): no validation pass.
            components.append(
                EvidenceComponent.model_construct(
                    component=comp.value,
                    level=level,
                    agreement=_AGREEMENT[level],
                    weight=round(self._weights[(comp, level)], 2),
                    explanation=_explain(comp, level, platform, category),
                )
            )
        account, duns, site_level, *_ = vector
        if account == "agree":
            kind = MatchKind.ACCOUNT_ID
        elif duns == "agree":
            kind = MatchKind.DUNS
        elif site_level in ("own_agree", "tenant_agree"):
            kind = MatchKind.DOMAIN
        else:
            kind = MatchKind.NAME
        evidence = MatchEvidence(
            components=tuple(components),
            match_weight=round(total, 2),
            probability=round(probability, 4),
            opportunity_account=q.raw.name if q.raw.side == "opportunity" else None,
        )
        del similarity  # the level carries it; the raw similarity would add nothing a manager can act on
        return Match(cust, i, kind, round(100.0 * probability, 1), probability, evidence)


def _site_level(a: Site | None, b: Site | None) -> str:
    if a is None or b is None:
        return MISSING
    if a.key == b.key:
        return "tenant_agree" if a.is_tenant else "own_agree"
    if a.is_tenant or b.is_tenant:
        # A tenant and another site: a company may have a shop and an own domain. Same platform,
        # different tenant: two shops, which says the two differ only weakly.
        return "same_platform" if a.platform is not None and a.platform == b.platform else MISSING
    return "own_disagree"


# -- normalisation of the customers (in forked workers for a large index) ---------------------

_PARALLEL_MIN = 50_000  # below this a fork costs more than it saves
_Columns = tuple[
    list[CompanyName], list[str | None], list[str | None], list[str | None], list[str | None], list[Site | None]
]
_UNSEEN: Any = object()
_FORK_INPUT: dict[str, tuple[Sequence[ProtectedCustomer], SharedHosts]] = {}


def _normalise(customers: Sequence[ProtectedCustomer], hosts: SharedHosts) -> _Columns:
    """Per customer: the normalised name, country, postal code, account id, DUNS and site."""
    names = list(map(company_name, [c.name for c in customers]))
    n = len(customers)
    country: list[str | None] = [None] * n
    postal: list[str | None] = [None] * n
    account: list[str | None] = [None] * n
    duns: list[str | None] = [None] * n
    site: list[Site | None] = [None] * n
    countries: dict[str, str | None] = {}
    # Real CRM data repeats postal codes and websites (branches, duplicates): each distinct raw value
    # is normalised once per call (no state kept across calls).
    postals: dict[str, str | None] = {}
    sites: dict[str, Site | None] = {}
    for i, cust in enumerate(customers):
        if cust.country is not None:
            # Few distinct spellings: memoise instead of normalising a million times.
            if cust.country not in countries:
                countries[cust.country] = normalize_country(cust.country)
            country[i] = countries[cust.country]
        code = cust.postal_code
        if code:
            known_postal = postals.get(code, _UNSEEN)
            if known_postal is _UNSEEN:
                known_postal = postals[code] = normalize_postal(code)
            postal[i] = known_postal
        if cust.account_id:
            account[i] = cust.account_id.strip()[:15]
        if cust.duns:
            duns[i] = normalize_duns(cust.duns)
        website = cust.website
        if website:
            known_site = sites.get(website, _UNSEEN)
            if known_site is _UNSEEN:
                known_site = sites[website] = site_identity(website, hosts)
            site[i] = known_site
    return names, country, postal, account, duns, site


_NameTuple = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, ...], ...]]
_SiteTuple = tuple[str, str | None, str | None]
_Part = tuple[list[_NameTuple], tuple[list[str | None], ...], list[_SiteTuple | None]]


def _normalise_part(bounds: tuple[int, int]) -> _Part:
    """In a forked worker: ``_normalise`` of a slice, as plain tuples (cheaper to send back)."""
    gc.disable()
    customers, hosts = _FORK_INPUT["job"]
    names, country, postal, account, duns, site = _normalise(customers[bounds[0] : bounds[1]], hosts)
    return (
        [(nm.tokens, nm.legal_words, nm.alternates) for nm in names],
        (country, postal, account, duns),
        [None if s is None else (s.key, s.platform, s.category) for s in site],
    )


def _normalise_all(customers: Sequence[ProtectedCustomer], hosts: SharedHosts, workers: int) -> _Columns:
    n = len(customers)
    if workers <= 1 or n < _PARALLEL_MIN or "fork" not in mp.get_all_start_methods():
        return _normalise(customers, hosts)
    # This process takes the first share itself; the workers send theirs back as tuples.
    share = -(-n // workers)
    ranges = [(lo, min(lo + share, n)) for lo in range(share, n, share)]
    _FORK_INPUT["job"] = (customers, hosts)
    try:
        with mp.get_context("fork").Pool(len(ranges)) as pool:
            pending = pool.map_async(_normalise_part, ranges)
            columns = _normalise(customers[:share], hosts)
            parts = pending.get()
    finally:
        _FORK_INPUT.clear()
    names, country, postal, account, duns, site = columns
    for part_names, (part_country, part_postal, part_account, part_duns), part_site in parts:
        names.extend(CompanyName(t, lw, alt) for t, lw, alt in part_names)
        country.extend(part_country)
        postal.extend(part_postal)
        account.extend(part_account)
        duns.extend(part_duns)
        site.extend(None if s is None else Site(*s) for s in part_site)
    return names, country, postal, account, duns, site


# -- vectorised pre-filter (large indexes) ------------------------------------------------------

_VECTOR_MIN = 20_000  # below this numpy's per-call overhead costs more than it saves (and its import)
_MIN_VECTOR_CANDIDATES = 32  # fewer: the per-pair loop is cheaper than ~20 numpy calls
# The pre-filter drops a candidate only when its bound is below the review threshold by this much
# (log2 odds): far above any rounding of the sums, so it never drops one the exact loop would keep.
_BOUND_MARGIN = 1e-6


def _numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:  # a dependency; without it the (identical) per-pair loop does all the work
        return False
    return True


class _Vectors:
    """Per-customer integer codes of the non-name components, as numpy arrays.

    For a query's candidates it computes, in a few array operations, the same component weights
    and the same guard as ``CustomerIndex.evaluate``'s loop, and the bound with the best name level;
    candidates that cannot pass (the guard drops them, or the bound is below the review threshold
    by more than ``_BOUND_MARGIN``) are left out before the loop runs.
    """

    agree: dict[str, float]
    disagree: dict[str, float]
    site_w: dict[str, float]
    best_name: float
    prior: float
    floor: float
    block_unknown: bool

    def __init__(self) -> None:
        self.codes: dict[str, Any] = {}
        self.vocab: dict[str, dict[str, int]] = {}

    @classmethod
    def build(cls, index: CustomerIndex) -> _Vectors:
        import numpy as np

        self = cls()
        columns: dict[str, list[str | None]] = {
            "account": index._account,
            "duns": index._duns,
            "postal": index._postal,
            "country": index._country,
            "site": [None if s is None else s.key for s in index._site],
            "platform": [None if s is None else s.platform for s in index._site],
        }
        for name, values in columns.items():
            # An empty value is a missing one, as in the loop ("not value").
            vocab: dict[str, int] = {}
            codes = np.fromiter(
                (vocab.setdefault(v, len(vocab)) if v else -1 for v in values), dtype=np.int64, count=len(values)
            )
            self.vocab[name] = vocab
            self.codes[name] = codes
        self.codes["tenant"] = np.fromiter(
            (s is not None and s.is_tenant for s in index._site), dtype=np.bool_, count=len(index._site)
        )
        weight = index._weight_of
        account_w, duns_w, site_w, _name_w, postal_w, country_w = weight
        self.agree = {"account": account_w["agree"], "duns": duns_w["agree"], "postal": postal_w["agree"],
                      "country": country_w["agree"]}  # fmt: skip
        self.disagree = {"account": account_w["disagree"], "duns": duns_w["disagree"],
                         "postal": postal_w["disagree"], "country": country_w["disagree"]}  # fmt: skip
        self.site_w = site_w
        self.best_name = index._best_name_weight
        self.prior = index._prior
        review = index._review
        self.floor = math.log2(review / (1.0 - review)) - _BOUND_MARGIN
        self.block_unknown = index.matching.unknown_country is CountryGuard.BLOCK
        return self

    def _simple(self, name: str, value: str | None, cand: Any) -> tuple[Any, Any, Any]:
        """(weight, agrees, disagrees) of an equality component over the candidates."""
        import numpy as np

        if not value:
            return 0.0, False, False
        col = self.codes[name][cand]
        present = col >= 0
        equal = col == self.vocab[name].get(value, -2)
        differ = present & ~equal
        return np.where(equal, self.agree[name], np.where(present, self.disagree[name], 0.0)), equal, differ

    def survivors(self, q: _Prepared, candidates: Iterable[int]) -> Iterable[int]:
        import numpy as np

        found = candidates if isinstance(candidates, (set, list, tuple)) else list(candidates)
        if len(found) < _MIN_VECTOR_CANDIDATES:
            return found
        cand = np.fromiter(found, dtype=np.int64, count=len(found))
        account, account_agree, _ = self._simple("account", q.account_id, cand)
        duns, duns_agree, _ = self._simple("duns", q.duns, cand)
        postal, _, _ = self._simple("postal", q.postal, cand)
        country, _, country_differ = self._simple("country", q.country, cand)
        site: Any = 0.0
        own_agree: Any = False
        if q.site is not None:
            w = self.site_w
            col = self.codes["site"][cand]
            present = col >= 0
            equal = col == self.vocab["site"].get(q.site.key, -2)
            if q.site.is_tenant:
                equal_w = w["tenant_agree"]
                either_tenant: Any = True
            else:
                equal_w = w["own_agree"]
                either_tenant = self.codes["tenant"][cand]
                own_agree = equal
            if q.site.platform is not None:
                same_platform = self.codes["platform"][cand] == self.vocab["platform"].get(q.site.platform, -2)
                other: Any = np.where(same_platform, w["same_platform"], w[MISSING])
            else:
                other = w[MISSING]
            site = np.where(
                present, np.where(equal, equal_w, np.where(either_tenant, other, w["own_disagree"])), w[MISSING]
            )
        # The loop's bound, summed in the loop's order.
        bound = self.prior + (((((account + duns) + site) + self.best_name) + postal) + country)
        keep = np.broadcast_to(bound >= self.floor, cand.shape).copy()
        unidentified = ~(np.asarray(account_agree) | np.asarray(duns_agree) | np.asarray(own_agree))
        country_missing = self.codes["country"][cand] < 0 if q.country else np.ones(cand.shape, dtype=np.bool_)
        out = np.asarray(country_differ) | (country_missing & self.block_unknown)
        keep &= ~(unidentified & out)
        return cand[keep].tolist()  # type: ignore[no-any-return]
