"""The API answers what its OpenAPI document says, on SQLite and PostgreSQL.

A bounded property-based run (schemathesis, pinned in requirements-dev.txt) sends
generated requests, valid and invalid, to every operation as a signed-in supervisor and
checks each answer: never a 500, a documented status code, the documented content type
and a body that matches the documented schema. A handful of examples per operation keeps
the run to well under a minute per database; the document itself is checked whole.
"""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.api import spec

pytestmark = pytest.mark.presigned

EXAMPLES = 5  # per operation and mode: 36 operations × 2 modes × 5, about 30 s per database
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_answers_as_documented(app, api):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {api.token('smx_deputy')}"}
    failures, calls = [], []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                calls.append(case.operation.label)
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Exception as err:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}): {err}")
    assert failures == [], "\n\n".join(failures)
    assert operations == len([op for ops in spec.document()["paths"].values() for op in ops])
    assert len(set(calls)) == operations, "every operation was called"
    assert len(calls) >= operations * 2


def test_every_reference_in_the_document_resolves():
    document = spec.document()
    names = set(document["components"]["schemas"])
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    assert refs, "the document uses references"
    assert {r for r in refs if not r.startswith("#/components/schemas/") or r.rsplit("/", 1)[1] not in names} == set()


def test_every_signed_in_operation_documents_the_refusals_it_can_give():
    for path, operations in spec.document()["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            assert {"404", "422"} <= codes, (method, path)
            if "security" in op:
                assert {"401", "403"} <= codes, (method, path)
            if method in ("post", "put"):
                assert "409" in codes, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= codes, (method, path)
    assert {"401", "429"} <= set(spec.document()["paths"]["/api/v1/auth/token"]["post"]["responses"])


def test_an_evidence_download_documents_the_types_evidence_is_served_as():
    content = spec.document()["paths"]["/api/v1/evidence/{evidence_id}/content"]["get"]["responses"]["200"]["content"]
    assert {"image/png", "image/jpeg", "application/pdf"} <= set(content)
    assert "application/octet-stream" not in content
