"""The normalisation data blind indexes depend on, pinned (crypto/SPEC.md § 8.3).

Domain normalisation uses tldextract's bundled public-suffix snapshot; company-name
normalisation uses cleanco's legal-form terms. An upgrade of either can change what a value
normalises to, and so every stored index value, silently. The fingerprints below are the data
index version 1 was computed with; :func:`check_normalisation_data` refuses other data before
an index is written, and the test suite checks that SPEC.md states the same fingerprints.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
from functools import lru_cache

from sfsync.errors import ConfigError

__all__ = ["NORMALISATION_DATA", "check_normalisation_data", "normalisation_fingerprints"]

# (package, version it shipped in, SHA-256 of the data)
NORMALISATION_DATA: dict[str, tuple[str, str]] = {
    "public_suffix_snapshot": ("tldextract 5.4.0", "b69315c085d53972724b8f2df111ffc329b0c84fe0a47d62c8c91655cc774a38"),
    "legal_form_terms": ("cleanco 2.3", "0fb945abe65151338133d32e0b62826a88c6f641d05b2cb1339c74518f15c507"),
}


@lru_cache(maxsize=1)
def normalisation_fingerprints() -> dict[str, str]:
    """SHA-256 of the installed suffix snapshot and of cleanco's default terms (canonical JSON)."""
    from cleanco import prepare_default_terms

    snapshot = importlib.resources.files("tldextract").joinpath(".tld_set_snapshot").read_bytes()
    terms = json.dumps(prepare_default_terms()).encode("utf-8")
    return {
        "public_suffix_snapshot": hashlib.sha256(snapshot).hexdigest(),
        "legal_form_terms": hashlib.sha256(terms).hexdigest(),
    }


def check_normalisation_data() -> None:
    """ConfigError when the installed normalisation data differs from what index version 1 pinned."""
    found = normalisation_fingerprints()
    changed = [
        f"{name} (pinned from {NORMALISATION_DATA[name][0]})"
        for name in NORMALISATION_DATA
        if found[name] != NORMALISATION_DATA[name][1]
    ]
    if changed:
        raise ConfigError(
            f"the installed normalisation data differs from what blind indexes were computed with: "
            f"{', '.join(changed)}; blind index values would change silently. Install the pinned versions, or "
            "move to a new index version and recompute every index (crypto/SPEC.md § 8.3)"
        )
