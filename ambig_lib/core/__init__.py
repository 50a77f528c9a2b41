"""Shared foundations: locations, errors, atomic I/O, text normalisation, CPU threads, provenance."""
