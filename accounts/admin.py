from django.contrib import admin
from knox.models import AuthToken

from accounts.models import ApiToken

# knox's own token table is no longer read (tokens live in ApiToken): keep it out of the admin.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "token_key", "created", "last_used_at", "expiry"]
    list_filter = ["created"]
    search_fields = ["name", "user__username", "token_key"]
    raw_id_fields = ["user"]
    readonly_fields = ["digest", "token_key", "uuid", "created", "last_used_at"]
    fields = ["user", "name", "uuid", "token_key", "digest", "created", "expiry", "last_used_at"]

    def has_add_permission(self, request):
        return False  # a token is shown once, on the tokens page or by the API
