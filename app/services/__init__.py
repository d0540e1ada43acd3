"""Typed internal requests and the work behind the routes; no HTTP types here."""
