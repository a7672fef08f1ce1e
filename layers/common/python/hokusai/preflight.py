"""``hokusai preflight``: read-only checks of the AWS account before ``make deploy``.

Six checks, each one line: ``ok`` when it passes; ``FAIL`` naming what is wrong and the command or
console step that fixes it; ``skip`` when it cannot run (an earlier check failed, or the context does
not ask for it). Every check runs even after a failure; exit 0 when none failed, 1 otherwise (2: bad
flags or an unreadable cdk.json).

1. credentials: ``sts get-caller-identity`` and the region; both must match context ``account`` and
   ``region`` when those are set.
2. bootstrap: the SSM parameter ``/cdk-bootstrap/<qualifier>/version`` is >= 6, the version the
   stacks' ``CheckBootstrapVersion`` rule (aws-cdk-lib 2) asserts.
3. concurrency: the account's Lambda concurrency limit holds context ``reservedConcurrency`` plus the
   100 unreserved executions Lambda keeps.
4. cloudtrail: a trail covering the region is logging write management events: the monitoring
   stack's EventBridge drift rule (security-group changes, ``hokusai.drift.trigger``) sees CloudTrail
   records only.
5. certificate (context ``domainName`` set): ``certificateArn`` is ISSUED in the region and covers
   the domain (the API's custom domain is REGIONAL).
6. zones (context ``availabilityZones`` non-empty): every named zone is available to the account.

The context is cdk.json's ``context`` with ``-c key=value`` overrides, as the CDK CLI merges them;
keys and shapes are those of ``stacks/settings.py``. Nothing here writes to the account: the calls
are GetCallerIdentity, ssm:GetParameter, lambda:GetAccountSettings, cloudtrail:DescribeTrails,
GetTrailStatus and GetEventSelectors, acm:DescribeCertificate and ec2:DescribeAvailabilityZones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

# The stacks' CheckBootstrapVersion rule refuses versions 1-5 (cdk.out/*.template.json, Rules).
MIN_BOOTSTRAP_VERSION = 6
DEFAULT_QUALIFIER = "hnb659fds"
# Lambda refuses a reservation that leaves fewer than 100 unreserved concurrent executions.
UNRESERVED_MINIMUM = 100
LAMBDA_CONCURRENCY_QUOTA = "L-B99A9384"
TRAIL_NAME = "hokusai-management"
WHY_TRAIL = "the EventBridge drift rule (security-group changes) sees nothing without it"

ClientFactory = Callable[[str], Any]


@dataclass(frozen=True)
class Result:
    check: str
    status: str  # "ok", "FAIL" or "skip"
    message: str

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def line(self) -> str:
        return f"{self.status:4} {self.check}: {' '.join(self.message.split())}"


def ok(check: str, message: str) -> Result:
    return Result(check, "ok", message)


def fail(check: str, message: str) -> Result:
    return Result(check, "FAIL", message)


def skip(check: str, message: str) -> Result:
    return Result(check, "skip", message)


# --- context -------------------------------------------------------------------------------------


class UsageError(Exception):
    """Bad flags or an unreadable cdk.json: the checks cannot start."""


def parse_value(text: str) -> Any:
    """A ``-c`` value: JSON when it parses (objects, lists, numbers, true/false/null), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def load_context(path: Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """cdk.json's ``context``, then each ``key=value`` override over it (the CDK CLI's ``-c``)."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path} not found: run from the repository root or give --cdk-json PATH") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    context = document.get("context") if isinstance(document, Mapping) else None
    if context is not None and not isinstance(context, Mapping):
        raise UsageError(f"{path}: context must be an object")
    merged = dict(context or {})
    for item in overrides:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise UsageError(f"-c {item!r}: expected key=value")
        merged[key.strip()] = parse_value(value)
    return merged


def _decoded(value: Any) -> Any:
    """A value still given as JSON text (a ``-c`` value quoted twice, or cdk.json holding a string)."""
    if isinstance(value, str) and value.strip()[:1] in {"{", "["}:
        return parse_value(value)
    return value


# --- AWS errors ----------------------------------------------------------------------------------


def _error_text(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        code = details.get("Code") or type(error).__name__
        message = str(details.get("Message") or "").strip().splitlines()
        return f"{code}: {message[0]}" if message else str(code)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "")
    return ""


def _unreadable(check: str, action: str, error: BaseException) -> Result:
    code = _error_code(error)
    if "AccessDenied" in code or code in {"UnauthorizedOperation", "AuthorizationError"}:
        return fail(
            check,
            f"{action} was denied ({_error_text(error)}); fix: allow {action} to these "
            "credentials (IAM console: the role's or user's policy) and run again",
        )
    return fail(
        check,
        f"{action} failed ({_error_text(error)}); fix: check the network and the "
        "endpoint (AWS_ENDPOINT_URL) and run again",
    )


# --- checks --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    account: str
    region: str


def check_credentials(
    context: Mapping[str, Any], region: str | None, client: ClientFactory
) -> tuple[Result, Environment | None, str]:
    """The credentials' account and the region; the environment the later checks read, or None and
    why they cannot run."""
    name = "credentials"
    if not region:
        return (
            fail(name, "no AWS region; fix: set AWS_REGION or `aws configure set region ...` (or --region)"),
            None,
            "no AWS region",
        )
    try:
        identity = client("sts").get_caller_identity()
    except Exception as error:
        code = _error_code(error)
        if code in {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}:
            fix = "`aws sso login` (or fresh keys for the profile) and run again"
        else:
            fix = (
                "`aws configure` or `aws sso login --profile NAME`, "
                "then export AWS_PROFILE=NAME (or --profile)"
            )
        return (
            fail(name, f"no usable AWS credentials ({_error_text(error)}); fix: {fix}"),
            None,
            "no credentials",
        )
    account, arn = str(identity["Account"]), str(identity.get("Arn", ""))
    wanted_account = context.get("account")
    wanted_region = context.get("region")
    mismatches = []
    if wanted_account and str(wanted_account) != account:
        mismatches.append(f"account {account} but the context names account {wanted_account}")
    if wanted_region and str(wanted_region) != region:
        mismatches.append(f"region {region} but the context names region {wanted_region}")
    if mismatches:
        message = (
            f"the credentials ({arn}) resolve to {' and '.join(mismatches)}; fix: use credentials for "
            f"the context's environment (--profile, AWS_PROFILE, AWS_REGION) or change context "
            f"account/region (cdk.json or -c account=... -c region=...)"
        )
        return fail(name, message), None, "the credentials are not for the context's account/region"
    return ok(name, f"{arn} in account {account}, region {region}"), Environment(account, region), ""


def check_bootstrap(context: Mapping[str, Any], env: Environment, client: ClientFactory) -> Result:
    name = "bootstrap"
    qualifier = str(context.get("@aws-cdk/core:bootstrapQualifier") or DEFAULT_QUALIFIER)
    parameter = f"/cdk-bootstrap/{qualifier}/version"
    qualifier_flag = "" if qualifier == DEFAULT_QUALIFIER else f" --qualifier {qualifier}"
    fix = f"fix: npx cdk bootstrap aws://{env.account}/{env.region}{qualifier_flag}"
    try:
        value = client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    except Exception as error:
        if _error_code(error) == "ParameterNotFound":
            return fail(name, f"{parameter} not found: {env.account}/{env.region} is not bootstrapped; {fix}")
        return _unreadable(name, f"ssm:GetParameter {parameter}", error)
    try:
        version = int(str(value).strip())
    except ValueError:
        return fail(name, f"{parameter} is {value!r}, not a version number; {fix}")
    if version < MIN_BOOTSTRAP_VERSION:
        return fail(
            name,
            f"{parameter} is {version}, the stacks need >= {MIN_BOOTSTRAP_VERSION} "
            f"(CheckBootstrapVersion); {fix}",
        )
    return ok(name, f"{parameter} is {version} (>= {MIN_BOOTSTRAP_VERSION})")


def reserved_total(value: Any) -> int:
    value = _decoded(value)
    if value is None:
        return 0
    if not isinstance(value, Mapping):
        raise ValueError(
            f"reservedConcurrency must be an object of function -> integer or null (got {value!r})"
        )
    total = 0
    for function, given in value.items():
        reserved = _decoded(given)
        if reserved is None:
            continue
        if isinstance(reserved, bool) or not isinstance(reserved, int) or reserved < 0:
            raise ValueError(f"reservedConcurrency.{function} must be an integer or null (got {reserved!r})")
        total += reserved
    return total


def check_concurrency(context: Mapping[str, Any], env: Environment, client: ClientFactory) -> Result:
    name = "concurrency"
    try:
        reserved = reserved_total(context.get("reservedConcurrency"))
    except ValueError as error:
        return fail(name, f"{error}; fix: correct reservedConcurrency in cdk.json (or -c)")
    required = reserved + UNRESERVED_MINIMUM
    try:
        settings = client("lambda").get_account_settings()
    except Exception as error:
        return _unreadable(name, "lambda:GetAccountSettings", error)
    limit = int(settings["AccountLimit"]["ConcurrentExecutions"])
    if limit < required:
        return fail(
            name,
            f"the account's Lambda concurrency limit in {env.region} is {limit}, the stacks reserve "
            f"{reserved} and Lambda keeps {UNRESERVED_MINIMUM} unreserved: {required} needed; fix: "
            f"Service Quotas console (AWS Lambda > Concurrent executions) or `aws service-quotas "
            f"request-service-quota-increase --service-code lambda --quota-code {LAMBDA_CONCURRENCY_QUOTA} "
            f"--desired-value {required} --region {env.region}` (or lower reservedConcurrency)",
        )
    return ok(name, f"limit {limit} >= {required} ({reserved} reserved + {UNRESERVED_MINIMUM} unreserved)")


def _logs_write_management_events(selectors: Mapping[str, Any]) -> bool:
    """Classic selectors with IncludeManagementEvents (not read-only), or an advanced selector on
    eventCategory Management that does not keep read-only events only."""
    for selector in selectors.get("EventSelectors") or []:
        if selector.get("IncludeManagementEvents") and selector.get("ReadWriteType", "All") != "ReadOnly":
            return True
    for selector in selectors.get("AdvancedEventSelectors") or []:
        fields = {field.get("Field"): field for field in selector.get("FieldSelectors") or []}
        category = fields.get("eventCategory") or {}
        read_only = fields.get("readOnly") or {}
        if "Management" in (category.get("Equals") or []) and (read_only.get("Equals") or []) != ["true"]:
            return True
    return False


def check_cloudtrail(env: Environment, client: ClientFactory) -> Result:
    name = "cloudtrail"
    cloudtrail = client("cloudtrail")
    create = (
        f"aws cloudtrail create-trail --name {TRAIL_NAME} --s3-bucket-name <bucket CloudTrail may write to> "
        f"--is-multi-region-trail && aws cloudtrail start-logging --name {TRAIL_NAME}"
    )
    try:
        trails = cloudtrail.describe_trails(includeShadowTrails=True).get("trailList") or []
    except Exception as error:
        return _unreadable(name, "cloudtrail:DescribeTrails", error)
    covering = [t for t in trails if t.get("IsMultiRegionTrail") or t.get("HomeRegion") == env.region]
    if not covering:
        return fail(
            name,
            f"no trail covers {env.region} (none multi-region or homed there): {WHY_TRAIL}; fix: {create}",
        )
    problems: list[tuple[int, str]] = []  # (how many fixes, the line's text) per covering trail
    for trail in covering:
        trail_id = trail.get("TrailARN") or trail["Name"]
        trail_name = trail["Name"]
        # StartLogging and PutEventSelectors must be called in the trail's home region.
        home = f"--region {trail.get('HomeRegion') or env.region}"
        try:
            logging = bool(cloudtrail.get_trail_status(Name=trail_id).get("IsLogging"))
            management = _logs_write_management_events(cloudtrail.get_event_selectors(TrailName=trail_id))
        except Exception as error:
            problems.append((3, f"trail {trail_name} could not be read ({_error_text(error)})"))
            continue
        if logging and management:
            scope = "multi-region" if trail.get("IsMultiRegionTrail") else f"home region {env.region}"
            return ok(name, f"trail {trail_name} ({scope}) is logging management events")
        fixes = []
        if not logging:
            fixes.append(f"aws cloudtrail start-logging --name {trail_name} {home}")
        if not management:
            fixes.append(
                f"aws cloudtrail put-event-selectors --trail-name {trail_name} {home} --event-selectors "
                """'[{"ReadWriteType":"All","IncludeManagementEvents":true}]'"""
            )
        wrong = " and ".join(
            (["is not logging"] if not logging else [])
            + (["logs no write management events"] if not management else [])
        )
        problems.append((len(fixes), f"trail {trail_name} {wrong}: {WHY_TRAIL}; fix: {' && '.join(fixes)}"))
    count, text = min(problems, key=lambda problem: problem[0])
    if count == 3:  # no covering trail could be read
        return fail(
            name,
            f"{text}: {WHY_TRAIL}; fix: allow cloudtrail:GetTrailStatus and GetEventSelectors, or {create}",
        )
    return fail(name, text)


_ACM_ARN = re.compile(r"arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}")


def covers(certificate_names: Sequence[str], domain: str) -> bool:
    """Exact name, or ``*.parent`` covering exactly one more label (``*.hokus.ai`` covers
    ``api.hokus.ai``, not ``hokus.ai`` nor ``a.api.hokus.ai``)."""
    domain = domain.lower().rstrip(".")
    for given in certificate_names:
        name = given.lower().rstrip(".")
        if name == domain:
            return True
        if name.startswith("*.") and "." in domain:
            label, parent = domain.split(".", 1)
            if label and parent == name[2:]:
                return True
    return False


def check_certificate(context: Mapping[str, Any], env: Environment, client: ClientFactory) -> Result | None:
    """None when context ``domainName`` is not set (no custom domain: nothing to check)."""
    name = "certificate"
    domain = context.get("domainName")
    if not domain:
        return None
    request = (
        f"ACM console (Request a public certificate, DNS validation) in {env.region} or `aws acm "
        f"request-certificate --domain-name {domain} --validation-method DNS --region {env.region}`, "
        f"then set certificateArn"
    )
    if not isinstance(domain, str):
        return fail(
            name,
            f"context domainName must be a DNS name such as api.hokus.ai (got {domain!r}); "
            "fix: set domainName, certificateArn and hostedZoneId as three context keys",
        )
    arn = context.get("certificateArn")
    if not arn:
        return fail(name, f"domainName {domain} is set but certificateArn is not; fix: {request}")
    match = _ACM_ARN.fullmatch(str(arn))
    if match is None:
        return fail(name, f"certificateArn {arn!r} is not an ACM certificate ARN; fix: {request}")
    if match.group(1) != env.region:
        return fail(
            name,
            f"certificate {arn} is in {match.group(1)}, the API's REGIONAL domain needs one in "
            f"{env.region}; fix: {request}",
        )
    try:
        certificate = client("acm").describe_certificate(CertificateArn=str(arn))["Certificate"]
    except Exception as error:
        if _error_code(error) == "ResourceNotFoundException":
            return fail(
                name,
                f"certificate {arn} does not exist in account {env.account}, {env.region}; fix: {request}",
            )
        return _unreadable(name, "acm:DescribeCertificate", error)
    status = certificate.get("Status")
    if status != "ISSUED":
        if status == "PENDING_VALIDATION":
            fix = (
                "create its DNS validation records "
                "(ACM console: the certificate > Create records in Route 53)"
            )
        else:
            fix = request
        return fail(name, f"certificate {arn} is {status}, not ISSUED; fix: {fix}")
    names = [certificate.get("DomainName") or "", *(certificate.get("SubjectAlternativeNames") or [])]
    if not covers(names, domain):
        shown = ", ".join(sorted({n for n in names if n}))
        return fail(name, f"certificate {arn} covers {shown}, not {domain}; fix: {request}")
    return ok(name, f"{arn} is ISSUED and covers {domain}")


def check_zones(context: Mapping[str, Any], env: Environment, client: ClientFactory) -> Result | None:
    """None when context ``availabilityZones`` is empty (CDK picks the region's zones)."""
    name = "zones"
    zones = _decoded(context.get("availabilityZones"))
    if not zones:
        return None
    if not isinstance(zones, list) or any(not isinstance(zone, str) for zone in zones):
        return fail(
            name,
            f"context availabilityZones must be a list of zone names (got {zones!r}); "
            "fix: correct it in cdk.json (or -c availabilityZones='[\"...\"]')",
        )
    try:
        answer = client("ec2").describe_availability_zones()
    except Exception as error:
        return _unreadable(name, "ec2:DescribeAvailabilityZones", error)
    available = sorted(
        zone["ZoneName"] for zone in answer.get("AvailabilityZones") or [] if zone.get("State") == "available"
    )
    missing = [zone for zone in zones if zone not in available]
    if missing:
        return fail(
            name,
            f"{', '.join(missing)} not available to account {env.account} in {env.region} (it has "
            f"{', '.join(available) or 'none'}); fix: name zones from that list in availabilityZones "
            "(cdk.json or -c availabilityZones='[...]')",
        )
    return ok(name, f"{', '.join(zones)} available")


CHECKS = ("credentials", "bootstrap", "concurrency", "cloudtrail", "certificate", "zones")


def run(context: Mapping[str, Any], region: str | None, client: ClientFactory) -> list[Result]:
    """Every check, in order; ``client(service)`` builds a boto3 client for this account and region."""
    first, env, why_not = check_credentials(context, region, client)
    results = [first]
    if env is None:
        return results + [skip(check, f"not checked: {why_not} (see credentials)") for check in CHECKS[1:]]
    results.append(check_bootstrap(context, env, client))
    results.append(check_concurrency(context, env, client))
    results.append(check_cloudtrail(env, client))
    results.append(
        check_certificate(context, env, client)
        or skip("certificate", "no domainName in the context (no custom domain)")
    )
    results.append(
        check_zones(context, env, client)
        or skip("zones", "no availabilityZones in the context (CDK picks the region's zones)")
    )
    return results


# --- command -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hokusai preflight",
        description="Read-only checks of the AWS account before `make deploy`: credentials, CDK bootstrap, "
        "Lambda concurrency, CloudTrail, the custom domain's certificate and availability zones. "
        "Exit 0 when all pass, 1 when any fails, 2 on bad flags or cdk.json.",
    )
    parser.add_argument("--cdk-json", default="cdk.json", help="the CDK app's cdk.json (default: ./cdk.json)")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a context value, as `cdk -c` does (JSON when it parses, else a string); repeatable",
    )
    parser.add_argument(
        "--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, the profile's)"
    )
    parser.add_argument("--profile", help="AWS profile (default: AWS_PROFILE or the default profile)")
    return parser


