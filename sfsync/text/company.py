"""Company names: the blind-index normaliser (versioned, frozen) and the conflict matcher's.

Two named rules over the same legal-form data (cleanco's terms), written once:

* :func:`blind_index_company_name_v1` -- what the ``company_name`` blind index is computed over.
  Its output is stored (HMAC'd) in Salesforce, so it never changes; a new rule gets a new version.
* :func:`company_name` / :func:`name_tokens` -- what the conflict matcher compares: tokens with
  case, accents, scripts (transliterated), punctuation, abbreviations, legal forms (also misspelt
  ones) and generic words normalised away, plus the legal-form words a name keeps *as a name*
  ("Brunel Company S.A.S.") and its trading (DBA) names.

The matcher's rule may keep improving; tests hold the blind-index rule to
``crypto/vectors/blind_index.json`` and a frozen sample.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from cleanco.clean import get_unique_terms
from cleanco.non_nfkd_map import NON_NFKD_MAP

__all__ = [
    "BLIND_INDEX_COMPANY_NAME_VERSION",
    "COMMON_BUSINESS_WORDS",
    "GENERIC_WORDS",
    "LEGAL_WORDS",
    "CompanyName",
    "blind_index_company_name_v1",
    "company_name",
    "fold",
    "name_tokens",
    "normalize_name",
]

BLIND_INDEX_COMPANY_NAME_VERSION = 1

# -- blind index, version 1 (frozen) -----------------------------------------------------------


@lru_cache(maxsize=1)
def _legal_terms() -> tuple[list[tuple[int, list[str]]], dict[str, list[int]]]:
    """cleanco's default suffix terms, in cleanco's order, and their positions by last word."""
    from cleanco import prepare_default_terms

    terms: list[tuple[int, list[str]]] = prepare_default_terms()
    by_last: dict[str, list[int]] = {}
    for position, (_size, parts) in enumerate(terms):
        if parts:  # a term with no words can only "match" an empty name, which changes nothing
            by_last.setdefault(parts[-1], []).append(position)
    return terms, by_last


class _CharTable(dict[int, str]):
    """A ``str.translate`` table filled on first sight of each character (bounded by Unicode)."""

    def __init__(self, rule: Callable[[str], str]) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, codepoint: int) -> str:
        value = self[codepoint] = self._rule(chr(codepoint))
        return value


@lru_cache(maxsize=1)
def _cleanco_accents() -> _CharTable:
    # cleanco.clean.remove_accents, per character: drop category Mn, else map through NON_NFKD_MAP.
    return _CharTable(lambda c: "" if unicodedata.category(c) == "Mn" else NON_NFKD_MAP.get(c, c))


_COMBINING = _CharTable(lambda c: "" if unicodedata.combining(c) else c)
_TAIL = re.compile(r"[^\.\w]+$", flags=re.UNICODE)  # cleanco.clean.tail_removal_rexp


def _strip_tail(name: str) -> str:
    """cleanco.clean.strip_tail: drop trailing non-word characters except the dot."""
    match = _TAIL.search(name)
    return name[: match.start()] if match is not None else name


def _strip_legal_suffixes(name: str) -> str:
    """Exactly ``cleanco.basename(name)`` (suffixes only), without testing all ~320 terms each time.

    cleanco walks its whole term list in order and, whenever the current tail of the name
    equals a term, drops it and goes on with the *next* term. A term can only match when its
    last word is the name's current last word, so the walk can jump straight to the next term
    ending in that word (bisect over its positions) -- same order, same decisions, same output.
    cleanco's per-character accent removal is done with a memoised ``str.translate`` table.
    ``tests/crypto/test_crypto_blind_equivalence.py`` compares both on a large generated corpus.
    """
    terms, by_last = _legal_terms()
    name = _strip_tail(name)
    nparts = name.split()
    normalized = unicodedata.normalize("NFKD", name.casefold()).translate(_cleanco_accents())
    nnparts = [part.replace(".", "").replace(",", "").replace("-", "") for part in normalized.split()]
    position = 0
    while nnparts:
        candidates = by_last.get(nnparts[-1])
        if not candidates:
            break
        for index in candidates[bisect_left(candidates, position) :]:
            size, parts = terms[index]
            if nnparts[-size:] == parts:
                del nnparts[-size:]
                del nparts[-size:]
                position = index + 1
                break
        else:
            break
    return _strip_tail(" ".join(nparts))


_LEGAL_WORDS_RE = re.compile(r"[^\w\s]", re.UNICODE)


def blind_index_company_name_v1(text: str) -> str:
    """Company name for the ``company_name`` blind index, version 1. ValueError when nothing is left.

    Frozen (indexes computed with it are stored): cleanco legal suffixes removed (repeatedly),
    casefolded, accents and punctuation dropped, ``&``/``+`` -> ``and``, a leading ``the`` dropped.
    """
    value = unicodedata.normalize("NFKC", text).strip()
    # cleanco removes one legal suffix per call ("Foo Ltd Ltd", "Foo GmbH & Co. KG"): repeat.
    for _ in range(5):
        stripped = _strip_legal_suffixes(value).strip()
        if not stripped or stripped == value:
            break
        value = stripped
    value = value.casefold()
    value = unicodedata.normalize("NFKD", value).translate(_COMBINING)
    value = value.replace("&", " and ").replace("+", " and ")
    value = _LEGAL_WORDS_RE.sub(" ", value).replace("_", " ")
    words = value.split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    result = " ".join(words)
    if not result:
        raise ValueError("company name is empty after normalisation")
    return result


# -- the conflict matcher's normaliser ---------------------------------------------------------
#
# Pure and fast: the candidate index normalises about a million protected names per build, so the
# hot path is a few set look-ups a name. cleanco's terms are put through *our* tokeniser once and
# kept in a set keyed by token tuples.

# Separators become spaces; dots and apostrophes are dropped so "S.A." -> "sa", "O'Neil" -> "oneil".
_DROP = str.maketrans({".": None, "'": None, "’": None, "`": None})
_DROPPED = (".", "'", "’", "`")  # what _DROP deletes, for str.replace
_TOKEN_RE = re.compile(r"[0-9a-z\u00c0-\uffff]+")
_PAREN_RE = re.compile(r"\([^)]*\)|\[[^\]]*\]")
# "Acme Holdings LLC d/b/a Roadrunner", "Acme t/a Roadrunner", "Acme, trading as Roadrunner".
_DBA_RE = re.compile(
    r"\s(?:d\s?/\s?b\s?/\s?a|dba|t\s?/\s?a|a\s?/\s?k\s?/\s?a|aka|trading as|doing business as|operating as"
    r"|also known as|handelnd als|exercant sous|operando como|h\.?n\.?)\s",
)
# A trailing " - Storage Division", " / EMEA Branch" names a part of the customer, not another one.
_DIVISION_RE = re.compile(
    r"\s[-–/]\s[^-–/]*\b(?:division|dept|department|branch|unit|office|abteilung|filiale|niederlassung"
    r"|succursale|agence|sucursal|filial|divisione|afdeling|vestiging|oddzial)\b.*$"
)
_MAX_NAME = 512  # a 2 KB "name" is pasted junk: its head is all that can be a company name

# Words that describe a company rather than name it. Dropped like legal suffixes so that
# "Acme Holdings" and "Acme" compare equal, but only when something distinctive is left.
GENERIC_WORDS: frozenset[str] = frozenset(
    {
        "the", "group", "holding", "holdings", "international", "global", "worldwide",
        "enterprises", "enterprise", "grupo", "gruppe", "groupe", "gruppo", "groep", "grupa", "koncern",
    }
)  # fmt: skip

# Abbreviations mapped to one canonical (long) spelling, so "Intl Mfg" == "International Manufacturing",
# in the languages of the countries the vendor sells in. Long forms, because a typo in a long word
# ("Servjces") is still one edit from "services".
_CANONICAL: dict[str, str] = {
    # English
    "intl": "international", "int": "international", "internat": "international",
    "internationale": "international", "internacional": "international", "internazionale": "international",
    "mfg": "manufacturing", "manuf": "manufacturing",
    "tech": "technologies", "techn": "technologies", "technology": "technologies", "techs": "technologies",
    "svcs": "services", "svc": "services", "srvcs": "services", "service": "services", "servs": "services",
    "sys": "systems", "system": "systems",
    "labs": "laboratories", "lab": "laboratories", "laboratory": "laboratories",
    "bros": "brothers", "bro": "brothers",
    "assoc": "associates", "assocs": "associates", "assn": "association",
    "soln": "solutions", "solns": "solutions", "solution": "solutions",
    "ind": "industries", "inds": "industries", "industry": "industries", "indus": "industries",
    "comms": "communications", "comm": "communications", "communication": "communications",
    "eng": "engineering", "engg": "engineering", "engr": "engineering",
    "mgmt": "management", "mgt": "management",
    "ctr": "center", "cntr": "center", "centre": "center",
    "grp": "group", "hldgs": "holdings", "hldg": "holding",
    "dist": "distribution", "distr": "distribution", "distrib": "distribution",
    "mt": "mount", "mtn": "mountain", "st": "saint", "ste": "saint", "sainte": "saint", "san": "saint",
    "santa": "saint", "santo": "saint", "sankt": "saint", "sao": "saint", "s\u00e3o": "saint",
    "ft": "fort", "pt": "point", "natl": "national", "nat": "national", "amer": "american",
    "elec": "electric", "electr": "electric", "fin": "financial", "fincl": "financial", "ins": "insurance",
    "invest": "investments", "inv": "investments", "props": "properties", "prop": "properties",
    "pharm": "pharmaceuticals", "pharma": "pharmaceuticals", "chem": "chemicals",
    "med": "medical", "univ": "university", "dev": "development", "devel": "development",
    "equip": "equipment", "eqpt": "equipment", "constr": "construction", "const": "construction",
    "transp": "transport", "trans": "transport", "transportation": "transport",
    "auto": "automotive", "mach": "machinery", "prod": "products", "prods": "products", "product": "products",
    # German
    "ges": "gesellschaft", "gebr": "brothers", "gebruder": "brothers", "gebrueder": "brothers",
    "u": "and", "und": "and", "masch": "machinery", "maschinenbau": "machinery", "techn.": "technologies",
    "vertr": "vertrieb", "verw": "verwaltung", "dienstl": "dienstleistungen",
    # French
    "cie": "company", "compagnie": "company", "ets": "etablissements", "etabl": "etablissements",
    "sté": "societe", "ste.": "saint", "soc": "societe", "et": "and", "fr\u00e8res": "brothers",
    "freres": "brothers",
    # Spanish / Portuguese / Italian
    "cia": "company", "compania": "company", "companhia": "company", "hnos": "brothers", "hermanos": "brothers",
    "irmaos": "brothers", "fratelli": "brothers", "flli": "brothers", "y": "and", "e": "and",
    "gral": "general", "distrib.": "distribution", "ind.": "industries", "industria": "industries",
    "industrias": "industries", "industrie": "industries", "servicios": "services", "servicos": "services",
    "servizi": "services",
    # Dutch / Swedish / Polish
    "gebroeders": "brothers", "en": "and", "mij": "maatschappij", "och": "and", "brod": "brothers",
    "broderna": "brothers", "bracia": "brothers", "i": "and", "przeds": "przedsiebiorstwo",
    # symbols
    "&": "and", "+": "and", "n": "and",
}  # fmt: skip
# Connectives written as a single letter ("Smith e Jones", "Mateo y Hijos") only count as "and" between
# two words; elsewhere a lone letter is an initial.
_CONNECTIVE_LETTERS = frozenset({"e", "y", "i", "u", "n"})

# Words that say what a company does. Two names differing by one of these ("Acme Foods" vs "Acme Tools")
# are different companies, however close the spelling; the scorer never treats them as typos.
_BUSINESS_WORDS = (
    "foods food tools motors motor labs energy capital bank insurance pharma pharmaceuticals textiles "
    "logistics transport shipping airlines airways media software hardware electronics electric "
    "chemicals steel metals mining oil gas power water foods farms dairy bakery brewing beverages "
    "retail stores fashion apparel furniture homes construction builders realty properties estates "
    "hotels travel health healthcare medical dental clinic hospital biotech devices instruments "
    "consulting advisors partners finance financial investments securities trading marine aviation "
    "automotive parts packaging paper printing plastics rubber glass textile robotics semiconductors "
    "networks telecom wireless cable data analytics cloud digital design studios games toys sports "
    "foods fresh organics seeds agri technologies systems services solutions manufacturing laboratories "
    "industries communications engineering management center storage storing stowage shipping freight "
    "supplies supply equipment machinery products distribution brothers associates mount saint "
    "national american general development university association"
)

# Extra designators cleanco lacks (or that our tokeniser splits differently).
_EXTRA_TERMS = (
    "and co", "and cie", "cie", "kabushiki kaisha", "co ltd", "co inc", "corp ltd", "limited company",
    "sociedad anonima", "societe anonyme", "aktiengesellschaft", "gesellschaft mbh", "naamloze vennootschap",
    "besloten vennootschap", "public limited company", "limited liability company", "pty", "sa rl",
    "sab de cv", "de cv", "aktiebolag", "ek", "ev", "kabushiki gaisha", "yugen kaisha", "godo kaisha",
    "sociedad limitada", "societa per azioni", "proprietary limited", "pty limited", "sapi de cv", "srl de cv",
    "spzoo", "sp zoo", "sp z oo", "spolka z ograniczona odpowiedzialnoscia", "company", "societe",
    "limitada", "ltda", "kk", "gk", "corp", "co", "llc", "inc", "ltd", "plc", "gmbh", "ag", "sa", "sas",
    "sarl", "bv", "nv", "ab", "spa", "srl", "sl", "slu", "sau", "oy", "oyj", "as", "asa", "aps",
)  # fmt: skip
# Designators also written before the name ("AB Volvo", "OOO Romashka", "PT Astra").
_PREFIX_TERMS = frozenset({"ab", "pt", "ooo", "oao", "zao", "pao", "ao", "oy", "as", "the", "ооо", "оао", "зао", "пао"})
_TRANSLIT_MIN = 0x0370  # Greek and above: other scripts are transliterated to Latin letters


# Cyrillic and Greek letters that look like Latin ones. In a word that mixes scripts they are the
# Latin letter (pasted or spoofed text: "Асme" with a Cyrillic А), not a transliteration ("с" -> "s").
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ε": "e",
    "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
})  # fmt: skip
_WORD_RE = re.compile(r"\w+")


def _mixed_script_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if any("a" <= c <= "z" for c in word) and any(ord(c) >= _TRANSLIT_MIN for c in word):
        return word.translate(_CONFUSABLES)
    return word


def fold(text: str) -> str:
    """casefold + strip accents (NFKD, drop combining marks) + letters NFKD cannot split (ß, ø, ł);
    Greek, Cyrillic and other scripts transliterated to Latin letters (look-alike letters inside a
    Latin word read as the Latin letter)."""
    low = text.casefold()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    out = "".join(NON_NFKD_MAP.get(c, c) for c in decomposed if not unicodedata.combining(c))
    if any(ord(c) >= _TRANSLIT_MIN for c in out):
        from anyascii import anyascii

        out = _WORD_RE.sub(_mixed_script_word, out)
        out = "".join(anyascii(c).casefold() if ord(c) >= _TRANSLIT_MIN else c for c in out)
    return out


def _skeleton(token: str) -> str:
    # "Müller" folds to "muller", "Mueller" is the German transliteration of the same name.
    if "e" in token and ("ae" in token or "oe" in token or "ue" in token) and not token.isdigit():
        return token.replace("ae", "a").replace("oe", "o").replace("ue", "u")
    return token


def _raw_tokens(text: str, canonical: bool = True) -> list[str]:
    # A million names go through here per index build: each step only when its characters occur
    # (``str.translate`` with deletions walks the string through a dict per character).
    folded = fold(text)
    if "&" in folded:
        folded = folded.replace("&", " and ")
    if "+" in folded:
        folded = folded.replace("+", " and ")
    for dropped in _DROPPED:
        if dropped in folded:
            folded = folded.replace(dropped, "")
    tokens = _TOKEN_RE.findall(folded)
    if not tokens:
        return tokens
    if min(map(len, tokens)) == 1:
        # Join runs of single letters: "s a" -> "sa", "i b m" -> "ibm" (initials written with spaces),
        # except a lone connective between two words ("Smith e Jones").
        out: list[str] = []
        run: list[str] = []
        for tok in tokens:
            if len(tok) == 1 and tok.isalpha():
                run.append(tok)
                continue
            if run:
                out.append("".join(run))
                run = []
            out.append(tok)
        if run:
            out.append("".join(run))
        tokens = out
        if not canonical:
            return tokens
        result = []
        last = len(tokens) - 1
        for i, tok in enumerate(tokens):
            if len(tok) == 1 and tok in _CONNECTIVE_LETTERS and not 0 < i < last:
                result.append(tok)
            else:
                result.append(_canonical_token(tok))
        return result
    if not canonical:
        return tokens
    # No one-letter token: no connective to keep as written.
    return list(map(_canonical_token, tokens))


@lru_cache(maxsize=1 << 18)  # pure; the vocabulary of a million names is a few ten thousand words
def _canonical_token(token: str) -> str:
    return _skeleton(_CANONICAL.get(token, token))


COMMON_BUSINESS_WORDS: frozenset[str] = frozenset(_CANONICAL.get(w, w) for w in _BUSINESS_WORDS.split())


def _matcher_terms() -> tuple[frozenset[tuple[str, ...]], int, frozenset[str]]:
    terms: set[tuple[str, ...]] = set()
    for raw in (*get_unique_terms(), *_EXTRA_TERMS):
        toks = tuple(_raw_tokens(raw))
        if toks:
            terms.add(toks)
    return frozenset(terms), max(len(t) for t in terms), frozenset(t[-1] for t in terms)


_TERMS, _LONGEST_TERM, _TERM_LAST_WORDS = _matcher_terms()
# Every word of a legal-form designator ("company", "limited", "sas", "gmbh", ...).
LEGAL_WORDS: frozenset[str] = frozenset(w for t in _TERMS for w in t)
_TAIL_WORDS = _TERM_LAST_WORDS | GENERIC_WORDS


def _deletions(token: str) -> set[str]:
    return {token[:i] + token[i + 1 :] for i in range(len(token))}


# Long one-word legal forms and their one-letter deletions: "Limied", "Corporaton", "Incorported",
# "Compnay" are still legal forms (within one edit), never the distinctive word of a name.
_LONG_FORMS = frozenset(t[0] for t in _TERMS if len(t) == 1 and len(t[0]) >= 6)
_LONG_FORM_DELETIONS: dict[str, str] = {}
for _form in sorted(_LONG_FORMS):
    for _variant in _deletions(_form):
        _LONG_FORM_DELETIONS.setdefault(_variant, _form)


@lru_cache(maxsize=1 << 18)  # pure, and a million names share a vocabulary of a few ten thousand words
def _misspelt_form(token: str) -> bool:
    if len(token) < 5 or token in _LONG_FORMS:
        return False
    if token in _LONG_FORM_DELETIONS:  # a letter dropped
        return True
    return any(v in _LONG_FORMS or v in _LONG_FORM_DELETIONS for v in _deletions(token))


def _strip_tail_forms(toks: list[str]) -> tuple[list[str], list[tuple[str, ...]]]:
    """(name without its leading/trailing legal forms and generic words, the groups stripped from
    the end, outermost first)."""
    groups: list[tuple[str, ...]] = []
    changed = True
    while changed and len(toks) > 1:
        changed = False
        # Every term ends in one of _TERM_LAST_WORDS: a name ending in none of them (nor a generic or
        # misspelt legal word) has no tail to strip, whatever the size -- skip building the tails.
        last = toks[-1]
        may_strip = last in _TAIL_WORDS or _misspelt_form(last)
        for size in range(min(_LONGEST_TERM, len(toks) - 1) if may_strip else 0, 0, -1):
            tail = tuple(toks[-size:])
            if tail in _TERMS or (size == 1 and (tail[0] in GENERIC_WORDS or _misspelt_form(tail[0]))):
                groups.append(tail)
                del toks[-size:]
                changed = True
                break
        if not changed and len(toks) > 1 and toks[0] in _PREFIX_TERMS:
            del toks[0]
            changed = True
    return toks, groups


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name as the conflict matcher compares it."""

    tokens: tuple[str, ...]  # distinctive core: legal forms and generic words removed
    # Legal-form words the name keeps before its own legal form ("company" in "Brunel Company S.A.S."):
    # part of the name there, so two names differing only in them may be two companies.
    legal_words: tuple[str, ...] = ()
    alternates: tuple[tuple[str, ...], ...] = ()  # trading (DBA) names

    @property
    def norm(self) -> str:
        return " ".join(self.tokens)


