from django.urls import re_path

from .consumers import CommentFeedConsumer

websocket_urlpatterns = [
    # Any ticket id (HDTS ids are free-form strings); the consumer checks its length.
    re_path(r"^ws/comments/(?P<ticket_id>.+)/$", CommentFeedConsumer.as_asgi()),
]
