"""Logger, Tracer and Metrics singletons: the one observability module every function uses.

The service name comes from ``POWERTOOLS_SERVICE_NAME`` (one per function, set by the stack), the
metrics namespace from ``POWERTOOLS_METRICS_NAMESPACE`` (default ``Hokusai``).

Defence in depth for secrets: every log record passes through :class:`RedactApiKeys`, which masks
anything shaped like an API key, so a future ``logger.info(headers)`` cannot leak one. Code must still
never log a key: tests capture the logs of every auth path and assert the raw key is absent.
"""

from __future__ import annotations

import logging
import os
import re

from aws_lambda_powertools import Logger, Metrics, Tracer

from hokusai import metric_names

__all__ = ["API_KEY_PATTERN", "NAMESPACE", "RedactApiKeys", "logger", "metrics", "redact", "tracer"]

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", metric_names.NAMESPACE)

# hk_ followed by the url-safe alphabet; short tails are masked too (a truncated key is still secret).
API_KEY_PATTERN = re.compile(r"hk_[A-Za-z0-9_\-]{4,}")


def redact(text: str) -> str:
    return API_KEY_PATTERN.sub("hk_***", text)


class RedactApiKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        for name, value in list(vars(record).items()):
            if isinstance(value, str) and name not in {"msg", "name", "levelname", "pathname", "filename"}:
                setattr(record, name, redact(value))
        return True


logger = Logger(log_uncaught_exceptions=False)
logger.addFilter(RedactApiKeys())
tracer = Tracer()
metrics = Metrics(namespace=NAMESPACE)
