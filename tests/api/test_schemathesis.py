"""Schemathesis against the ASGI app (no network), on SQLite and on PostgreSQL.

Every operation of the OpenAPI document gets generated requests, valid and invalid: the app
must never answer a server error, every answer must match the document (status codes, content
types, bodies), requests the document allows must be accepted and requests it forbids refused.
The run is bounded (``MAX_EXAMPLES`` per operation, no deadline) and marked slow.

Two rules the document cannot state are told to schemathesis here:

- ``ids`` must have as many items as ``smiles`` (a 422 otherwise): a generated valid body gets
  its ids cut or padded to the length of its SMILES list (``map_case`` below);
- more SMILES than ``maxItems`` is refused with 413 (payload too large), a rejection like 422;
- an uploaded library must be text with a library suffix (.smi, .csv, ...), which a
  ``format: binary`` file cannot promise, and a page cursor must come from ``next_cursor``
  (``filter_failure`` below drops these two "valid data rejected" findings only).
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")  # the `test` extra of pyproject.toml
from schemathesis.config import SchemathesisConfig  # noqa: E402
from schemathesis.openapi.checks import RejectedPositiveData  # noqa: E402

MAX_EXAMPLES = 30
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422"]


@pytest.fixture
def api_schema(service):
    """The app's own OpenAPI document, with a valid API key on every request."""
    key = service.new_key("schemathesis")
    config = SchemathesisConfig.from_dict({
        "seed": 13,
        "headers": {"Authorization": f"Bearer {key}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
        "checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}},
        "phases": {"stateful": {"enabled": False}},
    })
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app, config=config)

    @schema.hook
    def map_case(context, case):
        """A valid body gets one id per SMILES (a rule JSON Schema cannot state)."""
        body = case.body
        if (case.meta is not None and case.meta.generation.mode.is_positive
                and isinstance(body, dict) and isinstance(body.get("ids"), list)):
            n = len(body["smiles"])
            body["ids"] = (body["ids"] + [""] * n)[:n]
        return case

    @schema.hook
    def filter_failure(context, failure, case, response):
        """Keep every failure but a valid-looking request refused for what no document can
        promise: a generated upload's file (bytes that are not a text library, or a name
        without a library suffix) or a made-up page cursor (only a ``next_cursor`` is one)."""
        if not isinstance(failure, RejectedPositiveData) or response.status_code not in (415, 422):
            return True
        answer = response.json()
        refused_file = ((case.media_type or "").startswith("multipart/")
                        and answer.get("error", "").startswith(("file:", "unsupported file")))
        return not (refused_file or answer.get("code") == "invalid_cursor")

    return schema


def _failures(schema) -> list[str]:
    """Run every phase of schemathesis's engine; one line per distinct failure found."""
    from schemathesis.engine import Status, events, from_schema

    found: dict[str, str] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        title = f"{event.recorder.label}: {check.name}: {failure.title}"
                        found.setdefault(title, f"{title}\n{failure.message}\n"
                                                f"{check.failure_info.code_sample}")
        elif isinstance(event, events.NonFatalError):
            found.setdefault(f"error {event.label}", f"{event.label}: {event.info}")
        elif isinstance(event, events.FatalError):
            found.setdefault("fatal", f"fatal: {event.exception!r}")
    return sorted(found.values())


@pytest.mark.slow
def test_api_answers_as_its_openapi_document_says(api_schema):
    failures = _failures(api_schema)
    assert not failures, "\n\n".join(failures)
