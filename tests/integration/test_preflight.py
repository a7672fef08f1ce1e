"""``hokusai preflight`` against moto in server mode: a healthy account passes all six checks, and
each broken precondition is refused with exactly one line naming its fix, the other checks still run.

Every client is a real boto3 client speaking HTTP to this module's own moto server (reset before each
test), except GetAccountSettings: moto 5 does not implement it (its server answers 404 for
``GET /2016-08-19/account-settings``), so the Lambda client answers it from :data:`ACCOUNT_SETTINGS`
through botocore's Stubber, which validates the answer against Lambda's service model.
"""

from __future__ import annotations

import datetime
import io
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from hokusai import cli, preflight

from local.moto_server import MotoServer, running_moto

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
IDENTITY = f"arn:aws:sts::{ACCOUNT}:user/moto"
DOMAIN = "api.hokus.ai"
BOOTSTRAP = "/cdk-bootstrap/hnb659fds/version"
TRAIL = "hokusai-management"
TRAIL_WHY = "the EventBridge drift rule (security-group changes) sees nothing without it"
ZONES = ["eu-west-1a", "eu-west-1b"]
# What the stacks reserve in the test's cdk.json: 50 + 10 + 1 + 3 = 64, so 164 with Lambda's 100.
RESERVED = {
    "authorizer": None,
    "predict": 50,
    "health": 10,
    "canary": 1,
    "revocation": None,
    "pre_traffic": 3,
}

