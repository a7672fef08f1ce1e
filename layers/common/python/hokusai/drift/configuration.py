"""Configuration drift: each function's environment, secrets and VPC security groups as declared.

docs/incidents.md section 3: the HuggingFace token secret was declared but missing from the deployed task
definition, and predictions failed with HTTP 500. Here every declared variable and secret reference
is checked on the deployed function (``lambda:GetFunctionConfiguration``), every referenced secret
must exist and hold a non-empty value, and each function must sit in its declared security groups.

Secret values are read only to test for emptiness and are dropped at once: never logged, never in
a finding.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hokusai.drift.aws import api_error_finding, error_code
from hokusai.drift.findings import Finding, Kind, Severity

if TYPE_CHECKING:
    from botocore.client import BaseClient


def aws(*arguments: str) -> str:
    """An AWS CLI command line, each argument shell-quoted."""
    return shlex.join(["aws", *arguments])


NOT_FOUND = {"ResourceNotFoundException", "ResourceNotFound"}
EMPTY_VALUES = {"", "{}", "[]", '""', "null"}


def set_env_var_command(function_name: str, variable: str, value: str) -> str:
    """Add one variable without touching the others.

    ``update-function-configuration --environment`` replaces the whole environment, so the command
    reads the current one and sets a single key (with jq) instead of printing every value here.
    """
    current = aws(
        "lambda",
        "get-function-configuration",
        "--function-name",
        function_name,
        "--query",
        "Environment",
        "--output",
        "json",
    )
    jq = shlex.join(["jq", "-c", f".Variables[{json.dumps(variable)}] = {json.dumps(value)}"])
    return (
        f"aws lambda update-function-configuration --function-name {shlex.quote(function_name)} "
        f'--environment "$({current} | {jq})"'
    )


def check_functions(
    lambda_client: BaseClient,
    secretsmanager: BaseClient,
    document: Mapping[str, Any],
) -> list[Finding]:
    findings: list[Finding] = []
    group_ids: Mapping[str, str] = document.get("security_groups", {})
    secrets_seen: dict[str, str] = {}  # arn -> "function/VAR" that declares it (first one)
    for logical_name, declared in sorted(document.get("functions", {}).items()):
        function_name = declared.get("function_name", logical_name)
        for variable, arn in declared.get("secrets", {}).items():
            secrets_seen.setdefault(arn, f"{function_name} {variable}")
        try:
            config = lambda_client.get_function_configuration(FunctionName=function_name)
        except Exception as error:
            if error_code(error) in NOT_FOUND:
                findings.append(
                    Finding(
                        Kind.FUNCTION_MISSING,
                        Severity.CRITICAL,
                        f"function {function_name}",
                        f"declared function ({logical_name}) is not deployed",
                        "cdk deploy --all  # the service stack creates the function",
                    )
                )
            else:
                findings.append(
                    api_error_finding("lambda:GetFunctionConfiguration", f"function {function_name}", error)
                )
            continue
        findings.extend(_environment_findings(function_name, declared, config))
        findings.extend(_security_group_findings(function_name, declared, config, group_ids))
    for arn, declared_by in sorted(secrets_seen.items()):
        findings.extend(_secret_findings(secretsmanager, arn, declared_by))
    return findings


def _value_checked(declared_by: str) -> bool:
    """Whether the canary may read the secret's value to check it is not empty. A secret only its
    own function may read (the authorizer's Redis signing key) is checked to exist, never read."""
    from hokusai.environment import VARIABLES

    name = declared_by.rsplit(maxsplit=1)[-1]
    return all(v.value_checked for v in VARIABLES if v.name == name)


def _environment_findings(
    function_name: str, declared: Mapping[str, Any], config: Mapping[str, Any]
) -> list[Finding]:
    actual: Mapping[str, str] = (config.get("Environment") or {}).get("Variables") or {}
    secrets: Mapping[str, str] = declared.get("secrets", {})
    findings = []
    for variable in declared.get("environment", []):
        if variable in secrets or variable in actual:
            continue
        findings.append(
            Finding(
                Kind.ENV_VAR_MISSING,
                Severity.CRITICAL,
                f"function {function_name}",
                f"environment variable {variable} is declared but not set",
                set_env_var_command(function_name, variable, "<value from the stack>"),
            )
        )
    for variable, arn in sorted(secrets.items()):
        if variable not in actual:
            findings.append(
                Finding(
                    Kind.ENV_VAR_MISSING,
                    Severity.CRITICAL,
                    f"function {function_name}",
                    f"environment variable {variable} (secret {arn}) is declared but not set",
                    set_env_var_command(function_name, variable, arn),
                )
            )
        elif actual[variable] != arn:
            findings.append(
                Finding(
                    Kind.SECRET_REF_MISMATCH,
                    Severity.CRITICAL,
                    f"function {function_name}",
                    f"{variable} names secret {actual[variable]}, declared {arn}",
                    set_env_var_command(function_name, variable, arn),
                )
            )
    return findings


def _security_group_findings(
    function_name: str,
    declared: Mapping[str, Any],
    config: Mapping[str, Any],
    group_ids: Mapping[str, str],
) -> list[Finding]:
    wanted_names: list[str] = list(declared.get("security_groups", []))
    wanted = {group_ids.get(name, name): name for name in wanted_names}
    vpc = config.get("VpcConfig") or {}
    actual = set(vpc.get("SecurityGroupIds") or [])
    subnets = list(vpc.get("SubnetIds") or [])
    if set(wanted) == actual:
        return []
    missing = [f"{name} ({gid})" for gid, name in wanted.items() if gid not in actual]
    extra = sorted(actual - set(wanted))
    parts = []
    if missing:
        parts.append("missing " + ", ".join(missing))
    if extra:
        parts.append("extra " + ", ".join(extra))
    if wanted and not subnets:
        fix = "cdk deploy --all  # the function is not attached to the VPC; the service stack attaches it"
    elif not wanted:
        fix = aws(
            "lambda",
            "update-function-configuration",
            "--function-name",
            function_name,
            "--vpc-config",
            "SubnetIds=[],SecurityGroupIds=[]",
        )
    else:
        vpc_config = f"SubnetIds={','.join(subnets)},SecurityGroupIds={','.join(sorted(wanted))}"
        fix = aws(
            "lambda",
            "update-function-configuration",
            "--function-name",
            function_name,
            "--vpc-config",
            vpc_config,
        )
    return [
        Finding(
            Kind.FUNCTION_SG_MISMATCH,
            Severity.CRITICAL if missing else Severity.WARNING,
            f"function {function_name}",
            "VPC security groups differ from the declared ones: " + "; ".join(parts),
            fix,
        )
    ]


def _secret_name(arn: str) -> str:
    """The secret's name from its ARN (Secrets Manager appends "-" and six random characters)."""
    name = arn.split(":secret:", 1)[-1]
    head, _, tail = name.rpartition("-")
    return head if head and len(tail) == 6 else name


def _secret_findings(secretsmanager: BaseClient, arn: str, declared_by: str) -> list[Finding]:
    resource = f"secret {arn}"
    put_value = aws(
        "secretsmanager", "put-secret-value", "--secret-id", arn, "--secret-string", "file://value.txt"
    )
    try:
        described = secretsmanager.describe_secret(SecretId=arn)
    except Exception as error:
        if error_code(error) in NOT_FOUND:
            variable = declared_by.rsplit(maxsplit=1)[-1]
            create = aws(
                "secretsmanager",
                "create-secret",
                "--name",
                _secret_name(arn),
                "--secret-string",
                "file://value.txt",
            )
            return [
                Finding(
                    Kind.SECRET_MISSING,
                    Severity.CRITICAL,
                    resource,
                    f"secret referenced by {declared_by} does not exist",
                    f"{create}  # then set {variable} to the new ARN (or: cdk deploy --all)",
                )
            ]
        return [api_error_finding("secretsmanager:DescribeSecret", resource, error)]
    if described.get("DeletedDate"):  # deleted with a recovery window: still restorable
        restore = aws("secretsmanager", "restore-secret", "--secret-id", arn)
        return [
            Finding(
                Kind.SECRET_MISSING,
                Severity.CRITICAL,
                resource,
                f"secret referenced by {declared_by} is scheduled for deletion ({described['DeletedDate']})",
                restore,
            )
        ]
    if not _value_checked(declared_by):
        return []
    try:
        value = secretsmanager.get_secret_value(SecretId=arn)
    except Exception as error:
        if error_code(error) in NOT_FOUND:  # the secret exists but has no AWSCURRENT value
            return [
                Finding(
                    Kind.SECRET_EMPTY,
                    Severity.CRITICAL,
                    resource,
                    f"secret referenced by {declared_by} has no current value",
                    put_value,
                )
            ]
        return [api_error_finding("secretsmanager:GetSecretValue", resource, error)]
    text = value.get("SecretString")
    empty = (text is None and not value.get("SecretBinary")) or (
        text is not None and text.strip() in EMPTY_VALUES
    )
    del value, text  # the value itself is never kept, logged or reported
    if empty:
        return [
            Finding(
                Kind.SECRET_EMPTY,
                Severity.CRITICAL,
                resource,
                f"secret referenced by {declared_by} is empty",
                put_value,
            )
        ]
    return []
