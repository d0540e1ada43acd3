"""Schemathesis against the live gateway's OpenAPI document (real Piper voice, real ASR worker):
no 5xx, and every response matches what the document declares."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import ServerThread, http_status, wait_until
from tests.support.gateway_process import voice_ready

pytestmark = pytest.mark.slow


CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
SETTINGS = settings(
    max_examples=20,  # TTS and ASR calls run real models: a few examples per operation bound the time
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def test_openapi_conformance(gateway: ServerThread) -> None:
    # Driven operation by operation with Hypothesis (schemathesis' pytest loader does not support
    # this pytest version); a failing operation fails the test with Schemathesis' own report.
    wait_until(lambda: voice_ready(gateway.url), 60, "the Piper voice")
    wait_until(lambda: http_status(f"{gateway.url}/health?capability=all") == 200, 30, "the gateway to be ready")
    schema = schemathesis.openapi.from_url(f"{gateway.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @SETTINGS
        def check(case) -> None:  # type: ignore[no-untyped-def]
            calls.append(case.call_and_validate(timeout=60, checks=CHECKS).status_code)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's findings before failing
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(calls) > 5 * len(operations)  # it really exercised the API
    assert 200 in calls and 422 in calls
    print(f"{len(calls)} calls over {len(operations)} operations; statuses {sorted(set(calls))}")
