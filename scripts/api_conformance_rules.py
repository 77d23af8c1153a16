"""The refusals schemathesis may meet on requests the document allows.

OpenAPI 3.0 states the shape of each field; it cannot state rules that tie fields to each
other (``actions`` or ``notActions``, not both), to stored state (a custom role's attributes,
the head of the log) or map keys to a grammar. The server refuses such requests with 400 and
a message naming the field and the rule. For the operations below, and only for these
messages, a 400 on schema-valid data is the documented answer: ``scripts/api-conformance``
lets ``positive_data_acceptance`` take 400 for these operations, and the check below fails
any 400 whose message is not one of its operation's rules, so an unexpected refusal still
fails the run.

Loaded by schemathesis as a hooks module (``SCHEMATHESIS_HOOKS``); printing the operation
names (``python3 scripts/api_conformance_rules.py``) writes the per-operation settings.
"""

import re

# The list filters' grammar (`field:value|value`, LaunchDarkly's fields and values) is more
# than a schema pattern can say.
LIST_FILTER_RULES = [
    ("filter parts are `field:value|value` with LaunchDarkly's fields and values",
     r"^filter: "),
]

# A bulk filter's `filterQuery` is searched text, as the member list's `query`.
FILTER_QUERY_TEXT = ("`filterQuery` is text to search for, without control characters",
                     r"^instructions\[\d+\]\.filterQuery: control characters are not searched for")

# Operation -> (rule, pattern of the message that names it).
STATEMENT_RULES = [
    ("a statement has `actions` or `notActions`, not both",
     r"one of `actions` or `notActions` is required|use either `actions` or `notActions`, not both"),
    ("a statement has `resources` or `notResources`, not both",
     r"one of `resources` or `notResources` is required|use either `resources` or `notResources`, not both"),
    ("an action glob matches a known action",
     r"[aA]ctions\[\d+\]: `.*` matches no known action"),
]

WEBHOOK_URL_RULES = [
    ("the URL is http(s), without credentials, not link-local", r"^url: "),
]

CUSTOM_ROLE_ATTRIBUTES = (
    "a custom role's attributes are given where it is assigned",
    r"custom role .* needs role attribute",
)

SAML_WITHOUT_METADATA = (
    "SAML settings without metadata name the IdP's entity id, SSO URL and certificate",
    r"^saml\.\w+: required without idpMetadataXml",
)

SAML_KEYS = (
    "SAML certificates are PEM or base64 DER, the SP key PEM and given with its certificate",
    r"^saml\.(idpCertificates\[\d+\]|spCertificate): is not a PEM or base64 DER certificate"
    r"|^saml\.spPrivateKey: must be a PEM private key|^saml\.spCertificate: required with spPrivateKey",
)

SAML_METADATA = (
    "SAML metadata is the IdP's XML metadata document",
    r"^saml\.idpMetadataXml: ",
)

# What flag instructions must fit: the flag's variations and rules as they are now.
FLAG_INSTRUCTION_RULES = [
    ("environment-scoped instructions name an environment (`environmentKey`)",
     r"needs environmentKey"),
    ("variation indexes name one of the flag's variations",
     r"variation \d+ out of range \(flag has \d+ variations\)"),
    ("rollout weights are keyed by variation index, each once, and sum to 100000",
     r"rolloutWeights.*(is not a variation index|is given more than once)|weights sum to -?\d+, must be 100000"),
    ("rule ids name one of the flag's rules",
     r"^instructions\[\d+\]\.(ruleId|beforeRuleId): no rule with id"),
    ("a fallthrough or rule serves a variation or a rollout, exactly one",
     r"exactly one of variation or rolloutWeights is required|rolloutBucketBy: only applies together with rolloutWeights"),
]

# The IdP's sign-in, logout and metadata URLs, like the OIDC issuer: https, or http only to
# a loopback host.
SAML_SSO_URL = (
    "the IdP's SAML sign-in, logout and metadata URLs are https URLs (http only to a loopback host)",
    r"^saml\.(idpSsoUrl|idpSloUrl|idpMetadataUrl): .* must be an https URL",
)

SAML_METADATA_URL = (
    "the IdP's metadata comes by URL or as a document, not both",
    r"^saml\.idpMetadataUrl: give it or idpMetadataXml, not both",
)

SAML_SIGN_REQUESTS = (
    "signing AuthnRequests needs the SP key and its certificate",
    r"^saml\.signRequests: needs spPrivateKey and spCertificate",
)

OIDC_ISSUER = (
    "the OIDC issuer is an https URL (http only to a loopback host)",
    r"^oidc\.issuer: .* must be an https URL",
)

OIDC_SCOPES = ("OIDC scopes include `openid`", r"^oidc\.scopes: must include openid")

