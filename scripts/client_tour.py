"""The README's "five-minute tour", step by step, through the Python client generated from
openapi/openapi.json (package `gatehouse_client`), against a running Gatehouse.

Run by scripts/client-tour, which generates and installs the client and starts the server:

    python scripts/client_tour.py BASE_URL TOKEN

Every step calls a generated operation function with the generated request model and checks
the status code, that the response parsed into the documented model, and the fields the tour
is about. Any failed check exits non-zero, naming the step.

Where the document types something loosely, the generated client has no model for it and the
tour must pass or read plain JSON values; those places are marked "LOOSE" below:
- Flag.variations, FlagEnvironment.fallthrough/targets/rules, EvaluationResult.value/reason,
  FlagDifference.from/to and AuditEntryRep.accesses/actor/delta/... are untyped (`Any`).
- GET /auditlog/export answers `application/x-ndjson`, which the generator cannot parse: it
  is generated as text only because scripts/client-tour maps that content type to text/plain
  (a `content_type_overrides` entry in the generator config); each line is then json-decoded here.
"""

import itertools
import json
import sys
from http import HTTPStatus
from typing import Any

from gatehouse_client import AuthenticatedClient, errors
from gatehouse_client.api.audit_log import (
    export_audit_log,
    get_audit_checkpoint,
    list_audit_log,
    verify_audit_log,
)
from gatehouse_client.api.environments import create_environment
from gatehouse_client.api.flags import (
    compare_flag_environments,
    create_flag,
    evaluate_flag,
    patch_flag,
)
from gatehouse_client.api.projects import create_project
from gatehouse_client.models import (
    AuditEntryRep,
    CheckpointRep,
    Environment,
    EnvironmentPost,
    ErrorBody,
    EvaluationContext,
    EvaluationContextAttributesType0,
    EvaluationResult,
    Flag,
    FlagComparison,
    FlagInstructionTurnFlagOn,
    FlagInstructionTurnFlagOnKind,
    FlagInstructionUpdateFallthroughVariationOrRollout,
    FlagInstructionUpdateFallthroughVariationOrRolloutKind,
    FlagInstructionUpdateFallthroughVariationOrRolloutRolloutWeightsType0,
    FlagPost,
    FlagSemanticPatch,
    PageAuditEntryRep,
    Project,
    ProjectPost,
    VerifyReport,
)
from gatehouse_client.types import UNSET, Response

PROJECT = "shop"
FLAG = "new-checkout"


