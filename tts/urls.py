from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication

from tts import health
from tts_common.auth import JWTAuthentication
from tts_common.metrics import metrics_view
from tts_common.security import require_service_key

# The API documents itself to a token holder or to someone logged in through /admin/.
docs_auth = {"authentication_classes": [JWTAuthentication, SessionAuthentication]}

handler400 = "tts_common.api.handler400"
handler403 = "tts_common.api.handler403"
handler404 = "tts_common.api.handler404"
handler500 = "tts_common.api.handler500"

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", require_service_key(metrics_view), name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(**docs_auth), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema", **docs_auth), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("auth_service.urls")),
    path("", include("messaging_service.urls")),
    path("", include("notification_service.urls")),
    path("", include("ticket_service.urls")),
    path("", include("workflow_api.urls")),
    path("", include("web.urls")),
]
