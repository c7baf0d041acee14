"""The bad-input matrix: every family of hostile value on every interface that takes user data.

Families (``FAMILIES``): nesting depth, body size, numbers out of range
(``1e999``, ``NaN``, negative, 10^40), NUL and lone surrogates in text, and
strings one past every bounded column. Interfaces:

* every API operation with a body (``auth/token/``, ``…/items/<id>/annotations/``,
  ``…/exports/``, ``…/import/``) and the query strings of every list endpoint:
  a 4xx in the API's one error shape, never a 5xx, no row written;
* every page with a form (annotate submit and skip, login, tokens, members,
  import, item filters, exclude, resolve, more judgments, CHES cut, the
  generate, judge and synthesize launchers): never a 5xx, no row written;
* the commands that take user data (``import_items``, ``export_dataset`` and
  the job commands): a ``CommandError`` naming the line or the option, no row
  written.

Each case is one request; a test walks one (interface, family) pair and lists
every field that failed, so one run shows the whole matrix.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from urllib.parse import quote_from_bytes

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from accounts.models import ApiToken
from annotate.models import (
    Annotation,
    Annotator,
    Assignment,
    Item,
    Kind,
    Membership,
    PrincipleVerdict,
    Prompt,
    Response,
)
from curation.exports.options import EXPORT_OPTIONS
from curation.jobs.runner import run_job
from curation.models import Dataset, Job
from tests.factories import PrincipleFactory, make_item

pytestmark = pytest.mark.django_db

TABLES = (Prompt, Response, Item, Annotation, Annotator, PrincipleVerdict, Membership, Job, Dataset, ApiToken)
DEEP = 50_000  # brackets


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in TABLES}


def data_tables() -> dict[str, int]:
    """``counts()`` less jobs: an import runs as a job, and its failed job row is the record of the refusal."""
    return {name: n for name, n in counts().items() if name != "Job"}


def deep_json(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


# Values per family for JSON bodies: raw JSON text to put where the field's value goes.
JSON_FAMILIES: dict[str, list[str]] = {
    "depth": [deep_json()],
    # not storable anywhere (JSONB, COPY, integer columns): refused wherever they appear
    "numbers": ["1e999", "-1e999", "NaN", "Infinity", "1" + "0" * 200],
    # out of range for a typed number (a count, a seed, a fraction): refused by that field
    "range": ["-1", "1e40", "-1e40", "0.5"],
    "nul": [json.dumps("a\u0000b")],
    "surrogate": ['"a\\ud800b"', '"\\udfff"'],
}
# Values per family for form posts and query strings: raw bytes, percent-encoded when sent.
FORM_FAMILIES: dict[str, list[bytes]] = {
    "depth": [b"[" * DEEP],
    "numbers": [b"1e999", b"NaN", b"-inf", b"-1", b"1e40", b"9" * 200],
    "nul": [b"a\x00b"],
    "surrogate": [b"a\xed\xa0\x80b", b"\xff\xfe"],
    "overlong": [b"x" * 100_001],
}


def replace_path(body: dict, path: tuple, raw: str) -> str:
    """``body`` as JSON text with the value at ``path`` replaced by the raw JSON text ``raw``."""
    marker = f"__bad_{uuid.uuid4().hex}__"
    copy = json.loads(json.dumps(body))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(copy).replace(json.dumps(marker), raw)


def leaf_paths(body: dict, prefix: tuple = ()) -> list[tuple]:
    paths = []
    for key, value in body.items():
        if isinstance(value, dict) and value:
            paths.extend(leaf_paths(value, (*prefix, key)))
        else:
            paths.append((*prefix, key))
    return paths


def is_api_error(response, low: int = 400, high: int = 499) -> str | None:
    """Why ``response`` is not a 4xx in the API's error shape (``None`` when it is)."""
    if not low <= response.status_code <= high:
        return f"status {response.status_code}: {response.content[:200]!r}"
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"status {response.status_code} but not the API's error shape: {response.content[:200]!r}"
    if error.get("status") != response.status_code or not error.get("message") or not error.get("code"):
        return f"incomplete error body {error}"
    return None


