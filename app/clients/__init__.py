"""Clients of the engines behind the gateway (made in the lifespan, kept on app.state)."""
