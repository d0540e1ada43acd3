"""The gateway: the appliance's only public HTTP/WebSocket surface (port 8080)."""

__version__ = "0.1.0"
