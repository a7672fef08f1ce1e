"""The stateful stack keeps its promises: isolated network, declared rules only, encrypted data."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match
from hokusai import declared
from hokusai.keys import schema

from tests.infra.conftest import Synthesized

STACK = "HokusaiStateful"


def _group_logical_ids(synthesized: Synthesized) -> dict[str, str]:
    """Logical group name (declared.py) -> CloudFormation logical id, by the group's description."""
    by_description = {
        resource["Properties"]["GroupDescription"]: logical_id
        for logical_id, resource in synthesized.resources(STACK, "AWS::EC2::SecurityGroup").items()
    }
    return {group.name: by_description[group.description] for group in declared.SECURITY_GROUPS}


def _rule_key(properties: dict[str, Any], direction: str, ids: dict[str, str]) -> tuple[Any, ...]:
    names = {logical_id: name for name, logical_id in ids.items()}
    group = names[properties["GroupId"]["Fn::GetAtt"][0]]
    peer_key = "SourceSecurityGroupId" if direction == "ingress" else "DestinationSecurityGroupId"
    prefix_key = "SourcePrefixListId" if direction == "ingress" else "DestinationPrefixListId"
    if peer_key in properties:
        peer = ("group", names[properties[peer_key]["Fn::GetAtt"][0]])
    else:
        lookup = properties[prefix_key]["Fn::GetAtt"][0]  # the prefix-list lookup custom resource
        peer = ("prefix_list", "s3" if lookup.startswith("S3PrefixList") else "dynamodb")
    return (
        group,
        direction,
        properties["IpProtocol"],
        properties["FromPort"],
        properties["ToPort"],
        peer,
        properties["Description"],
    )


def _declared_keys() -> set[tuple[Any, ...]]:
    return {
        (
            rule.group,
            rule.direction,
            rule.protocol,
            rule.port,
            rule.port,
            ("group", rule.peer_group) if rule.peer_group else ("prefix_list", rule.peer_prefix_list),
            rule.description,
        )
        for rule in declared.RULES
    }


def test_no_nat_gateway_no_internet_gateway_isolated_subnets_only(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    template.resource_count_is("AWS::EC2::NatGateway", 0)
    template.resource_count_is("AWS::EC2::InternetGateway", 0)
    template.resource_count_is("AWS::EC2::EIP", 0)
    subnets = synthesized.resources(STACK, "AWS::EC2::Subnet")
    assert len(subnets) == 2
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
        tags = {tag["Key"]: tag["Value"] for tag in subnet["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-type"] == "Isolated"
    for route in synthesized.resources(STACK, "AWS::EC2::Route").values():
        assert "GatewayId" not in route["Properties"] and "NatGatewayId" not in route["Properties"]


def test_gateway_endpoints_for_s3_and_dynamodb_and_secrets_manager_interface(
    synthesized: Synthesized,
) -> None:
    template = synthesized.templates[STACK]
    for service in ("s3", "dynamodb"):
        template.has_resource_properties(
            "AWS::EC2::VPCEndpoint",
            {
                "VpcEndpointType": "Gateway",
                "ServiceName": {
                    "Fn::Join": ["", Match.array_with([Match.string_like_regexp(f"\\.{service}$")])]
                },
            },
        )
    ids = _group_logical_ids(synthesized)
    template.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {
            "VpcEndpointType": "Interface",
            "ServiceName": {"Fn::Join": ["", Match.array_with([Match.string_like_regexp("secretsmanager")])]},
            "PrivateDnsEnabled": True,
            "SecurityGroupIds": [{"Fn::GetAtt": [ids["endpoints"], "GroupId"]}],
        },
    )
    template.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL"})


def test_security_group_rules_are_exactly_the_declared_ones(synthesized: Synthesized) -> None:
    ids = _group_logical_ids(synthesized)
    deployed = set()
    for direction, resource_type in (
        ("ingress", "AWS::EC2::SecurityGroupIngress"),
        ("egress", "AWS::EC2::SecurityGroupEgress"),
    ):
        for resource in synthesized.resources(STACK, resource_type).values():
            deployed.add(_rule_key(resource["Properties"], direction, ids))
    assert deployed == _declared_keys()
    total = len(synthesized.resources(STACK, "AWS::EC2::SecurityGroupIngress")) + len(
        synthesized.resources(STACK, "AWS::EC2::SecurityGroupEgress")
    )
    assert total == len(declared.RULES)
    # No inline rules beyond CDK's match-nothing placeholder on groups without allowAllOutbound.
    for group in synthesized.resources(STACK, "AWS::EC2::SecurityGroup").values():
        assert "SecurityGroupIngress" not in group["Properties"]
        for egress in group["Properties"].get("SecurityGroupEgress", []):
            assert egress["CidrIp"] == "255.255.255.255/32" and egress["IpProtocol"] == "icmp"


def test_redis_ingress_only_from_the_functions_group(synthesized: Synthesized) -> None:
    ids = _group_logical_ids(synthesized)
    redis_ingress = [
        resource["Properties"]
        for resource in synthesized.resources(STACK, "AWS::EC2::SecurityGroupIngress").values()
        if resource["Properties"]["GroupId"] == {"Fn::GetAtt": [ids["redis"], "GroupId"]}
    ]
    assert redis_ingress == [
        {
            "GroupId": {"Fn::GetAtt": [ids["redis"], "GroupId"]},
            "IpProtocol": "tcp",
            "FromPort": 6379,
            "ToPort": 6379,
            "SourceSecurityGroupId": {"Fn::GetAtt": [ids["functions"], "GroupId"]},
            "Description": "Functions to Redis: API-key cache (authorizer, health, revocation)",
        }
    ]
    synthesized.templates[STACK].has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {"SecurityGroupIds": [{"Fn::GetAtt": [ids["redis"], "GroupId"]}], "Port": 6379},
    )


