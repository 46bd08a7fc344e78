"""The base floor of tts_common: what is neither messaging nor HTTP (errors, database, datasets, text, permissions,
logging, metrics, the HDTS ticket). Imports tts_common.contracts and tts_common.models only."""
