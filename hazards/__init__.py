"""Hazards: episodes raised by the rules, placed in the grids, acknowledged and cleared."""
