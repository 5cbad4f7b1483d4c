"""schemathesis against the tenant's own OpenAPI document, through the WSGI app.

A fixed budget per operation (``MAX_EXAMPLES``, derandomised, so every run tries the same inputs):
no 5xx, and every response (status, content type, body) matches what the document declares.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

MAX_EXAMPLES = 15
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def test_every_operation_keeps_to_the_tenants_document(app, new_key, new_tenant, tenant_b):
    # A workspace of its own: well over a thousand calls in a minute would use up the shared
    # tenant's rate window and answer 429 to the tests that run after this one.
    key = new_key(new_tenant("Schemathesis"), role="admin", name="schemathesis")
    headers = {"Authorization": f"Bearer {key.text}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures.append(f"{operation.label}: {exc}")
    if failures:
        pytest.fail("\n\n".join(failures)[:20000])
