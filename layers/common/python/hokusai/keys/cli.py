"""``hokusai keys create|revoke|list|show|set-plan|usage``: key management against the keys table.

create prints the new key once, on stdout, and stores only its SHA-256 digest. revoke marks the item
revoked (and deletes the L2 Redis entry when REDIS_URL is set; the keys table's stream does it
otherwise); every authorizer refuses the key within AUTH_REVOCATION_BOUND_SECONDS whatever Redis does.
list/show never print keys or full digests.

Input is checked before any AWS call, and a mistake gets one line and exit 2: ``--user`` (1 to
128 printable characters), ``--models`` (ids in the model registry, ``MODEL_REGISTRY`` when set, else
``model/registry.json`` in the current directory, or ``*`` alone), ``--expires-in-days`` (1 to
3650), the region (``AWS_REGION``, else ``AWS_DEFAULT_REGION``, else the profile's). A stored item
the listing cannot read is listed by key id with its problem, not a failed listing.

Per-key limits: create puts a companion API Gateway API key on the usage plan ``<prefix>-<plan>``
(``--plan``, default ``$HOKUSAI_PLAN``, else ``defaultPlan`` of ./cdk.json; ``--prefix``, default
``$HOKUSAI_PREFIX``, else ``prefix`` of ./cdk.json, else ``hokusai``) and records it on the key's
item; revoke deletes it. set-plan puts an active key on a plan (a key made before usage plans has
none, and API Gateway answers it 403), or moves it to another. The companion key's value is a secret
the authorizer answers as ``usageIdentifierKey``: never printed. See hokusai.keys.usage.

usage prints a key's requests per day against its plan's quota from API Gateway's usage records
(``--days``, default 7, at most 90; hokusai.keys.usage_report); a key on no plan says so.

Exit codes: 0 ok, 1 not found, 2 usage or configuration error, 3 AWS/Redis unavailable.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hokusai.config import RedisSettings
from hokusai.keys.format import short_digest
from hokusai.keys.revocation import revoke_key
from hokusai.keys.schema import ALL_MODELS
from hokusai.keys.store import KeyNotActive, KeyNotFound, KeyRecord, KeyStore, UnreadableItem

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
MAX_EXPIRY_DAYS = 3650  # ten years: a key that outlives that is a key nobody remembers
MAX_USER_CHARS = 128
MAX_DESCRIPTION_CHARS = 256
REGISTRY_FILE = Path("model") / "registry.json"
CDK_JSON = Path("cdk.json")


class UsageError(Exception):
    """A client's or operator's mistake: printed as one line, exit 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hokusai keys", description="Manage Hokusai API keys.")
    parser.add_argument("--table", help="keys table (default: $KEYS_TABLE_NAME)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key; prints it once")
    create.add_argument("--user", required=True, help="user id the key belongs to")
    # Required: a key scoped to every model is a decision to write down, never a default.
    create.add_argument(
        "--models",
        required=True,
        help='comma-separated model ids, or "*" for every model (say so explicitly)',
    )
    create.add_argument(
        "--expires-in-days", type=int, help=f"expiry in days, 1-{MAX_EXPIRY_DAYS} (default: never)"
    )
    create.add_argument("--description", default="")
    create.add_argument("--plan", help="usage plan (default: $HOKUSAI_PLAN, else defaultPlan of ./cdk.json)")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = sub.add_parser("revoke", help="revoke a key by key_id and drop its Redis entry")
    revoke.add_argument("key_id")
    listing = sub.add_parser("list", help="list keys (no secrets)")
    listing.add_argument("--user", help="only this user's keys")
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one key's details (no secret)")
    show.add_argument("key_id")
    show.add_argument("--json", action="store_true")
    set_plan = sub.add_parser(
        "set-plan", help="put an active key on a usage plan (a key made before plans, or another plan)"
    )
    set_plan.add_argument("key_id")
    set_plan.add_argument(
        "--plan", help="usage plan (default: $HOKUSAI_PLAN, else defaultPlan of ./cdk.json)"
    )
    usage = sub.add_parser("usage", help="a key's requests per day against its plan's quota")
    usage.add_argument("key_id")
    usage.add_argument("--days", type=int, default=7, help="days up to today (UTC), 1-90 (default: 7)")
    usage.add_argument("--json", action="store_true")
    for command in (create, revoke, listing, show, set_plan, usage):
        command.add_argument(
            "--table", help="keys table (default: $KEYS_TABLE_NAME)", default=argparse.SUPPRESS
        )
    for command in (create, revoke, set_plan, usage):
        command.add_argument(
            "--prefix", help="stack prefix of the usage plans (default: $HOKUSAI_PREFIX, cdk.json)"
        )
    return parser


