"""Clients of the engines the gateway talks to; made in the lifespan, kept on app.state."""
