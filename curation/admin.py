from django.contrib import admin, messages

from curation.jobs.lifecycle import job_cancel
from curation.models import AnnotatorAudit, Audit, Dataset, ItemAudit, Job, PromptGeneration, ResponseEncoding


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["uuid", "project", "kind", "status", "progress_done", "progress_total", "attempts", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["uuid", "project__slug", "message"]
    date_hierarchy = "created_at"
    list_select_related = ["project"]
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel_jobs"]

    def has_add_permission(self, request):
        return False  # jobs are created by the pages and commands (job_create)

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            job_cancel(job=job)
        self.message_user(request, f"Cancel requested for {queryset.count()} job(s).", messages.INFO)


@admin.register(PromptGeneration)
class PromptGenerationAdmin(admin.ModelAdmin):
    list_display = ["prompt", "fingerprint", "model_name", "job", "created_at"]
    search_fields = ["fingerprint", "model_name"]
    raw_id_fields = ["prompt", "job"]
    readonly_fields = ["prompt", "job", "fingerprint", "model_name", "params", "response_ids", "created_at"]


@admin.register(ResponseEncoding)
class ResponseEncodingAdmin(admin.ModelAdmin):
    list_display = ["response", "model_name", "dim", "n_tokens", "created_at"]
    search_fields = ["model_name"]
    raw_id_fields = ["response", "job"]
    exclude = ["vector"]


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "job", "created_at"]
    list_select_related = ["project"]
    raw_id_fields = ["job"]


@admin.register(ItemAudit)
class ItemAuditAdmin(admin.ModelAdmin):
    list_display = ["item", "audit", "n_judgments", "majority_share", "disagreement", "ln_ches"]
    raw_id_fields = ["audit", "item", "chosen", "rejected"]


@admin.register(AnnotatorAudit)
class AnnotatorAuditAdmin(admin.ModelAdmin):
    list_display = ["annotator", "audit", "n_annotations", "agreement", "probe_consistency", "outlier"]
    raw_id_fields = ["audit", "annotator"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["uuid", "project", "format", "row_count", "created_at"]
    list_filter = ["format"]
    raw_id_fields = ["job"]
    readonly_fields = ["uuid", "sha256", "files", "manifest", "created_at"]