def _printable(name: str, value: str, limit: int, *, empty_ok: bool = False) -> str:
    if not value.strip() and not empty_ok:
        raise UsageError(f"{name} must not be empty")
    if not value.isprintable():  # newlines, tabs, control characters: they would forge listing lines
        raise UsageError(f"{name} must be printable characters only (no newline or control character)")
    if len(value) > limit:
        raise UsageError(f"{name} must be at most {limit} characters (got {len(value)})")
    return value


def _registered_model_ids() -> set[str]:
    """The model ids keys may name: MODEL_REGISTRY when set, else model/registry.json here."""
    from hokusai.environment import ConfigError
    from hokusai.models.registry import VARIABLE, parse_registry

    raw = os.environ.get(VARIABLE)
    source = VARIABLE
    if raw is None or not raw.strip():
        if not REGISTRY_FILE.is_file():
            raise UsageError(
                f"no model registry to check --models against: set {VARIABLE} or run from the "
                f"checkout ({REGISTRY_FILE})"
            )
        raw, source = REGISTRY_FILE.read_text(encoding="utf-8"), str(REGISTRY_FILE)
    try:
        return set(parse_registry(raw, source))
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _models(value: str) -> list[str]:
    models = list(dict.fromkeys(m.strip() for m in value.split(",") if m.strip()))
    if not models:
        raise UsageError('--models needs at least one model id, or "*"')
    if ALL_MODELS in models:
        if len(models) > 1:
            raise UsageError('--models is "*" alone or a list of model ids, not both')
        return models
    known = _registered_model_ids()
    unknown = [m for m in models if m not in known]
    if unknown:
        shown = ", ".join(repr(m) for m in unknown)
        raise UsageError(
            f'--models: not in the model registry: {shown} (known: {", ".join(sorted(known))}, or "*")'
        )
    return models


def _expires_at(days: int | None) -> int | None:
    if days is None:
        return None
    if not 1 <= days <= MAX_EXPIRY_DAYS:
        raise UsageError(f"--expires-in-days must be between 1 and {MAX_EXPIRY_DAYS} (got {days})")
    return int(time.time()) + days * 86400


def _cdk_context(name: str) -> str | None:
    """``name`` from the context of ./cdk.json (run from the checkout), else None."""
    try:
        value = json.loads(CDK_JSON.read_text(encoding="utf-8")).get("context", {}).get(name)
    except (OSError, ValueError, AttributeError):
        return None
    return str(value) if isinstance(value, str) and value else None


def _plan(value: str | None) -> str:
    plan = value or os.environ.get("HOKUSAI_PLAN") or _cdk_context("defaultPlan")
    if not plan:
        raise UsageError("no usage plan: pass --plan, set HOKUSAI_PLAN or run from the checkout (cdk.json)")
    return _printable("--plan", plan, 31)


def _prefix(value: str | None) -> str:
    return value or os.environ.get("HOKUSAI_PREFIX") or _cdk_context("prefix") or "hokusai"


def _apigateway(region: str) -> Any:
    from hokusai.aws import OPERATOR, client

    return client("apigateway", OPERATOR, region)


def _create(args: argparse.Namespace, store: KeyStore, region: str) -> int:
    from hokusai.keys.format import new_key_id
    from hokusai.keys.usage import (
        CLI_CREATOR,
        PlanNotFound,
        create_usage_key,
        delete_usage_key,
        find_plan_id,
    )

    user = _printable("--user", args.user, MAX_USER_CHARS)
    description = _printable("--description", args.description, MAX_DESCRIPTION_CHARS, empty_ok=True)
    expires_at = _expires_at(args.expires_in_days)
    models = _models(args.models)
    plan = _plan(args.plan)
    apigateway = _apigateway(region)
    try:
        plan_id = find_plan_id(apigateway, _prefix(args.prefix), plan)
    except PlanNotFound as error:
        raise UsageError(str(error)) from None
    key_id = new_key_id()
    usage_key = create_usage_key(apigateway, plan, plan_id, key_id, created_by=CLI_CREATOR)
    try:
        api_key, record = store.create(
            user, models, expires_at=expires_at, description=description, usage_key=usage_key, key_id=key_id
        )
    except Exception:
        delete_usage_key(apigateway, usage_key.key_id)  # no companion key without its hokusai key
        raise
    if args.json:
        print(json.dumps({"api_key": api_key, **_public(record)}))
    else:
        print(api_key)
        print(
            f"key_id {record.key_id} for user {record.user_id}, models {','.join(record.models)}, "
            f"plan {plan}. The key is shown only this once: store it now.",
            file=sys.stderr,
        )
    return EXIT_OK


