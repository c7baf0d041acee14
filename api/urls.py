from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from api import views, views_audit, views_data, views_projects, views_webhooks
from api.docs import RedocDocsView, SwaggerDocsView

v1 = [
    path("", views.ApiRootApi.as_view(), name="api-root"),
    path("auth/token/", views.TokenCreateApi.as_view(), name="api-token-create"),
    path("auth/logout/", views.TokenDeleteApi.as_view(), name="api-token-delete"),
    path("auth/tokens/", views.TokenListApi.as_view(), name="api-tokens"),
    path("auth/tokens/<uuid:token_id>/", views.TokenRevokeApi.as_view(), name="api-token-revoke"),
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("projects/", views.ProjectListApi.as_view(), name="api-projects"),
    path("projects/<slug:slug>/", views.ProjectDetailApi.as_view(), name="api-project"),
    path("projects/<slug:slug>/principles/", views_projects.PrincipleListApi.as_view(), name="api-principles"),
    path(
        "projects/<slug:slug>/principles/order/", views_projects.PrincipleOrderApi.as_view(), name="api-principle-order"
    ),
    path(
        "projects/<slug:slug>/principles/<int:principle_id>/",
        views_projects.PrincipleUpdateApi.as_view(),
        name="api-principle",
    ),
    path(
        "projects/<slug:slug>/principles/<int:principle_id>/retire/",
        views_projects.PrincipleRetireApi.as_view(),
        name="api-principle-retire",
    ),
    path("projects/<slug:slug>/questions/", views_projects.QuestionListApi.as_view(), name="api-questions"),
    path("projects/<slug:slug>/questions/<slug:key>/", views_projects.QuestionUpdateApi.as_view(), name="api-question"),
    path(
        "projects/<slug:slug>/questions/<slug:key>/retire/",
        views_projects.QuestionRetireApi.as_view(),
        name="api-question-retire",
    ),
    path("projects/<slug:slug>/members/", views_projects.MemberListApi.as_view(), name="api-members"),
    path("projects/<slug:slug>/members/<str:username>/", views_projects.MemberDetailApi.as_view(), name="api-member"),
    path("projects/<slug:slug>/prompts/", views.PromptListApi.as_view(), name="api-prompts"),
    path("projects/<slug:slug>/items/", views.ItemListApi.as_view(), name="api-items"),
    path(
        "projects/<slug:slug>/items/<uuid:item_id>/annotations/",
        views.AnnotationCreateApi.as_view(),
        name="api-annotation-create",
    ),
    path("projects/<slug:slug>/annotations/", views.AnnotationListApi.as_view(), name="api-annotations"),
    path("projects/<slug:slug>/import/", views.ImportApi.as_view(), name="api-import"),
    path("projects/<slug:slug>/exports/", views_data.ExportCreateApi.as_view(), name="api-export-create"),
    path("projects/<slug:slug>/datasets/", views_data.DatasetListApi.as_view(), name="api-datasets"),
    path("projects/<slug:slug>/audit/", views_audit.AuditSummaryApi.as_view(), name="api-audit"),
    path("projects/<slug:slug>/audit/items/", views_audit.ItemAuditListApi.as_view(), name="api-audit-items"),
    path(
        "projects/<slug:slug>/audit/principles/", views_audit.AuditPrinciplesApi.as_view(), name="api-audit-principles"
    ),
    path("projects/<slug:slug>/audit/questions/", views_audit.AuditQuestionsApi.as_view(), name="api-audit-questions"),
    path(
        "projects/<slug:slug>/audit/annotators/",
        views_audit.AnnotatorAuditListApi.as_view(),
        name="api-audit-annotators",
    ),
    path("projects/<slug:slug>/webhooks/", views_webhooks.WebhookListApi.as_view(), name="api-webhooks"),
    path("webhooks/<uuid:webhook_id>/", views_webhooks.WebhookDetailApi.as_view(), name="api-webhook"),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/",
        views_webhooks.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/redeliver/",
        views_webhooks.WebhookRedeliverApi.as_view(),
        name="api-webhook-redeliver",
    ),
    path("jobs/<uuid:job_id>/", views_data.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<uuid:job_id>/cancel/", views_data.JobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<uuid:job_id>/rejected/", views_data.JobRejectedApi.as_view(), name="api-job-rejected"),
    path("datasets/<uuid:dataset_id>/", views_data.DatasetDetailApi.as_view(), name="api-dataset"),
    path("datasets/<uuid:dataset_id>/archive/", views_data.DatasetArchiveApi.as_view(), name="api-dataset-archive"),
    path("datasets/<uuid:dataset_id>/files/<path:name>", views_data.DatasetFileApi.as_view(), name="api-dataset-file"),
]

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Swagger UI (its start-up script a file of its own, no inline script) and Redoc, both offline (api/docs.py)
    path("docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocDocsView.as_view(url_name="api-schema"), name="api-redoc"),
    *[path(f"v1/{p.pattern}", p.callback, name=p.name) for p in v1],
    re_path(r"^[\s\S]*$", views.UnknownApi.as_view(), name="api-unknown"),  # newlines too
]