# GetAccountSettings' answer, recorded from the shape in the Lambda API reference
# (https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html): an account on the
# default quota of 1000 concurrent executions, nothing reserved yet.
ACCOUNT_SETTINGS: dict[str, Any] = {
    "AccountLimit": {
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
        "ConcurrentExecutions": 1000,
        "UnreservedConcurrentExecutions": 1000,
    },
    "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with running_moto() as server:
        yield server


class Account:
    """The moto account as one test sees it: boto3 clients for its setup, and what preflight reads."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.concurrency_limit = 1000
        self.lambda_denied = False  # GetAccountSettings answers AccessDeniedException
        self.operations: list[str] = []  # every AWS operation preflight called

    def client(self, service: str, region: str = REGION) -> Any:
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.server.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # moto's dummy credentials
        )

    def preflight_client(self, service: str) -> Any:
        client = self.client(service)
        client.meta.events.register(
            "before-parameter-build", lambda model, **_: self.operations.append(f"{service}:{model.name}")
        )
        if service == "lambda":
            stubber = Stubber(client)
            answer = json.loads(json.dumps(ACCOUNT_SETTINGS))
            answer["AccountLimit"]["ConcurrentExecutions"] = self.concurrency_limit
            if self.lambda_denied:
                stubber.add_client_error(
                    "get_account_settings", "AccessDeniedException", "not authorized", 403
                )
            else:
                stubber.add_response("get_account_settings", answer, {})
            stubber.activate()
        return client

    def clients(self, region: str | None = REGION) -> Callable[[str | None, str | None], Any]:
        """``main``'s ``clients`` hook: (profile, --region) -> (region, client factory)."""
        return lambda profile, given: (given or region, self.preflight_client)

    # --- the healthy account's pieces, each test breaking one of them

    def bootstrap(self, version: str = "21", name: str = BOOTSTRAP) -> None:
        self.client("ssm").put_parameter(Name=name, Value=version, Type="String")

    def trail(self, *, logging: bool = True, management: bool = True, multi_region: bool = True) -> str:
        bucket = f"trail-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        cloudtrail = self.client("cloudtrail")
        cloudtrail.create_trail(Name=TRAIL, S3BucketName=bucket, IsMultiRegionTrail=multi_region)
        # A real CreateTrail starts with this selector; moto's trail has none until one is put.
        cloudtrail.put_event_selectors(
            TrailName=TRAIL,
            EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": management}],
        )
        if logging:
            cloudtrail.start_logging(Name=TRAIL)
        return TRAIL

    def certificate(self, *names: str) -> str:
        """An imported self-signed certificate for ``names`` (the first its DomainName): ISSUED."""
        certificate, key = self_signed(list(names))
        return str(
            self.client("acm").import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
        )

    def healthy(self) -> str:
        self.bootstrap()
        self.trail()
        return self.certificate(DOMAIN)


def self_signed(names: list[str]) -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def account(moto: MotoServer) -> Account:
    moto.reset()
    return Account(moto)


@pytest.fixture
def cdk_json(tmp_path: Path) -> Path:
    """A cdk.json with the context keys preflight reads (the others are not its business)."""
    path = tmp_path / "cdk.json"
    context: dict[str, Any] = {
        "account": None,
        "region": None,
        "availabilityZones": [],
        "reservedConcurrency": RESERVED,
    }
    path.write_text(json.dumps({"app": "python app.py", "context": context}))
    return path


def run(account: Account, cdk_json: Path, *argv: str, region: str | None = REGION) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = preflight.main(["--cdk-json", str(cdk_json), *argv], out=out, clients=account.clients(region))
    return code, out.getvalue().splitlines()


def domain_flags(certificate_arn: str, domain: str = DOMAIN) -> list[str]:
    return ["-c", f"domainName={domain}", "-c", f"certificateArn={certificate_arn}"]


ZONE_FLAGS = ["-c", f"availabilityZones={json.dumps(ZONES)}"]


def ok_lines(certificate_arn: str) -> list[str]:
    return [
        f"ok   credentials: {IDENTITY} in account {ACCOUNT}, region {REGION}",
        f"ok   bootstrap: {BOOTSTRAP} is 21 (>= 6)",
        "ok   concurrency: limit 1000 >= 164 (64 reserved + 100 unreserved)",
        f"ok   cloudtrail: trail {TRAIL} (multi-region) is logging management events",
        f"ok   certificate: {certificate_arn} is ISSUED and covers {DOMAIN}",
        f"ok   zones: {', '.join(ZONES)} available",
    ]


def only_failure(lines: list[str], certificate_arn: str, check: str) -> str:
    """The one FAIL line, after checking every other line is its healthy ``ok``."""
    healthy = ok_lines(certificate_arn)
    index = preflight.CHECKS.index(check)
    assert lines[:index] + lines[index + 1 :] == healthy[:index] + healthy[index + 1 :], lines
    assert lines[index].startswith(f"FAIL {check}: "), lines
    return lines[index]


# --- the healthy account ------------------------------------------------------------------------


def test_healthy_account_passes_every_check_with_read_only_calls(account: Account, cdk_json: Path) -> None:
    certificate_arn = account.healthy()
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert (code, lines) == (0, ok_lines(certificate_arn))
    assert sorted(set(account.operations)) == [
        "acm:DescribeCertificate",
        "cloudtrail:DescribeTrails",
        "cloudtrail:GetEventSelectors",
        "cloudtrail:GetTrailStatus",
        "ec2:DescribeAvailabilityZones",
        "lambda:GetAccountSettings",
        "ssm:GetParameter",
        "sts:GetCallerIdentity",
    ]


def test_without_domain_and_zones_those_checks_are_skipped(account: Account, cdk_json: Path) -> None:
    account.healthy()
    code, lines = run(account, cdk_json)
    assert code == 0
    assert lines[4:] == [
        "skip certificate: no domainName in the context (no custom domain)",
        "skip zones: no availabilityZones in the context (CDK picks the region's zones)",
    ]


def test_advanced_event_selectors_on_management_events_pass(account: Account, cdk_json: Path) -> None:
    account.healthy()
    account.client("cloudtrail").put_event_selectors(
        TrailName=TRAIL,
        AdvancedEventSelectors=[
            {"Name": "management", "FieldSelectors": [{"Field": "eventCategory", "Equals": ["Management"]}]}
        ],
    )
    code, lines = run(account, cdk_json)
    assert code == 0
    assert lines[3] == f"ok   cloudtrail: trail {TRAIL} (multi-region) is logging management events"


def test_a_wildcard_certificate_covers_one_label(account: Account, cdk_json: Path) -> None:
    account.healthy()
    wildcard = account.certificate("hokus.ai", "*.hokus.ai")
    code, lines = run(account, cdk_json, *domain_flags(wildcard))
    assert (code, lines[4]) == (0, f"ok   certificate: {wildcard} is ISSUED and covers {DOMAIN}")
    assert preflight.covers(["*.hokus.ai"], "api.hokus.ai")
    assert not preflight.covers(["*.hokus.ai"], "a.api.hokus.ai")
    assert not preflight.covers(["*.hokus.ai"], "hokus.ai")
    assert preflight.covers(["API.Hokus.AI"], "api.hokus.ai")


# --- credentials --------------------------------------------------------------------------------

SKIPPED_AFTER_CREDENTIALS = [
    "skip bootstrap: not checked: {why} (see credentials)",
    "skip concurrency: not checked: {why} (see credentials)",
    "skip cloudtrail: not checked: {why} (see credentials)",
    "skip certificate: not checked: {why} (see credentials)",
    "skip zones: not checked: {why} (see credentials)",
]


def test_account_mismatch_is_refused_and_the_rest_skipped(account: Account, cdk_json: Path) -> None:
    certificate_arn = account.healthy()
    code, lines = run(account, cdk_json, "-c", "account=111111111111", *domain_flags(certificate_arn))
    why = "the credentials are not for the context's account/region"
    assert code == 1
    assert lines == [
        f"FAIL credentials: the credentials ({IDENTITY}) resolve to account {ACCOUNT} but the context "
        "names account 111111111111; fix: use credentials for the context's environment (--profile, "
        "AWS_PROFILE, AWS_REGION) or change context account/region (cdk.json or -c account=... "
        "-c region=...)",
        *(line.format(why=why) for line in SKIPPED_AFTER_CREDENTIALS),
    ]


def test_region_mismatch_names_both_regions(account: Account, cdk_json: Path) -> None:
    account.healthy()
    code, lines = run(account, cdk_json, "-c", "region=us-east-1")
    assert code == 1
    assert lines[0].startswith(
        f"FAIL credentials: the credentials ({IDENTITY}) resolve to region {REGION} but the context "
        "names region us-east-1; fix: "
    )


def test_no_region_is_refused_with_the_command_that_sets_one(account: Account, cdk_json: Path) -> None:
    code, lines = run(account, cdk_json, region=None)
    assert code == 1
    assert lines == [
        "FAIL credentials: no AWS region; fix: set AWS_REGION or `aws configure set region ...` "
        "(or --region)",
        *(line.format(why="no AWS region") for line in SKIPPED_AFTER_CREDENTIALS),
    ]


# --- bootstrap ----------------------------------------------------------------------------------


def test_missing_bootstrap_parameter(account: Account, cdk_json: Path) -> None:
    account.trail()
    certificate_arn = account.certificate(DOMAIN)
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "bootstrap") == (
        f"FAIL bootstrap: {BOOTSTRAP} not found: {ACCOUNT}/{REGION} is not bootstrapped; "
        f"fix: npx cdk bootstrap aws://{ACCOUNT}/{REGION}"
    )