@pytest.fixture
def raw():
    return Client(raise_request_exception=False)


@pytest.fixture
def world(project, personas):
    """A project with a principle, an item of every kind and a job, and what the API needs."""
    project.kinds = list(Kind.values)
    project.save()
    principle = PrincipleFactory(project=project)
    items = {kind: make_item(project, kind=kind) for kind in Kind.values}
    job = Job.objects.create(project=project, kind="synthesize", status="succeeded", created_by=personas["owner"])
    return {"project": project, "principle": principle, "items": items, "job": job}


# ================================================================ API bodies

# Valid bodies; every leaf is then replaced by each bad value of each family.
API_BODIES = {
    "token": {"username": "owner-x", "password": "pw-secret-1", "name": "n", "ttl_hours": 1},
    "annotation": {
        "annotator": {"name": "judge", "model_name": "m", "prompt": "p"},
        "idempotency_key": "7b0c6a52-1c11-4a53-9d1f-6a9df9f3c0aa",
        "choice": "A",
        "strength": 1,
        "rationale": "r",
        "verdicts": {"PRINCIPLE": "A"},
        "probabilities": {"A": 0.5, "B": 0.5},
    },
    "export": {
        "format": "dpo",
        "options": {name: spec.default for name, spec in EXPORT_OPTIONS.items() if spec.default not in ("", None)},
    },
}
# Strings stored in bounded columns (and their bound): one character more must be a 400.
API_BOUNDED = {
    "token": {("username",): 150, ("password",): 4096, ("name",): 100},
    "annotation": {("annotator", "name"): 200, ("annotator", "model_name"): 500, ("choice",): 16},
    "export": {("options", "name"): 200, ("format",): 16},
}
# Typed numbers: every one takes the "range" family. (``probabilities`` is a judge's free-form JSON: only
# what cannot be stored is refused there, as in any free JSON.)
API_NUMBERS = {
    "token": [("ttl_hours",)],
    "annotation": [("strength",)],
    "export": [("options", name) for name, spec in EXPORT_OPTIONS.items() if spec.kind in ("int", "float")],
}


def _api_target(kind: str, world, personas, raw):
    project = world["project"]
    if kind == "token":
        user = personas["owner"]
        user.username = "owner-x"
        user.set_password("pw-secret-1")
        user.save()
        return "/api/v1/auth/token/", raw
    raw.force_login(personas["curator"])
    if kind == "annotation":
        return f"/api/v1/projects/{project.slug}/items/{world['items'][Kind.PAIRWISE].uuid}/annotations/", raw
    return f"/api/v1/projects/{project.slug}/exports/", raw


def _api_body(kind: str, world) -> dict:
    body = json.loads(json.dumps(API_BODIES[kind], default=list))
    if kind == "annotation":
        body["verdicts"] = {world["principle"].name: "A"}
    return body


@pytest.mark.parametrize("family", [*JSON_FAMILIES, "overlong", "size"])
@pytest.mark.parametrize("kind", list(API_BODIES))
def test_api_bodies(kind, family, world, personas, raw):
    url, client = _api_target(kind, world, personas, raw)
    body = _api_body(kind, world)
    cases: list[tuple[str, str]] = []
    if family == "size":
        cases = [("whole body", json.dumps({**body, "padding": "x" * (6 * 1024 * 1024)}))]
    elif family == "overlong":
        for path, bound in API_BOUNDED[kind].items():
            cases.append((".".join(path), replace_path(body, path, json.dumps("x" * (bound + 1)))))
    elif family == "range":
        for path in API_NUMBERS[kind]:
            spec = EXPORT_OPTIONS.get(path[-1]) if kind == "export" else None
            values = JSON_FAMILIES["range"]
            if spec is not None:  # just outside the option's own range, and far outside
                values = [json.dumps(spec.minimum - 1), json.dumps(spec.maximum + 1), "1e40"]
                if spec.maximum_exclusive:
                    values.append(json.dumps(spec.maximum))
            for value in values:
                cases.append((f"{'.'.join(path)}={value}", replace_path(body, path, value)))
    else:
        for path in leaf_paths(body):
            if kind == "annotation" and path[0] == "verdicts":
                path = ("verdicts",)  # the principle's name is the key
            for value in JSON_FAMILIES[family]:
                cases.append((f"{'.'.join(path)}={value[:20]}", replace_path(body, path, value)))
        if family in ("nul", "surrogate"):  # in keys too
            key = json.loads(JSON_FAMILIES[family][0])
            cases.append(("a key", json.dumps({**body, key: 1})))
    before = counts()
    failures = []
    for name, text in cases:
        response = client.generic("POST", url, text, content_type="application/json")
        problem = is_api_error(response)
        if problem:
            failures.append(f"{name}: {problem}")
        elif counts() != before:
            failures.append(f"{name}: wrote rows {counts()} (before {before})")
            before = counts()
    assert not failures, f"{kind} × {family}:\n" + "\n".join(failures)


