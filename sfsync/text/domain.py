"""Domains and sites from what people type as a website or an e-mail address.

One ``TLDExtract`` instance for the whole package, offline (the suffix-list snapshot bundled with
tldextract, never a network fetch) and with the Public Suffix List's *private* section loaded, so
``x.github.io``, ``x.myshopify.com``, ``x.blogspot.com`` are registrable domains of their own
(the platform is the suffix). Two named rules use it:

* :func:`blind_index_domain_v1` -- the blind-index normaliser, version 1. Its output is stored in
  Salesforce (HMAC'd), so it must never change: it ignores the private section exactly as it did
  when the indexes were written (``tests/text/test_text_domain.py`` holds it to the vectors).
* :func:`site_identity` -- the conflict matcher's view: an own registrable domain, or a *tenant*
  on a shared host (a site builder, a shop platform, a social network, ...), keyed by host and
  tenant (``sites.google.com/view/acme``, ``linkedin.com/company/acme``, ``acme.myshopify.com``),
  or nothing (free mail, a bare platform, junk).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

__all__ = [
    "BLIND_INDEX_DOMAIN_VERSION",
    "SharedHost",
    "SharedHosts",
    "Site",
    "TenantRule",
    "blind_index_domain_v1",
    "registrable_domain",
    "site_identity",
]

BLIND_INDEX_DOMAIN_VERSION = 1
_MAX_INPUT = 4096  # a 2 KB URL is parsed; a megabyte of junk in a website field is not
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Every dot-separated label a valid host label: one regex over the host, not one per label.
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
# Matches exactly what str.isspace() is true for (both are Py_UNICODE_ISSPACE; checked over all code points).
_SPACE = re.compile(r"\s")
_RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local", "internal"})


@lru_cache(maxsize=1)
def _extractor() -> Any:
    # Imported lazily: tldextract and its suffix list cost ~60 ms, which only a scan or a push pays.
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


# -- blind index, version 1 (frozen) -----------------------------------------------------------


def blind_index_domain_v1(text: str) -> str:
    """Registrable domain for the ``domain`` blind index, version 1. ValueError for unusable input.

    Frozen: indexes computed with it are stored. ICANN suffixes only (``x.github.io`` ->
    ``github.io``), punycode for internationalised names, the last two labels of a host under no
    known suffix.
    """
    host = text.strip().lower()
    if "@" in host:
        host = host.rsplit("@", 1)[1]
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rsplit("@", 1)[-1]  # userinfo in a URL
    host = re.sub(r":\d*$", "", host).strip(".")
    if not host or any(c.isspace() for c in host):
        raise ValueError("not a domain name")
    try:
        # One spelling for internationalised names: punycode (IDNA 2003, Python's codec).
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain name") from None
    result = _extractor()(host, include_psl_private_domains=False)
    if result.suffix and result.domain:
        return f"{result.domain}.{result.suffix}"
    # Not under a known public suffix (an intranet or a reserved TLD such as .example): the last
    # two labels are the best registrable-domain guess; a single label is not a domain at all.
    labels = [label for label in host.split(".") if label]
    if labels and labels[0] == "www":
        labels = labels[1:]
    if len(labels) < 2:
        raise ValueError("not a domain name")
    return ".".join(labels[-2:])


# -- the matcher's view ------------------------------------------------------------------------


class TenantRule(StrEnum):
    """How a shared host tells its tenants apart."""

    SUBDOMAIN = "subdomain"  # acme.squarespace.com
    PATH = "path"  # sites.google.com/view/acme, linkedin.com/company/acme
    NONE = "none"  # free mail: the address says nothing about the company


@dataclass(frozen=True, slots=True)
class SharedHost:
    """A host many unrelated companies live on."""

    host: str
    category: str  # "site builder", "shop platform", "social network", "free mail", ...
    tenant: TenantRule = TenantRule.SUBDOMAIN
    # PATH: the path words that introduce the tenant ("view" in /view/acme); empty = first segment.
    path_prefixes: tuple[str, ...] = ()


class SharedHosts:
    """Shared hosts by host name (a lookup walks up the host's labels)."""

    def __init__(self, hosts: Iterable[SharedHost] = ()) -> None:
        self._by_host: dict[str, SharedHost] = {h.host.casefold().strip("."): h for h in hosts}

    def __len__(self) -> int:
        return len(self._by_host)

    def find(self, host: str) -> SharedHost | None:
        labels = host.split(".")
        for start in range(len(labels) - 1):
            found = self._by_host.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Mapping[str, Any]]) -> SharedHosts:
        return cls(
            SharedHost(
                host=host,
                category=str(spec.get("category", "shared host")),
                tenant=TenantRule(spec.get("tenant", TenantRule.SUBDOMAIN)),
                path_prefixes=tuple(str(p).strip("/").casefold() for p in spec.get("path_prefixes", ())),
            )
            for host, spec in data.items()
        )