def test_old_bootstrap_version(account: Account, cdk_json: Path) -> None:
    certificate_arn = account.healthy()
    account.client("ssm").put_parameter(Name=BOOTSTRAP, Value="5", Type="String", Overwrite=True)
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "bootstrap") == (
        f"FAIL bootstrap: {BOOTSTRAP} is 5, the stacks need >= 6 (CheckBootstrapVersion); "
        f"fix: npx cdk bootstrap aws://{ACCOUNT}/{REGION}"
    )


def test_bootstrap_qualifier_from_the_context(account: Account, cdk_json: Path) -> None:
    account.healthy()  # bootstrapped with the default qualifier only
    code, lines = run(account, cdk_json, "-c", "@aws-cdk/core:bootstrapQualifier=team42")
    assert code == 1
    assert lines[1] == (
        f"FAIL bootstrap: /cdk-bootstrap/team42/version not found: {ACCOUNT}/{REGION} is not bootstrapped; "
        f"fix: npx cdk bootstrap aws://{ACCOUNT}/{REGION} --qualifier team42"
    )


# --- Lambda concurrency -------------------------------------------------------------------------

QUOTA_FIX = (
    "fix: Service Quotas console (AWS Lambda > Concurrent executions) or `aws service-quotas "
    "request-service-quota-increase --service-code lambda --quota-code L-B99A9384 --desired-value {n} "
    f"--region {REGION}` (or lower reservedConcurrency)"
)


def test_concurrency_limit_too_small(account: Account, cdk_json: Path) -> None:
    certificate_arn = account.healthy()
    account.concurrency_limit = 150
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "concurrency") == (
        f"FAIL concurrency: the account's Lambda concurrency limit in {REGION} is 150, the stacks reserve "
        "64 and Lambda keeps 100 unreserved: 164 needed; " + QUOTA_FIX.format(n=164)
    )


def test_reserved_concurrency_from_a_context_override(account: Account, cdk_json: Path) -> None:
    account.healthy()
    code, lines = run(account, cdk_json, "-c", 'reservedConcurrency={"predict": 950, "health": null}')
    assert code == 1
    assert lines[2].endswith("950 and Lambda keeps 100 unreserved: 1050 needed; " + QUOTA_FIX.format(n=1050))


def test_a_denied_call_is_one_line_and_the_other_checks_run(account: Account, cdk_json: Path) -> None:
    account.healthy()
    account.lambda_denied = True
    code, lines = run(account, cdk_json)
    assert code == 1
    assert lines[2] == (
        "FAIL concurrency: lambda:GetAccountSettings was denied (AccessDeniedException: not authorized); "
        "fix: allow lambda:GetAccountSettings to these credentials (IAM console: the role's or user's "
        "policy) and run again"
    )
    assert [line.split()[0] for line in lines] == ["ok", "ok", "FAIL", "ok", "skip", "skip"]