def test_a_valid_body_of_each_kind_is_accepted(world, personas, raw):
    """The matrix's base bodies are valid, so each 400 above is caused by the one bad value."""
    for kind in API_BODIES:
        url, client = _api_target(kind, world, personas, raw)
        response = client.generic("POST", url, json.dumps(_api_body(kind, world)), content_type="application/json")
        assert response.status_code in (200, 201, 202), (kind, response.content[:300])


@pytest.mark.parametrize("family", list(FORM_FAMILIES))
def test_api_import_upload(family, world, personas, raw, no_heartbeat_thread):
    """``POST …/import/``: each bad value as the source name (a 400 at once) and as a line of the file
    (the import job fails naming line 1, nothing imported)."""
    raw.force_login(personas["curator"])
    url = f"/api/v1/projects/{world['project'].slug}/import/"
    before = data_tables()
    failures = []
    for value in JSON_FAMILIES.get(family, []) + ([json.dumps("x" * 201)] if family == "overlong" else []):
        for field in ("id",) if family == "overlong" else ("prompt", "id", "metadata"):
            base = {"kind": "thumb", "prompt": "p", "responses": ["r"], "id": "i", "metadata": {}}
            upload = io.BytesIO((replace_path(base, (field,), value) + "\n").encode("utf-8", "surrogatepass"))
            upload.name = "bad.jsonl"
            response = raw.post(url, {"file": upload})
            if response.status_code != 202:
                failures.append(f"line with {field}={value[:20]}: {response.status_code} {response.content[:200]!r}")
                continue
            job = run_job(Job.objects.get(uuid=response.json()["id"]).pk)
            rejected = (job.result or {}).get("rejected") or []
            if job.status != "failed" or [r["line"] for r in rejected] != [1]:
                failures.append(f"line with {field}={value[:20]}: job {job.status}, rejected {rejected}")
    for value in FORM_FAMILIES[family]:
        boundary = "BoUnDaRy"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="source_name"\r\n\r\n'.encode()
            + value
            + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="g.jsonl"\r\n'
            "Content-Type: application/jsonl\r\n\r\n".encode()
            + b'{"kind": "thumb", "prompt": "p", "responses": ["r"]}\n'
            + f"\r\n--{boundary}--\r\n".encode()
        )
        response = raw.generic("POST", url, body, content_type=f"multipart/form-data; boundary={boundary}")
        if response.status_code >= 500:
            failures.append(f"source_name={value[:20]!r}: {response.status_code}")
        elif family in ("nul", "overlong") and is_api_error(response):
            failures.append(f"source_name={value[:20]!r}: {is_api_error(response)}")
    assert data_tables() == before
    assert not failures, "\n".join(failures)


# ================================================================ API query strings

LIST_ENDPOINTS = {
    "items": ("kind", "status", "excluded", "since", "limit", "offset"),
    "annotations": ("kind", "annotator_type", "item", "since", "limit", "offset"),
    "prompts": ("source", "limit", "offset"),
    "datasets": ("limit", "offset"),
    "audit/items": ("limit", "offset", "kind", "sort", "flag"),
    "audit/annotators": ("limit", "offset"),
}


