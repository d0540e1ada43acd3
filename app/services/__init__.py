"""Gateway services: typed internal requests, no HTTP imports."""
