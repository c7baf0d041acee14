"""Algorithmic judges: a model annotates items the way a person does.

``JUDGE_SHARDS`` is how the job runs (``curation.jobs.registry.SHARDED``:
planned into shards of ``ITEMS_PER_SHARD`` items of one judge that any
number of model workers judge together, ``curation.jobs.shards``);
``judge_create`` (``curation.judging.services``) validates the parameters
(``curation.judging.params``) and queues the job for the judge page and
``manage.py judge``.

The judge
    An ``Annotator`` of type ``model`` named ``judge: <model name> [<prompt hash>]`` with the
    model name and the judge's prompt templates recorded (``get_or_create``,
    so every run of the same model is the same annotator). Decisions come
    from the model's next-token probabilities of the answer labels ("A" /
    "B" / "NA", "yes" / "no"), never from parsing free text. Each question is
    also asked with content-free answers ("N/A") and the label probabilities
    are divided by that prior (contextual calibration, Zhao et al. 2021):
    small models otherwise answer "A" to almost anything. Raw and
    calibrated numbers are both stored.

Pairwise items
    Asked in both presentation orders (A/B and B/A). When both orders prefer
    the same response the annotation is ``A`` or ``B`` with
    ``consistent=True``. When they disagree (position bias) the annotation is
    stored with ``choice='tie'`` and ``consistent=False``: it records the
    judge's inconsistency and is **not a vote** — agreement metrics,
    aggregation and exports must leave out annotations with
    ``consistent=False``. ``probabilities`` keeps, per order, the
    renormalised P(A) and P(B) of the letters as shown and the preference
    mapped back to the canonical responses::

        {"orders": [{"shown": "AB", "p_a": .., "p_b": .., "raw": {"A": .., "B": ..}, "prefers": "A"},
                    {"shown": "BA", "p_a": .., "p_b": .., "raw": {..}, "prefers": "A"}],
         "prior": {"A": .., "B": ..}, "calibration": "content-free",
         "p_first": .., "p_second": .., "consistent": true}

    (``p_a``/``p_b``: calibrated and renormalised probabilities of the
    letters as shown; ``prefers``: the canonical response that order chose.)

    where ``p_first``/``p_second`` are P(canonical A)/P(canonical B)
    averaged over the two orders. ``display_order`` lists the responses as
    first shown and ``metadata["swap"]`` says both orders were asked.

    With ``principles``: for each project principle the judge answers A, B
    or NA (docs/algorithms.md#principle-verdicts: NA when P(NA) is largest or P(A) = P(B),
    otherwise the larger of P(A), P(B)), asked in the canonical order only as
    in the discretion paper's analysis; stored as ``PrincipleVerdict`` rows
    (NA → ``na``) with the probabilities under ``probabilities["principles"]``.

Thumb items
    ``up`` when P(yes) > P(no), else ``down``; both kept in ``probabilities``.

Ranking items
    Every pair of the item's responses judged in both orders; each
    response's score is the number of pairwise wins (an inconsistent pair
    gives each side half a win); responses with equal scores form a tied
    group. ``probabilities["pairs"]`` keeps every pair's numbers.

Custom questions (docs/algorithms.md#judge-answers)
    With ``questions``, the judge also answers the project's questions in use
    (not free text): one prompt and its content-free twin per question (per
    category for multi-label, per response for questions about each
    response), decided by ``curation.judging.answers``; the answers go into
    ``AnnotationInput.answers`` (stored typed by ``annotation_record``) and the
    numbers behind them under ``probabilities["questions"]``. A question about
    the whole item of two or more responses is asked in both orders too, and
    its answer is stored with its own position check (``Answer.consistent``;
    docs/questions.md#judge-answers-and-position): whether a judgment's
    answers count never depends on its pairwise verdict's consistency. Items this judge
    annotated before a question existed (or before ``questions`` was on) are
    planned again and asked only what they lack; the answers are added to the
    earlier annotation (``annotation_answers_add``), its verdict unchanged. A
    panel's finish adds the jury (``jury_record``, docs/algorithms.md#judge-juries)
    on items the jury has not answered yet.
    A re-judgment run answers no questions (``questions`` with ``rejudgment``
    is refused); its copies are left out of both the re-asking and the jury.

Judgment items (free-text critiques) are not judged.

Calibration card
    The result's ``calibration`` (``curation.judging.selectors.judge_calibration``):
    the judge's position-consistency rate over every pairwise item it judged
    in the project and its agreement with the people's consensus on items
    already labelled, with a verdict (usable / doubtful / too weak); the job
    page shows it, and the audit's annotators dashboard shows every judge's.

Panels (docs/algorithms.md#judge-panels)
    With ``panel`` (members ``variant`` or ``variant@model``), every member
    judges the items as its own annotator: the prompt variant adds one
    instruction to the system prompt (``JUDGE_VARIANTS``), the model is any
    local model (each loaded once). The result lists the members with their
    counts and calibration cards; the audit's principle ambiguity measures the
    panel's agreement (group ``judge``).

Judges do not take human slots: a model annotator's judgments never
count towards an item's overlap (``annotate.services.annotations``), so an
item's ``annotation_count``, status and assignment to people are unchanged. A shard's annotations
are recorded in the transaction that marks it done, and items this judge has already annotated are
skipped, so a re-run, a resumed job or a shard re-claimed after its worker died judges only what is left.
"""

