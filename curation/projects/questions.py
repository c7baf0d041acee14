"""A project's custom questions: define, edit (a new version), retire,
restore, reorder, and read a taxonomy file into options
(``question_<action>``, keyword-only). The settings pages, the API and
``manage.py create_project`` call these; who may call them (owners) is the
caller's check. Each write is logged in the project's activity log in the
same transaction, as principles are.

A definition is a plain mapping (what a form, a JSON body or a questions
file gives):

``key``          a slug, unique in the project: the export column and API field
``type``         ``single_choice`` | ``multi_label`` | ``rating`` | ``text``
``label``        the question as annotators read it
``description``  optional help (markdown)
``target``       ``item`` (once per item, the default) or ``response`` (once per response)
``required``     bool (default false)
``kinds``        the kinds of item it is asked on (default: every kind the project has)
``options``      single choice / multi-label: a list of strings or of
                 ``{"value", "label"?, "description"?, "subcategories"?}`` (a taxonomy)
``scale``        rating: N, answers 1..N (2..10); ``low_label`` / ``high_label`` name the ends
``max_length``   text: most characters (default 2000)

``key``, ``type`` and ``target`` are fixed once a question exists; every
other field may change, and a change writes the next :class:`QuestionVersion`
(answers keep the version they were given under).
"""

from __future__ import annotations

import json
import logging
import re

from django.core.exceptions import ValidationError
from django.db import models, transaction

from annotate.models import Kind, Project, Question, QuestionTarget, QuestionType, QuestionVersion
from curation.projects.activity import activity_record, changes_between
from curation.projects.retiring import retired_set

log = logging.getLogger(__name__)

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
LABEL_MAX = 300
OPTION_VALUE_MAX = 100
OPTION_LABEL_MAX = 200
OPTIONS_MAX = 200
SCALE_MIN, SCALE_MAX = 2, 10
TEXT_MAX_DEFAULT = 2000
TEXT_MAX = 20000
TAXONOMY_BYTES_MAX = 1_000_000
# Fields of a version (the wording annotators see); key, type and target are the question's identity.
VERSION_FIELDS = (
    "label",
    "description",
    "required",
    "kinds",
    "options",
    "scale",
    "low_label",
    "high_label",
    "max_length",
)
DEFINITION_FIELDS = ("key", "type", "target", *VERSION_FIELDS)


def _text(value, field: str, *, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError({field: "text"})
    value = value.replace("\r\n", "\n").strip()
    if required and not value:
        raise ValidationError({field: "required"})
    if len(value) > limit:
        raise ValidationError({field: f"at most {limit} characters"})
    return value


def _entry_name(entry) -> str:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict):
        for name in ("value", "name", "label"):
            if isinstance(entry.get(name), str):
                return entry[name]
    return ""


def _option(entry, where: str, parent: str) -> tuple[dict, list]:
    """One option from a string or a mapping; returns it and its raw subcategories."""
    if isinstance(entry, str):
        entry = {"value": entry}
    if not isinstance(entry, dict):
        raise ValidationError(f'{where}: a category name or an object with a "value"')
    unknown = set(entry) - {"value", "name", "label", "description", "subcategories"}
    if unknown:
        raise ValidationError(f"{where}: unknown field {sorted(unknown)[0]!r}")
    value = entry.get("value", entry.get("name"))
    if value is None and isinstance(entry.get("label"), str):
        value = entry["label"]
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f'{where}: needs a "value" (or "name")')
    value = value.strip()
    if len(value) > OPTION_VALUE_MAX:
        raise ValidationError(f"{where}: value at most {OPTION_VALUE_MAX} characters")
    label = entry.get("label", value)
    if not isinstance(label, str) or len(label.strip()) > OPTION_LABEL_MAX:
        raise ValidationError(f"{where}: label must be text of at most {OPTION_LABEL_MAX} characters")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise ValidationError(f"{where}: description must be text")
    subcategories = entry.get("subcategories", [])
    if not isinstance(subcategories, list):
        raise ValidationError(f"{where}: subcategories must be a list")
    if parent and subcategories:
        raise ValidationError(f"{where}: subcategories go one level deep")
    option = {"value": value, "label": label.strip() or value, "description": description.strip(), "parent": parent}
    return option, subcategories


