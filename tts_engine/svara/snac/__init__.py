"""SNAC, the audio codec Svara speaks in: loading it (model), its position-keyed streaming decode
(stream), the engine that batches decodes across streams (engine) and a stream's decoder (decoder).

This module imports no torch, so the catalogue and the gateway can read SNAC's rate without it.
"""

SAMPLE_RATE = 24000  # Hz: hubertsiuzdak/snac_24khz, the rate of every Svara voice and reference