from __future__ import annotations

import itertools
import logging

from django.db.models import Exists, OuterRef

from annotate.models import (
    Annotation,
    Annotator,
    Item,
    Kind,
    Principle,
    Project,
    QuestionTarget,
    QuestionType,
    Rejudgment,
    Verdict,
    content_hash,
)
from annotate.selectors import principles_in_use, questions_in_use
from annotate.services.annotations import AnnotationInput, annotation_answers_add, annotation_record
from annotate.services.principles import principle_versions_current
from curation.jobs.lifecycle import JobProgress
from curation.jobs.shards import ShardSpec
from curation.judging.answers import (
    CHOICE_LETTERS,
    JURY_MODEL_NAME,
    JudgeAnswer,
    choice_from_probs,
    choice_letters,
    jury_answer,
    labels_from_probs,
    rating_digits,
    rating_from_probs,
)
from curation.judging.params import JUDGE_VARIANTS, judge_params_clean
from curation.judging.selectors import judge_calibration
from curation.models import Job
from curation.refinement.compare import rejudgment_compare, rejudgment_principle

logger = logging.getLogger(__name__)


def judge_system(variant: str = "default") -> str:
    """The judge's system prompt for a prompt variant (``JUDGE_VARIANTS``)."""
    extra = JUDGE_VARIANTS[variant]
    return f"{JUDGE_SYSTEM} {extra}" if extra else JUDGE_SYSTEM


def judge_annotator(*, model_name: str, variant: str = "default") -> Annotator:
    """The annotator row of the judge for this model and prompt (created on first use).

    The name carries a short hash of the prompt templates, so changing them
    makes a new judge rather than mixing two judges' labels under one name;
    a prompt variant other than the default is named too (each panel member
    is its own annotator).
    """
    prompt = _judge_prompt_text(judge_system(variant))
    short = content_hash(prompt)[:8]
    suffix = "" if variant == "default" else f" {variant}"
    annotator, _ = Annotator.objects.get_or_create(
        type=Annotator.Type.MODEL,
        name=f"judge: {model_name} [{short}]{suffix}"[-200:],
        model_name=model_name,
        defaults={
            "judge_prompt": prompt,
            "params": {
                "method": "next-token probabilities, content-free calibration",
                "prompt_hash": short,
                "variant": variant,
            },
        },
    )
    return annotator


# ----------------------------------------------------------- model scoring
# Next-token probabilities of the answer letters. Small models have a strong
# prior for one letter whatever the content (SmolLM2-135M puts ~6x more mass
# on "A" than on "B"), so each question is also asked once with content-free
# responses ("N/A") and the letter probabilities are divided by that prior
# (contextual calibration, Zhao et al. 2021, "Calibrate Before Use"). Raw
# and calibrated numbers are both stored. Asking both orders still exposes
# any position bias calibration does not remove: those pairs come out
# inconsistent. The probabilities themselves come from
# curation.llm.judge.next_token_label_probs (the one implementation of label
# tokens, batching and padding); this module keeps its prompts and calibration.

JUDGE_SYSTEM = "You are a fair judge of answers. Reply with a single letter or word."
PAIRWISE_TEMPLATE = (
    "Question: {question}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\n"
    "Which answer is correct and helpful, A or B? Reply with one letter."
)
PRINCIPLE_TEMPLATE = (
    "Question: {question}\n\nPrinciple: {principle}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\n"
    "Which answer better follows the principle, A or B? If neither does, or the principle does not apply, "
    "reply NA. Reply with A, B or NA."
)
THUMB_TEMPLATE = "Question: {question}\n\nAnswer: {a}\n\nIs this answer correct and helpful? Reply yes or no."
# Custom questions (docs/algorithms.md#judge-answers): {subject} is the answer judged, or every answer of the
# item (Answer A, Answer B, ...) for a question about the whole item. They are not part of the judge's
# identity (``_judge_prompt_text``): adding questions to a project does not make a new judge.
QUESTION_CHOICE_TEMPLATE = "Question: {question}\n\n{subject}\n\n{label}{help}\n{options}\nReply with one letter."
QUESTION_LABEL_TEMPLATE = (
    'Question: {question}\n\n{subject}\n\n{label}{help}\nDoes the category "{category}"{category_help} apply? '
    "Reply yes or no."
)
QUESTION_RATING_TEMPLATE = (
    "Question: {question}\n\n{subject}\n\n{label}{help}\nRate from {low_digit} ({low}) to {high_digit} ({high}). "
    "Reply with one digit."
)
ANSWER_PREFIX = "Answer:"
CONTENT_FREE = "N/A"
# Each label's spellings; every spelling counts bare and space-prefixed (curation.llm.judge.label_token_ids).
LABEL_SPELLINGS = {"A": ("A",), "B": ("B",), "NA": ("NA",), "yes": ("yes", "Yes"), "no": ("no", "No")}


