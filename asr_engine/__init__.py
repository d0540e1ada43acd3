"""The ASR worker: one faster-whisper model serving batch jobs (Redis) and streaming sessions."""

__version__ = "0.1.0"
