"""The keys table's DynamoDB stream -> delete revoked (removed, changed) keys' Redis entries.

Runs in the VPC behind the functions security group (the authorizer's path to Redis: functions ->
redis on 6379, Secrets Manager through the interface endpoint for the auth token). The event source
mapping reports batch item failures: a record whose Redis entry could not be deleted is returned in
``batchItemFailures`` and retried (bisected, bounded attempts, then sent to the on-failure queue,
which is alarmed). Logic in ``hokusai.keys.revocation``; only key_ids and digest prefixes are logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai.aws import SECRET_AT_COLD_START, client
from hokusai.cache.redis_cache import connect
from hokusai.config import RevocationSettings
from hokusai.keys.revocation import StaleEntryPurger
from hokusai.observability import logger
from hokusai.startup import Startup


def _log_info(message: str, **fields: Any) -> None:
    logger.info(message, extra=fields)


def _build() -> StaleEntryPurger:
    settings = RevocationSettings.from_env()
    cache = connect(settings.redis, lambda: client("secretsmanager", SECRET_AT_COLD_START))
    return StaleEntryPurger(cache, settings.redis.key_prefix, _log_info)


# Built on the first record, not at import: reading the Redis token is network I/O. A failed build
# (token unreadable) fails the record, so it is retried; a ConfigError is logged once, naming the variable.
dependencies = Startup("revocation", _build, logger)
# Every record failing is answered the same way (all listed in batchItemFailures), not as an exception.
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def record_handler(record: DynamoDBRecord) -> None:
    try:
        dependencies.get().handle(record.raw_event)
    except Exception as error:  # reported in batchItemFailures by the processor: retried
        logger.warning(
            "Stream record failed: retried",
            extra={"event_id": record.event_id, "error": type(error).__name__, "detail": str(error)},
        )
        raise


@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # A TypedDict ({"batchItemFailures": [...]}), the partial batch response Lambda reads.
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
