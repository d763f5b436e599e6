"""When the gateway asks whether a Bulk job is done: learned from the jobs already seen."""

from __future__ import annotations

from itertools import islice

import pytest
from pydantic import SecretStr

from sfsync.config import SalesforceSettings
from sfsync.errors import RetriesExhaustedError
from sfsync.salesforce import SalesforceGateway
from sfsync.salesforce._polling import PollPlanner
from sfsync.testing import FakeSalesforce

EXT = "Partner_Number__c"


def first(planner: PollPlanner, rows: int, count: int = 6) -> list[float]:
    return [round(d, 4) for d in islice(planner.delays("ingest:X", rows), count)]


def test_unknown_speed_polls_at_once_then_backs_off_from_the_configured_delay() -> None:
    planner = PollPlanner(first_delay=1.0, cap=3.0)
    assert first(planner, 5000) == [0.0, 1.0, 1.5, 2.25, 3.0, 3.0]


def test_known_speed_polls_just_before_the_expected_end_then_in_short_steps() -> None:
    planner = PollPlanner(first_delay=1.0, cap=30.0)
    planner.observe("ingest:X", 1000, still_running_at=1.5, done_at=2.5)  # ~2 ms a row
    assert planner.expected_seconds("ingest:X", 5000) == pytest.approx(10.0)
    delays = first(planner, 5000, 16)
    assert delays[0] == 9.0  # 0.9 of the expected 10 s
    assert delays[1:9] == [1.5] * 8  # steps of 0.15 of it until twice the expected time (9 + 8 * 1.5 > 20)
    assert delays[9:11] == [2.25, 3.375]  # then backing off: the org got slower
    assert planner.expected_seconds("ingest:other object", 5000) is None  # learned per object


def test_a_fast_org_is_asked_at_once_and_never_more_often_than_the_floor() -> None:
    planner = PollPlanner(first_delay=1.0, cap=30.0)
    planner.observe("ingest:X", 5000, still_running_at=0.0, done_at=0.02)
    delays = first(planner, 5000, 3)
    assert delays[0] == 0.0
    assert delays[1:] == [0.1, 0.15]  # not done when it should have been: back off from the floor


def test_the_estimate_follows_the_org_half_way_per_job() -> None:
    planner = PollPlanner(first_delay=1.0, cap=30.0)
    planner.observe("ingest:X", 100, 0.0, 2.0)  # 10 ms a row
    planner.observe("ingest:X", 100, 4.0, 6.0)  # 50 ms a row
    assert planner.expected_seconds("ingest:X", 100) == pytest.approx(3.0)  # (1 + 5) / 2


@pytest.mark.parametrize(("rows", "running", "done"), [(0, 0.0, 1.0), (10, 0.0, 0.0)])
def test_nothing_is_learned_from_an_empty_job_or_no_time(rows: int, running: float, done: float) -> None:
    planner = PollPlanner(first_delay=1.0, cap=30.0)
    planner.observe("ingest:X", rows, running, done)
    assert planner.expected_seconds("ingest:X", 100) is None


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def test_the_gateway_times_the_second_job_from_the_first() -> None:
    """The first job (unknown speed): at once, then 1 s, then 1.5 s, done at the third poll ->
    about 1.75 s for 40 rows. The second job of 40 rows: first asked at 0.9 x 1.75 s."""
    with FakeSalesforce(bulk_polls_until_complete=3) as fake:
        sleeps = Sleeps()
        settings = SalesforceSettings(
            auth="token",
            instance_url=fake.instance_url,
            access_token=SecretStr(fake.access_token),
            api_version=fake.api_version,
            bulk_poll_seconds=1.0,
        )
        gateway = SalesforceGateway.connect(settings, sleep=sleeps)
        rows = [{EXT: f"P{i:04d}", "Name": f"Partner {i}"} for i in range(40)]
        assert {r.outcome for r in gateway.upsert("Account", EXT, rows, mode="bulk")} == {"created"}
        assert sleeps == [1.0, 1.5]
        sleeps.clear()
        assert {r.outcome for r in gateway.upsert("Account", EXT, rows, mode="bulk")} == {"updated"}
        assert sleeps == pytest.approx([0.9 * 1.75, 0.15 * 1.75, 0.15 * 1.75])


def test_a_job_is_never_waited_on_past_the_timeout() -> None:
    with FakeSalesforce(bulk_polls_until_complete=50) as fake:
        sleeps = Sleeps()
        settings = SalesforceSettings(
            auth="token",
            instance_url=fake.instance_url,
            access_token=SecretStr(fake.access_token),
            api_version=fake.api_version,
            bulk_poll_seconds=1.0,
            bulk_timeout_seconds=4.0,
        )
        gateway = SalesforceGateway.connect(settings, sleep=sleeps)
        with pytest.raises(RetriesExhaustedError, match="bulk_timeout_seconds = 4"):
            gateway.upsert("Account", EXT, [{EXT: "P1", "Name": "One"}], mode="bulk")
        assert sleeps == [1.0, 1.5]  # the next wait (2.25 s) would pass the 4 s: aborted instead
