"""Channel-conflict detection: a pure core, plain records in and conflict decisions out.

Typical use (what ``sfsync conflicts scan`` does around Salesforce and the portal)::

    rules = load_rules(settings.conflicts.rules)
    named = load_named_accounts(settings.conflicts.named_accounts) if settings.conflicts.named_accounts else []
    result = scan(opportunities, registrations, rules, as_of=now, locks=locks, named_accounts=named)
    plan = reconcile(result.conflicts, existing_by_key, scanned_opportunity_ids=result.scanned_opportunity_ids)
    gateway.upsert("Channel_Conflict__c", "Conflict_Key__c", plan.records())
"""

from ._index import CustomerIndex, Match, MatchQuery, compare_names
from ._models import (
    Agreement,
    Conflict,
    ConflictKind,
    EvidenceComponent,
    MatchEvidence,
    MatchKind,
    NamedAccount,
    Opportunity,
    PartnerOfRecordLock,
    ProtectedCustomer,
    ProtectionSource,
    Registration,
    RegistrationKind,
    Severity,
    conflict_key,
    evidence_hash,
)
from ._normalize import (
    name_tokens,
    normalize_country,
    normalize_duns,
    normalize_name,
    normalize_postal,
    normalize_product_lines,
    registrable_domain,
)
from ._org_fields import CHANNEL_CONFLICT, SCAN_READS, conflict_org_fields, conflict_org_objects
from ._protected import (
    ProtectionDecision,
    build_protected_customers,
    load_named_accounts,
    named_account_customers,
    protection_decision,
)
from ._rules import CountryGuard, DirectOwnerRule, MatchingRules, Rules, SharedHostRule, load_rules, parse_rules
from ._scan import (
    ConflictStatus,
    ExistingConflict,
    ReconcilePlan,
    ScanResult,
    SkippedOpportunity,
    reconcile,
    scan,
)
from ._score import token_alignment_score
from ._weights import COMPONENT_LEVELS, Component, MatchModel, fit_model

__all__ = [
    "CHANNEL_CONFLICT",
    "COMPONENT_LEVELS",
    "SCAN_READS",
    "Agreement",
    "Component",
    "Conflict",
    "ConflictKind",
    "ConflictStatus",
    "CountryGuard",
    "CustomerIndex",
    "DirectOwnerRule",
    "EvidenceComponent",
    "ExistingConflict",
    "Match",
    "MatchEvidence",
    "MatchKind",
    "MatchModel",
    "MatchQuery",
    "MatchingRules",
    "NamedAccount",
    "Opportunity",
    "PartnerOfRecordLock",
    "ProtectedCustomer",
    "ProtectionDecision",
    "ProtectionSource",
    "ReconcilePlan",
    "Registration",
    "RegistrationKind",
    "Rules",
    "ScanResult",
    "Severity",
    "SharedHostRule",
    "SkippedOpportunity",
    "build_protected_customers",
    "compare_names",
    "conflict_key",
    "conflict_org_fields",
    "conflict_org_objects",
    "evidence_hash",
    "fit_model",
    "load_named_accounts",
    "load_rules",
    "name_tokens",
    "named_account_customers",
    "normalize_country",
    "normalize_duns",
    "normalize_name",
    "normalize_postal",
    "normalize_product_lines",
    "parse_rules",
    "protection_decision",
    "reconcile",
    "registrable_domain",
    "scan",
    "token_alignment_score",
]
