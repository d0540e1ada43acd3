"""Clients of the engines and workers, made in the lifespan and kept on app.state."""
