"""Geometry: rotations, cameras, Procrustes alignment, winding numbers, mesh utilities."""
