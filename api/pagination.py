from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Limit/offset paging with bounds: ``limit`` at most 1000, and an offset
    past what a database index can hold is a 400 naming the parameter."""

    default_limit = 100
    max_limit = 1000
    max_offset = 2**31 - 1

    def get_offset(self, request):
        offset = super().get_offset(request)
        if offset > self.max_offset:
            raise ValidationError({self.offset_query_param: [f"must be at most {self.max_offset}"]})
        return offset
