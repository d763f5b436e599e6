"""The fast legal-suffix stripper gives exactly cleanco's answers, so blind indexes do not move.

``normalize_for_index(value, "company_name")`` used to call ``cleanco.basename``, which tests all
~320 legal terms on every call. The replacement jumps between terms by their last word. These
tests compare it with the original on a large generated corpus (names built from cleanco's own
terms in many spellings, plus hostile unicode), and with hypothesis.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable

import pytest
from cleanco import basename
from cleanco.clean import get_unique_terms
from hypothesis import given, settings
from hypothesis import strategies as st

from sfsync.crypto import normalize_for_index
from sfsync.crypto._blind import _LEGAL_WORDS_RE, _strip_legal_suffixes
from sfsync.services.demo_data import make_customers

TERMS = sorted(get_unique_terms())
WORDS = (
    "Acme",
    "Globex",
    "Société",
    "Générale",
    "Müller",
    "Søhne",
    "東京",
    "The",
    "and",
    "Co",
    "Holding",
    "Ltd",
    "Bank",
    "Group",
    "Ω",
    "Straße",
    "İstanbul",
    "ǅemal",
    "Ærø",
    "ﬁrst",
    "Ⅻ",
    "x",
)
ODD = (
    "\u00a0",
    "\u00a8",
    "\u0301",
    "\u2003",
    "&",
    "+",
    "-",
    ".",
    ",",
    "'",
    "(",
    ")",
    "_",
    "/",
    "·",
    "\u200b",
    "\u0130",
    "ß",
    "ﬀ",
    "²",
    "½",
    "\t",
    "  ",
)


def reference_company_name(text: str) -> str:
    """The normaliser as it was, with cleanco.basename: the oracle."""
    value = unicodedata.normalize("NFKC", text).strip()
    for _ in range(5):
        stripped = str(basename(value)).strip()
        if not stripped or stripped == value:
            break
        value = stripped
    value = value.casefold()
    value = "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))
    value = value.replace("&", " and ").replace("+", " and ")
    value = _LEGAL_WORDS_RE.sub(" ", value).replace("_", " ")
    words = value.split()
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    result = " ".join(words)
    if not result:
        raise ValueError("company name is empty after normalisation")
    return result


def _respell(rng: random.Random, term: str) -> str:
    choice = rng.random()
    if choice < 0.25:
        return term.upper()
    if choice < 0.45:
        return term.lower()
    if choice < 0.6:
        return term.replace(".", "")
    if choice < 0.7:
        return term + rng.choice((".", ",", " ", "", ")"))
    return term


def generate_corpus(seed: int, count: int) -> list[str]:
    """Company names as partners type them, and worse."""
    rng = random.Random(seed)
    corpus = [c.name for c in make_customers(rng, min(count // 4, 8000))]
    while len(corpus) < count:
        kind = rng.random()
        if kind < 0.7:
            words = [rng.choice(WORDS) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.2:
                words.insert(0, rng.choice(("The", "the", "THE")))
            for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
                words.append(_respell(rng, rng.choice(TERMS)))
            if rng.random() < 0.2 and words:
                words.insert(rng.randrange(len(words) + 1), rng.choice(TERMS))  # a term in the middle
            separator = rng.choice((" ", " ", " ", ", ", " & ", "\u00a0"))
            corpus.append(separator.join(words) + rng.choice(("", "", ".", " ", "!", " (Holding)")))
        else:
            pieces = [rng.choice(WORDS + ODD + tuple(TERMS[:40])) for _ in range(rng.randint(1, 8))]
            corpus.append("".join(rng.choice(("", " ")) + p for p in pieces))
    return corpus[:count]


def _outcome(function: Callable[[str], str], text: str) -> str:
    try:
        return "ok:" + function(text)
    except ValueError:
        return "ValueError"


def test_strip_legal_suffixes_equals_cleanco_on_a_generated_corpus() -> None:
    corpus = generate_corpus(seed=20261125, count=12_000)
    mismatches = [name for name in corpus if _strip_legal_suffixes(name) != basename(name)]
    assert mismatches == []
    # the corpus does exercise suffix removal, repeated removal and the empty result
    assert sum(_strip_legal_suffixes(n) != n.strip() for n in corpus) > len(corpus) // 3
    assert any(_strip_legal_suffixes(n) == "" for n in corpus)


def test_normalize_company_name_unchanged_on_a_generated_corpus() -> None:
    corpus = generate_corpus(seed=7, count=6_000)
    for name in corpus:
        if not name.strip():
            continue
        assert _outcome(lambda t: normalize_for_index(t, "company_name"), name) == _outcome(
            reference_company_name, name
        ), name
    examples = {
        "ACME GmbH & Co. KG": "acme",
        "Société Générale S.A.": "societe generale",
        "Foo Ltd Ltd": "foo",
        "The Smith & Wesson Holding Corp.": "smith and wesson holding",
    }
    for raw, expected in examples.items():
        assert normalize_for_index(raw, "company_name") == reference_company_name(raw) == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([*" .,&-'", *WORDS, *ODD, *TERMS]), max_size=12))
def test_strip_legal_suffixes_equals_cleanco_on_term_soup(pieces: list[str]) -> None:
    text = " ".join(pieces)
    assert _strip_legal_suffixes(text) == basename(text)
    glued = "".join(pieces)
    assert _strip_legal_suffixes(glued) == basename(glued)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_strip_legal_suffixes_equals_cleanco_on_any_text(text: str) -> None:
    assert _strip_legal_suffixes(text) == basename(text)


@pytest.mark.parametrize("name", ["", " ", "Ltd", "Ltd Ltd", "GmbH & Co. KG", "¨ Ltd", "a\u00a8b Inc"])
def test_edge_cases(name: str) -> None:
    assert _strip_legal_suffixes(name) == basename(name)
