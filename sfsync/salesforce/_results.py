"""Result shapes the gateway hands back: one :class:`RecordResult` per input record."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["created", "updated", "rejected"]


class RecordResult(BaseModel):
    """What happened to one input record (same position as in the input sequence).

    ``status_code`` / ``message`` / ``fields`` come from Salesforce for rejected records
    (``DUPLICATE_VALUE``, ``STRING_TOO_LONG``, ...) or are sfsync's own codes when the record
    never reached Salesforce (``MISSING_EXTERNAL_ID``) or was not processed (``UNPROCESSED``).
    A successful delete is reported as ``updated``: the record's state changed.
    """

    model_config = ConfigDict(frozen=True)

    index: int
    external_id: str | None
    salesforce_id: str | None
    outcome: Outcome
    status_code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome != "rejected"


class ApiUsage(BaseModel):
    """Daily API usage from the last ``Sforce-Limit-Info: api-usage=used/limit`` header."""

    model_config = ConfigDict(frozen=True)

    used: int
    limit: int

    @property
    def fraction(self) -> float:
        return self.used / self.limit if self.limit > 0 else 1.0