# --- CloudTrail ---------------------------------------------------------------------------------

CREATE_TRAIL = (
    f"aws cloudtrail create-trail --name {TRAIL} --s3-bucket-name <bucket CloudTrail may write to> "
    f"--is-multi-region-trail && aws cloudtrail start-logging --name {TRAIL}"
)
PUT_SELECTORS = (
    f"aws cloudtrail put-event-selectors --trail-name {TRAIL} --region {REGION} --event-selectors "
    """'[{"ReadWriteType":"All","IncludeManagementEvents":true}]'"""
)


def test_no_trail(account: Account, cdk_json: Path) -> None:
    account.bootstrap()
    certificate_arn = account.certificate(DOMAIN)
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "cloudtrail") == (
        f"FAIL cloudtrail: no trail covers {REGION} (none multi-region or homed there): {TRAIL_WHY}; "
        f"fix: {CREATE_TRAIL}"
    )


def test_a_single_region_trail_elsewhere_does_not_cover_this_region(account: Account, cdk_json: Path) -> None:
    account.bootstrap()
    bucket = "trail-elsewhere"
    account.client("s3", "us-east-1").create_bucket(Bucket=bucket)
    account.client("cloudtrail", "us-east-1").create_trail(Name="elsewhere", S3BucketName=bucket)
    account.client("cloudtrail", "us-east-1").start_logging(Name="elsewhere")
    code, lines = run(account, cdk_json)
    assert code == 1
    assert lines[3].startswith(
        f"FAIL cloudtrail: no trail covers {REGION} (none multi-region or homed there)"
    )


def test_trail_not_logging(account: Account, cdk_json: Path) -> None:
    account.bootstrap()
    account.trail(logging=False)
    certificate_arn = account.certificate(DOMAIN)
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "cloudtrail") == (
        f"FAIL cloudtrail: trail {TRAIL} is not logging: {TRAIL_WHY}; "
        f"fix: aws cloudtrail start-logging --name {TRAIL} --region {REGION}"
    )


def test_trail_without_management_events(account: Account, cdk_json: Path) -> None:
    account.bootstrap()
    account.trail(management=False)
    certificate_arn = account.certificate(DOMAIN)
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, certificate_arn, "cloudtrail") == (
        f"FAIL cloudtrail: trail {TRAIL} logs no write management events: {TRAIL_WHY}; fix: {PUT_SELECTORS}"
    )


def test_trail_with_read_only_management_events(account: Account, cdk_json: Path) -> None:
    account.healthy()
    account.client("cloudtrail").put_event_selectors(
        TrailName=TRAIL, EventSelectors=[{"ReadWriteType": "ReadOnly", "IncludeManagementEvents": True}]
    )
    code, lines = run(account, cdk_json)
    assert code == 1
    assert lines[3] == (
        f"FAIL cloudtrail: trail {TRAIL} logs no write management events: {TRAIL_WHY}; fix: {PUT_SELECTORS}"
    )


# --- certificate --------------------------------------------------------------------------------


def request_line(domain: str = DOMAIN) -> str:
    return (
        f"ACM console (Request a public certificate, DNS validation) in {REGION} or `aws acm "
        f"request-certificate --domain-name {domain} --validation-method DNS --region {REGION}`, "
        "then set certificateArn"
    )


def test_certificate_missing(account: Account, cdk_json: Path) -> None:
    account.healthy()
    missing = f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/{uuid.uuid4()}"
    code, lines = run(account, cdk_json, *domain_flags(missing), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, missing, "certificate") == (
        f"FAIL certificate: certificate {missing} does not exist in account {ACCOUNT}, {REGION}; "
        f"fix: {request_line()}"
    )


def test_certificate_not_issued(account: Account, cdk_json: Path) -> None:
    account.healthy()
    pending = account.client("acm").request_certificate(DomainName=DOMAIN, ValidationMethod="DNS")
    arn = pending["CertificateArn"]
    code, lines = run(account, cdk_json, *domain_flags(arn), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, arn, "certificate") == (
        f"FAIL certificate: certificate {arn} is PENDING_VALIDATION, not ISSUED; fix: create its DNS "
        "validation records (ACM console: the certificate > Create records in Route 53)"
    )