def session_clients(profile: str | None, region: str | None) -> tuple[str | None, ClientFactory]:
    """The region and a client factory from a boto3 Session (``AWS_ENDPOINT_URL`` is honoured by
    botocore, so this runs against ``make dev``'s moto too); clients on the operator budget."""
    import boto3
    from botocore.config import Config

    from hokusai.aws import OPERATOR

    session = boto3.session.Session(profile_name=profile)
    resolved = region or (os.environ.get("AWS_REGION") or "").strip() or session.region_name or None
    config = Config(
        connect_timeout=OPERATOR.connect_seconds,
        read_timeout=OPERATOR.read_seconds,
        retries={"total_max_attempts": OPERATOR.attempts, "mode": "standard"},
    )

    def client(service: str) -> Any:
        return session.client(service, region_name=resolved, config=config)

    return resolved, client


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    clients: Callable[[str | None, str | None], tuple[str | None, ClientFactory]] | None = None,
) -> int:
    """``clients(profile, region)`` gives the region and a client factory (tests: moto's)."""
    stream = out or sys.stdout
    try:
        args = build_parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    try:
        context = load_context(Path(args.cdk_json), args.context)
    except UsageError as error:
        print(f"hokusai preflight: {error}", file=sys.stderr)
        return 2
    try:
        region, client = (clients or session_clients)(args.profile, args.region)
    except Exception as error:  # an unknown profile, a broken config file
        first = fail(
            "credentials",
            f"{_error_text(error)}; fix: `aws configure list-profiles`, then --profile NAME (or AWS_PROFILE)",
        )
        results = [
            first,
            *(skip(check, "not checked: no AWS session (see credentials)") for check in CHECKS[1:]),
        ]
    else:
        results = run(context, region, client)
    for result in results:
        print(result.line(), file=stream)
    return 1 if any(result.failed for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
