"""Reads behind the curator's project pages: the project list and overview
(progress per kind, per-annotator counts, recent imports) and the activity log.

Every figure on the curator pages comes from a handful of aggregate queries
(one per table, grouped), never one query per item or per annotator. Access
checks live in ``annotate.selectors`` (``project_for_curator`` and friends).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.db.models import Aggregate, Count, F, Max, Min, Q, Sum
from django.db.models.functions import Least
from django.utils import timezone

from annotate.models import (
    CURATE_ROLES,
    Annotation,
    Annotator,
    Assignment,
    Item,
    Kind,
    Membership,
    Principle,
    PrincipleVersion,
    Project,
    Prompt,
    Role,
    Source,
)
from curation.items.selectors import ItemState, items_with_state, live_leases
from curation.models import Activity


def projects_for_curator(user):
    """Projects the user owns or curates."""
    return Project.objects.with_role(user, CURATE_ROLES).order_by("name")


@dataclass
class KindProgress:
    kind: str
    total: int = 0
    open: int = 0
    leased: int = 0
    done: int = 0
    excluded: int = 0
    live_leases: int = 0
    annotations: int = 0
    judgments_wanted: int = 0
    judgments_given: int = 0

    @property
    def label(self) -> str:
        return Kind(self.kind).label if self.kind in Kind.values else self.kind

    @property
    def active(self) -> int:
        """Items that count towards progress (all but the excluded)."""
        return self.total - self.excluded

    def percent(self, part: str) -> float:
        return 100.0 * getattr(self, part) / self.active if self.active else 0.0

    @property
    def done_pct(self) -> float:
        return self.percent("done")

    @property
    def leased_pct(self) -> float:
        return self.percent("leased")

    @property
    def open_pct(self) -> float:
        return self.percent("open")

    @property
    def segments(self) -> list[tuple[str, float, float, int]]:
        """(state, x, width, count) of a stacked bar in percent: done, leased, open."""
        out, x = [], 0.0
        for state in ("done", "leased", "open"):
            width = self.percent(state)
            out.append((state, x, width, getattr(self, state)))
            x += width
        return out

    @property
    def judgments_pct(self) -> float:
        return 100.0 * self.judgments_given / self.judgments_wanted if self.judgments_wanted else 0.0

    def add(self, other: KindProgress) -> None:
        for name in (
            "total",
            "open",
            "leased",
            "done",
            "excluded",
            "live_leases",
            "annotations",
            "judgments_wanted",
            "judgments_given",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def progress_by_kind(*, projects, now=None) -> dict[int, dict[str, KindProgress]]:
    """Per project id and kind: item counts by state, live leases, judgments given / wanted.

    Two queries whatever the number of projects and items. Each project's
    mapping also holds an ``"all"`` entry with the totals.
    """
    now = now or timezone.now()
    project_ids = [p.pk for p in projects]
    result: dict[int, dict[str, KindProgress]] = {pid: {} for pid in project_ids}
    not_excluded = Q(excluded=False)
    rows = (
        items_with_state(Item.objects.filter(project_id__in=project_ids), now=now)
        .values("project_id", "kind")
        .annotate(
            total=Count("pk"),
            n_open=Count("pk", filter=Q(state=ItemState.OPEN)),
            n_leased=Count("pk", filter=Q(state=ItemState.LEASED)),
            n_done=Count("pk", filter=Q(state=ItemState.DONE)),
            n_excluded=Count("pk", filter=Q(state=ItemState.EXCLUDED)),
            annotations=Sum("annotation_count"),
            wanted=Sum("target", filter=not_excluded),
            given=Sum(
                Least(F("annotation_count"), F("target"), output_field=models.IntegerField()), filter=not_excluded
            ),
        )
        .order_by()
    )
    for row in rows:
        result[row["project_id"]][row["kind"]] = KindProgress(
            kind=row["kind"],
            total=row["total"],
            open=row["n_open"],
            leased=row["n_leased"],
            done=row["n_done"],
            excluded=row["n_excluded"],
            annotations=row["annotations"] or 0,
            judgments_wanted=row["wanted"] or 0,
            judgments_given=row["given"] or 0,
        )
    leases = (
        Assignment.objects.filter(live_leases(now), item__project_id__in=project_ids)
        .values("item__project_id", "item__kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in leases:
        kinds = result[row["item__project_id"]]
        kinds.setdefault(row["item__kind"], KindProgress(kind=row["item__kind"])).live_leases = row["n"]
    for kinds in result.values():
        ordered = {k: kinds[k] for k in Kind.values if k in kinds}
        total = KindProgress(kind="all")
        for progress in ordered.values():
            total.add(progress)
        kinds.clear()
        kinds.update(ordered)
        kinds["all"] = total
    return result


class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median, interpolated between the middle two of an even count."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = models.FloatField()


@dataclass
class AnnotatorStats:
    annotator_id: int
    uuid: str
    name: str
    type: str
    role: str | None = None
    annotations: int = 0
    total_ms: int | None = None  # None: no annotation of theirs recorded a time
    median_ms: float | None = None
    last_active: object = None
    skipped: int = 0
    live_leases: int = 0

    @property
    def type_label(self) -> str:
        return Annotator.Type(self.type).label


def annotator_stats(*, project: Project, now=None) -> list[AnnotatorStats]:
    """Per annotator of the project: annotations, time spent (total, median),
    last activity, skips and live leases. Annotator-role members who have not
    started yet are listed with zeros. Three queries."""
    now = now or timezone.now()
    annotations = Annotation.objects.filter(item__project=project)
    aggregates = {
        "n": Count("pk"),
        "total_ms": Sum("time_spent_ms"),
        "last": Max("created_at"),
        "median_ms": Median("time_spent_ms"),
    }
    rows = (
        annotations.values("annotator_id", "annotator__uuid", "annotator__name", "annotator__type")
        .annotate(**aggregates)
        .order_by()
    )
    people: dict[int, AnnotatorStats] = {}
    for row in rows:
        people[row["annotator_id"]] = AnnotatorStats(
            annotator_id=row["annotator_id"],
            uuid=str(row["annotator__uuid"]),
            name=row["annotator__name"],
            type=row["annotator__type"],
            annotations=row["n"],
            total_ms=row["total_ms"],
            median_ms=row["median_ms"],
            last_active=row["last"],
        )
    assignment_rows = (
        Assignment.objects.filter(item__project=project)
        .values("annotator_id", "annotator__uuid", "annotator__name", "annotator__type")
        .annotate(
            skipped=Count("pk", filter=Q(status=Assignment.Status.SKIPPED)),
            live=Count("pk", filter=live_leases(now)),
        )
        .order_by()
    )
    for row in assignment_rows:
        person = people.setdefault(
            row["annotator_id"],
            AnnotatorStats(
                annotator_id=row["annotator_id"],
                uuid=str(row["annotator__uuid"]),
                name=row["annotator__name"],
                type=row["annotator__type"],
            ),
        )
        person.skipped = row["skipped"]
        person.live_leases = row["live"]
    members = Membership.objects.filter(project=project).values_list(
        "user__annotator__id", "user__annotator__uuid", "user__username", "role"
    )
    for annotator_id, annotator_uuid, username, role in members:
        if annotator_id in people:
            people[annotator_id].role = role
        elif role == Role.ANNOTATOR:
            # Not started yet: no annotator row, or one with no work here.
            key = annotator_id if annotator_id is not None else -len(people) - 1
            people[key] = AnnotatorStats(
                annotator_id=key,
                uuid=str(annotator_uuid or ""),
                name=username,
                type=Annotator.Type.HUMAN,
                role=role,
            )
    return sorted(people.values(), key=lambda p: (-p.annotations, p.name))


def recent_imports(*, project: Project, limit: int = 10) -> list[dict]:
    """Imported prompts grouped by import source and user, latest first.

    The importer records ``{"import": {"source", "by"}}`` in each new prompt's
    metadata; one grouped query over the project's imported prompts.
    """
    rows = (
        Prompt.objects.filter(project=project, source=Source.IMPORT)
        .values("metadata__import__source", "metadata__import__by")
        .annotate(prompts=Count("pk"), first=Min("created_at"), last=Max("created_at"))
        .order_by("-last")[:limit]
    )
    return [
        {
            "source": row["metadata__import__source"] or "",
            "by": row["metadata__import__by"] or "",
            "prompts": row["prompts"],
            "first": row["first"],
            "last": row["last"],
        }
        for row in rows
    ]


def activity_list(*, project: Project, verb: str = "", actor: str = ""):
    """The project's activity log, newest first, optionally one verb's and one
    actor's (by username; ``"-"`` for the system's entries). Uses
    ``activity_project_recent_idx`` / ``activity_project_verb_idx``."""
    entries = Activity.objects.filter(project=project)
    if verb:
        entries = entries.filter(verb=verb)
    if actor == "-":
        entries = entries.filter(actor_name="")
    elif actor:
        entries = entries.filter(actor_name=actor)
    return entries.order_by("-created_at", "-id")


def activity_actors(*, project: Project) -> list[str]:
    """Usernames that appear in the project's log (``""`` for the system), sorted."""
    return sorted(Activity.objects.filter(project=project).values_list("actor_name", flat=True).distinct().order_by())


def principles_with_verdicts(*, project: Project) -> list:
    """Every principle of the project (in use first, in order; then the retired),
    each with ``verdict_count``: how many verdicts it has been given, and
    ``version_list``: its versions, newest first, each with its ``verdict_count``.
    Two queries."""
    versions = PrincipleVersion.objects.annotate(verdict_count=Count("verdicts")).select_related("created_by")
    rows = (
        Principle.objects.filter(project=project)
        .annotate(verdict_count=Count("verdicts"))
        .select_related("current_version")
        .prefetch_related(models.Prefetch("versions", queryset=versions.order_by("-number"), to_attr="version_list"))
        .order_by(models.F("retired_at").asc(nulls_first=True), "position", "id")
    )
    return list(rows)
