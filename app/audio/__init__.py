"""Audio in and out of the gateway with PyAV: decoding uploads, encoding synthesized speech."""