def _judge_prompt_text(system: str = JUDGE_SYSTEM) -> str:
    return "\n\n".join(
        [
            f"system: {system}",
            f"pairwise: {PAIRWISE_TEMPLATE}",
            f"principle: {PRINCIPLE_TEMPLATE}",
            f"thumb: {THUMB_TEMPLATE}",
            f"assistant turn starts with: {ANSWER_PREFIX}",
            f"calibration: the same question with every answer replaced by {CONTENT_FREE!r}",
        ]
    )


def _question(messages) -> str:
    """The conversation as the judge sees it: the last user message, or a transcript."""
    if len(messages) == 1:
        return messages[0].get("content", "")
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


def _label_probs(
    loaded, user_texts: list[str], labels: tuple[str, ...], system: str = JUDGE_SYSTEM
) -> list[dict[str, float]]:
    """Raw P(label) (softmax mass, not renormalised) of the judge's next token after each prompt."""
    from curation.llm.judge import next_token_label_probs

    loaded.require_local("The algorithmic judge")
    prompts = [[{"role": "system", "content": system}, {"role": "user", "content": u}] for u in user_texts]
    spelled = {label: LABEL_SPELLINGS.get(label, (label,)) for label in labels}  # letters, digits: themselves
    spellings = tuple(dict.fromkeys(s for label in labels for s in spelled[label]))
    probs = next_token_label_probs(loaded, prompts, spellings, assistant_prefix=ANSWER_PREFIX, normalise=False)
    return [{label: sum(p[s] for s in spelled[label]) for label in labels} for p in probs]


def _calibrated(raw: dict[str, float], prior: dict[str, float]) -> dict[str, float]:
    scaled = {k: raw[k] / max(prior[k], 1e-12) for k in raw}
    total = sum(scaled.values()) or 1.0
    return {k: v / total for k, v in scaled.items()}


def _pair_both_orders(loaded, messages, text_a: str, text_b: str, system: str = JUDGE_SYSTEM) -> dict:
    """Both orders of one pair, in canonical terms (see the module docstring)."""
    from curation.llm.judge import combine_orders

    q = _question(messages)
    ab, ba, free = _label_probs(
        loaded,
        [
            PAIRWISE_TEMPLATE.format(question=q, a=text_a, b=text_b),
            PAIRWISE_TEMPLATE.format(question=q, a=text_b, b=text_a),
            PAIRWISE_TEMPLATE.format(question=q, a=CONTENT_FREE, b=CONTENT_FREE),
        ],
        ("A", "B"),
        system,
    )
    cal_ab, cal_ba = _calibrated(ab, free), _calibrated(ba, free)
    # FastChat-style combination (docs/algorithms.md#position-swap): the swapped order's verdict mapped back.
    combined = combine_orders(cal_ab, cal_ba)
    orders = []
    for shown, raw, cal, verdict in (
        ("AB", ab, cal_ab, combined["verdict_ab"]),
        ("BA", ba, cal_ba, combined["verdict_ba_mapped"]),
    ):
        prefers = verdict if verdict in ("A", "B") else None  # equal calibrated probabilities: no preference
        orders.append({"shown": shown, "p_a": cal["A"], "p_b": cal["B"], "raw": raw, "prefers": prefers})
    consistent = combined["verdict"] in ("A", "B")
    p_first = combined["p_a"]  # P(canonical A), averaged over the two orders
    return {
        "winner": combined["verdict"] if consistent else None,
        "consistent": consistent,
        "orders": orders,
        "prior": free,
        "p_first": p_first,
        "p_second": 1 - p_first,
        "calibration": "content-free",
    }


GUIDANCE_HEADINGS = {"canon": "How to read it", "counts": "It counts when", "excludes": "It does not count when"}


def principle_prompt_text(principle) -> str:
    """The principle as the judge's prompt gives it: ``name: description``, then its
    interpretive guidance (canons, then when it counts and when it does not), one
    entry a line under a heading per kind (docs/algorithms.md#interpretive-guidance)."""
    text = principle.name if not principle.description else f"{principle.name}: {principle.description}"
    for kind, heading in GUIDANCE_HEADINGS.items():
        entries = [e["text"] for e in principle.guidance or [] if e.get("kind") == kind]
        if entries:
            text += f"\n{heading}:\n" + "\n".join(f"- {entry}" for entry in entries)
    return text


def _principle_verdict(
    loaded, messages, text_a: str, text_b: str, principle: Principle, system: str = JUDGE_SYSTEM
) -> tuple[str, dict]:
    """A / B / NA for one principle, canonical order only (as the discretion paper's analysis)."""
    text = principle_prompt_text(principle)
    q = _question(messages)
    raw, free = _label_probs(
        loaded,
        [
            PRINCIPLE_TEMPLATE.format(question=q, principle=text, a=text_a, b=text_b),
            PRINCIPLE_TEMPLATE.format(question=q, principle=text, a=CONTENT_FREE, b=CONTENT_FREE),
        ],
        ("A", "B", "NA"),
        system,
    )
    verdict, probs = principle_verdict_from_probs(_calibrated(raw, free))
    return verdict, {**probs, "raw": raw}


