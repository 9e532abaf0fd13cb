"""The HTTP API (`whisper-pipeline api`): programs hand in recordings and follow them, over the
same runs, storage and warehouse as the CLI and the UI; and two APIs clients already speak
(whisper-asr-webservice's `/asr`, OpenAI's `/v1/audio/transcriptions`). docs/api.md."""