def options_from_entries(entries, *, field: str = "options") -> list[dict]:
    """Flatten a list of categories (strings, or mappings with optional
    ``description`` and ``subcategories``) into options; a bad entry raises
    ``ValidationError({field: "entry N (name): why"})``."""
    if not isinstance(entries, list):
        raise ValidationError({field: "a list of categories"})
    out: list[dict] = []
    seen: set[str] = set()
    for number, entry in enumerate(entries, start=1):
        where = f"entry {number}" + (f" ({_entry_name(entry)!r})" if _entry_name(entry) else "")
        try:
            option, subcategories = _option(entry, where, "")
            rows = [option]
            for sub_number, sub in enumerate(subcategories, start=1):
                sub_where = f"{where}, subcategory {sub_number}" + (
                    f" ({_entry_name(sub)!r})" if _entry_name(sub) else ""
                )
                rows.append(_option(sub, sub_where, option["value"])[0])
        except ValidationError as error:
            raise ValidationError({field: error.messages[0]}) from None
        for row in rows:
            if row["value"].casefold() in seen:
                raise ValidationError({field: f"{where}: {row['value']!r} appears twice"})
            seen.add(row["value"].casefold())
        out.extend(rows)
    if len(out) > OPTIONS_MAX:
        raise ValidationError({field: f"at most {OPTIONS_MAX} options"})
    return out


def taxonomy_parse(data: bytes | str) -> list[dict]:
    """Options from an uploaded taxonomy file: a JSON list of categories, each
    a name or ``{"value"|"name", "label"?, "description"?, "subcategories"?: [...]}``.
    Errors name the field ``taxonomy`` and the entry."""
    if isinstance(data, bytes):
        if len(data) > TAXONOMY_BYTES_MAX:
            raise ValidationError({"taxonomy": f"at most {TAXONOMY_BYTES_MAX // 1000} kB"})
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"taxonomy": "not UTF-8 text"}) from None
    try:
        entries = json.loads(data)
    except json.JSONDecodeError as error:
        raise ValidationError({"taxonomy": f"not JSON: {error.msg} at line {error.lineno}"}) from None
    options = options_from_entries(entries, field="taxonomy")
    if not options:
        raise ValidationError({"taxonomy": "an empty list; give at least two categories"})
    return options


def _bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "on", "1", 1):
        return True
    if value in ("false", "off", "0", 0, "", None):
        return False
    raise ValidationError({field: "true or false"})


def _int(value, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError({field: "a whole number"})
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: "a whole number"}) from None