@dataclass(frozen=True, slots=True)
class Site:
    """Who a website identifies. ``platform`` None: an own domain (a company); else a tenant on it."""

    key: str  # "acme.co.uk", "myshopify.com/acme", "sites.google.com/view/acme"
    platform: str | None = None
    category: str | None = None

    @property
    def is_tenant(self) -> bool:
        return self.platform is not None


@lru_cache(maxsize=1 << 16)  # pure: a scan parses the same websites once per index and once per query
def _host_and_path(value: str) -> tuple[str, str] | None:
    text = value.strip()
    if not text or len(text) > _MAX_INPUT or _SPACE.search(text):
        return None
    text = text.casefold()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    if "://" in text:
        scheme, text = text.split("://", 1)
        if not scheme.isalpha():
            return None
    elif "@" in text.split("/", 1)[0]:
        text = text.split("/", 1)[0]
    host, sep, rest = text.partition("/")
    path = rest if sep else ""
    for mark in "?#":
        host = host.split(mark, 1)[0]
        path = path.split(mark, 1)[0]
    host = host.rsplit("@", 1)[-1]  # userinfo, or the domain of an e-mail address
    if host.startswith("["):
        return None  # an IPv6 literal
    if host.count(":") == 1:
        host, port = host.split(":")
        if port and not port.isdigit():
            return None
    host = host.strip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if len(host) > 253 or "." not in host:
        return None
    if host.replace(".", "").isdigit():
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return None  # a bare IP address identifies a server, not a company
    if _HOST.fullmatch(host) is None:
        return None
    return host, path


def registrable_domain(value: str | None) -> str | None:
    """Registrable domain (PSL, private section included) of a website or address; None for junk.

    ``https://www.shop.acme.co.uk/x`` -> ``acme.co.uk``; ``acme.github.io`` -> ``acme.github.io``;
    ``sites.google.com/view/x`` -> ``google.com`` (see :func:`site_identity` for the tenant).
    """
    if not value:
        return None
    parsed = _host_and_path(value)
    if parsed is None:
        return None
    return _registrable(parsed[0])[0]


@lru_cache(maxsize=65536)
def _registrable(host: str) -> tuple[str | None, bool]:
    """(registrable domain, is it under a private suffix)."""
    labels = host.split(".")
    if labels[-1] in _RESERVED_TLDS:
        # RFC 2606/6761 names (sample data, test orgs, intranets) are under no public suffix.
        return ".".join(labels[-2:]), False
    trie = _suffix_trie()
    if trie is not None and not any(label.startswith("xn--") for label in labels):
        found = _suffix_walk(trie, labels)
        if found is None:
            return None, False
        start, private = found
        if start <= 0:
            return None, False  # the whole host is a suffix: no registrable domain
        return ".".join(labels[start - 1 :]), private
    parts = _extractor()(host)
    if not parts.domain or not parts.suffix:
        return None, False
    return f"{parts.domain}.{parts.suffix}", bool(parts.is_private)