def principle_verdict_from_probs(probs: dict) -> tuple[str, dict]:
    """docs/algorithms.md#principle-verdicts: NA when P(NA) is the largest or P(A) = P(B), else the larger of A and B."""
    p_a, p_b, p_na = float(probs.get("A", 0.0)), float(probs.get("B", 0.0)), float(probs.get("NA", 0.0))
    if (p_na > p_a and p_na > p_b) or p_a == p_b:
        verdict = Verdict.NA
    else:
        verdict = Verdict.A if p_a > p_b else Verdict.B
    return verdict, {"A": p_a, "B": p_b, "NA": p_na}


def _thumb(loaded, messages, text: str, system: str = JUDGE_SYSTEM) -> dict:
    q = _question(messages)
    raw, free = _label_probs(
        loaded,
        [THUMB_TEMPLATE.format(question=q, a=text), THUMB_TEMPLATE.format(question=q, a=CONTENT_FREE)],
        ("yes", "no"),
        system,
    )
    cal = _calibrated(raw, free)
    return {"yes": cal["yes"], "no": cal["no"], "raw": raw, "prior": free}


# ---------------------------------------------------------------- custom questions


def _question_subject(texts: list[str]) -> str:
    if len(texts) == 1:
        return f"Answer: {texts[0]}"
    return "\n\n".join(f"Answer {CHOICE_LETTERS[i]}: {t}" for i, t in enumerate(texts))


def _help(text: str) -> str:
    return f" ({text})" if text else ""


def question_prompts(question, messages, texts: list[str]) -> tuple[list[str], list[str], list]:
    """``(prompts, labels, keys)`` for one custom question about ``texts`` (one response, or every
    response of the item): the prompts to score (each followed by its content-free twin), the answer
    labels whose next-token probabilities decide, and what each prompt asks (a category for
    multi-label, else None). docs/algorithms.md#judge-answers."""
    version = question.current
    q = _question(messages)
    common = {"question": q, "label": version.label, "help": _help(version.description)}
    subjects = (_question_subject(texts), _question_subject([CONTENT_FREE] * len(texts)))
    if question.type == QuestionType.SINGLE_CHOICE:
        letters = choice_letters(len(version.options))
        options = "\n".join(f"{letter}. {o.get('label') or o['value']}" for letter, o in zip(letters, version.options,
                                                                                                strict=True))  # fmt: skip
        prompts = [QUESTION_CHOICE_TEMPLATE.format(subject=sub, options=options, **common) for sub in subjects]
        return prompts, letters, [None]
    if question.type == QuestionType.RATING:
        digits = rating_digits(version.scale)
        fields = {"low_digit": digits[0], "high_digit": digits[-1], "low": version.low_label or "lowest",
                  "high": version.high_label or "highest"}  # fmt: skip
        prompts = [QUESTION_RATING_TEMPLATE.format(subject=sub, **fields, **common) for sub in subjects]
        return prompts, digits, [None]
    prompts, keys = [], []
    for option in version.options:
        category = option.get("label") or option["value"]
        for sub in subjects:
            prompts.append(QUESTION_LABEL_TEMPLATE.format(subject=sub, category=category,
                                                          category_help=_help(option.get("description", "")),
                                                          **common))  # fmt: skip
        keys.append(option["value"])
    return prompts, ["yes", "no"], keys


def judge_question(loaded, question, messages, texts: list[str], *, system: str = JUDGE_SYSTEM,
                   rating_rule: str = "expected") -> JudgeAnswer:  # fmt: skip
    """The judge's answer to one custom question about ``texts``, from calibrated next-token
    probabilities (docs/algorithms.md#judge-answers); the raw and calibrated numbers in ``details``."""
    prompts, labels, keys = question_prompts(question, messages, texts)
    probs = _label_probs(loaded, prompts, tuple(labels), system)
    pairs = [(probs[i], probs[i + 1]) for i in range(0, len(probs), 2)]  # (asked, content-free)
    if question.type == QuestionType.MULTI_LABEL:
        calibrated = {key: _calibrated(raw, free) for key, (raw, free) in zip(keys, pairs, strict=True)}
        answer = labels_from_probs(calibrated)
        raw = {key: raw for key, (raw, _) in zip(keys, pairs, strict=True)}
        return JudgeAnswer(answer.value, {**answer.details, "raw": raw, "calibration": "content-free"})
    ((raw, free),) = pairs
    calibrated = _calibrated(raw, free)
    if question.type == QuestionType.SINGLE_CHOICE:
        answer = choice_from_probs(calibrated, question.current.values)
    else:
        answer = rating_from_probs(calibrated, question.current.scale, rule=rating_rule)
    return JudgeAnswer(answer.value, {**answer.details, "raw": raw, "prior": free, "calibration": "content-free"})


def judgeable_questions(questions, kind: str) -> list:
    """The questions a judge answers on items of ``kind``: not free text, at most 26 options for a choice."""
    return [
        q for q in questions
        if kind in q.current.kinds and q.type != QuestionType.TEXT
        and not (q.type == QuestionType.SINGLE_CHOICE and len(q.current.options) > len(CHOICE_LETTERS))
    ]  # fmt: skip


