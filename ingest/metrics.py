"""Prometheus metrics of the ingest path (served by the API's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter("firegrid_messages_received", "MQTT messages taken into a batch")
MESSAGES_ACCEPTED = Counter(
    "firegrid_messages_accepted", "Messages of which at least one record was stored"
)
REJECTED = Counter(
    "firegrid_rejected", "Rejected messages or parts of messages, by reason", ["reason"]
)
READINGS = Counter("firegrid_readings_stored", "Readings committed")
EVENTS = Counter("firegrid_events_stored", "Device events committed")
FIXES = Counter("firegrid_fixes_stored", "Accepted GNSS fixes committed")
REPORTS = Counter("firegrid_reports_stored", "Hazard reports committed")
PHOTOS = Counter("firegrid_photos_stored", "Photos committed (new hashes)")
NMEA_SENTENCES = Counter(
    "firegrid_nmea_sentences",
    "NMEA sentences by outcome: fix, a rejection reason, or skipped (proprietary, unsupported)",
    ["outcome"],
)
DUPLICATES = Counter("firegrid_duplicates", "Samples or events already stored, skipped")
CONFLICTS = Counter("firegrid_conflicts", "Samples re-sent with different content, kept aside")
UNKNOWN_METRICS = Counter("firegrid_unknown_metric_values", "Values of metrics not in the contract")
BATCH_MESSAGES = Histogram(
    "firegrid_batch_messages",
    "Messages per committed batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000),
)
BATCH_ROWS = Histogram(
    "firegrid_batch_rows",
    "Rows per committed batch",
    buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000),
)
COMMIT_SECONDS = Histogram(
    "firegrid_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
QUEUE_DEPTH = Gauge("firegrid_queue_depth", "Received messages waiting to be written")
BUFFER_MESSAGES = Gauge(
    "firegrid_ingest_buffer_messages", "Messages in the ingest buffer (bounded, see BUFFER_MAX_*)"
)
BUFFER_BYTES = Gauge("firegrid_ingest_buffer_bytes", "Payload bytes in the ingest buffer")
BUFFER_MAX_MESSAGES = Gauge("firegrid_ingest_buffer_max_messages", "The buffer's message bound")
BUFFER_MAX_BYTES = Gauge("firegrid_ingest_buffer_max_bytes", "The buffer's payload byte bound")
READING_PAUSED = Gauge(
    "firegrid_ingest_reading_paused", "1 while ingest has stopped reading the broker: buffer full"
)
BUFFER_FULL = Counter(
    "firegrid_ingest_buffer_full", "Times the ingest buffer filled and reading paused"
)
DB_RETRIES = Counter("firegrid_db_retries", "Batch writes retried after a database error")
BROKER_CONNECTED = Gauge("firegrid_broker_connected", "1 while ingest is connected to the broker")