def test_redis_tls_auth_token_encryption_and_multi_az(synthesized: Synthesized) -> None:
    synthesized.templates[STACK].has_resource_properties(
        "AWS::ElastiCache::ReplicationGroup",
        {
            "Engine": "redis",
            "TransitEncryptionEnabled": True,
            "AtRestEncryptionEnabled": True,
            "MultiAZEnabled": True,
            "AutomaticFailoverEnabled": True,
            "NumCacheClusters": 2,
            "AuthToken": {
                "Fn::Join": [
                    "",
                    Match.array_with([Match.string_like_regexp("^\\{\\{resolve:secretsmanager:")]),
                ]
            },
        },
    )
    outputs = synthesized.raw[STACK]["Outputs"]
    assert outputs["RedisUrl"]["Value"]["Fn::Join"][1][0] == "rediss://"


def test_model_bucket_tls_only_versioned_encrypted_private_logged(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "LoggingConfiguration": {
                "DestinationBucketName": Match.any_value(),
                "LogFilePrefix": "model-bucket/",
            },
        },
    )
    policies = synthesized.resources(STACK, "AWS::S3::BucketPolicy")
    assert len(policies) == 2  # the model bucket and its access-log bucket
    for policy in policies.values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        tls = [s for s in statements if s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}]
        assert len(tls) == 1
        assert tls[0]["Effect"] == "Deny" and tls[0]["Action"] == "s3:*"
        assert tls[0]["Principal"] == {"AWS": "*"}


def test_keys_table_follows_the_schema_with_pitr_on_demand(synthesized: Synthesized) -> None:
    synthesized.templates[STACK].has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": schema.KEY_HASH_ATTRIBUTE, "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": schema.KEY_ID_INDEX,
                    "KeySchema": [{"AttributeName": schema.KEY_ID_ATTRIBUTE, "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        },
    )
    synthesized.templates[STACK].has_resource("AWS::DynamoDB::Table", {"DeletionPolicy": "Retain"})


def test_efs_encrypted_with_an_access_point_in_the_efs_group(synthesized: Synthesized) -> None:
    template = synthesized.templates[STACK]
    ids = _group_logical_ids(synthesized)
    template.has_resource_properties("AWS::EFS::FileSystem", {"Encrypted": True})
    template.has_resource_properties(
        "AWS::EFS::AccessPoint",
        {
            "RootDirectory": Match.object_like({"Path": "/models"}),
            "PosixUser": {"Uid": "1000", "Gid": "1000"},
        },
    )
    for mount_target in synthesized.resources(STACK, "AWS::EFS::MountTarget").values():
        assert mount_target["Properties"]["SecurityGroups"] == [{"Fn::GetAtt": [ids["efs"], "GroupId"]}]


def test_four_secrets_redis_token_and_signing_key_generated(synthesized: Synthesized) -> None:
    secrets = synthesized.resources(STACK, "AWS::SecretsManager::Secret")
    assert len(secrets) == 4
    descriptions = " ".join(secret["Properties"]["Description"] for secret in secrets.values())
    for variable in (
        "REDIS_AUTH_SECRET_ARN",
        "HF_TOKEN_SECRET_ARN",
        "CANARY_KEY_SECRET_ARN",
        "AUTH_CACHE_KEY_SECRET_ARN",
    ):
        assert variable in descriptions
    synthesized.templates[STACK].has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Description": Match.string_like_regexp("AUTH_CACHE_KEY_SECRET_ARN"),
            "GenerateSecretString": {"ExcludePunctuation": True, "PasswordLength": 64},
        },
    )
    synthesized.templates[STACK].has_resource_properties(
        "AWS::SecretsManager::Secret",
        {
            "Description": Match.string_like_regexp("REDIS_AUTH_SECRET_ARN"),
            "GenerateSecretString": {"ExcludePunctuation": True, "PasswordLength": 64},
        },
    )
