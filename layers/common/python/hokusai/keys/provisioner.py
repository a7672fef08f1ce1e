"""The canary's API key as a CloudFormation custom resource (``functions/canary_key``).

One deploy leaves a working canary: the stack's ``CanaryKey`` resource creates a key for user
``canary`` with :meth:`KeyStore.create` (only its SHA-256 digest reaches the keys table), puts the key
into the canary key secret and reports only the key id. The key never appears in a template, an
output, the response to CloudFormation (``NoEcho``, ``Data`` holds ``KeyId`` only), a log line or an
exception message.

Requests (properties ``TableName``, ``SecretArn``, ``ModelIds``, ``Rotation``):

- **Create**: new key, into the secret; PhysicalResourceId = the key id.
- **Update** with a changed property (``Rotation`` from the ``canaryKeyRotation`` context, which a
  platform team increments to rotate, or another table, secret or model list): a new key, into the
  secret, and the *new* key id as PhysicalResourceId. CloudFormation reads the changed id as a
  replacement and, in ``UPDATE_COMPLETE_CLEANUP_IN_PROGRESS`` at the end of the same deploy, sends
  **Delete** for the old key id, which revokes it. So during the deploy the old key stays active
  until the canary's secret already holds the new one: the canary never reads a revoked key. An
  Update that changes none of the four (e.g. only ``ServiceToken``) keeps the key and its id.
- **Delete**: revoke the key id (idempotent). An unknown id, an id that is not a key id (the marker
  a failed Create returns) or a keys table that no longer exists succeed: there is nothing to revoke,
  and failing would only wedge the stack in ``DELETE_FAILED``.

Rollback: if the deploy fails after this resource was updated, CloudFormation sends another Update
with the old properties (new -> old). That is a property change like any other: a fresh key goes into
the secret, and the rollback cleanup sends Delete for the id the failed deploy created, which revokes
it. The secret therefore always ends with an active key; the key that was current before the failed
deploy may stay active without anyone holding it (its value was overwritten in the secret):
``hokusai keys list --user canary`` shows it, ``hokusai keys revoke <key_id>`` ends it.
If a Create fails, the marker PhysicalResourceId makes the Delete that CloudFormation sends next a
no-op; if putting the secret fails after the key was created, the new key is revoked at once, so no
key exists that nobody holds.

Errors answer FAILED with a Reason naming the resource, the request and the error kind (the AWS
error code, or the exception type), never a key; the response is PUT to the pre-signed ResponseURL
in every case, because CloudFormation otherwise waits for the service timeout.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from hokusai.keys.format import new_key_id
from hokusai.keys.store import KeyNotFound, KeyStore
from hokusai.keys.usage import canary_key_creator, create_usage_key, delete_usage_key
from hokusai.observability import redact

CANARY_USER = "canary"
MANAGED_DESCRIPTION = "managed by stack"
# What a failed Create reports as its PhysicalResourceId: never a key id, so its Delete is a no-op.
FAILED_CREATE_MARKER = "canary-key-not-created"
PROPERTIES = ("TableName", "SecretArn", "ModelIds", "Rotation")
# Optional: the usage plan the canary's companion API Gateway key joins (the authorized methods require
# one: hokusai.keys.usage). A change makes a new key, like any of the four above.
PLAN_PROPERTIES = ("UsagePlanId", "UsagePlan")
_KEY_ID = re.compile(r"key_[0-9a-f]{16}")
RESPONSE_ATTEMPTS = 3
RESPONSE_TIMEOUT_SECONDS = 10


class Log(Protocol):
    def info(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


class InvalidProperties(ValueError):
    pass


@dataclass(frozen=True)
class CanaryKeyProperties:
    table_name: str
    secret_arn: str
    model_ids: tuple[str, ...]
    rotation: str
    usage_plan_id: str = ""
    usage_plan: str = ""

    @classmethod
    def from_event(cls, properties: Mapping[str, Any] | None) -> CanaryKeyProperties:
        properties = properties or {}
        missing = [name for name in PROPERTIES if properties.get(name) in (None, "", [])]
        if missing:
            raise InvalidProperties(f"missing properties {', '.join(missing)}")
        models = properties["ModelIds"]
        if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
            raise InvalidProperties("ModelIds must be a list of model ids")
        # CloudFormation hands every scalar to the provider as a string; compare them as strings.
        return cls(
            table_name=str(properties["TableName"]),
            secret_arn=str(properties["SecretArn"]),
            model_ids=tuple(models),
            rotation=str(properties["Rotation"]),
            usage_plan_id=str(properties.get("UsagePlanId") or ""),
            usage_plan=str(properties.get("UsagePlan") or ""),
        )


def provision_canary_key(
    store: KeyStore,
    secrets_client: Any,
    secret_arn: str,
    model_ids: Sequence[str],
    *,
    apigateway: Any = None,
    usage_plan_id: str = "",
    usage_plan: str = "",
) -> str:
    """Create a canary key, put it into the secret and return only its key id.

    With ``usage_plan_id``, the key gets its companion API Gateway key on that plan first (as
    ``hokusai keys create --plan`` does). Shared by the custom resource and the local stack
    (``make dev``), so both make the same key.
    """
    key_id = new_key_id()
    usage_key = (
        create_usage_key(
            apigateway,
            usage_plan or usage_plan_id,
            usage_plan_id,
            key_id,
            created_by=canary_key_creator(usage_plan_id),
        )
        if usage_plan_id
        else None
    )
    try:
        api_key, record = store.create(
            CANARY_USER,
            list(model_ids),
            description=MANAGED_DESCRIPTION,
            usage_key=usage_key,
            key_id=key_id,
        )
    except Exception:
        if usage_key is not None:
            with contextlib.suppress(Exception):  # the store error is the one to report
                delete_usage_key(apigateway, usage_key.key_id)
        raise
    try:
        secrets_client.put_secret_value(SecretId=secret_arn, SecretString=api_key)
    except Exception:
        # Nobody holds this key now: revoke it rather than leave an active orphan (best effort; the
        # original error is what the caller reports).
        with contextlib.suppress(Exception):  # the put error is the one the caller must report
            revoke_canary_key(store, record.key_id, apigateway)
        raise
    return record.key_id


def revoke_canary_key(store: KeyStore, key_id: str, apigateway: Any = None) -> bool:
    """Revoke ``key_id`` (and delete its companion usage plan key); False (and no error) when there
    is nothing to revoke."""
    if not _KEY_ID.fullmatch(key_id or ""):
        return False
    try:
        record = store.revoke(key_id)
        if record.usage_key_id and apigateway is not None:
            delete_usage_key(apigateway, record.usage_key_id)
    except KeyNotFound:
        return False
    except Exception as error:
        if error_kind(error) == "ResourceNotFoundException":  # the table is gone, and its keys with it
            return False
        raise
    return True


def error_kind(error: BaseException) -> str:
    """The AWS error code (botocore ClientError), else the exception's type name."""
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