@pytest.mark.parametrize("family", list(FORM_FAMILIES))
@pytest.mark.parametrize("endpoint", list(LIST_ENDPOINTS))
def test_api_query_strings(endpoint, family, world, personas, raw):
    raw.force_login(personas["curator"])
    url = f"/api/v1/projects/{world['project'].slug}/{endpoint}/"
    failures = []
    for name in LIST_ENDPOINTS[endpoint]:
        for value in FORM_FAMILIES[family]:
            response = raw.get(f"{url}?{name}={quote_from_bytes(value)}")
            if response.status_code >= 500 or (response.status_code >= 400 and is_api_error(response)):
                failures.append(f"?{name}={value[:20]!r}: {is_api_error(response)}")
    assert not failures, f"{endpoint} × {family}:\n" + "\n".join(failures)


# ================================================================ pages with forms


def _pages(world, personas) -> list[tuple[str, str, str, dict[str, bytes], tuple[str, ...]]]:
    """(name, role, url, fixed fields, fields to spoil) for every page that takes user data."""
    project, items, job = world["project"], world["items"], world["job"]
    slug = project.slug
    item = items[Kind.PAIRWISE]
    principle = world["principle"]
    return [
        ("login", "", reverse("login"), {}, ("username", "password")),
        ("tokens", "researcher", reverse("account-tokens"), {"expires_in": b"7"}, ("name", "expires_in")),
        (
            "members",
            "owner",
            reverse("curation:members", args=[slug]),
            {"action": b"add", "role": b"annotator"},
            ("username", "role", "action"),
        ),
        ("import", "curator", reverse("curation:import", args=[slug]), {}, ("source_name",)),
        ("item exclude", "curator", reverse("curation:item-exclude", args=[slug, item.uuid]), {}, ("excluded",)),
        ("resolve", "curator", reverse("audit:item-resolve", args=[slug, item.uuid]), {}, ("verdict", "note")),
        ("more", "curator", reverse("audit:item-more", args=[slug, item.uuid]), {}, ("extra",)),
        (
            "generate",
            "curator",
            reverse("jobs:generate", args=[slug]),
            {"per_prompt": b"2", "max_new_tokens": b"8", "temperature": b"0.8", "top_p": b"0.9", "seed": b"0",
             "kinds": b"pairwise", "pair_rule": b"adjacent"},
            ("limit", "per_prompt", "max_new_tokens", "temperature", "top_p", "seed", "kinds", "pair_rule"),
        ),
        ("judge", "curator", reverse("jobs:judge", args=[slug]), {"kinds": b"pairwise"}, ("limit", "kinds", "principles")),
        (
            "synthesize",
            "curator",
            reverse("synthesis:launch", args=[slug]),
            {"n": b"4", "temperature": b"1", "top_p": b"1", "max_new_tokens": b"16", "seed": b"0",
             "near_duplicate_distance": b"0.1"},
            ("n", "temperature", "top_p", "max_new_tokens", "seed", "system_prompts", "languages",
             "near_duplicate_distance"),
        ),
        ("job cancel", "curator", reverse("jobs:cancel", args=[slug, job.uuid]), {}, ("reason",)),
        ("annotate skip", "annotator", "SKIP", {}, ("reason",)),
        (
            "annotate submit",
            "annotator",
            "SUBMIT",
            {},
            ("idempotency_key", "choice", "strength", "ranking", "critique", "corrected_response", "rationale",
             "time_spent_ms", f"verdict_{principle.pk}"),
        ),
    ]  # fmt: skip


# Fields that are free text: letters like "1e999", "[[[" or a replaced invalid byte are ordinary text there,
# so only NUL and overlong values must be refused. Checkboxes take any value as "on".
FREE_TEXT = {
    "name",
    "note",
    "verdict",
    "critique",
    "corrected_response",
    "rationale",
    "system_prompts",
    "reason",
    "source_name",
    "username",
    "password",
}
CHECKBOXES = {"principles"}


