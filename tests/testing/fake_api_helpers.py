"""A plain ``requests`` client against FakeSalesforce, for the fake's own fidelity tests."""

from __future__ import annotations

from typing import Any

import requests

from sfsync.testing import FakeSalesforce


class Api:
    """Plain HTTP against the fake, the way any Salesforce client would talk to the org."""

    def __init__(self, fake: FakeSalesforce) -> None:
        self.fake = fake
        self.session = requests.Session()
        self.base = f"{fake.instance_url}/services/data/v{fake.api_version}/"

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.fake.access_token}", **(extra or {})}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = (
            path
            if path.startswith("http")
            else (self.fake.instance_url + path if path.startswith("/") else self.base + path)
        )
        headers = self.headers(kwargs.pop("headers", None))
        kwargs.setdefault("timeout", 5)
        return self.session.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def query(self, soql: str, *, all_rows: bool = False) -> requests.Response:
        return self.get("queryAll/" if all_rows else "query/", params={"q": soql})

    def rows(self, soql: str, *, all_rows: bool = False) -> list[dict[str, Any]]:
        """Every row of a query, following nextRecordsUrl."""
        response = self.query(soql, all_rows=all_rows)
        assert response.status_code == 200, response.text
        body = response.json()
        rows = list(body["records"])
        while not body["done"]:
            response = self.get(body["nextRecordsUrl"])
            assert response.status_code == 200, response.text
            body = response.json()
            rows.extend(body["records"])
        return rows