def _properties_changed(event: Mapping[str, Any]) -> bool:
    new, old = event.get("ResourceProperties") or {}, event.get("OldResourceProperties") or {}
    return any(
        json.dumps(new.get(name), sort_keys=True, default=str)
        != json.dumps(old.get(name), sort_keys=True, default=str)
        for name in PROPERTIES + PLAN_PROPERTIES
    )


@dataclass(frozen=True)
class Outcome:
    status: str  # SUCCESS | FAILED
    physical_resource_id: str
    reason: str = ""
    data: Mapping[str, str] | None = None


def handle(
    event: Mapping[str, Any],
    *,
    store_for: Callable[[str], KeyStore],
    secrets_client: Any,
    logger: Log,
    apigateway: Any = None,
) -> Outcome:
    """Carry out one custom-resource request; never raises (errors become FAILED outcomes)."""
    request = str(event.get("RequestType", ""))
    logical_id = str(event.get("LogicalResourceId", "CanaryKey"))
    current_id = str(event.get("PhysicalResourceId") or "")
    # A failed Create must not report an id that a later Delete would revoke.
    fallback_id = current_id or FAILED_CREATE_MARKER
    try:
        if request == "Delete" and not _KEY_ID.fullmatch(current_id):
            # The marker of a failed Create (whatever its properties were): nothing was made.
            logger.info("Canary key delete: nothing to revoke", extra={"physical_id": current_id})
            return Outcome("SUCCESS", current_id or FAILED_CREATE_MARKER)
        properties = CanaryKeyProperties.from_event(event.get("ResourceProperties"))
        if request == "Delete":
            revoked = revoke_canary_key(store_for(properties.table_name), current_id, apigateway)
            logger.info(
                "Canary key revoked" if revoked else "Canary key delete: nothing to revoke",
                extra={"key_id": current_id, "request_type": request, "revoked": revoked},
            )
            return Outcome("SUCCESS", current_id or FAILED_CREATE_MARKER)
        if request == "Update" and not _properties_changed(event):
            logger.info("Canary key unchanged", extra={"key_id": current_id, "request_type": request})
            return Outcome("SUCCESS", current_id, data={"KeyId": current_id})
        if request not in ("Create", "Update"):
            raise InvalidProperties(f"unknown RequestType {request!r}")
        key_id = provision_canary_key(
            store_for(properties.table_name),
            secrets_client,
            properties.secret_arn,
            properties.model_ids,
            apigateway=apigateway,
            usage_plan_id=properties.usage_plan_id,
            usage_plan=properties.usage_plan,
        )
        logger.info(
            "Canary key created and stored in its secret",
            extra={
                "key_id": key_id,
                "request_type": request,
                "replaces": current_id or None,
                "rotation": properties.rotation,
                "models": list(properties.model_ids),
            },
        )
        return Outcome("SUCCESS", key_id, data={"KeyId": key_id})
    except Exception as error:
        kind = error_kind(error)
        detail = redact(str(error))[:300]
        reason = f"{logical_id} {request or 'request'} failed: {kind}: {detail}"
        logger.error("Canary key request failed", extra={"request_type": request, "error_kind": kind})
        return Outcome("FAILED", fallback_id, reason=reason)


