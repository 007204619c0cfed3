"""Bundled model files (openhand asset)."""
