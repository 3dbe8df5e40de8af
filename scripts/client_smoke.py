"""Drives a Python client generated from /api-docs/openapi.json (openapi-python-client, package
`mdl_client`) through a short session: log in, create a metric, list with a filter, page by
cursor, conditional GET (304), delete. Run by scripts/contract-check.sh; needs MDL_URL and
MDL_PASSWORD (the admin's)."""

import os
import sys
import uuid

from mdl_client import AuthenticatedClient, Client
from mdl_client.api.auth import login
from mdl_client.api.metrics import create_metric, delete_metric, get_metric, list_metrics
from mdl_client.models import (
    ErrorEnvelope,
    ListMetricsTier,
    LoginRequest,
    Metric,
    MetricList,
    MetricResponse,
    MetricWritten,
    SessionResponse,
)

BASE = os.environ["MDL_URL"]


def check(cond: bool, what: str, detail: str = "") -> None:
    if not cond:
        print(f"client smoke: FAILED: {what} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"  ok: {what}")


def main() -> None:
    r = login.sync_detailed(
        client=Client(base_url=BASE),
        body=LoginRequest(username="admin", password=os.environ["MDL_PASSWORD"]),
    )
    check(
        r.status_code == 200 and isinstance(r.parsed, SessionResponse),
        "log in",
        f"(got {r.status_code}: {r.content[:300]!r})",
    )
    api = AuthenticatedClient(base_url=BASE, token=r.parsed.data.tokens.access_token)

    metric_id = f"SMOKE-{uuid.uuid4().hex[:8].upper()}"
    r = create_metric.sync_detailed(
        client=api,
        body=Metric.from_dict(
            {
                "metric_id": metric_id,
                "name": "Smoke Test Rate",
                "description": "Created by the generated client.",
                "category": "KPI",
                "tier": "Tier-2",
                "business_domain": "Contract Checks",
                "metric_type": "operational",
                "tags": ["smoke"],
                "definition": {"formula": "a / b", "unit": "ratio", "expected_direction": "increase"},
            }
        ),
    )
    check(r.status_code == 201 and isinstance(r.parsed, MetricWritten), f"create {metric_id} (201)")
    check(r.headers.get("location", "").endswith(f"/api/v1/metrics/{metric_id}"), "Location header")

    r = list_metrics.sync_detailed(client=api, tier=ListMetricsTier.TIER_2, business_domain="Contract Checks")
    check(r.status_code == 200 and isinstance(r.parsed, MetricList), "list with filters")
    check([m.metric_id for m in r.parsed.data] == [metric_id], "the filter finds exactly the new metric")

    # Cursor mode (`count=false` starts it): follow next_cursor for a few pages.
    seen: list[str] = []
    cursor = None
    for page in range(1, 5):
        args = {"cursor": cursor} if cursor else {"count": False}
        r = list_metrics.sync_detailed(client=api, limit=7, **args)
        check(r.status_code == 200 and isinstance(r.parsed, MetricList), f"cursor page {page}")
        seen += [m.metric_id for m in r.parsed.data]
        cursor = r.parsed.pagination.next_cursor
        if not isinstance(cursor, str):
            break
    check(len(seen) == len(set(seen)), f"{len(seen)} items over {page} cursor pages, none repeated")

    r = get_metric.sync_detailed(metric_id, client=api)
    check(r.status_code == 200 and isinstance(r.parsed, MetricResponse), "get")
    etag = r.headers.get("etag")
    check(etag == '"v1"', f"ETag {etag}")
    r = get_metric.sync_detailed(metric_id, client=api, if_none_match=etag)
    check(r.status_code == 304, "If-None-Match gives 304")

    r = delete_metric.sync_detailed(metric_id, client=api, if_match=etag)
    check(r.status_code == 204, "delete (204)")
    r = get_metric.sync_detailed(metric_id, client=api)
    check(r.status_code == 404 and isinstance(r.parsed, ErrorEnvelope), "gone: 404 in the error envelope")
    check(r.parsed.error.code.value == "NOT_FOUND", "error code NOT_FOUND")
    print("client smoke: passed")


if __name__ == "__main__":
    main()