def judge_questions(*, loaded, item: Item, questions, system: str = JUDGE_SYSTEM, rating_rule: str = "expected"):
    """``(answers, decided, consistent)``: the ``AnnotationInput.answers`` of the item's questions (per
    response keyed by the response's uuid), the ``JudgeAnswer`` behind each (same layout), and the
    position check of each answer to a question about the whole item whose prompt shows two or more
    responses (``AnnotationInput.answers_consistent``).

    Such a question is asked twice, the responses in the item's order and reversed (its own swap
    test, like the pairwise verdict's): the answer is the first order's, ``consistent`` whether the
    reversed order gave the same answer, and ``details["swapped"]`` keeps the other order's answer.
    A question about one response shows no order, so it is asked once and left unchecked
    (docs/questions.md#judge-answers-and-position)."""
    responses = item.ordered_responses()
    answers, decided, consistent = {}, {}, {}
    for question in judgeable_questions(questions, item.kind):
        if question.target == QuestionTarget.RESPONSE:
            per = {str(r.uuid): judge_question(loaded, question, item.prompt.messages, [r.text], system=system,
                                               rating_rule=rating_rule) for r in responses}  # fmt: skip
            answers[question.key] = {u: a.value for u, a in per.items()}
            decided[question.key] = per
            continue
        texts = [r.text for r in responses]
        answer = judge_question(loaded, question, item.prompt.messages, texts, system=system,
                                rating_rule=rating_rule)  # fmt: skip
        if len(texts) >= 2:
            swapped = judge_question(loaded, question, item.prompt.messages, texts[::-1], system=system,
                                     rating_rule=rating_rule)  # fmt: skip
            same = swapped.value == answer.value
            consistent[question.key] = same
            answer = JudgeAnswer(answer.value, {**answer.details, "consistent": same,
                                                "swapped": {"value": swapped.value, **swapped.details}})  # fmt: skip
        answers[question.key] = answer.value
        decided[question.key] = answer
    return answers, decided, consistent


def _decided_json(decided: dict) -> dict:
    return {key: ({u: {"value": a.value, **a.details} for u, a in v.items()} if isinstance(v, dict)
                  else {"value": v.value, **v.details}) for key, v in decided.items()}  # fmt: skip


# ---------------------------------------------------------------- deciding


def judge_pairwise(*, loaded, item: Item, principles: list[Principle], system: str = JUDGE_SYSTEM) -> AnnotationInput:
    a, b = item.ordered_responses()
    pair = _pair_both_orders(loaded, item.prompt.messages, a.text, b.text, system=system)
    consistent = bool(pair["consistent"])
    data = AnnotationInput(
        choice=pair["winner"] if consistent else "tie",
        display_order=[str(a.uuid), str(b.uuid)],
        probabilities={k: v for k, v in pair.items() if k not in {"winner"}},
        consistent=consistent,
        metadata={"swap": True, "judge": "pairwise both orders"},
    )
    if principles:
        verdicts, probs = {}, {}
        for principle in principles:
            verdict, p = _principle_verdict(loaded, item.prompt.messages, a.text, b.text, principle, system=system)
            verdicts[principle.pk] = verdict
            probs[principle.name] = p
        data.verdicts = verdicts
        # The wording each verdict was given under (the judge's copy of the principle).
        data.versions = {p.pk: p.current_version_id for p in principles if p.current_version_id is not None}
        data.probabilities = {**data.probabilities, "principles": probs}
    return data


def judge_thumb(*, loaded, item: Item, system: str = JUDGE_SYSTEM) -> AnnotationInput:
    (response,) = item.ordered_responses()
    probs = _thumb(loaded, item.prompt.messages, response.text, system=system)
    p_yes, p_no = float(probs["yes"]), float(probs["no"])
    return AnnotationInput(
        choice="up" if p_yes > p_no else "down",
        display_order=[str(response.uuid)],
        probabilities=dict(probs),
        consistent=None,
        metadata={"judge": "thumb P(yes) vs P(no)"},
    )


def ranking_from_wins(uuids: list[str], wins: dict[str, float]) -> list[list[str]]:
    """Groups of response uuids, most wins first; equal scores are tied."""
    groups: dict[float, list[str]] = {}
    for u in uuids:
        groups.setdefault(wins.get(u, 0.0), []).append(u)
    return [groups[score] for score in sorted(groups, reverse=True)]


def judge_ranking(*, loaded, item: Item, system: str = JUDGE_SYSTEM) -> AnnotationInput:
    responses = item.ordered_responses()
    uuids = [str(r.uuid) for r in responses]
    wins = dict.fromkeys(uuids, 0.0)
    pairs = []
    for (i, ri), (j, rj) in itertools.combinations(enumerate(responses), 2):
        pair = _pair_both_orders(loaded, item.prompt.messages, ri.text, rj.text, system=system)
        if pair["consistent"]:
            wins[uuids[i] if pair["winner"] == "A" else uuids[j]] += 1.0
        else:
            wins[uuids[i]] += 0.5
            wins[uuids[j]] += 0.5
        pairs.append({"a": uuids[i], "b": uuids[j], **{k: v for k, v in pair.items()}})
    return AnnotationInput(
        ranking=ranking_from_wins(uuids, wins),
        display_order=uuids,
        probabilities={"pairs": pairs, "wins": wins},
        consistent=all(p["consistent"] for p in pairs),
        metadata={"judge": "ranking from pairwise wins, both orders"},
    )