def _set_plan(args: argparse.Namespace, store: KeyStore, region: str) -> int:
    """A new companion key on the plan, recorded on the key's item (the keys table's stream then drops
    the key's Redis entry; no authorizer keeps a copy longer than AUTH_REVOCATION_BOUND_SECONDS). A
    previous companion key is left in place for that long: deleting it at once would answer the
    key's requests 403 from authorizers that still hold it."""
    from hokusai.keys.usage import (
        CLI_CREATOR,
        PlanNotFound,
        create_usage_key,
        delete_usage_key,
        find_plan_id,
    )

    plan = _plan(args.plan)
    record = store.find_by_key_id(args.key_id)
    if not record.is_usable():
        raise UsageError(
            str(KeyNotActive(record.key_id, "expired" if record.status == "active" else record.status))
        )
    if record.plan == plan and record.usage_key_id:
        print(f"key_id {record.key_id} is already on plan {plan}")
        return EXIT_OK
    apigateway = _apigateway(region)
    try:
        plan_id = find_plan_id(apigateway, _prefix(args.prefix), plan)
    except PlanNotFound as error:
        raise UsageError(str(error)) from None
    usage_key = create_usage_key(apigateway, plan, plan_id, record.key_id, created_by=CLI_CREATOR)
    try:
        previous = store.set_usage_key(record.key_id, usage_key)
    except KeyNotActive as error:
        delete_usage_key(apigateway, usage_key.key_id)
        raise UsageError(str(error)) from None
    except Exception:
        delete_usage_key(apigateway, usage_key.key_id)  # no companion key the item does not name
        raise
    print(
        f"key_id {record.key_id} (user {record.user_id}) is on plan {plan} (was: {previous.plan or 'none'}); "
        + _bound_sentence("authorizers apply it")
    )
    if previous.usage_key_id:
        print(
            f"its previous usage plan key {previous.usage_key_id} is left in place until no authorizer "
            f"names it; after AUTH_REVOCATION_BOUND_SECONDS: aws apigateway delete-api-key --api-key "
            f"{previous.usage_key_id}"
        )
    return EXIT_OK


def _revoke(args: argparse.Namespace, store: KeyStore, region: str) -> int:
    from hokusai.keys.usage import delete_usage_key

    redis_settings, problem = _redis_for_operator()
    revocation = revoke_key(store, args.key_id, redis_settings)
    record = revocation.record
    usage = ""
    if record.usage_key_id:
        try:
            gone = delete_usage_key(_apigateway(region), record.usage_key_id)
            usage = "; usage plan key deleted" if gone else "; usage plan key was already deleted"
        except Exception as error:
            from hokusai.aws import error_code

            usage = (
                f"; usage plan key {record.usage_key_id} NOT deleted "
                f"({error_code(error) or type(error).__name__}): the key is revoked all the same; "
                f"delete it with: aws apigateway delete-api-key --api-key {record.usage_key_id}"
            )
    print(f"revoked {record.key_id} (user {record.user_id}); {problem or revocation.message}{usage}")
    print(_bound_sentence("every authorizer refuses it"))
    return EXIT_OK


