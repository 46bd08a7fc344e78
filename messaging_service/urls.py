from django.urls import path

from .apis import CommentDetailApi, CommentListCreateApi

urlpatterns = [
    path("api/comments/", CommentListCreateApi.as_view(), name="comment-list"),
    path("api/comments/<int:comment_id>/", CommentDetailApi.as_view(), name="comment-detail"),
]
