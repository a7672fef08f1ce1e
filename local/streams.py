"""The keys table's DynamoDB stream on one machine: what Lambda's event source mapping does, in a thread.

A deployment feeds the stream to ``functions/revocation`` through an event source mapping
(``stacks/service_stack.py``: batch item failures reported, retried, then the on-failure queue). Here
:class:`StreamPoller` reads moto's stream (``dynamodbstreams`` DescribeStream, GetShardIterator,
GetRecords), gives the same handler the records in the Lambda event's shape (``eventSourceARN`` added,
``ApproximateCreationDateTime`` in epoch seconds, as ``tests/events/dynamodb_stream_revoke.json``), and
retries from the first failed record (``batchItemFailures``) until it is accepted, as the mapping does
(``MaximumRetryAttempts`` -1: a delete is never dropped while Redis is down), saying so once per
``STALLED_LOG_EVERY`` failed attempts. So ``make dev`` revokes like a deployment: ``hokusai keys
revoke`` without ``REDIS_URL`` still deletes the Redis entry, within about a poll interval.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from local.handlers import LambdaContext

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]

POLL_SECONDS = 0.2
STALLED_LOG_EVERY = 10  # failed attempts between two "still retrying" lines (never silent, never a flood)
MAX_BACKOFF_SECONDS = 2.0
BATCH_SIZE = 100


def lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it (the JSON a handler receives)."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": change, "eventSourceARN": stream_arn}


class StreamPoller:
    """Feeds one table's stream to ``handler`` (``lambda_handler(event, context)``) from a thread.

    Starts at the stream's latest position (the table is new, as a stack's first deploy is).
    ``log(line)`` is told of dropped batches; records are never logged (they hold digests).
    """

    def __init__(
        self,
        dynamodb: Any,
        streams: Any,
        table_name: str,
        handler: Handler,
        *,
        log: Callable[[str], None] = lambda _line: None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._dynamodb = dynamodb
        self._streams = streams
        self._handler = handler
        self._log = log
        self._poll_seconds = poll_seconds
        self.stream_arn: str = dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._iterators: dict[str, str] = {}
        self.delivered = 0  # records the handler accepted (tests wait on it)
        self.failed_attempts = 0

    def start(self) -> StreamPoller:
        for shard in self._shards():
            self._iterators[shard] = self._iterator(shard, "LATEST")
        self._thread = threading.Thread(target=self._run, name="keys-stream-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # ---------------------------------------------------------------------------------------------
    def _shards(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description["Shards"]]

    def _iterator(self, shard: str, kind: str, sequence: str | None = None) -> str:
        arguments: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "ShardId": shard,
            "ShardIteratorType": kind,
        }
        if sequence is not None:
            arguments["SequenceNumber"] = sequence
        return str(self._streams.get_shard_iterator(**arguments)["ShardIterator"])

    def _run(self) -> None:
        while not self._stop.wait(self._poll_seconds):
            for shard in list(self._iterators):
                # moto stopped (the stack is stopping) or a transient error: the next poll tries again.
                with contextlib.suppress(Exception):
                    self._poll(shard)

    def _poll(self, shard: str) -> None:
        page = self._streams.get_records(ShardIterator=self._iterators[shard], Limit=BATCH_SIZE)
        records = [lambda_record(record, self.stream_arn) for record in page.get("Records", [])]
        if records:
            self._deliver(shard, records)
        if page.get("NextShardIterator"):
            self._iterators[shard] = page["NextShardIterator"]
        else:  # the shard was closed
            del self._iterators[shard]

    def _deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        """Invoke until every record is accepted; after a failure, retry from the first failed record
        (the mapping's partial-batch semantics), until accepted or the poller stops."""
        pending = records
        attempt = 0
        while True:
            try:
                response = self._handler({"Records": pending}, LambdaContext())
                failures = [item["itemIdentifier"] for item in response.get("batchItemFailures") or []]
            except Exception:  # a function error: the whole batch is retried
                failures = [pending[0]["dynamodb"]["SequenceNumber"]]
            if not failures:
                self.delivered += len(pending)
                return
            attempt += 1
            self.failed_attempts += 1
            first = min(failures, key=int)
            accepted = [r for r in pending if int(r["dynamodb"]["SequenceNumber"]) < int(first)]
            self.delivered += len(accepted)
            pending = pending[len(accepted) :]
            if attempt % STALLED_LOG_EVERY == 0:
                self._log(
                    f"keys stream: {len(pending)} record(s) not handled after {attempt} attempts, retrying "
                    "until Redis answers (a deployment's revocation-stalled alarm fires after 5 minutes)"
                )
            if self._stop.wait(min(MAX_BACKOFF_SECONDS, 0.1 * 2**attempt)):
                return