def items_missing_answers(*, project: Project, annotator: Annotator, kinds, questions) -> list[int]:
    """Items this judge annotated whose annotation lacks an answer to a question it would be asked now
    (a question added, or ``questions`` switched on, after the item was judged)."""
    from annotate.models import Answer

    ids: set[int] = set()
    for kind in kinds:
        for question in judgeable_questions(questions, kind):
            answered = Answer.objects.filter(annotation=OuterRef("pk"), question=question)
            ids.update(
                Annotation.objects.filter(annotator=annotator, item__project=project, kind=kind, item__excluded=False,
                                          item__probe_for__isnull=True, item__rejudge_of__isnull=True)
                .exclude(Exists(answered))
                .values_list("item_id", flat=True)
            )  # fmt: skip
    return sorted(ids)


def items_to_judge(*, project: Project, annotator: Annotator, kinds, limit: int | None):
    judged = Annotation.objects.filter(item=OuterRef("pk"), annotator=annotator)
    items = (
        Item.objects.filter(
            project=project, kind__in=list(kinds), excluded=False, probe_for__isnull=True, rejudge_of__isnull=True
        )
        .exclude(Exists(judged))
        .order_by("id")
        .values_list("pk", flat=True)
    )
    return list(items[:limit] if limit else items)


def rejudgment_items_to_judge(*, rejudgment, annotator: Annotator) -> list[int]:
    """The pairwise copies of a re-judgment sample ``annotator`` has not judged yet
    (principle verdicts are asked of pairwise items only)."""
    judged = Annotation.objects.filter(item=OuterRef("pk"), annotator=annotator)
    items = Item.objects.filter(rejudgment=rejudgment, kind=Kind.PAIRWISE).exclude(Exists(judged)).order_by("id")
    return list(items.values_list("pk", flat=True))


def _rejudgment_of(job: Job):
    """The re-judgment sample the job judges (its ``rejudgment`` parameter), or ``None``."""
    wanted = (job.params or {}).get("rejudgment")
    return Rejudgment.objects.filter(project=job.project, uuid=wanted).first() if wanted else None


# Items per shard of a judge job: one claim, one progress step, one commit (curation.jobs.shards).
ITEMS_PER_SHARD = 16


def judge_plan(job: Job, progress: JobProgress) -> list[tuple[dict, int]]:
    """Plan the 'judge' job (phase 1 of ``curation.jobs.shards``): each member's
    items still to judge, ``ITEMS_PER_SHARD`` a shard. The planner loads each
    member's model once (the judge annotator is named after the loaded model)."""
    from curation.llm.runtime import load_model_step

    project = job.project
    params = judge_params_clean(project=project, data=job.params)
    members = params.panel or ((params.model, "default"),)
    rejudgment = _rejudgment_of(job)
    names: dict[str, str] = {}
    state, shards = [], []
    for m, (model, variant) in enumerate(members):
        wanted = model or project.model_name or ""
        if wanted not in names:
            names[wanted] = load_model_step(progress, wanted or None).name
        annotator = judge_annotator(model_name=names[wanted], variant=variant)
        if rejudgment is not None:
            plan = rejudgment_items_to_judge(rejudgment=rejudgment, annotator=annotator)
        else:
            plan = items_to_judge(project=project, annotator=annotator, kinds=params.kinds, limit=params.limit)
            if params.questions:  # items judged before a question existed are asked it now
                questions = questions_in_use(project)
                missing = items_missing_answers(project=project, annotator=annotator, kinds=params.kinds,
                                                questions=questions)  # fmt: skip
                plan = sorted(set(plan) | set(missing))
                plan = plan[: params.limit] if params.limit else plan
        state.append({"wanted": wanted, "variant": variant, "annotator": annotator.pk, "model": names[wanted]})
        progress.log(f"judge {annotator.name}: {len(plan)} item(s), principles {'on' if params.principles else 'off'}, "
                     f"questions {'on' if params.questions else 'off'}")  # fmt: skip
        shards += [
            ({"member": m, "items": plan[i : i + ITEMS_PER_SHARD]}, len(plan[i : i + ITEMS_PER_SHARD]))
            for i in range(0, len(plan), ITEMS_PER_SHARD)
        ]
    progress.save_checkpoint({"members": state})
    total = sum(units for _payload, units in shards)
    progress.message(f"{total} judgment(s) to make by {len(members)} judge(s)")
    return shards


