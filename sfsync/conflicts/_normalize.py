"""Normalisation of the fields conflicts are matched on: DUNS, countries, postal codes, product lines.

Company names and websites are normalised in :mod:`sfsync.text.company` and :mod:`sfsync.text.domain`
(one rule each, shared with the blind indexes); they are re-exported here for the conflict core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from sfsync.text.company import COMMON_BUSINESS_WORDS, GENERIC_WORDS, fold, name_tokens, normalize_name
from sfsync.text.domain import registrable_domain

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

_SPLIT_RE = re.compile(r"[^0-9a-z\u00c0-\uffff]+")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")
_DROP = str.maketrans({".": None, "'": None, "’": None, "`": None})


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
    text = _NOT_ALNUM_RE.sub("", fold(value))
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
        "DE": "deu|germany|deutschland",
        "FR": "fra|france",
        "ES": "esp|spain|espana",
        "IT": "ita|italy|italia",
        "NL": "nld|netherlands|the netherlands|holland|nederland",
        "BE": "bel|belgium|belgique|belgie",
        "LU": "lux|luxembourg",
        "CH": "che|switzerland|schweiz|suisse",
        "AT": "aut|austria|osterreich",
        "IE": "irl|ireland",
        "PT": "prt|portugal",
        "SE": "swe|sweden|sverige",
        "NO": "nor|norway|norge",
        "DK": "dnk|denmark|danmark",
        "FI": "fin|finland|suomi",
        "IS": "isl|iceland",
        "PL": "pol|poland|polska",
        "CZ": "cze|czech republic|czechia",
        "SK": "svk|slovakia",
        "HU": "hun|hungary",
        "RO": "rou|romania",
        "BG": "bgr|bulgaria",
        "GR": "grc|greece",
        "TR": "tur|turkey|turkiye",
        "RU": "rus|russia|russian federation",
        "UA": "ukr|ukraine",
        "EE": "est|estonia",
        "LV": "lva|latvia",
        "LT": "ltu|lithuania",
        "SI": "svn|slovenia",
        "HR": "hrv|croatia",
        "RS": "srb|serbia",
        "IL": "isr|israel",
        "AE": "are|united arab emirates|uae",
        "SA": "sau|saudi arabia",
        "EG": "egy|egypt",
        "ZA": "zaf|south africa",
        "NG": "nga|nigeria",
        "KE": "ken|kenya",
        "MA": "mar|morocco",
        "IN": "ind|india",
        "PK": "pak|pakistan",
        "CN": "chn|china|prc",
        "HK": "hkg|hong kong",
        "TW": "twn|taiwan",
        "JP": "jpn|japan",
        "KR": "kor|south korea|korea",
        "SG": "sgp|singapore",
        "MY": "mys|malaysia",
        "ID": "idn|indonesia",
        "TH": "tha|thailand",
        "VN": "vnm|vietnam|viet nam",
        "PH": "phl|philippines",
        "AU": "aus|australia",
        "NZ": "nzl|new zealand",
        "CA": "can|canada",
        "MX": "mex|mexico",
        "BR": "bra|brazil|brasil",
        "AR": "arg|argentina",
        "CL": "chl|chile",
        "CO": "col|colombia",
        "PE": "per|peru",
    }
    for code, names in table.items():
        _COUNTRY_ALIASES[code.casefold()] = code
        for alias in names.split("|"):
            _COUNTRY_ALIASES[alias] = code


_add_countries()


@lru_cache(maxsize=4096)  # pure; an org spells its countries a few dozen ways, a scan reads them per account
def normalize_country(value: str | None) -> str | None:
    """ISO 3166 alpha-2 code for a code, alpha-3 code or common English/local name; None if unknown."""
    if not value:
        return None
    key = " ".join(t for t in _SPLIT_RE.split(fold(value).translate(_DROP)) if t)
    return _COUNTRY_ALIASES.get(key)
