"""Text-to-speech engines behind one interface (`base.TTSBackend`): piper (CPU) and svara (GPU, vLLM)."""
