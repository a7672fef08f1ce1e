"""A deploy-like Hokusai environment in moto (server mode), built from ``hokusai/declared.py``.

What ``cdk deploy`` would leave behind, as far as the canary and ``hokusai doctor`` can see it:
a VPC with the declared security groups and rules (CDK's shape: no allow-all egress, its
"disallow all" placeholder on groups without egress rules), the expected-state SSM parameter written
with ``declared.expected_state_document``, the four functions' configuration in Lambda (environment,
secret ARNs, VPC security groups), their secrets in Secrets Manager, and the alert SNS topic with an
SQS subscription so tests can read the messages.

Used by the drift/canary/doctor tests and by the local stack (``make dev``)::

    deployment = deploy(endpoint_url)              # or deploy() with AWS_ENDPOINT_URL set
    deployment.remove_rule("redis", 6379)          # reproduce incident 3
    deployment.canary_settings(api_base_url)       # CanarySettings for run_canary
    deployment.received_alerts()                   # SNS messages delivered to the queue

The canary's API key is generated at run time (``hk_`` + 32 random bytes) and only stored in the
canary key secret; ``deployment.canary_api_key`` holds it (whoever puts another key in the secret, as
the local stack and the tests do, sets it too).
"""

from __future__ import annotations

import io
import json
import secrets
import uuid
import zipfile
from dataclasses import dataclass, field
from typing import Any

import boto3
from hokusai import declared, metric_names
from hokusai.config import CanarySettings
from hokusai.drift.expected import FUNCTION_ENV, FUNCTION_SECRETS, IN_VPC, functions_section
from hokusai.environment import function_environment, read_by

REGION = "eu-west-1"
ACCOUNT_ID = "123456789012"
# CDK's placeholder on security groups created with allowAllOutbound=false and no egress rules.
CDK_DISALLOW_ALL_EGRESS = {
    "IpProtocol": "icmp",
    "FromPort": 252,
    "ToPort": 86,
    "CidrIp": "255.255.255.255/32",
}


def new_api_key() -> str:
    return "hk_" + secrets.token_urlsafe(32)


