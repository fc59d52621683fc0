"""The OpenAPI document as the journey API's contract: request bodies and query strings are checked against it.

The routes validate their input themselves first (their messages are the specific ones); this
check runs after, so nothing the document forbids is ever accepted, and the document cannot
drift from what the API enforces. jsonschema does the validation; only the wording of its
errors is ours, so that a 422 names the field without echoing the hostile value or a regex.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, RefResolver
from jsonschema.exceptions import ValidationError

# Flask's <path:sender_id> / <contact_id> as OpenAPI's {sender_id} / {contact_id}.
_RULE_PARAM = re.compile(r"<(?:[a-z]+:)?([^>]+)>")


def template_of(rule: str) -> str:
    return _RULE_PARAM.sub(r"{\1}", rule)


def served_document(document: dict[str, Any], stages: tuple[str, ...], models: list[str], max_amount: float) -> dict[str, Any]:
    """The document with this deployment's values: its journey stages and models, and the largest event amount."""
    served = copy.deepcopy(document)
    served["components"]["parameters"]["AnalyticsModel"]["schema"] = {"type": "string", "enum": models}
    schemas = served["components"]["schemas"]
    schemas["StageOverride"]["properties"]["stage"]["enum"] = list(stages)
    schemas["BusinessEvent"]["properties"]["payload"]["properties"]["amount"]["maximum"] = max_amount
    return served


def _path(error: ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        match = re.match(r"'([^']*)' is a required property", error.message)
        parts.append(match.group(1) if match else "?")
    return ".".join(parts) or "(body)"


def _message(error: ValidationError) -> str:
    rule, value = error.validator, error.validator_value
    if rule == "required":
        return "is required"
    if rule == "type":
        return f"must be of type {value if isinstance(value, str) else ' or '.join(value)}"
    if rule in ("enum", "const"):
        options = value if rule == "enum" else [value]
        return f"must be one of {', '.join(map(str, options))}"
    if rule == "maxLength":
        return f"must be at most {value} characters"
    if rule == "minLength":
        return f"must be at least {value} characters"
    if rule in ("minimum", "maximum"):
        return f"must be {'at least' if rule == 'minimum' else 'at most'} {value:g}"
    if rule == "pattern":
        return "has a form or characters that are not allowed (see /api/openapi.json)"
    if rule == "additionalProperties":
        return "has properties that are not allowed here"
    if rule in ("oneOf", "anyOf"):
        return "matches none of the allowed forms (see /api/openapi.json)"
    return "is not allowed (see /api/openapi.json)"


class Contract:
    """Validators for one served document, per operation."""

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self._resolver = RefResolver.from_schema(document)

    def _operation(self, template: str, method: str) -> dict[str, Any]:
        return self.document["paths"][template][method.lower()]

    def _problems(self, schema: dict[str, Any], instance: Any) -> dict[str, str]:
        validator = Draft202012Validator(schema, resolver=self._resolver)
        problems: dict[str, str] = {}
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            problems.setdefault(_path(error), _message(error))
        return problems

    def body_problems(self, template: str, method: str, body: Any) -> dict[str, str]:
        """Field path -> what is wrong, for a JSON request body; empty when it conforms."""
        schema = self._operation(template, method)["requestBody"]["content"]["application/json"]["schema"]
        return self._problems(schema, body)

    def query_problems(self, template: str, method: str, args: Mapping[str, str]) -> dict[str, str]:
        """Parameter name -> what is wrong, for the query string's declared parameters."""
        problems: dict[str, str] = {}
        for parameter in self._operation(template, method).get("parameters", []):
            while "$ref" in parameter:
                parameter = self._resolver.resolve(parameter["$ref"])[1]
            name = parameter["name"]
            if parameter["in"] != "query" or name not in args:
                continue
            for message in self._problems(parameter["schema"], args[name]).values():
                problems.setdefault(name, message)
        return problems
