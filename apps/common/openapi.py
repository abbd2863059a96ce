"""drf-spectacular post-processing: the error answers every API operation can give, documented.

DRF answers errors in two shapes: `{"detail": "..."}` (not signed in, refused, not found,
conflict, throttled) and, for invalid input, one list of messages per field
(`{"name": ["This field is required."]}`, `non_field_errors` for the whole body). The views
declare their successes; this hook adds the errors that the framework itself produces, and lets
a declared 400 also take the field-errors shape (any serializer validation can answer it).
"""

from __future__ import annotations

ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` (with an optional `code`) or, for invalid input, the messages of each field.",
    "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
    "additionalProperties": {
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {}},
            {"type": "object"},
        ]
    },
}

_ERROR_REF = {"$ref": "#/components/schemas/Error"}

_DESCRIPTIONS = {
    "400": "Invalid input: the messages of each field (or `detail`).",
    "401": "Not signed in, or the token is invalid, expired or revoked.",
    "403": "Signed in, but this role or scope may not do this.",
    "404": "No such object among the ones you may see.",
    "429": "Too many requests; retry later.",
}

_WRITES = {"post", "put", "patch"}


def _error_response(code: str) -> dict:
    return {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": _ERROR_REF}}}


def _codes_for(path: str, method: str, operation: dict) -> list[str]:
    codes = ["429"]
    if {} not in operation.get("security", [{}]):  # `{}`: the operation is open to anyone
        codes += ["401", "403"]
    if "{" in path:
        codes.append("404")
    queries = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
    if method in _WRITES or queries:
        codes.append("400")
    return codes


def document_errors(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code.startswith(("4", "5")) and not response.get("content"):
                    response["content"] = {
                        "application/json": {"schema": _ERROR_REF}
                    }  # declared, shape left out
            for code in _codes_for(path, method, operation):
                if code not in responses:
                    responses[code] = _error_response(code)
                    continue
                if code != "400":
                    continue
                # A declared 400 (e.g. "why the scan failed") can still be a field validation error.
                for media in responses[code].get("content", {}).values():
                    schema = media.get("schema")
                    if schema is not None and schema != _ERROR_REF:
                        media["schema"] = {"anyOf": [schema, _ERROR_REF]}
    return result
