"""The API surfaces: one module per API family, each only the translation between its wire format
(paths, field names, answer shapes, events) and the sessions below (app/sessions). No surface
imports another; what two need alike lives in the session layer.

| module | routes |
|---|---|
| openai | `/v1/audio/speech`, `/v1/audio/transcriptions`, `/v1/models` |
| realtime | `WS /v1/realtime` |
| smallest | `/v1/speak`, `/v1/listen`, `/waves/v1/...` |
| svara | `/v1/text-to-speech...`, `WS /v1/audio/speech/stream-input` |
| appliance | the appliance's own: `/v1/voices`, `/v1/text/normalize`, `WS /v1/speak/stream`, `WS /v1/listen/stream` |
"""

from fastapi import APIRouter

from . import appliance, openai, realtime, smallest, svara

ROUTERS: tuple[APIRouter, ...] = (openai.router, realtime.router, smallest.router, svara.router, appliance.router)
