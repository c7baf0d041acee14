"""One launcher per job kind: ``<kind>_create(*, project, user, params,
enqueue=True)`` checks every parameter before anything is queued, and the
commands go through it (a bad option exits naming its flag, no job)."""

from __future__ import annotations

import inspect
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from curation.audit.services import audit_create
from curation.ches.services import encode_create
from curation.exports.services import export_create
from curation.generation.services import generate_create
from curation.imports.services import import_create
from curation.jobs import registry
from curation.judging.services import judge_create
from curation.models import MODEL_KINDS, Job, JobKind
from curation.synthesis.services import synthesize_create

CREATE = {
    "generate": generate_create,
    "judge": judge_create,
    "encode": encode_create,
    "audit": audit_create,
    "synthesize": synthesize_create,
    "export": export_create,
    "import": import_create,
}
# (good params, bad params, the field the error names)
CASES = {
    "generate": ({"per_prompt": 3}, {"per_prompt": 99}, "per_prompt"),
    "judge": ({"kinds": ["pairwise"]}, {"kinds": ["judgment"]}, "kinds"),
    "encode": ({"batch_size": 2}, {"batch_size": 0}, "batch_size"),
    "audit": ({"n_boot": 10}, {"n_boot": -1}, "n_boot"),
    "synthesize": ({"n": 4}, {"top_p": 2}, "top_p"),
    "export": (
        {"format": "dpo", "options": {"min_agreement": 0.5}},
        {"format": "dpo", "options": {"min_agreement": 1.5}},
        "min_agreement",
    ),
    "import": (
        {"file": io.BytesIO(b'{"kind": "thumb", "prompt": "p", "responses": ["a"]}\n')},
        {"file": io.BytesIO(b"{}"), "skip_invalid": "maybe"},
        "skip_invalid",
    ),
}


def test_every_kind_has_one_create_service_and_one_runner():
    assert set(CREATE) == set(JobKind.values) == set(registry.RUNNERS) | set(registry.SHARDED)
    assert not set(registry.RUNNERS) & set(registry.SHARDED)
    for kind, create in CREATE.items():
        assert create.__name__ == f"{kind}_create"
        parameters = inspect.signature(create).parameters
        assert list(parameters) == ["project", "user", "params", "enqueue"], kind
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values()), kind
        assert parameters["enqueue"].default is True and parameters["params"].default is inspect.Parameter.empty


@pytest.mark.parametrize("kind", sorted(CREATE))
def test_bad_parameters_are_refused_before_anything_is_queued(
    project, personas, kind, django_capture_on_commit_callbacks
):
    _good, bad, field = CASES[kind]
    with django_capture_on_commit_callbacks(execute=False) as callbacks, pytest.raises(ValidationError) as caught:
        CREATE[kind](project=project, user=personas["curator"], params=bad)
    assert field in caught.value.message_dict, caught.value.message_dict
    assert callbacks == [] and not Job.objects.exists()


@pytest.mark.parametrize("kind", sorted(CREATE))
def test_good_parameters_queue_one_job_on_commit(project, personas, kind, django_capture_on_commit_callbacks):
    good, _bad, _field = CASES[kind]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = CREATE[kind](project=project, user=personas["curator"], params=good)
    assert (job.kind, job.status, job.created_by) == (kind, "queued", personas["curator"])
    assert len(callbacks) == 1  # sent to its queue once the transaction commits
    assert (kind in MODEL_KINDS) == (kind in ("generate", "judge", "encode", "synthesize"))
    job = CREATE[kind](project=project, user=None, params=good, enqueue=False)
    assert job.created_by is None and Job.objects.filter(kind=kind).count() == 2


def test_export_params_are_format_and_options_only(project):
    with pytest.raises(ValidationError) as caught:
        export_create(project=project, user=None, params={"format": "dpo", "min_agreement": 0.5})
    assert "params" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        export_create(project=project, user=None, params={"format": "csv"})
    assert "format" in caught.value.message_dict
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("command", "args", "flag"),
    [
        ("generate_candidates", ["--per-prompt", "99"], "--per-prompt"),
        ("judge", ["--kinds", "judgment"], "--kinds"),
        ("encode", ["--batch-size", "0"], "--batch-size"),
        ("audit", ["--n-boot", "-1"], "--n-boot"),
        ("synthesize", ["--top-p", "2"], "--top-p"),
        ("export_dataset", ["--format", "dpo", "--min-agreement", "1.5"], "--min-agreement"),
    ],
)
def test_commands_exit_naming_the_flag_and_queue_nothing(project, tmp_path, command, args, flag):
    if command == "export_dataset":
        args = [*args, "--out", str(tmp_path / "out")]
    with pytest.raises(CommandError) as caught:
        call_command(command, project.slug, *args, "--quiet")
    assert str(caught.value).startswith(f"{flag}: "), str(caught.value)
    assert not Job.objects.exists()
