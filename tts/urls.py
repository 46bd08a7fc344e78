from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tts import health

handler404 = "tts_common.api.handler404"
handler500 = "tts_common.api.handler500"

urlpatterns = [
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
    path("", include("auth_service.urls")),
    path("", include("messaging_service.urls")),
    path("", include("ticket_service.urls")),
    path("", include("workflow_api.urls")),
]
