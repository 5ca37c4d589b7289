"""ARM calls: the one place where SDK exceptions become the domain's failures, and where in-process retries happen.

- A read is idempotent: a dropped connection or a 5xx is tried again at once, at most twice, with a jitter of a
  fraction of a second (tenacity). Anything longer is the orchestration's to wait, on a durable timer.
- A 429 is never retried here, for reads or writes: it goes back with its Retry-After (CRP asks for up to 1200 s
  and more, troubleshooting-throttling-errors.md), and the orchestration waits at least that long.
- A write is never retried here. A 429, a 5xx or a connection refused before sending means nothing happened; a
  write that was sent and got no answer has an unknown outcome (``NO_ANSWER``): the orchestration reads the VM
  before it tries again, so a start that did happen is never sent twice nor mistaken for someone else's.
azure-core's own retry policy is off (``retry_total=0``), so every retry respot makes is one of these.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from orchestrator.domain.errors import ArmFailure, Failure, classify

T = TypeVar("T")
READ_TRIES = 3
SDK_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.identity", "azure.monitor.query")


def _retryable_read(exc: BaseException) -> bool:
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return True
    return isinstance(exc, HttpResponseError) and (exc.status_code or 0) >= 500


def read(fn: Callable[[], T]) -> T:
    """``fn()``, an idempotent ARM read. Raises :class:`ArmFailure`."""
    retrying = Retrying(
        retry=retry_if_exception(_retryable_read),
        stop=stop_after_attempt(READ_TRIES),
        wait=wait_random(0, 0.2),
        reraise=True,
    )
    try:
        return retrying(fn)
    except HttpResponseError as exc:
        raise failure_of(exc) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise ArmFailure(Failure.TRANSIENT, "ConnectionError", str(exc)[:300]) from exc


def write(fn: Callable[[], T]) -> T:
    """``fn()``, an ARM write, sent once. Raises :class:`ArmFailure` (``NO_ANSWER`` when the outcome is unknown)."""
    try:
        return fn()
    except HttpResponseError as exc:
        raise failure_of(exc) from exc
    except ServiceResponseError as exc:  # sent; the answer never came (azure-core: "the request was sent")
        raise ArmFailure(Failure.NO_ANSWER, "NoAnswer", str(exc)[:300]) from exc
    except ServiceRequestError as exc:  # never sent (azure-core: "no request was sent")
        raise ArmFailure(Failure.TRANSIENT, "ConnectionError", str(exc)[:300]) from exc


def failure_of(exc: HttpResponseError) -> ArmFailure:
    error = exc.error
    code = getattr(error, "code", None) or str(exc.status_code or "Unknown")
    message = getattr(error, "message", None) or str(exc.message)
    detail_codes = [str(getattr(d, "code", "")) for d in getattr(error, "details", None) or []]
    if "TooManyRequests" in detail_codes:  # CRP's throttling: OperationNotAllowed with a TooManyRequests detail
        code = "TooManyRequests"
    headers = headers_of(exc.response) if exc.response is not None else {}
    status = exc.status_code
    return ArmFailure(classify(code, status, message), code, message, status, retry_after_of(headers))


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``; None if absent."""
    lower = {k.lower(): v for k, v in headers.items()}
    for name, scale in (("retry-after", 1.0), ("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001)):
        value = lower.get(name)
        if not value:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            continue
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        return max(0.0, (aware - datetime.now(UTC)).total_seconds())
    return None


def quiet_sdk_logging(verbose: bool) -> None:
    """azure-core logs every request and response header at INFO: off unless asked for (RESPOT_SDK_HTTP_LOGGING).
    respot's own log (one JSON line per request and activity) is unaffected."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def headers_of(response: Any) -> Mapping[str, str]:
    http = getattr(response, "http_response", response)
    return dict(getattr(http, "headers", None) or {})
