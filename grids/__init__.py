"""Grids: the street › community › grid map, its codes, versions and point lookup."""