def _must_refuse(field: str, family: str) -> bool:
    if field in CHECKBOXES:
        return False
    if field in FREE_TEXT:
        return family in ("nul", "overlong")
    return True


GET_PAGES = [
    ("items", "curation:items", ("kind", "status", "annotator", "q", "page")),
    ("disagreement", "audit:disagreement", ("kind", "flag", "sort", "page")),
    ("ches", "audit:ches", ("mode", "keep", "value")),
    ("jobs", "jobs:list", ("page", "kind", "status")),
    ("annotate", "annotate-next", ("kind",)),
]


def _body(fields: dict[str, bytes]) -> bytes:
    return b"&".join(
        quote_from_bytes(k.encode()).encode() + b"=" + quote_from_bytes(v).encode() for k, v in fields.items()
    )


def _lease(client, project, kind: str) -> tuple[Assignment, str]:
    page = client.get(f"/p/{project.slug}/annotate/?kind={kind}")
    assert page.status_code == 200
    match = re.search(r'id="item"[^>]*data-assignment="([0-9a-f-]+)"', page.content.decode())
    key = re.search(r'name="idempotency_key" value="([0-9a-f-]+)"', page.content.decode())
    html = page.content.decode()
    assert match and key, html[html.find("<main") :][:1500]
    return Assignment.objects.get(uuid=match.group(1)), key.group(1)


@pytest.mark.parametrize("family", list(FORM_FAMILIES))
def test_pages(family, world, personas, raw):
    project = world["project"]
    failures = []
    for name, role, url, fixed, spoil in _pages(world, personas):
        if role:
            raw.force_login(personas[role])
        else:
            raw.logout()
        for kind in Kind.values if name.startswith("annotate") else [None]:
            if kind:
                make_item(project, kind=kind)  # a fresh one: a skip above may have used the last
                assignment, key = _lease(raw, project, kind)
                base = {"idempotency_key": key.encode()}
                action = "submit" if name == "annotate submit" else "skip"
                target = f"/p/{project.slug}/annotate/{assignment.uuid}/{action}/"
            else:
                base, target = {}, url
            for field in spoil:
                for value in FORM_FAMILIES[family]:
                    before = counts()
                    response = raw.generic(
                        "POST",
                        target,
                        _body({**base, **fixed, field: value}),
                        content_type="application/x-www-form-urlencoded",
                        HTTP_HX_REQUEST="true" if name.startswith("annotate") else "",
                    )
                    where = f"{name}{f' ({kind})' if kind else ''} {field}={value[:20]!r}"
                    if response.status_code >= 500:
                        failures.append(f"{where}: {response.status_code}")
                    elif counts() != before and _must_refuse(field, family):
                        failures.append(f"{where}: wrote rows ({response.status_code})")
    assert not failures, f"pages × {family}:\n" + "\n".join(failures)


@pytest.mark.parametrize("family", list(FORM_FAMILIES))
def test_get_pages(family, world, personas, raw):
    raw.force_login(personas["owner"])
    failures = []
    for name, view, params in GET_PAGES:
        url = reverse(view, args=[world["project"].slug])
        for param in params:
            for value in FORM_FAMILIES[family]:
                response = raw.get(f"{url}?{param}={quote_from_bytes(value)}")
                if response.status_code >= 500:
                    failures.append(f"{name} ?{param}={value[:20]!r}: {response.status_code}")
    assert not failures, f"GET pages × {family}:\n" + "\n".join(failures)


# ================================================================ commands


