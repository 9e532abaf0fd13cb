"""Model calls and model lifetime: decoding audio, transcription, language, diarization, speaker embeddings and voices, bundled models, devices, the model cache and inference threads."""