def judge_shards_run(job: Job, shards, progress):
    """Judge the claimed shards' items (phase 2); returns the write that records the annotations."""
    from curation.llm.runtime import load_model_step

    project = job.project
    params = judge_params_clean(project=project, data=job.params)
    principles = principles_in_use(project) if params.principles else []  # retired ones are not asked
    principle_versions_current(principles)  # each has a version to record its verdicts under
    rejudgment = _rejudgment_of(job)
    if rejudgment is not None:  # only the rewritten principle, in its new wording
        principles = [rejudgment_principle(rejudgment)]
    questions = questions_in_use(project) if params.questions else []  # docs/algorithms.md#judge-answers
    members = job.checkpoint["members"]
    judged = []
    for shard in shards:
        member = members[shard.payload["member"]]
        loaded = load_model_step(progress, member["wanted"] or None)
        annotator = Annotator.objects.get(pk=member["annotator"])
        system = judge_system(member["variant"])
        rows = []
        items = shard.payload["items"]
        for n, item_id in enumerate(items, 1):
            item = Item.objects.select_related("prompt", "project").filter(pk=item_id).first()
            if item is None:
                continue
            existing = Annotation.objects.filter(item=item, annotator=annotator).first()
            if existing is not None:  # judged before: only the questions it has not answered
                asked = [q for q in questions if not existing.answers.filter(question=q).exists()]
                answers, decided, checked = judge_questions(loaded=loaded, item=item, questions=asked, system=system,
                                                            rating_rule=params.rating_rule)  # fmt: skip
                rows.append((item, (existing, answers, _decided_json(decided), checked)))
                progress.tick(f"Judging: {n} of {len(items)} items of shard {shard.index + 1}")
                continue
            data = _judge_one(loaded, item, principles, system)
            if questions:
                answers, decided, checked = judge_questions(loaded=loaded, item=item, questions=questions,
                                                            system=system, rating_rule=params.rating_rule)  # fmt: skip
                if answers:
                    data.answers, data.answers_consistent = answers, checked
                    data.probabilities = {**(data.probabilities or {}), "questions": _decided_json(decided)}
            rows.append((item, data))
            progress.tick(f"Judging: {n} of {len(items)} items of shard {shard.index + 1}")
        judged.append((shard.index, annotator, rows))

    def write() -> dict[int, dict]:
        reported = {}
        for index, annotator, rows in judged:
            counts = {"judged": 0, "inconsistent": 0, "by_kind": {}}
            for item, data in rows:
                if isinstance(data, tuple):  # answers to add to the judge's earlier annotation
                    existing, answers, decided, checked = data
                    if answers and annotation_answers_add(annotation=existing, answers=answers,
                                                          probabilities={"questions": decided},
                                                          consistent=checked):  # fmt: skip
                        counts["answered"] = counts.get("answered", 0) + 1
                    continue
                if not annotation_record(item=item, annotator=annotator, data=data).created:
                    continue  # judged meanwhile by another run of the same judge: keep the first
                counts["judged"] += 1
                counts["by_kind"][item.kind] = counts["by_kind"].get(item.kind, 0) + 1
                if data.consistent is False:
                    counts["inconsistent"] += 1
                if data.answers:
                    counts["answered"] = counts.get("answered", 0) + 1
            reported[index] = counts
        return reported

    return write


def _judge_one(loaded, item: Item, principles, system: str) -> AnnotationInput:
    if item.kind == Kind.PAIRWISE:
        return judge_pairwise(loaded=loaded, item=item, principles=principles, system=system)
    if item.kind == Kind.THUMB:
        return judge_thumb(loaded=loaded, item=item, system=system)
    return judge_ranking(loaded=loaded, item=item, system=system)


def judge_done_message(job: Job, done: int, total: int) -> str:
    return f"{done} of {total} items judged or skipped"


def judge_finish(job: Job, progress: JobProgress) -> dict:
    """Each member's counts over every shard, and its calibration card (phase 3)."""
    project = job.project
    members = job.checkpoint["members"]
    counts = [{"judged": 0, "inconsistent": 0, "by_kind": {}} for _ in members]
    for payload, result in job.shards.values_list("payload", "result"):
        total = counts[payload["member"]]
        total["judged"] += result.get("judged", 0)
        total["inconsistent"] += result.get("inconsistent", 0)
        if result.get("answered"):
            total["answered"] = total.get("answered", 0) + result["answered"]
        for kind, n in result.get("by_kind", {}).items():
            total["by_kind"][kind] = total["by_kind"].get(kind, 0) + n
    results = []
    for member, member_counts in zip(members, counts, strict=True):
        annotator = Annotator.objects.get(pk=member["annotator"])
        calibration = judge_calibration(project=project, annotator=annotator)
        progress.log(f"calibration of {annotator.name}: {calibration['verdict']}: {calibration['reason']}")
        results.append(
            {"annotator": str(annotator.uuid), "model": member["model"], "variant": member["variant"],
             **member_counts, "calibration": calibration}
        )  # fmt: skip
    rejudgment = _rejudgment_of(job)
    if rejudgment is not None:
        comparison = rejudgment_compare(rejudgment=rejudgment)
        progress.log(f"re-judgment {rejudgment.uuid}: compared on {comparison['groups']['all']['n_items']} item(s)")
    params = judge_params_clean(project=project, data=job.params)
    if not params.panel:
        return {k: v for k, v in results[0].items() if k != "variant"}
    jury = None
    questions = questions_in_use(project) if params.questions else []
    if questions:
        jury = jury_record(project=project, members=[Annotator.objects.get(pk=m["annotator"]) for m in members],
                           questions=questions, kinds=params.kinds)  # fmt: skip
        progress.log(f"jury {jury['name']}: {jury['answered']} item(s) answered")
    return {
        **({"jury": jury} if jury else {}),
        "panel": results,
        "judged": sum(r["judged"] for r in results),
        "inconsistent": sum(r["inconsistent"] for r in results),
        "model": ", ".join(sorted({r["model"] for r in results})),
    }