@pytest.mark.parametrize("family", ["depth", "numbers", "nul", "surrogate", "overlong"])
def test_import_command_names_the_line(family, world, tmp_path):
    values = JSON_FAMILIES.get(family) or [json.dumps("x" * 201)]  # overlong: the external id (200)
    failures = []
    before = data_tables()
    for value in values:
        for field in ("id",) if family == "overlong" else ("prompt", "id", "metadata", "responses"):
            good = json.dumps({"kind": "thumb", "prompt": "fine", "responses": ["ok"]})
            bad = replace_path(
                {"kind": "thumb", "prompt": "p", "responses": ["r"], "id": "i", "metadata": {}}, (field,), value
            )
            path = tmp_path / "bad.jsonl"
            path.write_bytes(f"{good}\n{bad}\n".encode("utf-8", "surrogatepass"))
            try:
                call_command(
                    "import_items", world["project"].slug, str(path), stdout=io.StringIO(), stderr=io.StringIO()
                )
            except CommandError as error:
                if "line 2" not in str(error):
                    failures.append(f"{field}={value[:20]}: error does not name line 2: {str(error)[:200]}")
            else:
                failures.append(f"{field}={value[:20]}: imported")
                before = data_tables()
    assert data_tables() == before
    assert not failures, "\n".join(failures)


COMMAND_CASES = [
    ("export_dataset", ["--format", "dpo", "--out", "OUT", "--seed", "-1"], "seed"),
    ("export_dataset", ["--format", "dpo", "--out", "OUT", "--seed", "1" + "0" * 40], "seed"),
    ("export_dataset", ["--format", "dpo", "--out", "OUT", "--min-agreement", "nan"], "min_agreement"),
    (
        "export_dataset",
        ["--format", "dpo", "--out", "OUT", "--ches-keep-lowest-fraction", "2"],
        "ches_keep_lowest_fraction",
    ),
    ("export_dataset", ["--format", "dpo", "--out", "OUT", "--name", "a\x00b"], "name"),
    ("export_dataset", ["--format", "dpo", "--out", "OUT", "--name", "x" * 201], "name"),
    ("generate_candidates", ["--enqueue", "--seed", "-1"], "seed"),
    ("generate_candidates", ["--enqueue", "--seed", "1" + "0" * 40], "seed"),
    ("generate_candidates", ["--enqueue", "--temperature", "nan"], "temperature"),
    ("generate_candidates", ["--enqueue", "--temperature", "inf"], "temperature"),
    ("generate_candidates", ["--enqueue", "--per-prompt", "1" + "0" * 40], "per_prompt"),
    ("generate_candidates", ["--enqueue", "--model", "a\x00b"], "model"),
    ("generate_candidates", ["--enqueue", "--model", "x" * 600], "model"),
    ("judge", ["--enqueue", "--limit", "-1"], "limit"),
    ("judge", ["--enqueue", "--kinds", "a\x00b"], "kinds"),
    ("judge", ["--enqueue", "--model", "x" * 600], "model"),
    ("synthesize", ["--enqueue", "--seed", "1" + "0" * 40], "seed"),
    ("synthesize", ["--enqueue", "--n", "-1"], "n"),
    ("synthesize", ["--enqueue", "--temperature", "nan"], "temperature"),
    ("synthesize", ["--enqueue", "--languages", "a\x00b"], "languages"),
    ("synthesize", ["--enqueue", "--system-prompts", "a\x00b"], "system_prompts"),
    ("audit", ["--enqueue", "--seed", "1" + "0" * 40], "seed"),
    ("audit", ["--enqueue", "--n-boot", "-1"], "n_boot"),
    ("encode", ["--enqueue", "--limit", "-5"], "limit"),
    ("generate_candidates", ["--enqueue", "--user", "x" * 300], "user"),
]


@pytest.mark.parametrize(
    ("command", "args", "field"), COMMAND_CASES, ids=[f"{c}-{f}-{i}" for i, (c, _a, f) in enumerate(COMMAND_CASES)]
)
def test_commands_refuse_bad_options(command, args, field, world, tmp_path):
    args = [str(tmp_path / "out") if a == "OUT" else a for a in args]
    before = counts()
    with pytest.raises(CommandError) as error:
        call_command(command, world["project"].slug, *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert field.replace("_", "") in str(error.value).replace("_", "").replace("-", "").lower(), str(error.value)
    assert counts() == before
