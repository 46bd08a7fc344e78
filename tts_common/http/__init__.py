"""The HTTP floor of tts_common: errors as responses, authentication, pagination, throttling, the OpenAPI schema,
request hardening, the web server. The top floor: it may import every other one."""
