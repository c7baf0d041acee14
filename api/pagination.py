from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """Limit/offset paging with bounds: ``limit`` from 1, at most 1000 (larger is capped); ``offset`` from 0
    to what a database index can hold. Anything else (``limit=abc``, ``limit=``, ``offset=-1``) is a 400 naming the
    parameter, not silently the first page."""

    default_limit = 100
    max_limit = 1000
    max_offset = 2**31 - 1

    def _param(self, request, name: str, low: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw) if len(raw) <= 20 else None
        except ValueError:
            value = None
        if value is None or value < low:
            raise ValidationError({name: [f"must be a whole number of at least {low}, got {raw[:40]!r}"]})
        return value

    def get_limit(self, request):
        return min(self._param(request, self.limit_query_param, 1, self.default_limit), self.max_limit)

    def get_offset(self, request):
        offset = self._param(request, self.offset_query_param, 0, 0)
        if offset > self.max_offset:
            raise ValidationError({self.offset_query_param: [f"must be at most {self.max_offset}"]})
        return offset
