"""Code shared by every TTS service: message contracts, JWT verification, signing, logging, worker base."""
