"""schemathesis against /api/openapi.json, in-process on the Flask app, with every check enabled.

Bounded so it fits `make test`: at most MAX_EXAMPLES examples per operation and phase, derandomized
(the same cases every run), a deadline per example. A failure here is a mismatch between what
the document promises and what the API does; fix the API or state the constraint, not the check.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from bot.console import create_app
from bot.settings import load_settings
from journey_state.model import load_named_model
from journey_state.store import ChannelRef, JourneyStore, make_engine
from journey_state.store.migrate import upgrade

PROJECT = Path(__file__).resolve().parents[2]
TOKEN = "schemathesis-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = 30
# Every built-in check of schemathesis 4.30.1; a newer version's extra checks make the test fail
# until they are listed (and run) here.
EVERY_CHECK = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "positive_data_acceptance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
    "missing_required_header",
    "ignored_auth",
    "unsupported_method",
    "allow_header_conformance",
    "max_response_time",
}
# Rules OpenAPI cannot state, each a 422 that the operation's description names: an event's
# occurred_at relative to the server's clock and its payload's depth; an analytics period's
# from < to, its length and its bounds relative to now. Valid-looking data may meet them, so
# for these operations alone a 422 is an accepted answer to schema-valid data.
CROSS_FIELD_RULES = "^/api/(events|analytics/.*)$"
POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429"]
CONFIG = {
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
    "checks": {"enabled": True, "max_response_time": 5.0, "positive_data_acceptance": {"expected-statuses": POSITIVE}},
    "headers": AUTH,
    "operations": [
        {
            "include-path-regex": CROSS_FIELD_RULES,
            "checks": {"positive_data_acceptance": {"expected-statuses": [*POSITIVE, "422"]}},
        }
    ],
}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    var = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{var / 'api.db'}"
    upgrade(url)
    store = JourneyStore(make_engine(url), load_named_model(PROJECT / "data/journeys", "b2c"))
    store.record_signal(ChannelRef("rest", "ann"), _signal())
    app = create_app(load_settings({"JOURNEYBOT_API_TOKEN": TOKEN, "JOURNEYBOT_VAR_DIR": str(var)}), store)
    yield schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=SchemathesisConfig.from_dict(CONFIG))
    store.engine.dispose()


def _signal():
    from datetime import datetime, timezone

    from journey_state.engine import Signal, Source

    return Signal("m1", Source.CONVERSATION, datetime(2026, 5, 1, tzinfo=timezone.utc), intent="greet")


schema = schemathesis.pytest.from_fixture("api_schema")


def test_every_check_is_enabled():
    load_all_checks()
    names = {getattr(check, "__name__", "") for check in CHECKS.get_all()} | {"max_response_time"}
    assert names <= EVERY_CHECK | {""}, f"schemathesis has checks this test does not know: {names - EVERY_CHECK}"
    config = SchemathesisConfig.from_dict(CONFIG).projects.default.checks
    assert all(config.get_by_name(name=name).enabled for name in EVERY_CHECK)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers=AUTH)
