from django.contrib import admin
from django.urls import include, path

from tts import api_docs, degraded, health, ping
from tts_common.base.metrics import metrics_view
from tts_common.http.security import require_service_key

handler400 = "tts_common.http.api.handler400"
handler403 = "tts_common.http.api.handler403"
handler404 = "tts_common.http.api.handler404"
handler500 = "tts_common.http.api.handler500"

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/v1/ping/", ping.PingApi.as_view(), name="ping"),
    path("metrics", require_service_key(metrics_view), name="metrics"),
    path("api/schema/", api_docs.schema_view, name="schema"),
    path("api/docs/", api_docs.docs_view, name="api-docs"),
    path("api/status/", degraded.SystemStatusApi.as_view(), name="system-status"),
    path("admin/", admin.site.urls),
    path("", include("auth_service.urls")),
    path("", include("messaging_service.urls")),
    path("", include("notification_service.urls")),
    path("", include("ticket_service.urls")),
    path("", include("workflow_api.urls")),
    path("", include("web.urls")),
]