def _usage(args: argparse.Namespace, store: KeyStore, region: str) -> int:
    from hokusai.aws import error_code
    from hokusai.keys.usage import PlanNotFound, find_plan_id
    from hokusai.keys.usage_report import MAX_DAYS, KeyOnNoPlan, read_usage, render

    if not 1 <= args.days <= MAX_DAYS:
        raise UsageError(f"--days must be 1 to {MAX_DAYS} (got {args.days})")
    record = store.find_by_key_id(args.key_id)
    if not record.usage_key_id or not record.plan:
        print(str(KeyOnNoPlan(record)))
        return EXIT_OK
    apigateway, prefix = _apigateway(region), _prefix(args.prefix)
    try:
        plan_id = find_plan_id(apigateway, prefix, record.plan)
        report = read_usage(
            apigateway, record, prefix, plan_id, days=args.days, today=datetime.now(UTC).date()
        )
    except PlanNotFound as error:
        raise UsageError(str(error)) from None
    except Exception as error:
        print(
            f"error: API Gateway's usage records of key_id {record.key_id} (usage plan key "
            f"{record.usage_key_id}) could not be read: {error_code(error) or type(error).__name__}. "
            "The local stack's moto does not implement GetUsage; a deployment's role needs "
            "apigateway:GET on /usageplans/*",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    print(json.dumps(report.to_dict()) if args.json else "\n".join(render(report)))
    return EXIT_OK


def _bound_sentence(what: str) -> str:
    """The revocation bound as the deployment declares it (hokusai/environment.py), in one line."""
    from hokusai.environment import read

    bound = read("AUTH_REVOCATION_BOUND_SECONDS")
    return f"{what} within {bound} s (AUTH_REVOCATION_BOUND_SECONDS), whatever its Redis cache does"


def _public(record: KeyRecord) -> dict[str, Any]:
    expires = record.expires_at
    return {
        "key_id": record.key_id,
        "user_id": record.user_id,
        "models": list(record.models),
        "status": "expired" if record.status == "active" and record.is_expired() else record.status,
        "created_at": record.created_at,
        "expires_at": datetime.fromtimestamp(expires, UTC).isoformat() if expires is not None else None,
        "description": record.description,
        "plan": record.plan or None,
        "digest": short_digest(record.key_hash),
    }


def _unreadable(item: UnreadableItem) -> dict[str, Any]:
    return {"key_id": item.key_id, "status": "unreadable", "problem": item.problem}


def _store(table: str, region: str) -> KeyStore:
    from hokusai.config import KeysTableSettings

    return KeyStore.from_settings(KeysTableSettings(table_name=table), region)


def _redis_for_operator() -> tuple[RedisSettings | None, str]:
    """REDIS_URL from the environment, with budgets fit for a terminal (it may be further away)."""
    from hokusai.config import ConfigError

    try:
        settings = RedisSettings.from_env()
    except ConfigError as error:
        return None, f"Redis entry not deleted ({error}); no authorizer trusts it past the revocation bound"
    if not settings.url:
        return None, ""
    return dataclasses.replace(settings, connect_timeout_ms=1000, timeout_ms=1000), ""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    table = args.table or (os.environ.get("KEYS_TABLE_NAME") or "").strip()
    if not table:
        print("error: no keys table: pass --table or set KEYS_TABLE_NAME", file=sys.stderr)
        return EXIT_USAGE
    from hokusai.aws import NoRegion, operator_region

    try:
        region = operator_region()
        store = _store(table, region)
        return _run(args, store, region)
    except (UsageError, NoRegion) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyNotFound as error:
        print(f"error: no key with key_id {error.args[0]!r} in table {table}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except Exception as error:  # botocore errors: name the problem, no traceback
        code = (
            getattr(error, "response", {}).get("Error", {}).get("Code")
            if hasattr(error, "response")
            else None
        )
        print(f"error: keys table {table}: {code or type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE


def _run(args: argparse.Namespace, store: KeyStore, region: str) -> int:
    if args.command == "create":
        return _create(args, store, region)
    if args.command == "revoke":
        return _revoke(args, store, region)
    if args.command == "set-plan":
        return _set_plan(args, store, region)
    if args.command == "usage":
        return _usage(args, store, region)
    if args.command == "show":
        found = store.find_item_by_key_id(args.key_id)
        public = _public(found) if isinstance(found, KeyRecord) else _unreadable(found)
        if args.json:
            print(json.dumps(public))
        else:
            for name, value in public.items():
                print(f"{name:12} {value}")
        return EXIT_OK
    return _list(store, args.user, as_json=args.json)


def _list(store: KeyStore, user: str | None, *, as_json: bool) -> int:
    records, unreadable = [], []
    for found in store.scan():
        if isinstance(found, UnreadableItem):
            unreadable.append(_unreadable(found))  # whose it is is unknown: listed with any --user
        elif user is None or found.user_id == user:
            records.append(_public(found))
    records.sort(key=lambda row: (row["user_id"], row["created_at"]))
    unreadable.sort(key=lambda row: row["key_id"])
    if as_json:
        print(json.dumps(records + unreadable))
        return EXIT_OK
    print(f"{'KEY_ID':22} {'USER':16} {'STATUS':8} {'MODELS':12} {'DIGEST':10} CREATED")
    for row in records:
        print(
            f"{row['key_id']:22} {row['user_id']:16} {row['status']:8} {','.join(row['models']):12} "
            f"{row['digest']:10} {row['created_at']}"
        )
    for row in unreadable:
        print(f"{row['key_id']:22} {'?':16} {'unreadable':8} {row['problem']}")
    return EXIT_OK
