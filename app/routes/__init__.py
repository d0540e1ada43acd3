"""HTTP routes: one module per API surface, HTTP concerns only."""
