"""What the channel desk (``sfsync.desk``) reads in the org beyond the mappings and the conflict scan.

Declared here, below the metadata export and the test org, so ``sfsync mappings export-metadata`` deploys
it and every test org has it (law 9). The desk itself sits above the services and cannot be imported there.
"""

from __future__ import annotations

from sfsync.salesforce._org_needs import OrgField

__all__ = ["DESK_READS", "PARTNER_TIERS"]

PARTNER_TIERS = ("Registered", "Certified", "Gold", "Platinum", "Titanium")

DESK_READS: tuple[OrgField, ...] = (
    OrgField(
        "Account",
        "Partner_Tier__c",
        "picklist",
        "Partner Tier",
        values=PARTNER_TIERS,
        description="The partner's program tier: how many open registrations it may hold (the desk's tier limit).",
        declared_by="channel desk",
    ),
    OrgField(
        "Account",
        "Partner_Region__c",
        "string",
        "Partner Region",
        length=40,
        description="The partner's region (AMER, EMEA, APAC, ...): its SLA calendar and which desk users see it.",
        declared_by="channel desk",
    ),
)