class TourFailure(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise TourFailure(what)


def expect(step: str, response: Response[Any], status: int, model: type) -> Any:
    """The response has `status` and parsed into `model`; returns the parsed model."""
    parsed = response.parsed
    if response.status_code != status:
        detail = (
            f"{parsed.code}: {parsed.message}"
            if isinstance(parsed, ErrorBody)
            else response.content.decode(errors="replace")[:500]
        )
        raise TourFailure(f"{step}: expected {status}, got {int(response.status_code)} ({detail})")
    check(
        isinstance(parsed, model),
        f"{step}: the {status} body did not parse into {model.__name__} (got {type(parsed).__name__})",
    )
    print(f"ok  {step} -> {int(response.status_code)} {model.__name__}")
    return parsed


def accesses_of(entry: AuditEntryRep) -> list[dict[str, Any]]:
    # LOOSE: `accesses` is untyped in the document ("`[{action, resource}]`").
    check(isinstance(entry.accesses, list), f"audit entry {entry.field_id}: accesses is not a list")
    return entry.accesses


def in_env(resource: str, env: str) -> bool:
    """`resource` is in proj/shop's environment `env` (`proj/shop:env/production;{critical:true}:...`)."""
    segments = resource.split(":")
    return segments[0] == f"proj/{PROJECT}" and len(segments) > 1 and segments[1].split(";")[0] == f"env/{env}"


def has_access(entry: AuditEntryRep, action: str, env: str | None = None) -> bool:
    return any(
        a.get("action") == action and (env is None or in_env(str(a.get("resource", "")), env))
        for a in accesses_of(entry)
    )


def tour(client: AuthenticatedClient) -> None:
    # a project, two environments (production is critical) and a flag
    project = expect(
        "POST /projects",
        create_project.sync_detailed(client=client, body=ProjectPost(key=PROJECT, name="Shop")),
        HTTPStatus.CREATED,
        Project,
    )
    check(project.key == PROJECT and project.name == "Shop", f"project is {project.key}/{project.name}")

    test_env = expect(
        "POST /projects/shop/environments (test)",
        create_environment.sync_detailed(PROJECT, client=client, body=EnvironmentPost(key="test", name="Test")),
        HTTPStatus.CREATED,
        Environment,
    )
    check(test_env.key == "test" and test_env.critical is False, "test environment: key test, not critical")

    production = expect(
        "POST /projects/shop/environments (production)",
        create_environment.sync_detailed(
            PROJECT, client=client, body=EnvironmentPost(key="production", name="Production", critical=True)
        ),
        HTTPStatus.CREATED,
        Environment,
    )
    check(production.key == "production" and production.critical is True, "production environment is critical")

    flag = expect(
        "POST /flags/shop",
        create_flag.sync_detailed(PROJECT, client=client, body=FlagPost(key=FLAG, name="New checkout")),
        HTTPStatus.CREATED,
        Flag,
    )
    check(flag.key == FLAG and flag.name == "New checkout", "flag key and name")
    check(flag.kind == "boolean", f"a flag without kind is boolean (got {flag.kind!r})")
    check(set(flag.environments.additional_properties) == {"test", "production"}, "flag has both environments")
    check(not flag.environments["test"].on and not flag.environments["production"].on, "a new flag starts off")

    # toggle it in production, with a comment, through semantic-patch instructions
    flag = expect(
        "PATCH /flags/shop/new-checkout (production: turnFlagOn)",
        patch_flag.sync_detailed(
            PROJECT,
            FLAG,
            client=client,
            body=FlagSemanticPatch(
                environment_key="production",
                comment="launch",
                instructions=[FlagInstructionTurnFlagOn(kind=FlagInstructionTurnFlagOnKind.TURNFLAGON)],
            ),
        ),
        HTTPStatus.OK,
        Flag,
    )
    check(flag.environments["production"].on is True, "production is on after turnFlagOn")
    check(flag.environments["test"].on is False, "test is still off")

    # roll out 25/75 in test and evaluate for a user
    flag = expect(
        "PATCH /flags/shop/new-checkout (test: turnFlagOn + 25/75 rollout)",
        patch_flag.sync_detailed(
            PROJECT,
            FLAG,
            client=client,
            body=FlagSemanticPatch(
                environment_key="test",
                instructions=[
                    FlagInstructionTurnFlagOn(kind=FlagInstructionTurnFlagOnKind.TURNFLAGON),
                    FlagInstructionUpdateFallthroughVariationOrRollout(
                        kind=FlagInstructionUpdateFallthroughVariationOrRolloutKind.UPDATEFALLTHROUGHVARIATIONORROLLOUT,
                        rollout_weights=FlagInstructionUpdateFallthroughVariationOrRolloutRolloutWeightsType0.from_dict(
                            {"0": 25000, "1": 75000}
                        ),
                    ),
                ],
            ),
        ),
        HTTPStatus.OK,
        Flag,
    )
    test_state = flag.environments["test"]
    check(test_state.on is True, "test is on after turnFlagOn")
    # LOOSE: fallthrough is untyped ("{variation} or {rollout: {variations: [{variation, weight}]}}").
    rollout = test_state.fallthrough.get("rollout") if isinstance(test_state.fallthrough, dict) else None
    check(isinstance(rollout, dict), f"test fallthrough is a rollout (got {test_state.fallthrough!r})")
    weights = {v["variation"]: v["weight"] for v in rollout["variations"]}
    check(weights == {0: 25000, 1: 75000}, f"rollout weights are 25000/75000 (got {weights})")

    attributes = EvaluationContextAttributesType0()
    attributes["country"] = "fr"
    result = expect(
        "POST /flags/shop/new-checkout/evaluate?env=test",
        evaluate_flag.sync_detailed(
            PROJECT, FLAG, client=client, env="test", body=EvaluationContext(key="user-42", attributes=attributes)
        ),
        HTTPStatus.OK,
        EvaluationResult,
    )
    # LOOSE: reason and value are untyped.
    check(isinstance(result.reason, dict) and result.reason.get("kind") == "FALLTHROUGH", f"reason {result.reason!r}")
    check(result.variation_index in (0, 1), f"variation index {result.variation_index!r}")
    check(result.value == [True, False][result.variation_index], f"value {result.value!r} matches its variation")
    print(f"    user-42 gets {result.value!r} (variation {result.variation_index}, reason {result.reason})")

    comparison = expect(
        "GET /flags/shop/new-checkout/compare?from=test&to=production",
        compare_flag_environments.sync_detailed(PROJECT, FLAG, client=client, from_="test", to="production"),
        HTTPStatus.OK,
        FlagComparison,
    )
    check(comparison.from_ == "test" and comparison.to == "production", "comparison names its environments")
    fields = [d.field for d in comparison.differences]
    check(fields == ["fallthrough"], f"only the fallthrough differs (both are on; got {fields})")

    # who changed what, where and when
    spec = "proj/shop:env/production:flag/*"
    page = expect(
        f"GET /auditlog?spec={spec}",
        list_audit_log.sync_detailed(client=client, spec=spec),
        HTTPStatus.OK,
        PageAuditEntryRep,
    )
    # Exactly the flag's creation and the production toggle, newest first; not the test rollout.
    check(page.total_count == 2 and len(page.items) == 2, f"two entries match the spec (got {page.total_count})")
    toggle, created = page.items
    check(has_access(toggle, "updateOn", "production"), f"newest is the production toggle ({toggle.accesses!r})")
    check(toggle.environment == "production", f"toggle entry environment {toggle.environment!r}")
    check(toggle.comment == "launch", f"toggle entry comment {toggle.comment!r}")
    check(has_access(created, "createFlag", "production"), f"then the flag's creation ({created.accesses!r})")

    page = expect(
        "GET /auditlog?action=updateOn&limit=10",
        list_audit_log.sync_detailed(client=client, action="updateOn", limit=10),
        HTTPStatus.OK,
        PageAuditEntryRep,
    )
    check(len(page.items) == 2, f"two updateOn entries, test and production (got {len(page.items)})")
    rollout_entry, production_entry = page.items
    check(has_access(rollout_entry, "updateOn", "test"), f"newest is the test change ({rollout_entry.accesses!r})")
    check(production_entry.field_id == toggle.field_id, "then the production toggle of the spec query")

    # prove that nobody rewrote history, and keep a signed checkpoint outside the database
    report = expect("GET /auditlog/verify", verify_audit_log.sync_detailed(client=client), HTTPStatus.OK, VerifyReport)
    check(report.valid is True, f"verify says valid (reason {report.reason!r})")
    check(report.first_broken_id is UNSET, "no broken entry")
    check(report.entries >= 6, f"at least the tour's six changes are checked (got {report.entries})")
    check(len(report.head_hash) == 64, "head hash is hex SHA-256")

    checkpoint = expect(
        "GET /auditlog/checkpoint",
        get_audit_checkpoint.sync_detailed(client=client),
        HTTPStatus.OK,
        CheckpointRep,
    )
    check(checkpoint.seq == report.entries, f"checkpoint seq {checkpoint.seq} is the head {report.entries}")
    check(checkpoint.hash_ == report.head_hash, "checkpoint hash is the verified head hash")
    check(bool(checkpoint.signature) and bool(checkpoint.public_key), "checkpoint is signed")

    response = export_audit_log.sync_detailed(client=client)
    # LOOSE: application/x-ndjson, generated as text through the content-type override.
    text = expect("GET /auditlog/export", response, HTTPStatus.OK, str)
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    check(len(entries) == report.entries + 1, f"export has the verified entries plus its own ({len(entries)})")
    check([e["seq"] for e in entries] == list(range(1, len(entries) + 1)), "export is oldest first, gap-free")
    check(all(b["prevHash"] == a["hash"] for a, b in itertools.pairwise(entries)), "export links hash to hash")
    check(entries[report.entries - 1]["hash"] == report.head_hash, "export contains the verified head")
    check(any(e["_id"] == toggle.field_id for e in entries), "export contains the toggle")
    last = AuditEntryRep.from_dict(entries[-1])  # each line is an AuditEntryRep
    check(has_access(last, "exportAuditLog"), f"the export's own entry is last ({last.accesses!r})")


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: client_tour.py BASE_URL TOKEN", file=sys.stderr)
        return 2
    base_url, token = sys.argv[1], sys.argv[2]
    # The README sends the token bare (`Authorization: $TOKEN`); the generated client's default
    # prefix is "Bearer", which the API accepts too. Bare, to mirror the README.
    client = AuthenticatedClient(base_url=base_url, token=token, prefix="", raise_on_unexpected_status=True)
    try:
        with client:
            tour(client)
    except TourFailure as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    except errors.UnexpectedStatus as unexpected:
        # A status the document does not list for the operation.
        print(f"FAIL undocumented status: {unexpected}", file=sys.stderr)
        return 1
    print("client tour passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
