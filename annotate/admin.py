from django.contrib import admin

from annotate import models


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    autocomplete_fields = ["user"]


# A principle's wording changes through the principles page (principle_update), which
# makes a new version; here it is read only, so no verdict loses track of its wording.
PRINCIPLE_WORDING = ["name", "description", "guidance", "current_version"]


class PrincipleInline(admin.TabularInline):
    model = models.Principle
    extra = 0
    fields = ["name", "description", "position", "retired_at"]
    readonly_fields = ["name", "description"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "overlap", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, PrincipleInline]


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role"]
    list_filter = ["role", "project"]


@admin.register(models.Principle)
class PrincipleAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "position"]
    list_filter = ["project"]
    readonly_fields = PRINCIPLE_WORDING

    def has_add_permission(self, request):
        return False


@admin.register(models.PrincipleVersion)
class PrincipleVersionAdmin(admin.ModelAdmin):
    list_display = ["principle", "number", "name", "created_at"]
    list_filter = ["principle__project"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["uuid", "project", "source", "created_at"]
    list_filter = ["project", "source"]
    search_fields = ["uuid", "content_hash"]


@admin.register(models.Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["uuid", "prompt", "source", "model_name"]
    list_filter = ["source"]
    raw_id_fields = ["prompt"]


class ItemResponseInline(admin.TabularInline):
    model = models.ItemResponse
    extra = 0
    raw_id_fields = ["response"]


@admin.register(models.Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ["uuid", "project", "kind", "status", "slots_taken", "annotation_count", "excluded"]
    list_filter = ["project", "kind", "status", "excluded"]
    search_fields = ["uuid", "external_id"]
    raw_id_fields = ["prompt", "probe_of", "probe_for"]
    inlines = [ItemResponseInline]


@admin.register(models.Annotator)
class AnnotatorAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "model_name", "flagged"]
    list_filter = ["type", "flagged"]
    search_fields = ["name", "model_name"]


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["uuid", "item", "annotator", "status", "leased_at", "expires_at"]
    list_filter = ["status"]
    raw_id_fields = ["item", "annotator"]


class VerdictInline(admin.TabularInline):
    model = models.PrincipleVerdict
    extra = 0


@admin.register(models.Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["uuid", "item", "annotator", "kind", "choice", "created_at"]
    list_filter = ["kind", "choice"]
    raw_id_fields = ["item", "annotator", "assignment"]
    inlines = [VerdictInline]
