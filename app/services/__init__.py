"""Speech and transcription as typed requests in, typed results out: the work behind the sessions
and surfaces; no HTTP types here."""
