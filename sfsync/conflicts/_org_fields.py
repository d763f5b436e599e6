"""Every Salesforce object and field the conflict scan reads and its writer writes — the one list.

``sfsync mappings export-metadata`` deploys these (with the mappings' own fields), ``mappings
validate --online`` checks them, and the test org is built from that export, so adding a field
here is all it takes for it to exist everywhere. To add a field to the conflict record, append an
:class:`OrgField` to ``CHANNEL_CONFLICT.fields``; a field the scan reads on a standard object goes
in ``SCAN_READS``.
"""

from __future__ import annotations

from sfsync.salesforce._org_needs import OrgField, OrgObject

__all__ = [
    "CHANNEL_CONFLICT",
    "CONFLICT_KEY_FIELD",
    "CONFLICT_OBJECT",
    "FLAG_FIELD",
    "NAMED_ACCOUNT_FIELD",
    "SCAN_READS",
    "conflict_org_fields",
    "conflict_org_objects",
]

CONFLICT_OBJECT = "Channel_Conflict__c"
CONFLICT_KEY_FIELD = "Conflict_Key__c"
FLAG_FIELD = "Conflict_Flag__c"  # on the registration objects; declared by their mappings
NAMED_ACCOUNT_FIELD = "Named_Account__c"
PRODUCT_LINES = ("Servers", "Storage", "Networking", "PCs", "Software", "Services")
_BY = "conflict scan"


def _conflict(name: str, type_: str, label: str, **extra: object) -> OrgField:
    return OrgField(CONFLICT_OBJECT, name, type_, label, declared_by="conflict writer", **extra)  # type: ignore[arg-type]


# The conflict record: a direct rep sees the partner of record and the protection end, never the
# partner's confidential deal fields; Status__c is the channel manager's to set.
CHANNEL_CONFLICT = OrgObject(
    name=CONFLICT_OBJECT,
    label="Channel Conflict",
    plural_label="Channel Conflicts",
    name_label="Channel Conflict Name",
    name_format=None,  # a Text name: the writer sets a readable summary ("Deal registration: 006... / DR-1")
    description="A direct-rep Opportunity that collides with a partner's protected customer (written by sfsync).",
    channel_editable=True,
    rep_readable=True,
    declared_by="conflict writer",
    fields=(
        _conflict(
            CONFLICT_KEY_FIELD,
            "string",
            "Conflict Key",
            length=80,
            external_id=True,
            unique=True,
            description="Deterministic key sfsync upserts the conflict by.",
        ),
        _conflict(
            "Opportunity__c",
            "reference",
            "Opportunity",
            reference_to="Opportunity",
            relationship_name="Channel_Conflicts",
        ),
        _conflict(
            "Partner_Account__c",
            "reference",
            "Partner of Record",
            reference_to="Account",
            relationship_name="Partner_Channel_Conflicts",
        ),
        _conflict("Partner_Name__c", "string", "Partner of Record Name", length=255),
        _conflict("Registration_Number__c", "string", "Registration", length=40),
        # second_partner: the registration that was first in time (the later one is Registration_Number__c).
        _conflict("First_Registration__c", "string", "First Registration", length=40),
        _conflict(
            "Kind__c",
            "picklist",
            "Kind",
            values=(
                "deal_registration",
                "account_registration",
                "partner_of_record",
                "second_partner",
                "named_account",
            ),
        ),
        _conflict("Protection_End__c", "date", "Protection End"),
        # Review: a likely match below the rules' block probability (a channel manager should look).
        _conflict("Severity__c", "picklist", "Severity", values=("Block", "Warn", "Review")),
        _conflict(
            "Status__c",
            "picklist",
            "Status",
            values=("Open", "Acknowledged", "Resolved", "Dismissed"),
            channel_editable=True,
            description="Set by channel managers; sfsync opens and resolves.",
        ),
        _conflict("Reason__c", "textarea", "Reason", length=32768),
        _conflict(
            "Score__c",
            "double",
            "Match Probability (%)",
            precision=5,
            scale=1,
            description="Fellegi-Sunter match probability of the two accounts, in percent.",
        ),
        _conflict("Evidence__c", "textarea", "Evidence", length=32768),
        _conflict("Evidence_Hash__c", "string", "Evidence Hash", length=64),
        _conflict("Rule__c", "string", "Rule", length=80),
    ),
)

# Custom fields on standard objects that the scan reads (SOQL in sfsync.conflicts._service/_models).
SCAN_READS: tuple[OrgField, ...] = (
    OrgField(
        "Account",
        "Partner_Number__c",
        "string",
        "Partner Number",
        length=40,
        external_id=True,
        unique=True,
        description="The partner's number in the partner portal (the registrations' lookup key).",
        declared_by=_BY,
    ),
    OrgField(
        "Account",
        NAMED_ACCOUNT_FIELD,
        "boolean",
        "Named Account",
        description="Direct-led account: a partner registering it is flagged.",
        declared_by=_BY,
    ),
    OrgField(
        "Opportunity", "Product_Lines__c", "multipicklist", "Product Lines", values=PRODUCT_LINES, declared_by=_BY
    ),
    OrgField(
        "Opportunity",
        "Partner_Account__c",
        "reference",
        "Partner Account",
        reference_to="Account",
        relationship_name="Partner_Opportunities",
        declared_by=_BY,
        description="The partner on a won channel deal: partner of record for its product lines.",
    ),
    OrgField(
        "User",
        "Sales_Channel__c",
        "picklist",
        "Sales Channel",
        values=("Direct", "Channel"),
        declared_by=_BY,
        description="Direct reps own direct Opportunities (the conflict rules read it).",
    ),
)


def conflict_org_objects() -> tuple[OrgObject, ...]:
    """The custom objects the conflict writer needs."""
    return (CHANNEL_CONFLICT,)


def conflict_org_fields(
    owner_field_path: str | None = "Owner.Sales_Channel__c", owner_field_values: tuple[str, ...] = ()
) -> tuple[OrgField, ...]:
    """The fields the scan reads on standard objects, plus the rules' own direct-owner field.

    The rules may name another User field (``direct_owner.field.name: Owner.Channel__c``); it is
    declared as a picklist with the rule's values unless it is already in :data:`SCAN_READS`.
    """
    fields = list(SCAN_READS)
    if owner_field_path and owner_field_path.startswith("Owner.") and owner_field_path.count(".") == 1:
        name = owner_field_path.split(".", 1)[1]
        if name.endswith("__c") and all(f.key != ("User", name) for f in fields):
            fields.append(
                OrgField(
                    "User",
                    name,
                    "picklist",
                    name.removesuffix("__c").replace("_", " "),
                    values=owner_field_values or ("Direct",),
                    restricted=False,
                    declared_by="conflict rules",
                )
            )
    return tuple(fields)
