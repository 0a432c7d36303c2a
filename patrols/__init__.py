"""Patrols: grid workers' walks cut from their accepted fixes, with distance and grids visited."""