def test_certificate_not_covering_the_domain(account: Account, cdk_json: Path) -> None:
    account.healthy()
    other = account.certificate("www.hokus.ai", "*.api.hokus.ai")
    code, lines = run(account, cdk_json, *domain_flags(other), *ZONE_FLAGS)
    assert code == 1
    assert only_failure(lines, other, "certificate") == (
        f"FAIL certificate: certificate {other} covers *.api.hokus.ai, www.hokus.ai, not {DOMAIN}; "
        f"fix: {request_line()}"
    )


def test_certificate_in_another_region(account: Account, cdk_json: Path) -> None:
    account.healthy()
    elsewhere = f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/{uuid.uuid4()}"
    code, lines = run(account, cdk_json, *domain_flags(elsewhere))
    assert code == 1
    assert lines[4] == (
        f"FAIL certificate: certificate {elsewhere} is in us-east-1, the API's REGIONAL domain needs one in "
        f"{REGION}; fix: {request_line()}"
    )


def test_domain_without_certificate_arn(account: Account, cdk_json: Path) -> None:
    account.healthy()
    code, lines = run(account, cdk_json, "-c", f"domainName={DOMAIN}")
    assert code == 1
    assert (
        lines[4]
        == f"FAIL certificate: domainName {DOMAIN} is set but certificateArn is not; fix: {request_line()}"
    )


# --- availability zones -------------------------------------------------------------------------


def test_a_zone_not_in_the_account(account: Account, cdk_json: Path) -> None:
    certificate_arn = account.healthy()
    zones = json.dumps(["eu-west-1a", "eu-west-1z", "us-east-1a"])
    code, lines = run(account, cdk_json, *domain_flags(certificate_arn), "-c", f"availabilityZones={zones}")
    assert code == 1
    assert lines[:5] == ok_lines(certificate_arn)[:5]
    assert lines[5] == (
        f"FAIL zones: eu-west-1z, us-east-1a not available to account {ACCOUNT} in {REGION} (it has "
        "eu-west-1a, eu-west-1b, eu-west-1c); fix: name zones from that list in availabilityZones "
        "(cdk.json or -c availabilityZones='[...]')"
    )


# --- several failures, flags, the console script ------------------------------------------------


def test_every_failure_is_reported_not_only_the_first(account: Account, cdk_json: Path) -> None:
    account.concurrency_limit = 10  # a new account's quota
    code, lines = run(account, cdk_json, "-c", 'availabilityZones=["eu-west-1q","eu-west-1a"]')
    assert code == 1
    assert [line.split()[0] for line in lines] == ["ok", "FAIL", "FAIL", "FAIL", "skip", "FAIL"]
    assert all(line.count("fix: ") == 1 for line in lines if line.startswith("FAIL"))


def test_context_values_parse_like_the_cdk_cli(tmp_path: Path) -> None:
    path = tmp_path / "cdk.json"
    path.write_text(json.dumps({"context": {"prefix": "hokusai", "account": None, "logRetentionDays": 30}}))
    context = preflight.load_context(
        path, ["account=123456789012", "logRetentionDays=7", "prefix=team-a", "hubFallback=true", "x=a=b"]
    )
    assert context == {
        "prefix": "team-a",
        "account": 123456789012,
        "logRetentionDays": 7,
        "hubFallback": True,
        "x": "a=b",
    }
    with pytest.raises(preflight.UsageError, match="expected key=value"):
        preflight.load_context(path, ["account"])
    with pytest.raises(preflight.UsageError, match="--cdk-json PATH"):
        preflight.load_context(tmp_path / "missing.json")


def test_the_repository_cdk_json_loads() -> None:
    context = preflight.load_context(Path(__file__).resolve().parents[2] / "cdk.json")
    assert "reservedConcurrency" in context and "availabilityZones" in context


def test_session_clients_honour_aws_region_and_the_endpoint(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    region, client = preflight.session_clients(None, None)
    assert region == "eu-central-1"
    assert client("sts").get_caller_identity()["Account"] == ACCOUNT
    assert preflight.session_clients(None, "ap-southeast-2")[0] == "ap-southeast-2"


def test_cli_dispatch_lists_and_runs_preflight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.SUBCOMMANDS["preflight"] == (
        "hokusai.preflight",
        "check credentials, bootstrap, quotas, trail, certificate and zones before make deploy",
    )
    assert cli.main(["--help"]) == 0
    assert (
        "  preflight check credentials, bootstrap, quotas, trail, certificate and zones before make deploy"
        in capsys.readouterr().out.splitlines()
    )
    monkeypatch.chdir(tmp_path)  # no cdk.json here: refused before any AWS call
    assert cli.main(["preflight"]) == 2
    assert capsys.readouterr().err == (
        "hokusai preflight: cdk.json not found: run from the repository root or give --cdk-json PATH\n"
    )
