"""The messaging floor of tts_common: the outbox (the one way to publish), its transport, the consumers' base
classes and batch queues, the embedded broker. Imports the base and the contracts, never tts_common.http."""
