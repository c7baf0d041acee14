from django.contrib import admin, messages

from curation.jobs import job_cancel
from curation.models import Job, PromptGeneration


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