def _core(text: str) -> CompanyName:
    toks = _raw_tokens(text)
    if not toks:
        return CompanyName(())
    groups: list[tuple[str, ...]] = []
    if len(toks) >= 2 and (toks[-1] in _TAIL_WORDS or toks[0] in _PREFIX_TERMS or _misspelt_form(toks[-1])):
        toks, groups = _strip_tail_forms(list(toks))
    if LEGAL_WORDS.issuperset(toks):
        return CompanyName(())  # only a legal form ("Ltd", "GmbH & Co. KG"): no name to compare
    # The outermost group is the company's legal form; legal-form words *inside* it are part of the
    # name as written ("Brunel Company" S.A.S.).
    legal = (
        sorted({w for g in groups[1:] for w in g if w in LEGAL_WORDS and w not in GENERIC_WORDS})
        if len(groups) > 1
        else ()
    )
    # Generic words in the middle ("Acme Global Foods") are dropped too, if something remains.
    if len(toks) > 1 and not GENERIC_WORDS.isdisjoint(toks):
        kept = [t for t in toks if t not in GENERIC_WORDS]
        if kept:
            toks = kept
    return CompanyName(tuple(toks), tuple(legal))


# Pure, and its result is immutable: a scan normalises the same registration / account names once per
# index and once per query (several times each); bounded so a million-name build cannot pin them all.
@lru_cache(maxsize=1 << 16)
def company_name(name: str | None) -> CompanyName:
    """Normalise a company name for matching (never raises; an unusable name has no tokens)."""
    if not name:
        return CompanyName(())
    text = name[:_MAX_NAME]
    alternates: list[tuple[str, ...]] = []
    low = " " + fold(text) + " "
    # Fast path: most names hold no trading-name marker, bracket or " - " part to look at.
    if "/" in low or " a" in low or " d" in low or " t" in low or " o" in low or " h" in low or " e" in low:
        match = _DBA_RE.search(low)
        if match is not None:
            alt = _core(low[match.end() :])
            if alt.tokens:
                alternates.append(alt.tokens)
            low = low[: match.start()] + " "
    if "(" in low or "[" in low:
        low = _PAREN_RE.sub(" ", low)
    if " - " in low or " – " in low or " / " in low:
        low = _DIVISION_RE.sub("", " " + low.strip() + " ")
    main = _core(low)
    if not alternates:
        return main  # CompanyName(main.tokens, main.legal_words, ()): the same value, one object fewer
    if not main.tokens:
        return CompanyName(alternates[0], (), ())
    return CompanyName(main.tokens, main.legal_words, tuple(alternates))


def name_tokens(name: str | None) -> list[str]:
    """Tokens of a company name with case, accents, punctuation and legal forms normalised away."""
    return list(company_name(name).tokens)


def normalize_name(name: str | None) -> str:
    """``"Société Générale S.A."`` -> ``"societe generale"``; ``""`` when nothing usable is left."""
    return " ".join(company_name(name).tokens)
