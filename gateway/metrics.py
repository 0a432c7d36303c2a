"""Prometheus metrics of the GB/T 26875.3 gateway (served by the API's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("firegrid_gateway_connections", "Devices connected to the gateway now")
REFUSED = Counter(
    "firegrid_gateway_connections_refused", "Connections closed at accept: max_connections open"
)
FRAMES_IN = Counter(
    "firegrid_gateway_frames_in", "Frames received, by kind", ["kind"]
)  # send_data, bad_checksum, other (answers to the centre's commands)
ANSWERS = Counter("firegrid_gateway_answers", "Answers sent, confirm or deny", ["answer"])
BYTES_IN = Counter("firegrid_gateway_bytes_in", "Bytes read from devices")
BYTES_OUT = Counter("firegrid_gateway_bytes_out", "Bytes written to devices")
SKIPPED_BYTES = Counter("firegrid_gateway_skipped_bytes", "Bytes between frames that were no frame")
QUEUED = Gauge("firegrid_gateway_queued_frames", "Frames waiting for their commit")
ANSWER_SECONDS = Histogram(
    "firegrid_gateway_answer_seconds",
    "From a frame's receipt to its answer (the commit in between), by fire or not",
    ["fire"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
