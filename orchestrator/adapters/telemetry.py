"""Where respot's telemetry goes: Application Insights, an OTLP collector, the console, or nowhere.

Chosen once per worker process, from the environment, by the standard variables (no RESPOT_* setting):

- ``APPLICATIONINSIGHTS_CONNECTION_STRING`` set: the Azure Monitor OpenTelemetry distro (metrics, logs and traces to
  Application Insights; the Functions platform sets this variable when the app has Application Insights);
- else ``OTEL_EXPORTER_OTLP_ENDPOINT`` set: OTLP over HTTP (metrics and logs) to that collector;
- else ``OTEL_METRICS_EXPORTER=console`` (and/or ``OTEL_LOGS_EXPORTER=console``): printed to stdout (local runs);
- else nothing is configured and every instrument is OpenTelemetry's no-op: telemetry costs a call per recording.

The azure-core per-request HTTP log stays at WARNING unless ``RESPOT_SDK_HTTP_LOGGING`` asks for it
(orchestrator.adapters.arm.quiet_sdk_logging), whichever exporter runs: the distro exports Python log records, and
those lines would otherwise reach Application Insights once per ARM request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource

from orchestrator import __version__

LOGGER = "respot"  # the logger whose records are exported (respot.intake, respot.sweep, respot.telemetry, ...)
SERVICE = "respot"
_configured: str | None = None


def exporter_of(env: Mapping[str, str]) -> str:
    """Which exporter the environment asks for: azure-monitor | otlp | console | none. No side effects."""
    if env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return "azure-monitor"
    if env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"):
        return "otlp"
    if "console" in (env.get("OTEL_METRICS_EXPORTER", ""), env.get("OTEL_LOGS_EXPORTER", "")):
        return "console"
    return "none"


def configure_telemetry(env: Mapping[str, str] | None = None) -> str:
    """Install the exporter the environment names, once per process; returns its name."""
    global _configured
    if _configured is not None:
        return _configured
    env = os.environ if env is None else env
    kind = exporter_of(env)
    if kind == "azure-monitor":
        from azure.monitor.opentelemetry import configure_azure_monitor

        configure_azure_monitor(logger_name=LOGGER, resource=_resource())
    elif kind == "otlp":
        _otlp()
    elif kind == "console":
        _console(env)
    _configured = kind
    return kind


def _resource() -> Resource:
    return Resource.create({"service.name": SERVICE, "service.version": __version__})


def _meter_provider(exporter: MetricExporter) -> None:
    reader = PeriodicExportingMetricReader(exporter)
    metrics.set_meter_provider(MeterProvider(resource=_resource(), metric_readers=[reader]))


def _otlp() -> None:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    _meter_provider(OTLPMetricExporter())
    logs = LoggerProvider(resource=_resource())
    logs.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(logs)
    logging.getLogger(LOGGER).addHandler(LoggingHandler(logger_provider=logs))


def _console(env: Mapping[str, str]) -> None:
    if env.get("OTEL_METRICS_EXPORTER") == "console":
        _meter_provider(ConsoleMetricExporter())
    if env.get("OTEL_LOGS_EXPORTER") == "console":
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import ConsoleLogRecordExporter, SimpleLogRecordProcessor

        logs = LoggerProvider(resource=_resource())
        logs.add_log_record_processor(SimpleLogRecordProcessor(ConsoleLogRecordExporter()))
        set_logger_provider(logs)
        logging.getLogger(LOGGER).addHandler(LoggingHandler(logger_provider=logs))
