"""Logger, tracer and Metrics singletons: the one observability module every function uses.

The tracer is ``hokusai.tracing``'s (the OpenTelemetry API when ``HOKUSAI_TRACING`` is on, nothing
otherwise), not Powertools' Tracer: that one wraps the X-Ray SDK (end of support 2027-02-25) and
imports it at construction even with tracing disabled.

The service name comes from ``POWERTOOLS_SERVICE_NAME`` (one per function, set by the stack), the
metrics namespace from ``POWERTOOLS_METRICS_NAMESPACE`` (default ``Hokusai``).

Defence in depth for secrets: every line the logger writes passes through :class:`RedactingFormatter`,
which masks anything shaped like an API key in the finished JSON line: the message (a string, or a
dict or list as Powertools' ``log_event`` writes the whole event), ``extra`` fields at any depth, keys
appended with ``append_keys`` and exception text alike, so a future ``logger.info(headers)`` cannot
leak one. Handlers also pin ``log_event=False``. Code must still never log a key: tests capture the
logs of every auth path, with ``POWERTOOLS_LOGGER_LOG_EVENT=true``, and assert the raw key is absent.
"""

from __future__ import annotations

import logging
import os
import re
import sys

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from hokusai import metric_names, snapstart
from hokusai.tracing import tracer

__all__ = [
    "API_KEY_PATTERN",
    "NAMESPACE",
    "RedactApiKeys",
    "RedactingFormatter",
    "logger",
    "metrics",
    "redact",
    "reset_after_restore",
    "tracer",
]

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", metric_names.NAMESPACE)

# hk_ followed by the url-safe alphabet; short tails are masked too (a truncated key is still secret).
API_KEY_PATTERN = re.compile(r"hk_[A-Za-z0-9_\-]{4,}")


def redact(text: str) -> str:
    return API_KEY_PATTERN.sub("hk_***", text)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with every API key in the finished line masked (key characters
    need no JSON escaping, so the key appears verbatim wherever it was)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactApiKeys(logging.Filter):
    """Masks keys in plain-string messages, arguments and string attributes of a record, for handlers
    other than the logger's own (whose :class:`RedactingFormatter` masks the whole line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in {"msg", "name", "levelname", "pathname", "filename"}:
                setattr(record, name, redact(value))
        return True


logger = Logger(log_uncaught_exceptions=False, logger_formatter=RedactingFormatter())
logger.addFilter(RedactApiKeys())
metrics = Metrics(namespace=NAMESPACE)


def reset_after_restore() -> None:
    """SnapStart: a restored copy is a new container to its callers. Powertools' three cold-start
    flags (Logger's ``cold_start`` key, the tracer's ``faas.coldstart`` attribute, Metrics' ``ColdStart``
    metric) are set again, so each copy's first invocation reports the cold start it is (whether or
    not anything ran a decorated handler before the snapshot); metrics buffered at snapshot time are
    dropped (every copy would emit them again), and so is the correlation id and the cached Lambda
    metadata (a copy may run in another availability zone)."""
    from aws_lambda_powertools.logging import logger as logger_module
    from aws_lambda_powertools.metrics.provider import cold_start

    logger_module.is_cold_start = True
    tracer.reset_cold_start()
    cold_start.reset_cold_start_flag()
    metrics.clear_metrics()
    logger.set_correlation_id(None)
    metadata = sys.modules.get("aws_lambda_powertools.utilities.metadata.lambda_metadata")
    if metadata is not None:  # loaded only by code that asked for it: nothing to clear otherwise
        metadata.clear_metadata_cache()


snapstart.use_logger(logger)
snapstart.on_restore("powertools", reset_after_restore)


def count_server_error(status_code: int) -> None:
    """One ``ServerErrorsByVersion`` for a 5xx answer, in its own EMF record with the version that
    answered (``AWS_LAMBDA_FUNCTION_VERSION``, set by Lambda): the rollout's alarms watch only the
    version being deployed (stacks/rollout.py). A separate record, so the request's other metrics keep
    their one ``service`` dimension and the alarms on them stay as they are."""
    if status_code < 500:
        return
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    dimensions = {
        metric_names.SERVICE_DIMENSION: os.environ.get("POWERTOOLS_SERVICE_NAME", "hokusai"),
        metric_names.VERSION_DIMENSION: os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
    }
    with single_metric(
        name=metric_names.SERVER_ERRORS_BY_VERSION,
        unit=MetricUnit.Count,
        value=1,
        namespace=NAMESPACE,
        default_dimensions=dimensions,
    ):
        pass
