"""The candidate index: blocking so a scan costs ~ opportunities x (small candidate set), not x customers.

Blocking keys per protected customer:

* exact ``AccountId``, DUNS and registrable domain (dicts);
* every *rare* name token (document frequency <= ``max_df``): two names only get compared if they
  share a distinctive word. Names made only of common words are keyed by their whole normalised form;
* typo tolerance without indexing every misspelling: a deletion-neighbourhood index over the
  *vocabulary* (not the records). A query token missing from the vocabulary is looked up by its
  one-character deletions, which finds every vocabulary word within one edit (substitution,
  insertion, deletion or transposition).

Country is not a blocking key (a missing country must still find candidates); it is the guard
applied before scoring: two different known countries never make a name-only match.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from ._models import MatchKind, Opportunity, ProtectedCustomer
from ._normalize import (
    COMMON_BUSINESS_WORDS,
    name_tokens,
    normalize_country,
    normalize_duns,
    normalize_postal,
    registrable_domain,
)
from ._rules import CountryGuard, MatchingRules
from ._score import NAME_SCORERS

__all__ = ["CustomerIndex", "Match", "MatchQuery"]

_MIN_FUZZY_LEN = 5


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
            name=opp.account_name, website=opp.account_website, country=opp.account_country,
            postal_code=opp.account_postal_code, duns=opp.account_duns, account_id=opp.account_id,
        )

    @classmethod
    def from_customer(cls, cust: ProtectedCustomer, side: str = "registration") -> MatchQuery:
        return cls(
            name=cust.name, website=cust.website, country=cust.country, postal_code=cust.postal_code,
            duns=cust.duns, account_id=cust.account_id, side=side,
        )


@dataclass(frozen=True, slots=True)
class _Prepared:
    raw: MatchQuery
    tokens: tuple[str, ...]
    norm: str
    domain: str | None
    duns: str | None
    account_id: str | None
    country: str | None
    postal: str | None

    @property
    def has_evidence(self) -> bool:
        return bool(self.tokens or self.domain or self.duns or self.account_id)


@dataclass(frozen=True, slots=True)
class Match:
    customer: ProtectedCustomer
    position: int
    kind: MatchKind
    score: float
    evidence: dict[str, Any]


_MIN_PARALLEL = 500
# What forked workers inherit: set just before the pool forks, cleared after.
_FORK_STATE: dict[str, tuple[CustomerIndex, Sequence[MatchQuery]]] = {}
_Found = list[tuple[int, MatchKind, float, dict[str, Any]]]


def _match_range(bounds: tuple[int, int]) -> list[_Found]:
    # Runs in a forked worker: the index and queries were inherited, not pickled.
    if "job" not in _FORK_STATE:  # pragma: no cover - only reachable if misused
        raise RuntimeError("match_many worker started without an index")
    index, queries = _FORK_STATE["job"]
    gc.disable()
    return [
        [(m.position, m.kind, m.score, m.evidence) for m in index.match(queries[i])]
        for i in range(*bounds)
    ]


def _deletions(token: str) -> Iterable[str]:
    return (token[:i] + token[i + 1 :] for i in range(len(token)))


class CustomerIndex:
    """Blocking index over protected customers (or named accounts, or registrations)."""

    def __init__(
        self,
        customers: Sequence[ProtectedCustomer],
        matching: MatchingRules | None = None,
        *,
        max_df: int = 500,
        scorer: str = "tokens",
    ) -> None:
        started = time.perf_counter()
        # Millions of small containers: the cyclic GC would rescan them again and again (build time
        # grew 2x faster than the input without this). Nothing built here forms reference cycles.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build_index(customers, matching, max_df, scorer)
        finally:
            if gc_was_enabled:
                gc.enable()
        self.build_seconds = time.perf_counter() - started

    def _build_index(
        self, customers: Sequence[ProtectedCustomer], matching: MatchingRules | None, max_df: int, scorer: str
    ) -> None:
        self.customers = customers
        self.matching = matching or MatchingRules()
        self.max_df = max_df
        self._score = NAME_SCORERS[scorer]
        self._ignore = frozenset(self.matching.ignore_domains)
        n = len(customers)
        self._norm: list[str] = [""] * n
        self._country: list[str | None] = [None] * n
        self._postal: list[str | None] = [None] * n
        self._domain: list[str | None] = [None] * n
        self._duns: list[str | None] = [None] * n
        self.by_account: dict[str, list[int]] = {}
        self.by_duns: dict[str, list[int]] = {}
        self.by_domain: dict[str, list[int]] = {}
        all_tokens: list[list[str]] = list(map(name_tokens, [c.name for c in customers]))
        self._norm = list(map(" ".join, all_tokens))
        countries: dict[str, str | None] = {}
        for i, cust in enumerate(customers):
            if cust.country is not None:
                # Few distinct spellings: memoise instead of normalising a million times.
                if cust.country not in countries:
                    countries[cust.country] = normalize_country(cust.country)
                self._country[i] = countries[cust.country]
            if cust.postal_code:
                self._postal[i] = normalize_postal(cust.postal_code)
            if cust.account_id:
                self.by_account.setdefault(cust.account_id.strip()[:15], []).append(i)
            if cust.duns:
                duns = normalize_duns(cust.duns)
                if duns:
                    self._duns[i] = duns
                    self.by_duns.setdefault(duns, []).append(i)
            if cust.website:
                dom = registrable_domain(cust.website)
                if dom and dom not in self._ignore:
                    self._domain[i] = dom
                    self.by_domain.setdefault(dom, []).append(i)
        # Token occurrences (a word repeated in one name counts twice: rare, and harmless here).
        df: Counter[str] = Counter(chain.from_iterable(all_tokens))
        self.df = df
        common_df = max(25, n // 2000)
        self.common_words = frozenset(t for t, c in df.items() if c >= common_df) | COMMON_BUSINESS_WORDS
        postings: dict[str, list[int]] = {}
        rare = {t for t, c in df.items() if c <= max_df}
        for i, toks in enumerate(all_tokens):
            keys = rare.intersection(toks)
            if not keys and toks:
                keys = {"=" + self._norm[i]}
            for key in keys:
                bucket = postings.get(key)
                if bucket is None:
                    postings[key] = [i]
                else:
                    bucket.append(i)
        self.postings = postings
        deletions: dict[str, list[str]] = {}
        for tok, count in df.items():
            if count <= max_df and len(tok) >= _MIN_FUZZY_LEN:
                for variant in _deletions(tok):
                    lst = deletions.get(variant)
                    if lst is None:
                        deletions[variant] = [tok]
                    else:
                        lst.append(tok)
        self.deletions = deletions

    # -- queries -------------------------------------------------------------------------------

    def prepare(self, query: MatchQuery) -> _Prepared:
        toks = tuple(name_tokens(query.name))
        dom = registrable_domain(query.website)
        return _Prepared(
            raw=query,
            tokens=toks,
            norm=" ".join(toks),
            domain=dom if dom not in self._ignore else None,
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

    def candidates(self, prepared: _Prepared) -> tuple[set[int], set[int]]:
        """(strong-evidence candidates, name-only candidates)."""
        strong: set[int] = set()
        if prepared.account_id:
            strong.update(self.by_account.get(prepared.account_id, ()))
        if prepared.duns:
            strong.update(self.by_duns.get(prepared.duns, ()))
        if prepared.domain:
            strong.update(self.by_domain.get(prepared.domain, ()))
        named: set[int] = set()
        if prepared.tokens:
            postings = self.postings
            for key in self._name_keys(prepared.tokens, prepared.norm):
                bucket = postings.get(key)
                if bucket:
                    named.update(bucket)
        return strong, named - strong

    def match(self, query: MatchQuery | _Prepared) -> list[Match]:
        prepared = query if isinstance(query, _Prepared) else self.prepare(query)
        if not prepared.has_evidence:
            return []
        strong, named = self.candidates(prepared)
        return self._evaluate(prepared, strong, named)

    def match_many(self, queries: Sequence[MatchQuery], *, workers: int = 1) -> list[list[Match]]:
        """``match`` for each query, in order. ``workers > 1`` forks that many processes (POSIX):
        the index is shared copy-on-write, only the small results travel back."""
        if workers <= 1 or len(queries) < 2 * _MIN_PARALLEL or "fork" not in mp.get_all_start_methods():
            return [self.match(q) for q in queries]
        size = -(-len(queries) // (workers * 4))
        ranges = [(lo, min(lo + size, len(queries))) for lo in range(0, len(queries), size)]
        _FORK_STATE["job"] = (self, queries)
        try:
            with mp.get_context("fork").Pool(workers) as pool:
                parts = pool.map(_match_range, ranges)
        finally:
            _FORK_STATE.clear()
        out: list[list[Match]] = []
        customers = self.customers
        for part in parts:
            for found in part:
                out.append([Match(customers[pos], pos, kind, score, ev) for pos, kind, score, ev in found])
        return out

    def match_all_pairs(self, query: MatchQuery) -> list[Match]:
        """Naive baseline: every customer is a candidate. Same answers as ``match`` (tested), far slower."""
        prepared = self.prepare(query)
        if not prepared.has_evidence:
            return []
        everyone = set(range(len(self.customers)))
        strong = {
            i for i in everyone
            if (prepared.account_id and (self.customers[i].account_id or "").strip()[:15] == prepared.account_id)
            or (prepared.duns and self._duns[i] == prepared.duns)
            or (prepared.domain and self._domain[i] == prepared.domain)
        }
        named = everyone - strong if prepared.tokens else set()
        return self._evaluate(prepared, strong, named)

    def _evaluate(self, q: _Prepared, strong: set[int], named: set[int]) -> list[Match]:
        out: list[Match] = []
        matching = self.matching
        for i in sorted(strong):
            out.append(self._build(q, i, strong=True))
        qc = q.country
        block_unknown = matching.unknown_country is CountryGuard.BLOCK
        for i in sorted(named):
            cc = self._country[i]
            if qc is not None and cc is not None:
                if qc != cc:
                    continue  # country guard: same name, another country, is another company
            elif block_unknown:
                continue
            norm = self._norm[i]
            if not norm:
                continue
            score = self._score(q.tokens, norm.split(" "), self.common_words)
            threshold = matching.name_threshold
            if q.postal and q.postal == self._postal[i] and qc is not None and qc == cc:
                threshold = matching.name_threshold_same_postal
            if score >= threshold:
                out.append(self._build(q, i, strong=False, score=score))
        return out

    def _build(self, q: _Prepared, i: int, *, strong: bool, score: float | None = None) -> Match:
        cust = self.customers[i]
        evidence: dict[str, Any] = {}
        kind = MatchKind.NAME
        if q.account_id and (cust.account_id or "").strip()[:15] == q.account_id:
            evidence["account_id"] = q.account_id
            kind = MatchKind.ACCOUNT_ID
        if q.duns and self._duns[i] == q.duns:
            evidence["duns"] = q.duns
            if kind is MatchKind.NAME:
                kind = MatchKind.DUNS
        if q.domain and self._domain[i] == q.domain:
            evidence["domain"] = q.domain
            if kind is MatchKind.NAME:
                kind = MatchKind.DOMAIN
        norm = self._norm[i]
        if score is None and q.tokens and norm:
            score = self._score(q.tokens, norm.split(" "), self.common_words)
        if q.tokens and norm:
            evidence["name"] = {
                q.raw.side: q.raw.name, "protected": cust.name,
                "normalized": [q.norm, norm], "score": score,
            }
        cc = self._country[i]
        if q.country or cc:
            evidence["country"] = {q.raw.side: q.country, "protected": cc,
                                   "same": q.country is not None and q.country == cc}
            if q.country is None or cc is None:
                # Said out loud: a name-only match stood without a country check (unknown_country: allow).
                evidence["country"]["unknown"] = True
        if q.postal and q.postal == self._postal[i]:
            evidence["postal_code"] = q.postal
        final = 100.0 if strong else float(score or 0.0)
        return Match(customer=cust, position=i, kind=kind, score=final, evidence=evidence)
