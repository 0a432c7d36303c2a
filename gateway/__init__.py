"""The GB/T 26875.3 TCP gateway: the monitoring centre's side of the protocol (issue 11)."""
