"""Implementations of the `handrecon` subcommands (thin layers over the API)."""
