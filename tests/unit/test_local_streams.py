"""local/streams.py: GetRecords records become the Lambda event's records; failures are retried from
the first failed record, as the event source mapping does."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from local.handlers import load_event
from local.streams import StreamPoller, lambda_record

ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/2026-12-03T09:00:00.000"


def get_records_record(sequence: str = "1") -> dict[str, Any]:
    """What boto3's GetRecords returns: no eventSourceARN, the creation time parsed to a datetime."""
    (recorded,) = copy.deepcopy(load_event("dynamodb_stream_revoke.json")["Records"])
    del recorded["eventSourceARN"]
    recorded["dynamodb"]["ApproximateCreationDateTime"] = datetime(2026, 12, 3, 9, 30, 2, tzinfo=UTC)
    recorded["dynamodb"]["SequenceNumber"] = sequence
    return dict(recorded)


def test_records_take_the_recorded_lambda_event_shape() -> None:
    (recorded,) = load_event("dynamodb_stream_revoke.json")["Records"]
    record = lambda_record(get_records_record(), ARN)
    assert set(record) == set(recorded)
    assert set(record["dynamodb"]) == set(recorded["dynamodb"])
    assert record["eventSourceARN"] == ARN
    assert record["dynamodb"]["ApproximateCreationDateTime"] == 1796290202.0


class FakeStreams:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def describe_stream(self, StreamArn: str) -> dict[str, Any]:
        return {"StreamDescription": {"Shards": [{"ShardId": "shard-1"}]}}

    def get_shard_iterator(self, **_: Any) -> dict[str, Any]:
        return {"ShardIterator": "it-0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        records, self.records = self.records, []
        return {"Records": records, "NextShardIterator": "it-1"}


class FakeDynamoDB:
    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {"LatestStreamArn": ARN}}


def test_a_failed_record_is_retried_from_itself_and_earlier_ones_are_not_resent() -> None:
    calls: list[list[str]] = []

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        calls.append(sequences)
        if len(calls) == 1:
            return {"batchItemFailures": [{"itemIdentifier": "2"}]}
        return {"batchItemFailures": []}

    streams = FakeStreams([get_records_record(str(n)) for n in (1, 2, 3)])
    poller = StreamPoller(FakeDynamoDB(), streams, "t", handler, poll_seconds=0.01)
    poller._iterators["shard-1"] = "it-0"
    poller._poll("shard-1")
    assert calls == [["1", "2", "3"], ["2", "3"]]
    assert poller.delivered == 3 and poller.failed_attempts == 1


def test_a_batch_failing_is_retried_until_accepted_and_said_every_ten_attempts_without_records() -> None:
    lines: list[str] = []
    streams = FakeStreams([get_records_record("7")])
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "7"}]}] * 25 + [{"batchItemFailures": []}])
    poller = StreamPoller(
        FakeDynamoDB(), streams, "t", lambda _event, _context: next(answers), log=lines.append
    )
    poller._stop.wait = lambda _timeout=None: False  # type: ignore[method-assign]  # no back-off sleeps
    poller._iterators["shard-1"] = "it-0"
    poller._poll("shard-1")
    assert poller.failed_attempts == 25 and poller.delivered == 1
    assert lines == [
        f"keys stream: 1 record(s) not handled after {attempts} attempts, retrying until Redis answers "
        "(a deployment's revocation-stalled alarm fires after 5 minutes)"
        for attempts in (10, 20)
    ]
    assert "aed7248e" not in "".join(lines)


def test_a_stopping_poller_stops_retrying() -> None:
    streams = FakeStreams([get_records_record("7")])
    calls: list[int] = []

    def failing(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        calls.append(1)
        return {"batchItemFailures": [{"itemIdentifier": "7"}]}

    poller = StreamPoller(FakeDynamoDB(), streams, "t", failing)
    poller._stop.wait = lambda _timeout=None: len(calls) >= 3  # type: ignore[method-assign]
    poller._iterators["shard-1"] = "it-0"
    poller._poll("shard-1")
    assert len(calls) == 3 and poller.delivered == 0