def response_body(event: Mapping[str, Any], outcome: Outcome) -> bytes:
    """The JSON CloudFormation expects at the ResponseURL."""
    body: dict[str, Any] = {
        "Status": outcome.status,
        "Reason": outcome.reason or outcome.status,
        "PhysicalResourceId": outcome.physical_resource_id,
        "StackId": event.get("StackId"),
        "RequestId": event.get("RequestId"),
        "LogicalResourceId": event.get("LogicalResourceId"),
        "NoEcho": True,  # nothing secret is in Data, but keep it out of describe-stack output anyway
        "Data": dict(outcome.data or {}),
    }
    return json.dumps(body).encode("utf-8")


def send_response(url: str, body: bytes, *, attempts: int = RESPONSE_ATTEMPTS, sleep: float = 1.0) -> None:
    """PUT ``body`` to the pre-signed S3 URL; raises after ``attempts`` failures."""
    for attempt in range(1, attempts + 1):
        # The URL is signed without a Content-Type: an empty one keeps urllib from adding its own.
        request = urllib.request.Request(  # noqa: S310 - CloudFormation's https pre-signed URL
            url, data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
        )
        try:
            with urllib.request.urlopen(request, timeout=RESPONSE_TIMEOUT_SECONDS) as reply:  # noqa: S310
                reply.read()
            return
        except Exception:
            if attempt == attempts:
                raise
            time.sleep(sleep * attempt)