MAPPING_GRANTS = (
    "a mapping rule grants a team, custom roles or a role",
    r"^mappings\[\d+\]: a rule must grant something",
)

# An address range list: each entry an address or CIDR range, without host bits past the
# prefix, not IPv4-mapped, given once; an empty list cannot be switched on.
IP_ALLOWLIST_RULES = [
    ("each entry is an IP address or CIDR range, the network itself, written once, with a"
     " description of at most 256 characters without control characters",
     r"^entries\[\d+\]\.(cidr|description): "),
    ("an empty allowlist cannot be switched on", r"^entries: an empty allowlist"),
]

SCIM_ALLOWLIST = (
    "a connection's SCIM allowlist is null or a non-empty list of address ranges",
    r"^scimAllowlist(\[\d+\]\.(cidr|description))?: ",
)

TOKEN_INLINE_RULES = [
    ("only a service token holds inline statements", r"^inlineRole: only a service token"),
    ("a token has no role attributes for placeholders to name",
     r"^inlineRole\[\d+\]\.\w+\[\d+\]: role attribute `.*` is not declared"),
]

RULES = {
    "POST /api/v2/roles": STATEMENT_RULES + [
        ("role attributes used by the policy are declared when `roleAttributes` is given",
         r"role attribute `.*` is not declared in `roleAttributes`"),
    ],
    "PATCH /api/v2/roles/{roleKey}": STATEMENT_RULES + [
        ("role attributes used by the policy are declared when `roleAttributes` is given",
         r"role attribute `.*` is not declared in `roleAttributes`"),
    ],
    "POST /api/v2/webhooks": STATEMENT_RULES + WEBHOOK_URL_RULES,
    "PATCH /api/v2/webhooks/{id}": STATEMENT_RULES + WEBHOOK_URL_RULES,
    "POST /api/v2/webhooks/{id}/cursor": [
        ("the cursor lies between 0 and the head of the log",
         r"^seq: must be between 0 and the head of the log"),
    ],
    "POST /api/v2/flags/{projectKey}": [
        ("boolean flags have exactly the variations [true, false]",
         r"^variations: boolean flags must have exactly the variations"),
        ("a multivariate flag's variations: at least 2, one JSON type, distinct, not null",
         r"^variations: multivariate flags need at least 2 variations"
         r"|^variations\[\d+\]\.value: (must not be null|is a \w+ but variations\[0\] is a \w+|duplicates variations)"),
        ("defaults name one of the flag's variations",
         r"^defaults\.\w+: variation \d+ out of range"),
    ],
    "PATCH /api/v2/flags/{projectKey}/{flagKey}": FLAG_INSTRUCTION_RULES,
    "POST /api/v2/approval-requests": FLAG_INSTRUCTION_RULES + [
        ("instructions are of the resource's kind (flag or variable instructions)",
         r"^instructions\[\d+\]: unknown variant `\w+`, expected one of"),
        ("instructions change the resource as it is now",
         r"^instructions: they would not change|^instructions: variable .* already has this value"
         r"|^instructions\[0\]: variable .* does not exist"),
    ],
    "PATCH /api/v2/approval-requests/{id}": FLAG_INSTRUCTION_RULES + [
        ("an edit changes something",
         r"^nothing to change: give a new description, instructions, notifyMemberIds or notifyTeamKeys"),
        ("instructions change the resource as it is now",
         r"^instructions: they would not change|^instructions: variable .* already has this value"
         r"|^instructions\[0\]: variable .* does not exist"),
    ],
    "POST /api/v2/members": [
        ("role attribute keys are keys (OpenAPI 3.0 cannot constrain map keys)",
         r"roleAttributes\..*is not a valid key"),
        CUSTOM_ROLE_ATTRIBUTES,
    ],
    "POST /api/v2/teams": [
        ("`memberIDs` (LaunchDarkly's name) agrees with `memberIds`",
         r"memberIds and memberIDs .* differ"),
        ("`customRoleKeys` (LaunchDarkly's name) agrees with `customRoles`",
         r"customRoles and customRoleKeys .* differ"),
        ("role attribute keys are keys (OpenAPI 3.0 cannot constrain map keys)",
         r"roleAttributes\..*is not a valid key"),
        CUSTOM_ROLE_ATTRIBUTES,
    ],
    "PATCH /api/v2/teams/{teamKey}": [
        CUSTOM_ROLE_ATTRIBUTES,
        ("role attribute keys are keys (OpenAPI 3.0 cannot constrain map keys)",
         r"^instructions\[\d+\]\.[^:]*: \".*\" is not a valid key"),
    ],
    "PATCH /api/v2/members": [
        CUSTOM_ROLE_ATTRIBUTES,
        ("role attribute keys are keys (OpenAPI 3.0 cannot constrain map keys)",
         r"^instructions\[\d+\]\.value\.[^:]*: \".*\" is not a valid key"),
        ("`filterLastSeen` is one of the member list's `lastSeen` objects",
         r"^instructions\[\d+\]\.filterLastSeen: "),
        FILTER_QUERY_TEXT,
        ("the owner is never changed in bulk", r"is the account owner, whom bulk changes never change"),
    ],
    "PATCH /api/v2/teams": [
        ("`filterLastSeen` is one of the member list's `lastSeen` objects",
         r"^instructions\[\d+\]\.filterLastSeen: "),
        FILTER_QUERY_TEXT,
    ],
    "POST /api/v2/teams/{teamKey}/members": [
        ("`memberIDs` (LaunchDarkly's name) agrees with `memberIds`",
         r"memberIds and memberIDs .* differ"),
    ],
    "POST /api/v2/tokens": STATEMENT_RULES + TOKEN_INLINE_RULES + [
        ("`customRoleIds` (LaunchDarkly's name) agrees with `customRoles`",
         r"customRoles and customRoleIds .* differ"),
        ("a service token has a role, custom roles or an inline role",
         r"^role: a service token needs a role, custom roles or an inline role"),
    ],
    "PATCH /api/v2/tokens/{id}": STATEMENT_RULES + TOKEN_INLINE_RULES + [
        ("a service token keeps a role, custom roles or an inline role",
         r"^customRoles: a service token needs a role, custom roles or an inline role"),
        CUSTOM_ROLE_ATTRIBUTES,
    ],
    "POST /api/v2/tokens/{id}/reset": [
        ("an old secret's grace after a reset is at most 30 days", r"^expiry: "),
    ],
    "POST /api/v2/connections": [
        SCIM_ALLOWLIST,
        SAML_WITHOUT_METADATA,
        SAML_METADATA,
        SAML_KEYS,
        OIDC_SCOPES,
        OIDC_ISSUER,
        SAML_SSO_URL,
        SAML_METADATA_URL,
        SAML_SIGN_REQUESTS,
        MAPPING_GRANTS,
        CUSTOM_ROLE_ATTRIBUTES,
        ("a mapping's role attributes go with custom roles",
         r"^mappings\[\d+\]\.roleAttributes: role attributes go with customRoles"),
    ],
    "GET /api/v2/members": LIST_FILTER_RULES,
    "GET /api/v2/teams": LIST_FILTER_RULES,
    "GET /api/v2/roles": LIST_FILTER_RULES,
    "GET /api/v2/tokens": LIST_FILTER_RULES,
    "PUT /api/v2/account/ip-allowlist": IP_ALLOWLIST_RULES,
    "PUT /api/v2/account/session-settings": [
        ("the idle timeout is not longer than the absolute timeout",
         r"idleTimeoutMinutes must not be longer than absoluteTimeoutHours"),
    ],
    "PATCH /api/v2/connections/{key}": [
        SCIM_ALLOWLIST,
        SAML_WITHOUT_METADATA,
        SAML_METADATA,
        SAML_KEYS,
        OIDC_SCOPES,
        OIDC_ISSUER,
        SAML_SSO_URL,
        SAML_METADATA_URL,
        SAML_SIGN_REQUESTS,
    ],
    "PUT /api/v2/connections/{key}/mappings": [
        CUSTOM_ROLE_ATTRIBUTES,
        MAPPING_GRANTS,
        ("a mapping's role attributes go with custom roles",
         r"^mappings\[\d+\]\.roleAttributes: role attributes go with customRoles"),
    ],
    "PATCH /api/v2/projects/{projectKey}/environments/{envKey}": [
        ("`required: true` and `requiredApprovalTags` exclude each other",
         r"requiredApprovalTags: give either required: true or requiredApprovalTags, not both"),
    ],
}


def _message(response):
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - a body that is not JSON names no rule
        return ""
    return body.get("message", "") if isinstance(body, dict) else ""


try:
    import schemathesis
except ImportError:  # printing the settings needs no schemathesis
    schemathesis = None

if schemathesis is not None:

    @schemathesis.check
    def refusals_name_a_rule(ctx, response, case):
        """A 400 on schema-valid data must be one of its operation's named rules."""
        rules = RULES.get(case.operation.label)
        meta = case.meta
        if rules is None or meta is None or response.status_code != 400:
            return None
        if not meta.generation.mode.is_positive:
            return None
        message = _message(response)
        if any(re.search(pattern, message, re.DOTALL) for _, pattern in rules):
            return None
        raise AssertionError(
            f"400 on schema-valid data names none of this operation's rules: {message}"
        )


if __name__ == "__main__":
    for label in RULES:
        method, path = label.split(" ", 1)
        print(f"{method} {path}")
