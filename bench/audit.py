"""The audit job on a large project: wall time of one full audit run.

    DATABASE_URL=postgres://... .venv/bin/python bench/audit.py [--quick] [--annotations 100000] [--annotators 30]

Builds a throw-away project (bulk inserts) of pairwise, thumb and ranking items
(3 : 1 : 1) with 3 annotations each from ``--annotators`` humans whose skill
varies (so α is neither 0 nor 1), 2 % hidden probes (half A/B-swapped),
principle verdicts (3 principles) on a fifth of the pairwise annotations, and
stored 64-d response encodings for every pairwise response so the CHES stage
does real work. Then runs the ``audit`` job in this process (``run_job``, what
a worker does) with the default parameters (1,000 bootstrap resamples) and
prints the stage timings. The project is deleted afterwards.

``--quick``: 10,000 annotations. Final line:
``RESULT annotations=… audit_s=… read_s=… write_s=… items=… annotators=… alpha_pairwise=…``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bench_cleanup, bench_project_create, bench_users_create, django_setup, require_postgresql  # noqa: E402

PER_ITEM = 3


def populate(project, users, rng) -> int:
    """Annotations, probes, verdicts and encodings; returns the number of annotations."""
    from django.db import transaction

    from annotate.models import Annotation, Annotator, Item, ItemResponse, Principle, PrincipleVerdict
    from annotate.services.principles import principle_versions_current
    from curation.ches.selectors import encoding_model_name
    from curation.models import ResponseEncoding

    annotators = list(Annotator.objects.filter(user__in=users).order_by("id").values_list("id", flat=True))
    skill = rng.uniform(0.55, 0.95, size=len(annotators))
    items = list(Item.objects.filter(project=project).order_by("id").values_list("id", "kind"))
    links: dict[int, list[tuple[int, str]]] = {}
    for item_id, response_id, uuid in (
        ItemResponse.objects.filter(item__project=project)
        .order_by("item_id", "position")
        .values_list("item_id", "response_id", "response__uuid")
    ):
        links.setdefault(item_id, []).append((response_id, str(uuid)))
    rows = []
    for item_id, kind in items:
        who = rng.choice(len(annotators), size=PER_ITEM, replace=False)
        truth = int(rng.integers(0, 2))
        order = rng.permutation(len(links[item_id]))
        for w in who:
            right = rng.random() < skill[w]
            fields = {"time_spent_ms": int(rng.gamma(4, 3000))}
            if kind == "pairwise":
                choice = ("A", "B")[truth if right else 1 - truth] if rng.random() > 0.05 else "tie"
                fields.update(choice=choice, strength=int(rng.integers(1, 4)) if choice != "tie" else None)
            elif kind == "thumb":
                fields["choice"] = ("up", "down")[truth if right else 1 - truth]
            else:
                mine = order if right else rng.permutation(len(order))
                fields["ranking"] = [[links[item_id][j][1]] for j in mine]
            rows.append(Annotation(item_id=item_id, annotator_id=annotators[w], kind=kind, **fields))
    with transaction.atomic():
        Annotation.objects.bulk_create(rows, batch_size=5000)
    # probes: 2 % of pairwise annotations repeated for their annotator
    pair_rows = [a for a in rows if a.kind == "pairwise"]
    picks = rng.choice(len(pair_rows), size=max(1, len(rows) // 50), replace=False)
    probes, probe_votes = [], []
    for n, k in enumerate(picks.tolist()):
        a = pair_rows[k]
        probes.append(
            Item(project=project, kind="pairwise", prompt_id=_prompt_of(a.item_id),
                 content_hash=f"probe-{a.item_id}-{a.annotator_id}", probe_of_id=a.item_id,
                 probe_for_id=a.annotator_id, probe_swapped=bool(n % 2))
        )  # fmt: skip
    with transaction.atomic():
        Item.objects.bulk_create(probes, batch_size=5000)
        ItemResponse.objects.bulk_create(
            [ItemResponse(item=p, response_id=r, position=i) for p in probes for i, (r, _) in enumerate(links[p.probe_of_id])],
            batch_size=5000,
        )  # fmt: skip
        for p, k in zip(probes, picks.tolist(), strict=True):
            a = pair_rows[k]
            same = rng.random() < 0.85
            flip = {"A": "B", "B": "A"}.get(a.choice, a.choice)
            probe_votes.append(Annotation(item=p, annotator_id=a.annotator_id, kind="pairwise",
                                          choice=a.choice if same else flip, time_spent_ms=4000))  # fmt: skip
        Annotation.objects.bulk_create(probe_votes, batch_size=5000)
        principles = [Principle.objects.create(project=project, name=f"principle {i}", position=i) for i in range(3)]
        versions = principle_versions_current(principles)
        verdicts = []
        for a in pair_rows[: len(pair_rows) // 5]:
            for p in principles:
                verdicts.append(
                    PrincipleVerdict(
                        annotation=a,
                        principle=p,
                        version_id=versions[p.pk],
                        verdict=str(rng.choice(["A", "B", "na", "A"])),
                    )
                )
        PrincipleVerdict.objects.bulk_create(verdicts, batch_size=5000)
        try:
            model_name = encoding_model_name(project=project)
        except Exception:
            model_name = ""
        if model_name:
            encodings = []
            for item_id, kind in items:
                if kind != "pairwise":
                    continue
                for response_id, _ in links[item_id]:
                    vector = rng.normal(size=64).astype("<f4")
                    encodings.append(ResponseEncoding(response_id=response_id, model_name=model_name, dim=64,
                                                      n_tokens=int(rng.integers(5, 200)), vector=vector.tobytes()))  # fmt: skip
            ResponseEncoding.objects.bulk_create(encodings, batch_size=5000)
    return len(rows) + len(probe_votes)


_PROMPTS: dict[int, int] = {}


def _prompt_of(item_id: int) -> int:
    if not _PROMPTS:
        from annotate.models import Item

        _PROMPTS.update(Item.objects.values_list("id", "prompt_id"))
    return _PROMPTS[item_id]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 annotations")
    parser.add_argument("--annotations", type=int, default=100_000, help="annotations wanted (items = this / 3)")
    parser.add_argument("--annotators", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    require_postgresql()
    os.environ.setdefault("DOCKET_JOB_HEARTBEAT_SECONDS", "10")
    django_setup()
    from curation.jobs.runner import run_job
    from curation.jobs.services import job_create
    from curation.models import Audit

    n_annotations = 10_000 if args.quick else args.annotations
    n_items = max(5, int(n_annotations / PER_ITEM / 1.02))  # probes add 2 %
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    project = bench_project_create(
        n_items=n_items, overlap=PER_ITEM, kinds=("pairwise", "pairwise", "pairwise", "thumb", "ranking")
    )
    users = bench_users_create(project=project, n=args.annotators, password="bench-password")
    total = populate(project, users, rng)
    print(f"built {n_items} items, {total} annotations in {time.perf_counter() - start:.1f} s", flush=True)
    try:
        job = job_create(project=project, kind="audit", enqueue=False)
        start = time.perf_counter()
        ended = run_job(job.pk)
        wall = time.perf_counter() - start
        if ended is None or ended.status != "succeeded":
            sys.exit(f"audit job did not succeed: {ended and ended.status} {ended and ended.error}")
        audit = Audit.objects.get(pk=ended.result["audit"])
        timings = audit.summary["timings"]
        for stage, seconds in timings.items():
            print(f"  {stage:<26} {seconds:8.3f} s")
        alpha = audit.summary["alpha"]
        print(f"audit of {total} annotations: {wall:.2f} s wall; α pairwise {alpha['pairwise']['alpha']:.3f} "
              f"[{alpha['pairwise']['low']:.3f}, {alpha['pairwise']['high']:.3f}], "
              f"CHES {audit.summary['ches']['status']} ({audit.summary['ches']['scored']} pairs), "
              f"outliers {audit.summary['annotators']['outliers']}")  # fmt: skip
        print(
            f"RESULT annotations={total} audit_s={wall:.2f} read_s={timings.get('reading annotations', 0):.2f} "
            f"write_s={timings.get('writing results', 0):.2f} items={audit.items.count()} "
            f"annotators={audit.annotators.count()} alpha_pairwise={alpha['pairwise']['alpha']:.4f}"
        )
    finally:
        from curation.models import ResponseEncoding

        ResponseEncoding.objects.filter(response__prompt__project=project).delete()
        bench_cleanup(project=project, users=users)


if __name__ == "__main__":
    main()
