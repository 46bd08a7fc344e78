from django.urls import include, path

from . import apis

urlpatterns = [
    path(
        "api/v2/notifications/",
        include(
            [
                path("inapp/", apis.NotificationListApi.as_view(), name="notification-list"),
                path("inapp/unread-count/", apis.NotificationUnreadCountApi.as_view(), name="notification-unread-count"),
                path("inapp/read-all/", apis.NotificationMarkAllReadApi.as_view(), name="notification-read-all"),
                path("inapp/<int:notification_id>/", apis.NotificationDetailApi.as_view(), name="notification-detail"),
                path(
                    "inapp/<int:notification_id>/read/",
                    apis.NotificationMarkReadApi.as_view(),
                    name="notification-read",
                ),
                path("preferences/", apis.PreferencesApi.as_view(), name="notification-preferences"),
                path("deliveries/", apis.DeliveryListApi.as_view(), name="notification-delivery-list"),
                path(
                    "deliveries/<int:delivery_id>/retry/",
                    apis.DeliveryRetryApi.as_view(),
                    name="notification-delivery-retry",
                ),
                path("rejected/", apis.RejectedMessageListApi.as_view(), name="notification-rejected-list"),
            ]
        ),
    )
]
