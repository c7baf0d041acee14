"""Hand-built records for the export tests."""

from __future__ import annotations

import itertools

from curation.exports import ItemRec, JudgmentRec, PromptRec, ResponseRec

_ids = itertools.count(1)


def prompt(pid: str, text: str = "", system: str | None = None) -> PromptRec:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": text or f"question {pid}"})
    return PromptRec(id=pid, messages=messages)


def judgment(annotator: str = "h1", choice: str = "", **kw) -> JudgmentRec:
    kw.setdefault("annotator_type", "human")
    return JudgmentRec(id=kw.pop("id", f"j{next(_ids)}"), annotator_id=annotator, choice=choice, **kw)


def votes(*choices: str, **kw) -> list[JudgmentRec]:
    """One judgment per choice, by annotators h1, h2, ..."""
    return [judgment(f"h{i}", c, **kw) for i, c in enumerate(choices, 1)]


def pairwise(iid: str, p: PromptRec, a: str, b: str, choices, **kw) -> ItemRec:
    js = votes(*choices) if choices and isinstance(choices[0], str) else list(choices)
    return ItemRec(
        id=iid,
        kind="pairwise",
        prompt=p,
        responses=(ResponseRec(f"{iid}-a", a), ResponseRec(f"{iid}-b", b)),
        judgments=js,
        **kw,
    )


def thumb(iid: str, p: PromptRec, text: str, choices, rid: str | None = None, **kw) -> ItemRec:
    js = votes(*choices) if choices and isinstance(choices[0], str) else list(choices)
    return ItemRec(
        id=iid, kind="thumb", prompt=p, responses=(ResponseRec(rid or f"{iid}-r", text),), judgments=js, **kw
    )


def ranking(iid: str, p: PromptRec, texts: dict[str, str], rankings: list, **kw) -> ItemRec:
    """``texts``: response id -> text in position order; ``rankings``: one list of groups per annotator."""
    js = [judgment(f"h{i}", ranking=r) for i, r in enumerate(rankings, 1)]
    return ItemRec(
        id=iid,
        kind="ranking",
        prompt=p,
        responses=tuple(ResponseRec(r, t) for r, t in texts.items()),
        judgments=js,
        **kw,
    )


def judged(iid: str, p: PromptRec, text: str, critiques: list[tuple[str, str]], **kw) -> ItemRec:
    """``critiques``: (critique, corrected_response) per annotator."""
    js = [judgment(f"h{i}", critique=c, corrected_response=fix) for i, (c, fix) in enumerate(critiques, 1)]
    return ItemRec(id=iid, kind="judgment", prompt=p, responses=(ResponseRec(f"{iid}-r", text),), judgments=js, **kw)


def rows_of(fmt_cls, items, salt="salt", **options):
    """All rows a format builds (and the format, for its drop counts), items grouped by prompt."""
    from curation.exports import ExportOptions

    f = fmt_cls(ExportOptions(**options), salt=salt)
    out = []
    for _, group in itertools.groupby(items, key=lambda it: it.prompt.id):
        out.extend(f.rows(list(group)))
    return out, f


def corpus() -> list[ItemRec]:
    """A small mixed project, grouped by prompt: every kind, ties, both-bad, corrections, a judge.

    Identical (judgment ids included) on every call.
    """
    global _ids
    _ids = itertools.count(1)
    items: list[ItemRec] = []
    for k in range(12):
        p = prompt(
            f"p{k:02d}", f"Question number {k}: explain ünïcode {k}?", system="Answer briefly." if k % 3 else None
        )
        items.append(
            pairwise(f"pw{k}a", p, f"good answer {k}", f"poor answer {k}", ["A", "A", "B"], ln_ches=k / 10, ches=k)
        )
        items.append(
            pairwise(
                f"pw{k}b",
                p,
                f"meh {k}",
                f"fine {k}",
                [judgment("h1", "B", strength=2), judgment("m1", "A", annotator_type="model", consistent=False)],
            )
        )
        if k % 4 == 0:
            items.append(pairwise(f"pw{k}t", p, f"same {k}", f"equal {k}", ["tie"]))
            items.append(pairwise(f"pw{k}x", p, f"bad {k}", f"worse {k}", ["both_bad", "both_bad"]))
        if k % 3 == 0:
            texts = {f"r{k}-{n}": f"ranked {k}.{n}" for n in range(4)}
            order = list(texts)
            items.append(
                ranking(f"rk{k}", p, texts, [[[order[0]], order[1:3], [order[3]]], [[order[0]], [order[1]], order[2:]]])
            )
        items.append(thumb(f"tu{k}", p, f"thumbs up {k}", ["up", "up"]))
        if k % 2 == 0:
            items.append(thumb(f"td{k}", p, f"thumbs down {k}", ["down"]))
        items.append(judged(f"jd{k}", p, f"draft {k}", [(f"critique {k}", f"fixed {k}" if k % 2 else "")]))
    return items