def _version_fields(qtype: str, spec: dict, project: Project) -> dict:
    """Check a definition's version fields for a question of ``qtype``; the cleaned fields."""
    errors: dict[str, str] = {}
    out: dict = {}

    def take(field, check):
        try:
            out[field] = check()
        except ValidationError as error:
            errors.update({k: " ".join(v) for k, v in error.message_dict.items()})

    take("label", lambda: _text(spec.get("label"), "label", limit=LABEL_MAX, required=True))
    take("description", lambda: _text(spec.get("description"), "description", limit=5000))
    take("required", lambda: _bool(spec.get("required", False), "required"))

    def kinds():
        value = spec.get("kinds")
        if value in (None, "", []):
            return list(project.kinds)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
            raise ValidationError({"kinds": "a list of kinds"})
        if unknown := [k for k in value if k not in Kind.values]:
            raise ValidationError({"kinds": f"unknown kind {unknown[0]!r}; expected some of {', '.join(Kind.values)}"})
        return [k for k in Kind.values if k in value]

    take("kinds", kinds)
    out.update(options=[], scale=None, low_label="", high_label="", max_length=None)
    if qtype in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_LABEL):
        for field in ("scale", "low_label", "high_label", "max_length"):
            if spec.get(field) not in (None, ""):
                errors[field] = f"not used by a {qtype} question"

        def options():
            value = spec.get("options")
            if isinstance(value, list) and value and isinstance(value[0], dict) and "parent" in value[0]:
                value = _nest(value)  # options as stored (flat, with parents): read them back
            opts = options_from_entries(value if value is not None else [])
            if len(opts) < 2:
                raise ValidationError({"options": "at least two options"})
            return opts

        take("options", options)
    elif qtype == QuestionType.RATING:
        for field in ("options", "max_length"):
            if spec.get(field) not in (None, "", []):
                errors[field] = "not used by a rating question"

        def scale():
            value = _int(spec.get("scale"), "scale")
            if value is None or not SCALE_MIN <= value <= SCALE_MAX:
                raise ValidationError({"scale": f"the number of points, {SCALE_MIN} to {SCALE_MAX}"})
            return value

        take("scale", scale)
        take("low_label", lambda: _text(spec.get("low_label"), "low_label", limit=100))
        take("high_label", lambda: _text(spec.get("high_label"), "high_label", limit=100))
    else:
        for field in ("options", "scale", "low_label", "high_label"):
            if spec.get(field) not in (None, "", []):
                errors[field] = "not used by a text question"

        def max_length():
            value = _int(spec.get("max_length"), "max_length")
            value = TEXT_MAX_DEFAULT if value is None else value
            if not 1 <= value <= TEXT_MAX:
                raise ValidationError({"max_length": f"between 1 and {TEXT_MAX}"})
            return value

        take("max_length", max_length)
    if errors:
        raise ValidationError(errors)
    return out


def _nest(options: list[dict]) -> list[dict]:
    """Stored (flat) options back into the nested form a definition gives."""
    out: list[dict] = []
    by_value: dict[str, dict] = {}
    for option in options:
        entry = {k: option.get(k, "") for k in ("value", "label", "description")}
        if option.get("parent") and option["parent"] in by_value:
            by_value[option["parent"]].setdefault("subcategories", []).append(entry)
        else:
            by_value[entry["value"]] = entry
            out.append(entry)
    return out


def question_definition(question: Question) -> dict:
    """A question's current definition as a plain mapping (what the API returns
    and what ``question_add`` takes back)."""
    version = question.current
    spec = {
        "key": question.key,
        "type": question.type,
        "target": question.target,
        "version": version.number,
        "label": version.label,
        "description": version.description,
        "required": version.required,
        "kinds": list(version.kinds),
    }
    if question.type in (QuestionType.SINGLE_CHOICE, QuestionType.MULTI_LABEL):
        spec["options"] = _nest(version.options)
    elif question.type == QuestionType.RATING:
        spec.update(scale=version.scale, low_label=version.low_label, high_label=version.high_label)
    else:
        spec["max_length"] = version.max_length
    spec["retired"] = question.retired
    return spec


