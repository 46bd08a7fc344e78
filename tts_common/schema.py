"""OpenAPI: documents tts_common.auth.JWTAuthentication as the Bearer JWT scheme (imported once at app start-up)."""
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class TTSJWTScheme(SimpleJWTScheme):
    target_class = "tts_common.auth.JWTAuthentication"
    name = "jwtAuth"