# ---------------------------------------------------------------- jury (docs/algorithms.md#judge-juries)


def jury_annotator(members: list[Annotator]) -> Annotator:
    """The ``model`` annotator that holds a panel's aggregate answers (one per set of members)."""
    uuids = sorted(str(m.uuid) for m in members)
    short = content_hash(uuids)[:8]
    annotator, _ = Annotator.objects.get_or_create(
        type=Annotator.Type.MODEL,
        name=f"jury [{short}] of {len(members)} judges",
        model_name=JURY_MODEL_NAME,
        defaults={"params": {"method": "jury of judge panel members (docs/algorithms.md#judge-juries)",
                             "members": uuids, "members_names": [m.name for m in members]}},
    )  # fmt: skip
    return annotator


def _member_answer(stored: dict) -> JudgeAnswer:
    return JudgeAnswer(stored["value"], {k: v for k, v in stored.items() if k != "value"})


def _jury_kind_fields(item: Item, annotations: list[Annotation]) -> dict:
    """The jury annotation's own label: never a vote (``consistent=False``); pairwise ``tie``, thumb the
    members' majority (a split by their mean calibrated P(yes) vs P(no)), ranking one tied group."""
    if item.kind == Kind.THUMB:
        ups = sum(a.choice == "up" for a in annotations)
        if 2 * ups == len(annotations):
            yes = sum(float((a.probabilities or {}).get("yes", 0.0)) for a in annotations)
            no = sum(float((a.probabilities or {}).get("no", 0.0)) for a in annotations)
            return {"choice": "up" if yes > no else "down"}
        return {"choice": "up" if 2 * ups > len(annotations) else "down"}
    if item.kind == Kind.RANKING:
        return {"ranking": [item.response_uuids()]}
    return {"choice": "tie"}


def jury_record(*, project: Project, members: list[Annotator], questions, kinds) -> dict:
    """Aggregate the members' answers to the custom questions on every item all of them answered and
    the jury has not, as one annotation of the jury annotator (``jury_answer``: majority, majority per
    category, mean). The annotation is ``consistent=False`` — a record beside the members' own
    answers, never a vote, and so are its answers (``Answer.consistent=False``) — and keeps each
    member's answer in ``probabilities["jury"]``."""
    jury = jury_annotator(members)
    member_ids = [m.pk for m in members]
    done = Annotation.objects.filter(item=OuterRef("pk"), annotator=jury)
    items = (
        Item.objects.filter(
            project=project, kind__in=list(kinds), excluded=False, probe_for__isnull=True, rejudge_of__isnull=True
        )
        .exclude(Exists(done))
        .select_related("prompt", "project")
        .order_by("id")
    )
    by_item: dict[int, list[Annotation]] = {}
    for a in Annotation.objects.filter(item__in=items, annotator_id__in=member_ids).order_by("annotator_id"):
        by_item.setdefault(a.item_id, []).append(a)
    answered = 0
    for item in items:
        annotations = by_item.get(item.pk, [])
        if len(annotations) != len(members):
            continue
        stored = [(a.probabilities or {}).get("questions") or {} for a in annotations]
        answers, record = {}, {}
        for question in judgeable_questions(questions, item.kind):
            if not all(question.key in s for s in stored):
                continue
            if question.target == QuestionTarget.RESPONSE:
                per = {}
                for uuid in item.response_uuids():
                    if all(uuid in s[question.key] for s in stored):
                        per[uuid] = jury_answer(question.type, [_member_answer(s[question.key][uuid]) for s in stored])
                answers[question.key] = {u: j.value for u, j in per.items()}
                record[question.key] = {u: {"value": j.value, **j.details} for u, j in per.items()}
            else:
                j = jury_answer(question.type, [_member_answer(s[question.key]) for s in stored])
                answers[question.key] = j.value
                record[question.key] = {"value": j.value, **j.details}
        if not answers:
            continue
        data = AnnotationInput(
            **_jury_kind_fields(item, annotations),
            answers=answers,
            # Never votes: the members' own answers are (curation.consensus.answer_counts).
            answers_consistent=dict.fromkeys(answers, False),
            display_order=item.response_uuids(),
            probabilities={"jury": record, "members": [str(m.uuid) for m in members]},
            consistent=False,
            metadata={"jury": True, "judge": "jury of the panel's answers to the custom questions; not a vote"},
        )
        if annotation_record(item=item, annotator=jury, data=data).created:
            answered += 1
    return {"annotator": str(jury.uuid), "name": jury.name, "answered": answered}


JUDGE_SHARDS = ShardSpec(plan=judge_plan, run=judge_shards_run, finish=judge_finish, done_message=judge_done_message)
