"""Handheld terminals on the ingest path: NMEA fixes, hazard reports and photos.

``decode`` turns a batch's terminal messages into fixes, reports and photos; ``store`` writes
photo bytes to the data directory and reports and photo rows in the batch transaction; ``read``
holds the queries the API answers from.
"""
