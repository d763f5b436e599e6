"""Normalisation of the fields conflicts are matched on: company names, websites, DUNS, countries.

Everything here is pure and fast: the index normalises about a million protected names per
build, so the hot paths avoid regex backtracking and per-call allocations where they can.

Legal-form designators come from cleanco's term data (maintained, ~250 forms in many
languages). cleanco's own ``basename`` loops over every term for each name (~40 µs a call,
40 s per million names), so the same terms are put through *our* tokeniser once and kept in a
set keyed by token tuples; stripping is then a few set look-ups a name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import tldextract
from cleanco.clean import get_unique_terms
from cleanco.non_nfkd_map import NON_NFKD_MAP

__all__ = [
    "COMMON_BUSINESS_WORDS",
    "GENERIC_WORDS",
    "name_tokens",
    "normalize_country",
    "normalize_duns",
    "normalize_name",
    "normalize_postal",
    "normalize_product_lines",
    "registrable_domain",
]

# Separators become spaces; dots and apostrophes are dropped so "S.A." -> "sa", "O'Neil" -> "oneil".
_DROP = str.maketrans({".": None, "'": None, "’": None, "`": None})
_SPLIT_RE = re.compile(r"[^0-9a-z\u00c0-\uffff]+")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")
_TOKEN_RE = re.compile(r"[0-9a-z\u00c0-\uffff]+")

# Words that describe a company rather than name it. Dropped like legal suffixes so that
# "Acme Holdings" and "Acme" compare equal, but only when something distinctive is left.
GENERIC_WORDS: frozenset[str] = frozenset(
    {
        "the", "group", "holding", "holdings", "international", "global", "worldwide",
        "enterprises", "enterprise", "grupo", "gruppe", "groupe", "gruppo",
    }
)

# Abbreviations mapped to one canonical (long) spelling, so "Intl Mfg" == "International Manufacturing".
# Long forms, because a typo in a long word ("Servjces") is still one edit from "services".
_CANONICAL: dict[str, str] = {
    "intl": "international",
    "int": "international",
    "internationale": "international",
    "mfg": "manufacturing",
    "tech": "technologies",
    "technology": "technologies",
    "svcs": "services",
    "svc": "services",
    "service": "services",
    "sys": "systems",
    "system": "systems",
    "labs": "laboratories",
    "lab": "laboratories",
    "laboratory": "laboratories",
    "bros": "brothers",
    "assoc": "associates",
    "soln": "solutions",
    "solution": "solutions",
    "ind": "industries",
    "industry": "industries",
    "comms": "communications",
    "eng": "engineering",
    "mgmt": "management",
    "ctr": "center",
    "centre": "center",
    "&": "and",
    "und": "and",
}

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
    "industries communications engineering management center"
)


# Extra designators cleanco lacks (or that our tokeniser splits differently).
_EXTRA_TERMS = (
    "and co", "and cie", "cie", "kabushiki kaisha", "co ltd", "co inc", "corp ltd", "limited company",
    "sociedad anonima", "societe anonyme", "aktiengesellschaft", "gesellschaft mbh", "naamloze vennootschap",
    "besloten vennootschap", "public limited company", "limited liability company", "pty", "sa rl",
    "sab de cv", "de cv", "aktiebolag", "ek", "ev", "kabushiki gaisha", "yugen kaisha", "godo kaisha",
    "sociedad limitada", "societa per azioni", "proprietary limited", "pty limited", "sapi de cv", "srl de cv",
)
# Designators also written before the name ("AB Volvo", "OOO Romashka", "PT Astra").
_PREFIX_TERMS = frozenset({"ab", "pt", "ooo", "oao", "zao", "pao", "ao", "oy", "as", "the", "ооо", "оао", "зао", "пао"})


def _fold(text: str) -> str:
    """casefold + strip accents (NFKD, drop combining marks) + letters NFKD cannot split (ß, ø, ł)."""
    low = text.casefold()
    if low.isascii():
        return low
    decomposed = unicodedata.normalize("NFKD", low)
    return "".join(
        NON_NFKD_MAP.get(c, c) for c in decomposed if not unicodedata.combining(c)
    )


def _raw_tokens(text: str) -> list[str]:
    folded = _fold(text).replace("&", " and ").translate(_DROP)
    tokens = _TOKEN_RE.findall(folded)
    canon = _CANONICAL
    if not any(len(t) == 1 for t in tokens):
        return [canon.get(t, t) for t in tokens]
    # Join runs of single letters: "s a" -> "sa", "i b m" -> "ibm" (initials written with spaces).
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
    return [canon.get(t, t) for t in out]


COMMON_BUSINESS_WORDS: frozenset[str] = frozenset(
    _CANONICAL.get(w, w) for w in _BUSINESS_WORDS.split()
)


def _legal_terms() -> tuple[frozenset[tuple[str, ...]], int, frozenset[str]]:
    terms: set[tuple[str, ...]] = set()
    for raw in (*get_unique_terms(), *_EXTRA_TERMS):
        toks = tuple(_raw_tokens(raw))
        if toks:
            terms.add(toks)
    return frozenset(terms), max(len(t) for t in terms), frozenset(t[-1] for t in terms)


_TERMS, _LONGEST_TERM, _TERM_LAST_WORDS = _legal_terms()
# A name needs the slow path only if it ends in a legal form or generic word, or starts with a prefix form.
_TAIL_WORDS = _TERM_LAST_WORDS | GENERIC_WORDS


def _strip_designators(tokens: list[str]) -> list[str]:
    if len(tokens) < 2:
        return tokens
    toks = tokens
    if toks[-1] in _TAIL_WORDS or toks[0] in _PREFIX_TERMS:
        toks = list(tokens)
        terms = _TERMS
        changed = True
        # Repeat: "Acme Holdings GmbH & Co. KG" sheds "gmbh and co kg", then the generic "holdings".
        while changed and len(toks) > 1:
            changed = False
            for size in range(min(_LONGEST_TERM, len(toks) - 1), 0, -1):
                tail = tuple(toks[-size:])
                if tail in terms or (size == 1 and tail[0] in GENERIC_WORDS):
                    del toks[-size:]
                    changed = True
                    break
            if not changed and len(toks) > 1 and toks[0] in _PREFIX_TERMS:
                del toks[0]
                changed = True
    # Generic words in the middle ("Acme Global Foods") are dropped too, if something remains.
    if len(toks) > 1 and not GENERIC_WORDS.isdisjoint(toks):
        kept = [t for t in toks if t not in GENERIC_WORDS]
        if kept:
            toks = kept
    return toks


def name_tokens(name: str | None) -> list[str]:
    """Tokens of a company name with case, accents, punctuation and legal forms normalised away."""
    if not name:
        return []
    toks = _raw_tokens(name)
    if not toks:
        return []
    return _strip_designators(toks)


def normalize_name(name: str | None) -> str:
    """``"Société Générale S.A."`` -> ``"societe generale"``; ``""`` when nothing usable is left."""
    return " ".join(name_tokens(name))


_EXTRACT = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
_HOST_OK = re.compile(r"^[^\W_][\w\-]*$")


_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "internal"})


def registrable_domain(value: str | None) -> str | None:
    """Registrable domain of a website or e-mail address: ``https://www.shop.acme.co.uk/x`` -> ``acme.co.uk``.

    Scheme, credentials, ``www``/other subdomains, port, path and query are stripped with the public
    suffix list bundled in tldextract (no network). Junk, bare words, IP addresses and unknown
    suffixes give None: they are "not enough evidence", never an error.
    """
    if not value:
        return None
    text = value.strip().casefold()
    if not text or " " in text:
        return None
    if "@" in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text:
        text = text.split("://", 1)[1]
    for sep in "/?#":
        text = text.split(sep, 1)[0]
    text = text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    text = text.strip(".")
    if not text or "." not in text:
        return None
    labels = text.split(".")
    if labels[-1] in _RESERVED_TLDS:
        # RFC 2606/6761 names (sample data, test orgs, intranets) are under no public suffix;
        # their last two labels are the registrable part.
        return ".".join(labels[-2:]) if len(labels) >= 2 and _HOST_OK.match(labels[-2]) else None
    fast = _fast_registrable(text)
    if fast is not None:
        return fast or None
    try:
        parts = _EXTRACT(text)
    except (ValueError, UnicodeError):  # pragma: no cover - tldextract is lenient
        return None
    if not parts.domain or not parts.suffix or not _HOST_OK.match(parts.domain):
        return None
    return f"{parts.domain}.{parts.suffix}"


def _load_suffixes() -> tuple[frozenset[str], frozenset[str]]:
    """Plain public suffixes, and the bases of wildcard/exception rules (``*.sch.uk`` -> ``sch.uk``)."""
    _EXTRACT("example.com")  # loads the bundled snapshot
    plain: set[str] = set()
    special: set[str] = set()
    for rule in _EXTRACT.tlds:
        if rule.startswith("*."):
            special.add(rule[2:])
        elif rule.startswith("!"):
            special.add(rule[1:].split(".", 1)[-1])
        else:
            plain.add(rule)
    return frozenset(plain), frozenset(special)


_PLAIN_SUFFIXES, _SPECIAL_SUFFIXES = _load_suffixes()


def _fast_registrable(host: str) -> str | None:
    """Longest-suffix match for plain ASCII hosts (the common case, several times faster than
    tldextract). None: let tldextract decide (IDN, wildcard rules); "": no registrable domain."""
    if not host.isascii() or "xn--" in host:
        return None
    if host in _PLAIN_SUFFIXES:
        return ""
    labels = host.split(".")
    count = len(labels)
    for size in (1, 2, 3):
        if count >= size and ".".join(labels[-size:]) in _SPECIAL_SUFFIXES:
            return None
    for size in (3, 2, 1):
        if count > size:
            suffix = ".".join(labels[-size:])
            if suffix in _PLAIN_SUFFIXES:
                domain = labels[-size - 1]
                return f"{domain}.{suffix}" if domain and _HOST_OK.match(domain) else ""
    return None


def normalize_duns(value: str | int | None) -> str | None:
    """A D-U-N-S number is 9 digits (written with or without dashes); anything else is None."""
    if value is None:
        return None
    digits = "".join(c for c in str(value) if c.isdigit())
    if len(digits) != 9 or digits == "000000000":
        return None
    return digits


def normalize_postal(value: str | None) -> str | None:
    if not value:
        return None
    text = _NOT_ALNUM_RE.sub("", _fold(value))
    return text.upper() or None


def normalize_product_lines(value: str | Iterable[str] | None) -> frozenset[str]:
    """``"Servers;Storage"`` or ``["servers", " Storage "]`` -> ``{"servers", "storage"}``."""
    if value is None:
        return frozenset()
    items = value.split(";") if isinstance(value, str) else list(value)
    return frozenset(s.strip().casefold() for s in items if s and s.strip())


_COUNTRY_ALIASES: dict[str, str] = {}


def _add_countries() -> None:
    table = {
        "US": "usa|united states|united states of america|america|u s a|u s",
        "GB": "gbr|uk|united kingdom|great britain|britain|england|scotland|wales|northern ireland",
        "DE": "deu|germany|deutschland", "FR": "fra|france", "ES": "esp|spain|espana",
        "IT": "ita|italy|italia", "NL": "nld|netherlands|the netherlands|holland|nederland",
        "BE": "bel|belgium|belgique|belgie", "LU": "lux|luxembourg", "CH": "che|switzerland|schweiz|suisse",
        "AT": "aut|austria|osterreich", "IE": "irl|ireland", "PT": "prt|portugal", "SE": "swe|sweden|sverige",
        "NO": "nor|norway|norge", "DK": "dnk|denmark|danmark", "FI": "fin|finland|suomi",
        "IS": "isl|iceland", "PL": "pol|poland|polska", "CZ": "cze|czech republic|czechia",
        "SK": "svk|slovakia", "HU": "hun|hungary", "RO": "rou|romania", "BG": "bgr|bulgaria",
        "GR": "grc|greece", "TR": "tur|turkey|turkiye", "RU": "rus|russia|russian federation",
        "UA": "ukr|ukraine", "EE": "est|estonia", "LV": "lva|latvia", "LT": "ltu|lithuania",
        "SI": "svn|slovenia", "HR": "hrv|croatia", "RS": "srb|serbia", "IL": "isr|israel",
        "AE": "are|united arab emirates|uae", "SA": "sau|saudi arabia", "EG": "egy|egypt",
        "ZA": "zaf|south africa", "NG": "nga|nigeria", "KE": "ken|kenya", "MA": "mar|morocco",
        "IN": "ind|india", "PK": "pak|pakistan", "CN": "chn|china|prc", "HK": "hkg|hong kong",
        "TW": "twn|taiwan", "JP": "jpn|japan", "KR": "kor|south korea|korea", "SG": "sgp|singapore",
        "MY": "mys|malaysia", "ID": "idn|indonesia", "TH": "tha|thailand", "VN": "vnm|vietnam|viet nam",
        "PH": "phl|philippines", "AU": "aus|australia", "NZ": "nzl|new zealand", "CA": "can|canada",
        "MX": "mex|mexico", "BR": "bra|brazil|brasil", "AR": "arg|argentina", "CL": "chl|chile",
        "CO": "col|colombia", "PE": "per|peru",
    }
    for code, names in table.items():
        _COUNTRY_ALIASES[code.casefold()] = code
        for alias in names.split("|"):
            _COUNTRY_ALIASES[alias] = code


_add_countries()


def normalize_country(value: str | None) -> str | None:
    """ISO 3166 alpha-2 code for a code, alpha-3 code or common English/local name; None if unknown."""
    if not value:
        return None
    key = " ".join(t for t in _SPLIT_RE.split(_fold(value).translate(_DROP)) if t)
    return _COUNTRY_ALIASES.get(key)
