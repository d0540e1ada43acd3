"""The session layer between the API surfaces and the services: admission, the WebSocket plumbing,
the failure table, usage metering, and the speech and transcription sessions every transport uses."""