@dataclass
class Deployment:
    endpoint_url: str | None
    name: str  # unique prefix of every resource of this deployment
    vpc_id: str
    subnet_ids: list[str]
    group_ids: dict[str, str]  # logical group name -> sg id
    prefix_lists: dict[str, str]  # "s3" / "dynamodb" -> pl id
    secret_arns: dict[str, str]  # logical secret name -> ARN
    function_names: dict[str, str]  # logical function name -> Lambda function name
    parameter_name: str
    topic_arn: str
    queue_url: str
    document: dict[str, Any]
    canary_api_key: str = field(repr=False)

    # ------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint_url)

    # ------------------------------------------------------------------ what the canary needs
    def canary_settings(self, api_base_url: str | None = None, *, timeout_ms: int = 2000) -> CanarySettings:
        return CanarySettings(
            api_base_url=api_base_url,
            expected_state_parameter=self.parameter_name,
            canary_key_secret_arn=self.secret_arns["canary_key"],
            alert_topic_arn=self.topic_arn,
            canary_model_id="21",
            timeout_ms=timeout_ms,
        )

    def canary_env(self, api_base_url: str) -> dict[str, str]:
        """The canary function's environment, as the stack sets it."""
        return {
            "API_BASE_URL": api_base_url,
            "EXPECTED_STATE_PARAMETER": self.parameter_name,
            "CANARY_KEY_SECRET_ARN": self.secret_arns["canary_key"],
            "ALERT_TOPIC_ARN": self.topic_arn,
            "CANARY_MODEL_ID": "21",
            "CANARY_TIMEOUT_MS": "2000",
        }

    # ------------------------------------------------------------------ break it like production did
    def rule_ids(self, group: str, port: int, *, egress: bool = False) -> list[str]:
        rules = self.client("ec2").describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [self.group_ids[group]]}]
        )["SecurityGroupRules"]
        return [
            r["SecurityGroupRuleId"]
            for r in rules
            if bool(r["IsEgress"]) == egress and r.get("FromPort") == port
        ]

    def remove_rule(self, group: str, port: int, *, egress: bool = False) -> list[str]:
        """Revoke the group's rules on ``port`` (the never-applied Redis rule of incident 3)."""
        ids = self.rule_ids(group, port, egress=egress)
        ec2 = self.client("ec2")
        if egress:
            ec2.revoke_security_group_egress(GroupId=self.group_ids[group], SecurityGroupRuleIds=ids)
        else:
            ec2.revoke_security_group_ingress(GroupId=self.group_ids[group], SecurityGroupRuleIds=ids)
        return ids

    def open_to_world(self, group: str, port: int, cidr: str = "0.0.0.0/0") -> str:
        key = "Ipv6Ranges" if ":" in cidr else "IpRanges"
        field_name = "CidrIpv6" if ":" in cidr else "CidrIp"
        answer = self.client("ec2").authorize_security_group_ingress(
            GroupId=self.group_ids[group],
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, key: [{field_name: cidr}]}
            ],
        )
        return str(answer["SecurityGroupRules"][0]["SecurityGroupRuleId"])

    def add_rule_from_cidr(self, group: str, port: int, cidr: str) -> str:
        return self.open_to_world(group, port, cidr)

    def drop_env_var(self, function: str, variable: str) -> None:
        lambda_ = self.client("lambda")
        name = self.function_names[function]
        variables = dict(lambda_.get_function_configuration(FunctionName=name)["Environment"]["Variables"])
        variables.pop(variable)
        lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": variables})

    def set_env_var(self, function: str, variable: str, value: str) -> None:
        lambda_ = self.client("lambda")
        name = self.function_names[function]
        config = lambda_.get_function_configuration(FunctionName=name)
        variables = dict((config.get("Environment") or {}).get("Variables") or {})
        variables[variable] = value
        lambda_.update_function_configuration(FunctionName=name, Environment={"Variables": variables})

    def empty_secret(self, secret: str) -> None:
        """Secrets Manager refuses an empty string; whitespace is what an empty paste leaves."""
        self.client("secretsmanager").put_secret_value(SecretId=self.secret_arns[secret], SecretString=" ")

    def delete_secret(self, secret: str, *, force: bool = False) -> None:
        sm = self.client("secretsmanager")
        if force:
            sm.delete_secret(SecretId=self.secret_arns[secret], ForceDeleteWithoutRecovery=True)
        else:
            sm.delete_secret(SecretId=self.secret_arns[secret], RecoveryWindowInDays=7)

    # ------------------------------------------------------------------ read the alerts
    def received_alerts(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        """SNS messages delivered to the test queue: [{"Subject": ..., "Message": ...}], then deleted."""
        sqs = self.client("sqs")
        messages: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            batch = answer.get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                envelope = json.loads(message["Body"])
                messages.append({"Subject": envelope.get("Subject"), "Message": envelope["Message"]})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
            wait_seconds = 0


def _prefix_lists(ec2: Any) -> dict[str, str]:
    lists = ec2.describe_managed_prefix_lists()["PrefixLists"]
    found: dict[str, str] = {}
    for entry in lists:
        for service in ("s3", "dynamodb"):
            if entry["PrefixListName"] == f"com.amazonaws.{REGION}.{service}":
                found[service] = entry["PrefixListId"]
    for service in ("s3", "dynamodb"):  # a moto without managed lists: any stable id will do
        found.setdefault(service, f"pl-{service}0000000000")
    return found


def _permission(
    rule: declared.RuleDecl, group_ids: dict[str, str], prefix_lists: dict[str, str]
) -> dict[str, Any]:
    permission: dict[str, Any] = {"IpProtocol": rule.protocol, "FromPort": rule.port, "ToPort": rule.port}
    if rule.peer_group is not None:
        permission["UserIdGroupPairs"] = [
            {"GroupId": group_ids[rule.peer_group], "Description": rule.description}
        ]
    elif rule.peer_prefix_list is not None:
        permission["PrefixListIds"] = [
            {"PrefixListId": prefix_lists[rule.peer_prefix_list], "Description": rule.description}
        ]
    return permission


def _code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return None\n")
    return buffer.getvalue()


def deploy(
    endpoint_url: str | None = None,
    *,
    name: str | None = None,
    environment: dict[str, dict[str, str]] | None = None,
    api_base_url: str = "https://example.invalid/api",
) -> Deployment:
    """Create one deployment's resources; ``environment`` overrides variables per function.

    ``endpoint_url`` None: boto3 uses ``AWS_ENDPOINT_URL`` from the environment (the moto server).
    """
    name = name or f"hokusai-{uuid.uuid4().hex[:8]}"

    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=endpoint_url)

    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.42.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2)
    ]
    group_ids: dict[str, str] = {}
    for group in declared.SECURITY_GROUPS:
        group_id = ec2.create_security_group(
            GroupName=f"{name}-{group.name}", Description=group.description, VpcId=vpc_id
        )["GroupId"]
        group_ids[group.name] = group_id
        # allowAllOutbound=false: drop EC2's default allow-all egress rule, as CDK does.
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
    prefix_lists = _prefix_lists(ec2)
    for rule in declared.RULES:
        permission = _permission(rule, group_ids, prefix_lists)
        if rule.direction == "ingress":
            ec2.authorize_security_group_ingress(GroupId=group_ids[rule.group], IpPermissions=[permission])
        else:
            ec2.authorize_security_group_egress(GroupId=group_ids[rule.group], IpPermissions=[permission])
    groups_with_egress = {rule.group for rule in declared.RULES if rule.direction == "egress"}
    for group_name, group_id in group_ids.items():
        if group_name not in groups_with_egress:
            placeholder = dict(CDK_DISALLOW_ALL_EGRESS)
            cidr = placeholder.pop("CidrIp")
            ec2.authorize_security_group_egress(
                GroupId=group_id,
                IpPermissions=[
                    {**placeholder, "IpRanges": [{"CidrIp": cidr, "Description": "Disallow all traffic"}]}
                ],
            )

    sm = client("secretsmanager")
    canary_api_key = new_api_key()
    secret_values = {
        "hf_token": "hf_" + secrets.token_urlsafe(24),
        "redis_auth": secrets.token_urlsafe(32),
        "canary_key": canary_api_key,
        "auth_cache_key": secrets.token_urlsafe(48),
    }
    secret_arns = {
        logical: sm.create_secret(Name=f"{name}/{logical}", SecretString=value)["ARN"]
        for logical, value in secret_values.items()
    }

    sns = client("sns")
    sqs = client("sqs")
    topic_arn = sns.create_topic(Name=f"{name}-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)

    parameter_name = f"/{name}/expected-state"
    iam = client("iam")
    role_arn = iam.create_role(
        RoleName=f"{name}-functions",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lambda_ = client("lambda")
    function_names = {function: f"{name}-{function}" for function in FUNCTION_ENV}
    deployment_values = _deployment_values(name, api_base_url, parameter_name, topic_arn)
    code = _code_zip()
    for function in FUNCTION_ENV:
        # As the stack does (hokusai.environment.function_environment): this deployment's own values,
        # the declared defaults for the rest, nothing the function does not read.
        readable = {variable.name for variable in read_by(function)}
        given = {
            **{variable: value for variable, value in deployment_values.items() if variable in readable},
            "POWERTOOLS_SERVICE_NAME": metric_names.service(metric_names.DEFAULT_PREFIX, function),
            **{variable: secret_arns[secret] for variable, secret in FUNCTION_SECRETS[function].items()},
        }
        env = function_environment(function, given)
        env.update((environment or {}).get(function, {}))
        arguments: dict[str, Any] = {
            "FunctionName": function_names[function],
            "Runtime": "python3.12",
            "Role": role_arn,
            "Handler": "handler.lambda_handler",
            "Code": {"ZipFile": code},
            "Environment": {"Variables": env},
            "Timeout": 30,
        }
        if function in IN_VPC:
            arguments["VpcConfig"] = {"SubnetIds": subnet_ids, "SecurityGroupIds": [group_ids["functions"]]}
        lambda_.create_function(**arguments)
    functions_doc = functions_section(function_names, secret_arns)

    document = declared.expected_state_document(group_ids, prefix_lists, functions_doc)
    client("ssm").put_parameter(
        Name=parameter_name, Value=json.dumps(document), Type="String", Tier="Advanced", Overwrite=True
    )
    return Deployment(
        endpoint_url=endpoint_url,
        name=name,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        group_ids=group_ids,
        prefix_lists=prefix_lists,
        secret_arns=secret_arns,
        function_names=function_names,
        parameter_name=parameter_name,
        topic_arn=topic_arn,
        queue_url=queue_url,
        document=document,
        canary_api_key=canary_api_key,
    )


def _deployment_values(name: str, api_base_url: str, parameter_name: str, topic_arn: str) -> dict[str, str]:
    """What this deployment gives its functions itself (names, URLs, the registry); every other
    variable gets its declared default through function_environment, as in the stack."""
    registry = {
        "21": {
            "repo_id": "hokusai/lead-scorer",
            "revision": "0" * 40,
            "filename": "model.skops",
            "sha256": "0" * 64,
            "version": "1.0.0",
            "name": "lead-scorer",
            "format": "skops",
        }
    }
    return {
        "POWERTOOLS_METRICS_NAMESPACE": metric_names.namespace(metric_names.DEFAULT_PREFIX),
        "KEYS_TABLE_NAME": f"{name}-keys",
        "REDIS_URL": f"rediss://{name}.cache.internal:6379/0",
        "MODEL_REGISTRY": json.dumps(registry),
        "MODEL_CACHE_DIR": "/mnt/models",
        "MODEL_BUCKET": f"{name}-models",
        "API_BASE_URL": api_base_url,
        "EXPECTED_STATE_PARAMETER": parameter_name,
        "ALERT_TOPIC_ARN": topic_arn,
        "CANARY_MODEL_ID": "21",
        # The pre-traffic hook's release versions (the stack names the versions it publishes).
        **{
            f"RELEASE_{function.upper()}_VERSION": (
                f"arn:aws:lambda:{REGION}:123456789012:function:{name}-{function}:1"
            )
            for function in ("authorizer", "predict", "health")
        },
    }
