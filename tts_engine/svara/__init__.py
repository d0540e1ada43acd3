"""Svara TTS on vLLM: prompt, token stream, streaming SNAC decoding."""