def question_check(*, project: Project, spec: dict) -> dict:
    """Check a whole definition for a new question without writing: the cleaned
    fields, or ``ValidationError`` naming every bad field."""
    if not isinstance(spec, dict):
        raise ValidationError({"question": "an object with key, type, label, ..."})
    unknown = set(spec) - set(DEFINITION_FIELDS) - {"version", "retired", "taxonomy"}
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "not a question field"})
    errors: dict[str, str] = {}
    key = spec.get("key")
    if not isinstance(key, str) or not KEY_RE.match(key.strip()):
        errors["key"] = "a lowercase name of letters, digits and _ starting with a letter (at most 64)"
    qtype = spec.get("type")
    if qtype not in QuestionType.values:
        errors["type"] = f"one of {', '.join(QuestionType.values)}"
    target = spec.get("target") or QuestionTarget.ITEM
    if target not in QuestionTarget.values:
        errors["target"] = f"one of {', '.join(QuestionTarget.values)}"
    fields: dict = {}
    if qtype in QuestionType.values:
        try:
            fields = _version_fields(qtype, spec, project)
        except ValidationError as error:
            errors.update({k: " ".join(v) for k, v in error.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    return {"key": key.strip(), "type": qtype, "target": target, **fields}


def _log_fields(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v not in ("", None, [])}


def question_add(*, project: Project, spec: dict, user) -> Question:
    """Add a question at the end of the project's list, with its version 1.
    ``ValidationError`` naming the field (a taken key: ``key``), nothing written."""
    fields = question_check(project=project, spec=spec)
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").get()  # one add at a time
        if Question.objects.filter(project=project, key=fields["key"]).exists():
            raise ValidationError({"key": f"this project already has a question {fields['key']!r}"})
        last = Question.objects.filter(project=project).aggregate(m=models.Max("position"))["m"]
        question = Question.objects.create(
            project=project,
            key=fields["key"],
            type=fields["type"],
            target=fields["target"],
            position=0 if last is None else last + 1,
        )
        version = QuestionVersion.objects.create(
            question=question,
            number=1,
            created_by=user if getattr(user, "is_authenticated", False) else None,
            **{k: fields[k] for k in VERSION_FIELDS},
        )
        question.current = version
        question.save(update_fields=["current"])
        activity_record(
            project=project,
            actor=user,
            verb="question.add",
            target=question,
            changes={k: [None, v] for k, v in _log_fields(fields).items()},
        )
    log.info("%s added question %s to %s", user, question.key, project.slug)
    return question


def question_update(*, question: Question, spec: dict, user) -> Question:
    """Change a question's wording, options, scale, required flag or kinds: the
    fields given replace the current version's, and when anything changed the
    next version is written (past answers keep theirs). ``key``, ``type`` and
    ``target`` cannot change (a field error if given different)."""
    if not isinstance(spec, dict):
        raise ValidationError({"question": "an object"})
    for field in ("key", "type", "target"):
        if field in spec and spec[field] != getattr(question, field):
            raise ValidationError({field: f"a question's {field} cannot change; retire it and add a new one"})
    unknown = set(spec) - set(DEFINITION_FIELDS) - {"version", "retired"}
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "not a question field"})
    with transaction.atomic():
        locked = (
            Question.objects.select_for_update(of=("self",)).select_related("current", "project").get(pk=question.pk)
        )
        current = locked.current
        before = {k: getattr(current, k) for k in VERSION_FIELDS}
        merged = {**before, **{k: v for k, v in spec.items() if k in VERSION_FIELDS}}
        fields = _version_fields(locked.type, merged, locked.project)
        changed = changes_between(before, fields)
        if changed:
            version = QuestionVersion.objects.create(
                question=locked,
                number=current.number + 1,
                created_by=user if getattr(user, "is_authenticated", False) else None,
                **fields,
            )
            locked.current = version
            locked.save(update_fields=["current"])
            activity_record(
                project=locked.project,
                actor=user,
                verb="question.update",
                target=locked,
                changes={"version": [current.number, version.number], **changed},
            )
    question.current = locked.current
    return question


def question_retire(*, question: Question, user, retired: bool = True) -> Question:
    """Retire a question (no longer asked; its answers stay for audits and
    exports), or with ``retired=False`` ask it again, at the end of the list."""
    return retired_set(question, label=question.key, noun="question", user=user, retired=retired)


def question_move(*, question: Question, offset: int, user) -> list[Question]:
    """Move a question in use ``offset`` places (−1 up, +1 down) among those in use."""
    with transaction.atomic():
        rows = list(Question.objects.select_for_update().filter(project=question.project_id).order_by("position", "id"))
        in_use = [q for q in rows if q.retired_at is None]
        ids = [q.pk for q in in_use]
        if question.pk not in ids:
            raise ValidationError({"question": "a retired question has no place in the order; restore it first"})
        index = ids.index(question.pk)
        target = min(max(index + offset, 0), len(ids) - 1)
        before = [q.key for q in in_use]
        in_use.insert(target, in_use.pop(index))
        new = in_use + [q for q in rows if q.retired_at is not None]
        changed = [q for position, q in enumerate(new) if q.position != position]
        for position, q in enumerate(new):
            q.position = position
        if changed:
            Question.objects.bulk_update(changed, ["position"])
        after = [q.key for q in in_use]
        if before != after:
            activity_record(
                project=rows[0].project, actor=user, verb="question.reorder", changes={"order": [before, after]}
            )
    return in_use