@lru_cache(maxsize=1)
def _suffix_trie() -> Any:
    """tldextract's suffix trie (private section included), or None if its internals moved.

    A host here is already lower-case ASCII labels (checked by ``_host_and_path``), so walking the
    trie directly gives tldextract's answer without its URL parsing, per-label punycode decoding and
    result object: a million-customer index parses a million websites. ``_registrable`` falls back
    to the public call for punycode labels or another tldextract; ``tests/text`` compares both.
    """
    try:
        trie = _extractor()._get_tld_extractor().tlds_incl_private_trie
        _ = (trie.matches, trie.end, trie.is_private)
    except AttributeError:
        return None
    return trie


def _suffix_walk(trie: Any, labels: list[str]) -> tuple[int, bool] | None:
    """(index of the public suffix's first label, is it a private suffix); None: no suffix.

    tldextract's ``suffix_index`` (5.x) for ASCII lower-case labels: the longest rule wins; a
    wildcard rule (``*.ck``) takes one more label unless an exception (``!www.ck``) names it.
    """
    node = suffix_node = trie
    suffix_idx = label_idx = len(labels)
    for label in reversed(labels):
        child = node.matches.get(label)
        if child is not None:
            label_idx -= 1
            node = child
            if node.end:
                suffix_idx = label_idx
                suffix_node = node
            continue
        wildcard = node.matches.get("*")
        if wildcard is not None:
            exception = "!" + label in node.matches
            return (label_idx if exception else label_idx - 1), bool(wildcard.is_private)
        break
    if suffix_idx == len(labels):
        return None
    return suffix_idx, bool(suffix_node.is_private)


def _tenant_from_path(path: str, prefixes: tuple[str, ...]) -> str | None:
    segments = [s for s in path.split("/") if s]
    if not segments:
        return None
    if prefixes:
        for i, seg in enumerate(segments[:-1]):
            if seg in prefixes:
                return f"{seg}/{segments[i + 1]}"
        return None
    first = segments[0]
    # "facebook.com/pages/..." or "/profile.php?id=" are not a tenant name we can compare.
    return None if "." in first or first in {"pages", "groups", "people", "profile", "home", "p"} else first


def site_identity(value: str | None, shared: SharedHosts | None = None) -> Site | None:
    """What a website (or e-mail address) identifies, or None when it identifies nothing usable.

    * an own domain: ``Site("acme.co.uk")``;
    * a tenant of a PSL private suffix (``acme.myshopify.com``): ``Site("acme.myshopify.com",
      platform="myshopify.com")``;
    * a tenant of a listed shared host, by subdomain or by path: ``Site("sites.google.com/view/acme",
      platform="sites.google.com")``;
    * free mail, a shared host without a tenant, an IP address, ``n/a``, ``-``: None.
    """
    if not value:
        return None
    parsed = _host_and_path(value)
    if parsed is None:
        return None
    host, path = parsed
    hosts = shared if shared is not None else SharedHosts()
    listed = hosts.find(host)
    if listed is not None:
        if listed.tenant is TenantRule.NONE:
            return None
        base = listed.host
        if listed.tenant is TenantRule.PATH:
            tenant = _tenant_from_path(path, listed.path_prefixes)
            return Site(f"{base}/{tenant}", platform=base, category=listed.category) if tenant else None
        sub = host[: -len(base)].rstrip(".") if host.endswith(base) and host != base else ""
        sub = sub.removeprefix("www.")
        if not sub or sub == "www":
            return None
        return Site(f"{base}/{sub.rsplit('.', 1)[-1]}", platform=base, category=listed.category)
    domain, private = _registrable(host)
    if domain is None:
        return None
    if private:
        tenant, _, platform = domain.partition(".")
        return Site(f"{platform}/{tenant}", platform=platform, category="hosting platform")
    return Site(domain)
