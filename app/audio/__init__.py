"""Audio in and out of the gateway with PyAV: decoding (ASR) and streaming encoders (TTS)."""
