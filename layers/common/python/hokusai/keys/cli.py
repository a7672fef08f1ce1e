"""``hokusai keys create|revoke|list|show``: key management against the keys table.

create prints the new key once, on stdout, and stores only its SHA-256 digest. revoke marks the item
revoked and deletes the L2 Redis entry (REDIS_URL, if set), so only the L1 TTL (per container)
bounds how long a revoked key keeps working. list/show never print keys or full digests.

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
from typing import Any

from hokusai.config import RedisSettings
from hokusai.keys.format import short_digest
from hokusai.keys.revocation import revoke_key
from hokusai.keys.store import KeyNotFound, KeyRecord, KeyStore

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hokusai keys", description="Manage Hokusai API keys.")
    parser.add_argument("--table", help="keys table (default: $KEYS_TABLE_NAME)")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="create a key; prints it once")
    create.add_argument("--user", required=True, help="user id the key belongs to")
    create.add_argument("--models", default="*", help='comma-separated model ids, or "*" (default)')
    create.add_argument("--expires-in-days", type=int, help="expiry in days (default: never)")
    create.add_argument("--description", default="")
    create.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = sub.add_parser("revoke", help="revoke a key by key_id and drop its Redis entry")
    revoke.add_argument("key_id")
    listing = sub.add_parser("list", help="list keys (no secrets)")
    listing.add_argument("--user", help="only this user's keys")
    listing.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="one key's details (no secret)")
    show.add_argument("key_id")
    show.add_argument("--json", action="store_true")
    for command in (create, revoke, listing, show):
        command.add_argument(
            "--table", help="keys table (default: $KEYS_TABLE_NAME)", default=argparse.SUPPRESS
        )
    return parser


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
        "digest": short_digest(record.key_hash),
    }


def _store(table: str) -> KeyStore:
    from hokusai.config import KeysTableSettings

    return KeyStore.from_settings(KeysTableSettings(table_name=table))


def _redis_for_operator() -> tuple[RedisSettings | None, str]:
    """REDIS_URL from the environment, with budgets fit for a terminal (it may be further away)."""
    from hokusai.config import ConfigError

    try:
        settings = RedisSettings.from_env()
    except ConfigError as error:
        return None, f"Redis entry not deleted ({error}); it expires within the L2 TTL"
    if not settings.url:
        return None, ""
    return dataclasses.replace(settings, connect_timeout_ms=1000, timeout_ms=1000), ""


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    table = args.table or (os.environ.get("KEYS_TABLE_NAME") or "").strip()
    if not table:
        print("error: no keys table: pass --table or set KEYS_TABLE_NAME", file=sys.stderr)
        return EXIT_USAGE
    store = _store(table)
    try:
        return _run(args, store)
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


def _run(args: argparse.Namespace, store: KeyStore) -> int:
    if args.command == "create":
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            print('error: --models needs at least one model id, or "*"', file=sys.stderr)
            return EXIT_USAGE
        if args.expires_in_days is not None and args.expires_in_days <= 0:
            print("error: --expires-in-days must be positive", file=sys.stderr)
            return EXIT_USAGE
        expires_at = int(time.time()) + args.expires_in_days * 86400 if args.expires_in_days else None
        api_key, record = store.create(args.user, models, expires_at=expires_at, description=args.description)
        if args.json:
            print(json.dumps({"api_key": api_key, **_public(record)}))
        else:
            print(api_key)
            print(
                f"key_id {record.key_id} for user {record.user_id}, models {','.join(record.models)}. "
                "The key is shown only this once: store it now.",
                file=sys.stderr,
            )
        return EXIT_OK
    if args.command == "revoke":
        redis_settings, problem = _redis_for_operator()
        revocation = revoke_key(store, args.key_id, redis_settings)
        record = revocation.record
        print(f"revoked {record.key_id} (user {record.user_id}); {problem or revocation.message}")
        return EXIT_OK
    if args.command == "show":
        public = _public(store.find_by_key_id(args.key_id))
        if args.json:
            print(json.dumps(public))
        else:
            for name, value in public.items():
                print(f"{name:12} {value}")
        return EXIT_OK
    rows = [_public(r) for r in store.scan() if args.user is None or r.user_id == args.user]
    rows.sort(key=lambda row: (row["user_id"], row["created_at"]))
    if args.json:
        print(json.dumps(rows))
        return EXIT_OK
    print(f"{'KEY_ID':22} {'USER':16} {'STATUS':8} {'MODELS':12} {'DIGEST':10} CREATED")
    for row in rows:
        print(
            f"{row['key_id']:22} {row['user_id']:16} {row['status']:8} {','.join(row['models']):12} "
            f"{row['digest']:10} {row['created_at']}"
        )
    return EXIT_OK
