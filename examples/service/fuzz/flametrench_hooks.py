"""schemathesis hooks for `cargo xtask fuzz-api`: the spec's input rules the OpenAPI's schemas
do not state, added to the loaded schema before any case is generated.

A request these rules refuse is invalid under the spec's prose, and the service refuses it
with the SDK's documented 400 (`invalid_id`, `precondition.invalid_identifier`, ...), but the
schema alone calls it valid, so schemathesis's `positive_data_acceptance` would count the
refusal as a failure. Each rule below narrows a schema to what the spec (or, where the spec
leaves it open, a recorded decision of this SDK) accepts; nothing is widened, and the negative
phase still generates requests outside the narrowed schema, which must be refused.

The bundle under `target/openapi/` stays the spec's documents, unchanged.
"""

import re

import schemathesis

# The spec's id decoding (ids, decode step 5): the version nibble, the 13th hex digit, is 1-8.
# The OpenAPI's id patterns allow any hex digit there.
ID_PATTERN = re.compile(r"^\^([a-z]{2,6})_\[0-9a-f\]\{32\}\$$")
UUID_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"

# The SDK's text bounds (crates/tenancy-core/src/text.rs): no NUL; at most so many bytes of
# UTF-8. JSON Schema counts characters, so the limit given is the byte limit over four, which
# no string of that many characters exceeds.
NO_NUL = "^[^\\x00]*$"
TEXT_FIELDS = {
    # The invitee's identifier: not empty, at most 320 bytes.
    "identifier": {"minLength": 1, "maxLength": 320 // 4, "pattern": NO_NUL},
    "accepting_identifier": {"minLength": 1, "maxLength": 320 // 4, "pattern": NO_NUL},
    # An org's display name: at most 1024 bytes.
    "name": {"maxLength": 1024 // 4, "pattern": NO_NUL},
}

# A cursor is the wire id of the last row of the previous page (decision 0008): the listed
# entity's id; an empty one reads as none (the first page). The OpenAPI's `Cursor` is any
# string.
CURSOR_ENTITY = {
    "/orgs": "org",
    "/orgs/{org_id}/members": "mem",
    "/orgs/{org_id}/invitations": "inv",
    "/tuples/by-subject": "tup",
    "/tuples/by-object": "tup",
}


def id_pattern(prefix):
    return f"^{prefix}_[0-9a-f]{{12}}[1-8][0-9a-f]{{19}}$"


def narrow(node):
    """Narrows every id pattern and every UUID, and the text fields, in place."""
    if isinstance(node, dict):
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            match = ID_PATTERN.match(pattern)
            if match:
                node["pattern"] = id_pattern(match.group(1))
        if node.get("format") == "uuid" and node.get("type") == "string":
            node["pattern"] = UUID_PATTERN
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, rules in TEXT_FIELDS.items():
                field = properties.get(name)
                if isinstance(field, dict):
                    narrow_text(field, rules)
        for value in node.values():
            narrow(value)
    elif isinstance(node, list):
        for value in node:
            narrow(value)


def narrow_text(field, rules):
    """Adds `rules` to a string field, also inside a `oneOf` of a string and null."""
    if field.get("type") == "string":
        field.update(rules)
    for branch in field.get("oneOf", []):
        if isinstance(branch, dict) and branch.get("type") == "string":
            branch.update(rules)


@schemathesis.hook
def before_load_schema(context, raw_schema):
    narrow(raw_schema)
    schemas = raw_schema.get("components", {}).get("schemas", {})
    # CheckRequest: "Pass EITHER `relation` (single) OR `relations` (non-empty array). Exactly
    # one must be present." (its description).
    # And at most 32 relations (MAX_CHECK_RELATIONS, precondition.too_many_relations).
    check = schemas.get("CheckRequest")
    if isinstance(check, dict):
        check["oneOf"] = [{"required": ["relation"]}, {"required": ["relations"]}]
        relations = check.get("properties", {}).get("relations")
        if isinstance(relations, dict):
            relations["maxItems"] = 32
    # listOrgs's `query`: at most 256 bytes, no NUL.
    # Cursors: the listed entity's wire id.
    for path, entity in CURSOR_ENTITY.items():
        get = raw_schema.get("paths", {}).get(path, {}).get("get")
        if not isinstance(get, dict):
            continue
        parameters = []
        for parameter in get.get("parameters", []):
            if parameter == {"$ref": "#/components/parameters/Cursor"}:
                parameter = {
                    "in": "query",
                    "name": "cursor",
                    "required": False,
                    "schema": {"type": "string", "pattern": f"^$|{id_pattern(entity)}"},
                }
            elif isinstance(parameter, dict) and parameter.get("name") == "query":
                parameter = dict(parameter)
                parameter["schema"] = {"type": "string", "maxLength": 256 // 4, "pattern": NO_NUL}
            parameters.append(parameter)
        get["parameters"] = parameters


def operation_label(context):
    operation = getattr(context, "operation", None)
    return getattr(operation, "label", None)


# create_invitation: `expires_at` must be after the store's clock (precondition.past_expiration)
# and within 0001-01-01..9999-12-31 in UTC (decision 0010). A generated date-time outside that is
# moved thirty days past now; a value that is not a date-time is left for the service to refuse.
@schemathesis.hook
def map_body(context, body):
    if operation_label(context) != "POST /orgs/{org_id}/invitations" or not isinstance(body, dict):
        return body
    value = body.get("expires_at")
    if not isinstance(value, str):
        return body
    from datetime import datetime, timedelta, timezone

    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if instant.tzinfo is None:
            return body
        now = datetime.now(timezone.utc)
        in_range = now + timedelta(minutes=5) < instant.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        # Not a date-time Python reads (the service refuses it: left as it is), or beyond
        # Python's range once in UTC (after 9999: moved).
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return body
        in_range = False
    if not in_range:
        body = dict(body)
        later = datetime.now(timezone.utc) + timedelta(days=30)
        body["expires_at"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    return body


# self_leave: `transferTo` naming the leaving member's own user is precondition.self_transfer
# (the spec's transfer rule 7). The fuzzing acts as one user, FLAMETRENCH_FUZZ_USER.
@schemathesis.hook
def filter_case(context, case):
    if operation_label(context) != "POST /orgs/{org_id}/members/{mem_id}/self-leave":
        return True
    import os

    body = case.body if isinstance(case.body, dict) else {}
    return body.get("transferTo") != os.environ.get("FLAMETRENCH_FUZZ_USER")


# The resource a creating operation makes, as the envelope's `details.entity` names it.
CREATED_ENTITY = {
    "POST /orgs": "org",
    "POST /orgs/{org_id}/members": "membership",
    "POST /orgs/{org_id}/invitations": "invitation",
}


# ensure_resource_availability (ST302) counts any 404 after a create on a path below it as the
# created resource gone. A 404 whose envelope names another entity, such as the unknown
# `to_mem_id` of a transfer (the spec's transfer rule 2: not_found), is not that; a 404 naming
# the created entity still fails.
@schemathesis.hook
def filter_failure(context, failure, case, response):
    if type(failure).__name__ != "EnsureResourceAvailability":
        return True
    created = CREATED_ENTITY.get(getattr(failure, "created_with", None))
    try:
        entity = response.json().get("details", {}).get("entity")
    except Exception:
        return True
    return created is None or entity is None or entity == created
