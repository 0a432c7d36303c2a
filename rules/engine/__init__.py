"""The rules engine: committed batches in, rule kinds evaluated per key, hazard operations out."""
