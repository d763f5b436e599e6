"""Deterministic fault injection for FakeSalesforce."""

from __future__ import annotations

import random
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["FaultDecision", "FaultInjector", "FaultPlan"]


class FaultPlan(BaseModel):
    """Which faults the fake injects. Every decision comes from ``random.Random(seed)``.

    Rates are probabilities per API call (``unable_to_lock_row_rate``: per record). Counts are
    API calls already served: ``invalid_session_after=5`` answers the 6th call with 401 (once;
    a new login gets a working token); ``total_requests_after=5`` answers the 6th call and
    every later one with 403 TotalRequests. A slow response is processed by the server and then
    lost (the client sees ``ReadTimeout``), as happens with a real timeout — unless
    ``slow_response_processed`` is false.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    http_503_rate: float = Field(default=0.0, ge=0, le=1)
    invalid_session_after: int | None = Field(default=None, ge=0)
    unable_to_lock_row_rate: float = Field(default=0.0, ge=0, le=1)
    concurrent_limit_rate: float = Field(default=0.0, ge=0, le=1)
    total_requests_after: int | None = Field(default=None, ge=0)
    slow_response_rate: float = Field(default=0.0, ge=0, le=1)
    slow_seconds: float = Field(default=30.0, gt=0)
    slow_response_processed: bool = True


@dataclass(frozen=True)
class FaultDecision:
    http_503: bool = False
    concurrent_limit: bool = False
    slow: bool = False


class FaultInjector:
    """Draws the same number of random values per call, so decisions depend only on seed and call index."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock_rng = random.Random(plan.seed + 1)
        self.session_invalidated = False

    def for_call(self) -> FaultDecision:
        draws = (self._rng.random(), self._rng.random(), self._rng.random())
        return FaultDecision(
            http_503=draws[0] < self.plan.http_503_rate,
            concurrent_limit=draws[1] < self.plan.concurrent_limit_rate,
            slow=draws[2] < self.plan.slow_response_rate,
        )

    def lock_row(self) -> bool:
        return self._lock_rng.random() < self.plan.unable_to_lock_row_rate
