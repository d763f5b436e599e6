"""Test orgs built the law-9 way: from exported metadata, plus what a test deploys on top."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from sfsync.mapping import OrgField
from sfsync.testing import OrgSchema, export_org_metadata, org_schema_from_metadata

# The fake's own fidelity tests exercise a restricted picklist on a standard object; the shipped
# export has none, so these tests deploy one more field, as an admin would.
PARTNER_TIER = OrgField(
    "Account",
    "Partner_Tier__c",
    "picklist",
    "Partner Tier",
    values=("Registered", "Certified", "Gold", "Platinum", "Titanium"),
)


@functools.cache
def fidelity_schema() -> OrgSchema:
    """The shipped export (disabled Lead variant included) plus ``Account.Partner_Tier__c``,
    parsed back from its XML."""
    with tempfile.TemporaryDirectory(prefix="sfsync-fidelity-") as folder:
        metadata = export_org_metadata(Path(folder), extra_fields=(PARTNER_TIER,), include_disabled=True)
        return org_schema_from_metadata(metadata)


@functools.cache
def with_disabled_schema() -> OrgSchema:
    """What ``export-metadata --include-disabled`` deploys: the Lead variant's fields and record type too."""
    with tempfile.TemporaryDirectory(prefix="sfsync-all-") as folder:
        return org_schema_from_metadata(export_org_metadata(Path(folder), include_disabled=True))
