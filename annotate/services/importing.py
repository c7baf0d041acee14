"""Importing items from JSONL files: Docket items, TRL preference rows and
Anthropic HH rows, all or nothing.

Formats (recognised per line, so one file may mix them)
    * Docket items: ``{"id", "kind", "prompt", "responses", "metadata"}``.
      ``prompt`` is a string or a conversation ``[{"role", "content"}, ...]``
      ending with a user message; ``responses`` are strings or
      ``{"text", "model", "metadata"}`` objects, as many as the kind takes
      (``models.KIND_RESPONSES``), no two the same.
    * TRL preference rows ``{"prompt", "chosen", "rejected"}``, plain text or
      conversational (``chosen``/``rejected`` a list of messages whose last
      message is the assistant's answer), including TRL's implicit-prompt form
      (no ``prompt``: the conversation shared by ``chosen`` and ``rejected``
      before their last assistant message is the prompt).
    * Anthropic HH rows ``{"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": …}``:
      both transcripts are parsed into conversations; what precedes the last
      ``Assistant:`` turn (identical in both) is the prompt, multi-turn
      transcripts becoming a user/assistant message list.
      Marker variants are read as leniently as is unambiguous (``_hh_conversation``;
      the accepted forms are listed in the README, "Import format").

    A TRL or HH row becomes a pairwise item whose two responses are put in a
    canonical order (by content hash, so ``A`` is not always the chosen one)
    plus an annotation by an ``imported`` annotator (``imported:<source>``)
    choosing the chosen one. Keys of a TRL/HH row other than the three above
    (scores, sources, …) are kept in the item's metadata.

All or nothing, or skip invalid lines
    Every line is read, decoded and validated first, collecting errors with
    their line numbers; by default only a file without any error is written,
    in one transaction. ``ImportFailed.errors`` lists ``(line, field,
    message)``. With ``skip_invalid=True`` the valid lines are written (in one
    transaction too) and the bad ones counted and listed on the report
    (``lines_rejected``, ``rejected``). Either way ``on_reject`` sees every bad
    line with its text (the import job writes them to a JSONL file). The job
    that runs this for the pages, the API and ``import_items`` is
    ``curation.imports``.

De-duplication (re-importing a file adds nothing)
    Prompts are keyed by (project, hash of their messages), responses by
    (prompt, hash of their text), items by external ``id`` or by the hash of
    (kind, prompt hash, sorted response hashes). An item already in the project
    is skipped (``items_skipped_duplicate``), even when a line with the same
    ``id`` now carries other content: an import never edits items that may
    already have annotations. The same holds for repeats inside one file,
    except that one ``id`` with two different contents in the same file is an
    error. When a labelled TRL/HH row matches an existing pairwise item that
    has no imported label yet (say the pairs were imported first as Docket
    items), its label is added to that item; an item keeps at most one
    imported label, so importing a renamed copy of a file adds nothing.

Pre-filled answers to custom questions
    A line may carry ``"answers"``: ``{question key: answer}`` as the
    annotation-ingest service takes them (``annotate.services.answers``),
    checked per line (an error names ``answers.<key>``). On a TRL/HH row they
    go with its imported label, and a question about each response takes
    ``{"chosen": answer, "rejected": answer}``. On a Docket pairwise or thumb
    item they need the label they come with, ``"choice"`` (pairwise
    ``A``/``B``/``tie``/``both_bad`` in the order the responses are given,
    thumb ``up``/``down``), and a question about each response takes a list
    in the responses' order. So existing safety labels are imported as an
    imported annotator's judgments and audited with everyone else's.

Imported labels count as judgments
    Labels are recorded by the annotation-ingest service
    (``annotate.services.annotations.annotations_record_bulk``), under the
    rules every writer follows: an imported annotator takes slots, so each
    label raises the item's ``annotation_count`` and takes one of its
    ``overlap`` slots (``slots_taken``), and the item is ``done`` once the
    count reaches its target. With overlap 3, an imported pair is shown to
    two more people; raise the overlap (or ``target_overlap``) before
    importing to get more.

Speed
    Rows are parsed and hashed once, existing rows are fetched with a few
    ``IN (...)`` queries per table (never one per row), and new rows are
    streamed with PostgreSQL ``COPY`` (``bulk_create`` elsewhere). One import
    per project runs at a time (the project row is locked for the write).
    ``bench/import.py`` measures it: about 3,000 items/s for 50,000 items on a
    shared 2-core machine, most of it PostgreSQL maintaining indexes and
    checking foreign keys at commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import JSONField
from django.utils import timezone

from annotate import jsoninput
from annotate.models import (
    CURATE_ROLES,
    KIND_RESPONSES,
    Annotation,
    Annotator,
    Item,
    ItemResponse,
    Kind,
    PairwiseChoice,
    Project,
    Prompt,
    Response,
    Source,
    ThumbChoice,
    content_hash,
)
from annotate.selectors import questions_in_use
from annotate.services.annotations import AnnotationInput, Label, annotations_record_bulk
from annotate.services.answers import answers_validate

MAX_LINE_BYTES = 1024 * 1024  # one item per line; a longer line is an error
MAX_ERRORS_KEPT = 1000  # errors kept on ImportFailed.errors (all are counted)
ERRORS_SHOWN = 20  # errors listed in str(ImportFailed)
MAX_EXTERNAL_ID = 200  # Item.external_id max_length
MAX_SOURCE_NAME = 200  # the import form's source name (it names the imported annotator, Annotator.name)
BATCH_SIZE = 2000  # rows per INSERT
QUERY_CHUNK = 5000  # values per IN (...) lookup
PROGRESS_EVERY = 2000  # lines between progress callbacks
WRITE_ATTEMPTS = 3  # the write is retried when a concurrent writer wins a unique key
ROLES = ("system", "user", "assistant")
KINDS = tuple(Kind.values)

ProgressCallback = Callable[[str, int, int | None], None]
RejectCallback = Callable[[int, str | None, str, str | None], None]  # (line, field, message, text)


@dataclass
class ImportReport:
    """What an import did. ``lines`` counts the non-blank lines read;
    ``by_kind`` the items created per kind."""

    lines: int = 0
    items_created: int = 0
    items_skipped_duplicate: int = 0
    prompts_created: int = 0
    responses_created: int = 0
    annotations_created: int = 0
    by_kind: dict = field(default_factory=dict)
    lines_rejected: int = 0  # invalid lines left out (skip-invalid mode)
    rejected: list = field(default_factory=list)  # the first MAX_ERRORS_KEPT: (line, field, message)

    def summary(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.by_kind.items()))
        return (
            f"{self.lines} lines: {self.items_created} items created"
            + (f" ({kinds})" if kinds else "")
            + f", {self.items_skipped_duplicate} duplicates skipped, "
            + (
                f"{self.lines_rejected} invalid line{'s' if self.lines_rejected != 1 else ''} skipped, "
                if self.lines_rejected
                else ""
            )
            + f"{self.prompts_created} prompts, "
            f"{self.responses_created} responses and {self.annotations_created} imported labels created"
        )

    def as_dict(self, rejected_limit: int = MAX_ERRORS_KEPT) -> dict:
        """JSON-ready: the counts, the summary, and the first ``rejected_limit``
        rejected lines as ``{"line", "field", "message"}``."""
        return {
            "lines": self.lines,
            "items_created": self.items_created,
            "items_skipped_duplicate": self.items_skipped_duplicate,
            "prompts_created": self.prompts_created,
            "responses_created": self.responses_created,
            "annotations_created": self.annotations_created,
            "by_kind": dict(self.by_kind),
            "lines_rejected": self.lines_rejected,
            "rejected": rejected_dicts(self.rejected[:rejected_limit]),
            "summary": self.summary(),
        }


def rejected_dicts(errors) -> list[dict]:
    """``(line, field, message)`` tuples as ``{"line", "field", "message"}``."""
    return [{"line": line, "field": field_name or "", "message": message} for line, field_name, message in errors]


def _format_error(line: int | None, field_name: str | None, message: str) -> str:
    if line is None:
        return message
    if field_name is None:
        # "line 5 is longer than …" reads better than "line 5: is longer than …"
        return f"line {line} {message}" if message.startswith("is ") else f"line {line}: {message}"
    return f"line {line}: field '{field_name}': {message}"


class ImportFailed(Exception):
    """The file was not imported (nothing was written).

    ``errors`` is a list of ``(line_number, field, message)``; ``line_number``
    is ``None`` for errors about the whole file and ``field`` ``None`` for
    errors about a whole line. At most ``MAX_ERRORS_KEPT`` are kept;
    ``error_count`` counts them all.
    """

    def __init__(self, errors: list[tuple[int | None, str | None, str]], error_count: int | None = None):
        self.errors = list(errors)
        self.error_count = error_count if error_count is not None else len(self.errors)
        super().__init__(self.errors)

    def messages(self, limit: int = ERRORS_SHOWN) -> list[str]:
        shown = [_format_error(*e) for e in self.errors[:limit]]
        if self.error_count > len(shown):
            shown.append(f"and {self.error_count - len(shown)} more")
        return shown

    def __str__(self) -> str:
        return "\n".join(self.messages())


class _RowError(Exception):
    def __init__(self, field_name: str | None, message: str):
        super().__init__(message)
        self.field = field_name
        self.message = message


@dataclass(slots=True)
class _Row:
    line: int
    fmt: str  # "docket", "trl" or "hh"
    kind: str
    messages: list
    prompt_hash: str
    responses: list  # [(text, hash, model_name, metadata)] in item order
    external_id: str
    item_hash: str
    metadata: dict
    chosen_hash: str | None = None  # the preferred response of a labelled row
    choice: str | None = None  # a Docket item's imported label (pairwise A/B/tie/both_bad, thumb up/down)
    answers: dict | None = None  # pre-filled answers to custom questions (per-response ones as lists in item order)


# ---------------------------------------------------------------- reading


def _read_lines(fileobj, progress: ProgressCallback | None) -> Iterator[tuple[int | None, str | None, str | None]]:
    """Yield ``(line_number, text, error)`` for every line; ``text`` is None
    when the line cannot be decoded or is too long (``error`` says why), and
    ``line_number`` is None for a file that is not text at all."""
    total = _size_of(fileobj)
    done_bytes = 0
    number = 0
    while True:
        raw = fileobj.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        if isinstance(raw, str):  # a text-mode file: already decoded
            raw = raw.encode("utf-8", "surrogatepass")
        number += 1
        done_bytes += len(raw)
        if number == 1:
            problem = _sniff(raw)
            if problem:
                yield None, None, problem
                return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            # Skip the rest of the long line without holding it in memory.
            while True:
                rest = fileobj.readline(MAX_LINE_BYTES)
                if isinstance(rest, str):
                    rest = rest.encode("utf-8", "surrogatepass")
                done_bytes += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None, f"is longer than {MAX_LINE_BYTES // (1024 * 1024)} MiB, the limit for one item"
            continue
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            bad = raw[exc.start : exc.start + 1].hex()
            yield (
                number,
                None,
                f"is not valid UTF-8 (byte 0x{bad} at byte {exc.start + 1} of the line); save the file as UTF-8",
            )
            continue
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress("read", done_bytes, total)
        yield number, text, None
    if progress is not None:
        progress("read", done_bytes, total)


def _size_of(fileobj) -> int | None:
    size = getattr(fileobj, "size", None)  # Django's UploadedFile
    if isinstance(size, int):
        return size
    try:
        return os.fstat(fileobj.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return None


def _sniff(first: bytes) -> str | None:
    """Recognise files that are not JSONL text at all, from their first bytes."""
    if first.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16 encoded (it starts with a UTF-16 byte order mark); save it as UTF-8"
    if first.startswith(b"\x1f\x8b"):
        return "the file is gzip-compressed; decompress it and import the .jsonl file"
    if first.startswith(b"PK\x03\x04"):
        return "the file is a zip archive; extract it and import the .jsonl file"
    if first.startswith(b"PAR1"):
        return "the file is a Parquet file; Docket imports JSON Lines (one JSON object per line)"
    return None


# ---------------------------------------------------------------- parsing


def _type_name(value) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "true/false",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _text(value, field_name: str) -> str:
    if not isinstance(value, str):
        raise _RowError(field_name, f"expected a string, got {_type_name(value)}")
    if not value or value.isspace():
        raise _RowError(field_name, "is empty")
    return value


def _conversation(value, field_name: str) -> list[dict]:
    """A list of ``{"role", "content"}`` messages, checked."""
    if not isinstance(value, list):
        raise _RowError(field_name, f"expected a list of messages, got {_type_name(value)}")
    if not value:
        raise _RowError(field_name, "is an empty conversation")
    messages = []
    for i, message in enumerate(value):
        where = f"{field_name}[{i}]"
        if not isinstance(message, dict):
            raise _RowError(where, f'expected a message {{"role", "content"}}, got {_type_name(message)}')
        role = message.get("role")
        if role not in ROLES:
            raise _RowError(f"{where}.role", f"expected one of {', '.join(ROLES)}, got {json.dumps(role)}")
        content = message.get("content")
        if not isinstance(content, str):
            raise _RowError(f"{where}.content", f"expected a string, got {_type_name(content)}")
        if not content or content.isspace():
            raise _RowError(f"{where}.content", "is empty")
        messages.append({"role": role, "content": content})
    return messages


def _prompt_messages(value, field_name: str = "prompt") -> list[dict]:
    if isinstance(value, str):
        return [{"role": "user", "content": _text(value, field_name)}]
    if not isinstance(value, list):
        raise _RowError(field_name, f"expected a string or a list of messages, got {_type_name(value)}")
    messages = _conversation(value, field_name)
    if messages[-1]["role"] != "user":
        raise _RowError(field_name, "the conversation must end with a user message (the responses answer it)")
    return messages


def _text_hash(text: str) -> str:
    """``models.content_hash(text)`` for a string, without the generic encoder."""
    return hashlib.sha256(encode_basestring(text).encode("utf-8")).hexdigest()


def _item_hash(kind: str, prompt_hash: str, response_hashes: Iterable[str]) -> str:
    return content_hash([kind, prompt_hash, sorted(response_hashes)])


def _parse_docket(obj: dict, line: int, kinds: set[str]) -> _Row:
    kind = obj.get("kind")
    if kind is None:
        raise _RowError("kind", f"is missing (one of {', '.join(KINDS)})")
    if kind not in KINDS:
        raise _RowError("kind", f"unknown kind {json.dumps(kind)}; expected one of {', '.join(KINDS)}")
    if kind not in kinds:
        raise _RowError("kind", f"{kind} items are not enabled in this project (enabled: {', '.join(sorted(kinds))})")

    external_id = obj.get("id", "")
    if external_id is None:
        external_id = ""
    if isinstance(external_id, bool) or not isinstance(external_id, (str, int)):
        raise _RowError("id", f"expected a string or an integer, got {_type_name(external_id)}")
    external_id = str(external_id).strip()
    if len(external_id) > MAX_EXTERNAL_ID:
        raise _RowError("id", f"is longer than {MAX_EXTERNAL_ID} characters")

    if "prompt" not in obj:
        raise _RowError("prompt", "is missing")
    messages = _prompt_messages(obj["prompt"])

    raw_responses = obj.get("responses")
    if raw_responses is None:
        raise _RowError("responses", "is missing")
    if not isinstance(raw_responses, list):
        raise _RowError(
            "responses", f'expected a list of strings or {{"text", "model"}} objects, got {_type_name(raw_responses)}'
        )
    low, high = KIND_RESPONSES[kind]
    if not low <= len(raw_responses) <= high:
        wanted = f"exactly {low} response{'s' if low > 1 else ''}" if low == high else f"{low} to {high} responses"
        raise _RowError("responses", f"a {kind} item takes {wanted}, got {len(raw_responses)}")
    responses = []
    seen: dict[str, int] = {}
    for i, value in enumerate(raw_responses):
        where = f"responses[{i}]"
        model_name, metadata = "", {}
        if isinstance(value, dict):
            text = _text(value.get("text"), f"{where}.text")
            model_name = value.get("model") or ""
            if not isinstance(model_name, str):
                raise _RowError(f"{where}.model", f"expected a string, got {_type_name(model_name)}")
            if len(model_name) > 500:
                raise _RowError(f"{where}.model", "is longer than 500 characters")
            metadata = value.get("metadata") or {}
            if not isinstance(metadata, dict):
                raise _RowError(f"{where}.metadata", f"expected an object, got {_type_name(metadata)}")
        elif isinstance(value, str):
            text = _text(value, where)
        else:
            raise _RowError(where, f'expected a string or a {{"text", "model"}} object, got {_type_name(value)}')
        digest = _text_hash(text)
        if digest in seen:
            raise _RowError(
                where, f"is the same text as responses[{seen[digest]}]; the responses of an item must differ"
            )
        seen[digest] = i
        responses.append((text, digest, model_name, metadata))

    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise _RowError("metadata", f"expected an object, got {_type_name(metadata)}")
    prompt_hash = content_hash(messages)
    return _Row(
        line=line,
        fmt="docket",
        kind=kind,
        messages=messages,
        prompt_hash=prompt_hash,
        responses=responses,
        external_id=external_id,
        item_hash=_item_hash(kind, prompt_hash, seen),
        metadata=metadata,
    )


def _trl_answer(value, field_name: str) -> str:
    """The response in a TRL ``chosen``/``rejected`` value: a string, or the
    last (assistant) message of a conversation."""
    if isinstance(value, str):
        return _text(value, field_name)
    if isinstance(value, list):
        messages = _conversation(value, field_name)
        if messages[-1]["role"] != "assistant":
            raise _RowError(field_name, "the last message must be the assistant's response")
        return messages[-1]["content"]
    raise _RowError(field_name, f"expected a string or a list of messages, got {_type_name(value)}")


# Speaker markers of an Anthropic-HH transcript, tried in this order; the first
# set that parses the transcript wins (the README lists them: "Import format").
_HH_MARKERS = (
    # the canonical form: each turn after a blank line ("\n\nHuman: …\n\nAssistant: …")
    ("canonical", re.compile(r"(?:\A|\n\n)[ \t]*(Human|Assistant):")),
    # a marker at the start of any line (single newlines between turns, or none before the first)
    ("line", re.compile(r"(?:\A|\n)[ \t]*(Human|Assistant):")),
    # "H:" / "A:" at the start of a line, only when no full marker appears at a line start
    ("short", re.compile(r"(?:\A|\n)[ \t]*(H|A):")),
)
_HH_ROLE = {"Human": "user", "H": "user", "Assistant": "assistant", "A": "assistant"}


def _hh_messages(text: str, name: str, pattern) -> tuple[list[dict] | None, str | None]:
    """The transcript split by one marker set: ``(messages, None)``, or
    ``(None, why)`` when these markers do not make a transcript."""
    parts = pattern.split(text)
    if len(parts) < 3:
        return None, None
    if parts[0].strip():
        return None, "text before the first Human turn"
    turns = [(_HH_ROLE[speaker], content.strip()) for speaker, content in zip(parts[1::2], parts[2::2])]
    if name == "short" and any(role != ("user", "assistant")[i % 2] for i, (role, _) in enumerate(turns)):
        return None, "'H:' / 'A:' turns that do not alternate (H, A, H, A, …), which is ambiguous"
    if turns[-1][0] != "assistant":
        return None, "the transcript must end with an Assistant turn"
    messages: list[dict] = []
    for role, content in turns[:-1]:
        if not content:
            continue  # an empty turn inside the conversation says nothing
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + content  # two turns of one speaker in a row: one message
        else:
            messages.append({"role": role, "content": content})
    if not messages or messages[-1]["role"] != "user":
        return None, "expected a Human turn before the final Assistant turn"
    messages.append({"role": "assistant", "content": turns[-1][1]})  # may be empty: the assistant said nothing
    return messages, None


def _hh_conversation(value, field_name: str) -> list[dict]:
    """An Anthropic-HH transcript as messages, read as leniently as is
    unambiguous: canonical ``\\n\\nHuman:`` / ``\\n\\nAssistant:`` markers
    first; else ``Human:`` / ``Assistant:`` at the start of any line (no
    blank line needed, none before the first turn); else ``H:`` / ``A:`` at
    line starts when they alternate. ``\\r\\n`` line ends, spaces before a
    marker and whitespace around turns are ignored; empty turns inside the
    conversation are dropped and consecutive turns of one speaker joined; the
    final Assistant turn may be empty (an empty response)."""
    if not isinstance(value, str):
        raise _RowError(
            field_name, f"expected a transcript string '\\n\\nHuman: …\\n\\nAssistant: …', got {_type_name(value)}"
        )
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    first_problem = None
    full_markers_seen = False
    for name, pattern in _HH_MARKERS:
        if name == "short" and full_markers_seen:
            break
        messages, problem = _hh_messages(text, name, pattern)
        if messages is not None:
            return messages
        if problem is not None:
            full_markers_seen = full_markers_seen or name != "short"
            first_problem = first_problem or problem
        elif name != "short" and pattern.search(text):
            full_markers_seen = True
    if first_problem is None:
        raise _RowError(field_name, "no '\\n\\nHuman:' / '\\n\\nAssistant:' turns found in the transcript")
    raise _RowError(field_name, first_problem)


def _parse_preference(obj: dict, line: int, kinds: set[str], fmt: str) -> _Row:
    if Kind.PAIRWISE not in kinds:
        raise _RowError(
            None, "preference rows become pairwise items, and pairwise items are not enabled in this project"
        )
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise _RowError(key, "is missing")
    if fmt == "trl":
        messages = _prompt_messages(obj["prompt"])
        chosen = _trl_answer(obj["chosen"], "chosen")
        rejected = _trl_answer(obj["rejected"], "rejected")
    elif fmt == "trl-implicit":
        chosen_conv = _conversation(obj["chosen"], "chosen")
        rejected_conv = _conversation(obj["rejected"], "rejected")
        for key, conv in (("chosen", chosen_conv), ("rejected", rejected_conv)):
            if conv[-1]["role"] != "assistant":
                raise _RowError(key, "the last message must be the assistant's response")
            if len(conv) < 2 or conv[-2]["role"] != "user":
                raise _RowError(key, "expected a user message before the assistant's response (or give a 'prompt')")
        if chosen_conv[:-1] != rejected_conv[:-1]:
            raise _RowError("rejected", "the conversation before the last assistant message differs from 'chosen'")
        messages = chosen_conv[:-1]
        chosen, rejected = chosen_conv[-1]["content"], rejected_conv[-1]["content"]
    else:  # hh
        chosen_conv = _hh_conversation(obj["chosen"], "chosen")
        rejected_conv = _hh_conversation(obj["rejected"], "rejected")
        if chosen_conv[:-1] != rejected_conv[:-1]:
            raise _RowError("rejected", "the conversation before the last Assistant turn differs from 'chosen'")
        messages = chosen_conv[:-1]
        chosen, rejected = chosen_conv[-1]["content"], rejected_conv[-1]["content"]
    chosen_hash, rejected_hash = _text_hash(chosen), _text_hash(rejected)
    if chosen_hash == rejected_hash:
        raise _RowError("rejected", "is the same response as 'chosen'")
    pair = sorted([(chosen, chosen_hash, "", {}), (rejected, rejected_hash, "", {})], key=lambda r: r[1])
    prompt_hash = content_hash(messages)
    metadata = {k: v for k, v in obj.items() if k not in ("prompt", "chosen", "rejected", "answers")}
    metadata["import_format"] = "hh" if fmt == "hh" else "trl"
    return _Row(
        line=line,
        fmt="hh" if fmt == "hh" else "trl",
        kind=Kind.PAIRWISE,
        messages=messages,
        prompt_hash=prompt_hash,
        responses=pair,
        external_id="",
        item_hash=_item_hash(Kind.PAIRWISE, prompt_hash, (chosen_hash, rejected_hash)),
        metadata=metadata,
        chosen_hash=chosen_hash,
    )


class _StubItem:
    """What ``answers_validate`` reads of an item, for a line not written yet (responses by position)."""

    def __init__(self, kind: str, n_responses: int):
        self.kind = kind
        self._uuids = [str(n) for n in range(n_responses)]

    def response_uuids(self) -> list[str]:
        return self._uuids


def _parse_answers(obj: dict, row: _Row, questions: list) -> None:
    """A line's ``answers`` (and a Docket item's ``choice``, the imported label they come with), checked
    against the project's questions by the annotation-ingest rule; errors name ``answers.<key>``."""
    if "answers" not in obj and "choice" not in obj:
        return
    if row.fmt == "docket":
        choices = {Kind.PAIRWISE: PairwiseChoice.values, Kind.THUMB: ThumbChoice.values}.get(row.kind)
        if choices is None:
            raise _RowError("answers", f"pre-filled answers are imported on pairwise and thumb items, not {row.kind}")
        if obj.get("choice") not in choices:
            raise _RowError(
                "choice", f"the imported label of a {row.kind} item with answers: one of {', '.join(choices)}"
            )
        row.choice = obj["choice"]
    raw = obj.get("answers") or {}
    if not isinstance(raw, dict):
        raise _RowError("answers", f"expected an object of question keys and answers, got {_type_name(raw)}")
    by_key = {q.key: q for q in questions}
    answers = {}
    for key, value in raw.items():
        question = by_key.get(key)
        if question is not None and question.target == "response" and row.fmt != "docket":
            # A preference row names its responses chosen / rejected; the item's order is by hash.
            if not isinstance(value, dict) or set(value) - {"chosen", "rejected"}:
                raise _RowError(f"answers.{key}", 'expected {"chosen": answer, "rejected": answer}')
            order = ["chosen", "rejected"] if row.responses[0][1] == row.chosen_hash else ["rejected", "chosen"]
            value = [value.get(side) for side in order]
        answers[key] = value
    try:
        answers_validate(item=_StubItem(row.kind, len(row.responses)), answers=answers, questions=questions)
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        parts = name.split(".")
        if len(parts) == 3:
            raise _RowError(".".join(parts[:2]), f"response {int(parts[2]) + 1}: {messages[0]}") from None
        raise _RowError(name, messages[0]) from None
    row.answers = answers


def _parse_line(text: str, line: int, kinds: set[str], questions: list = ()) -> _Row:
    try:
        # nesting, non-finite numbers, NUL and unpaired surrogates refused here (annotate.jsoninput)
        obj = jsoninput.loads(text)
    except jsoninput.JSONInputError as exc:
        if exc.path:
            raise _RowError(exc.path, exc.message) from None
        message = exc.message if exc.message.startswith("invalid JSON") else f"invalid JSON: {exc.message}"
        raise _RowError(None, message) from None
    if not isinstance(obj, dict):
        raise _RowError(None, f"expected a JSON object (one item per line), got {_type_name(obj)}")
    if "kind" in obj or "responses" in obj:
        row = _parse_docket(obj, line, kinds)
    elif "chosen" in obj or "rejected" in obj:
        if "prompt" in obj:
            row = _parse_preference(obj, line, kinds, "trl")
        elif isinstance(obj.get("chosen"), list):
            row = _parse_preference(obj, line, kinds, "trl-implicit")
        else:
            row = _parse_preference(obj, line, kinds, "hh")
    else:
        row = None
    if row is not None:
        _parse_answers(obj, row, list(questions))
        return row
    raise _RowError(
        None,
        "unrecognised row: expected a Docket item (kind, prompt, responses), a TRL preference row "
        "(prompt, chosen, rejected) or an Anthropic HH row (chosen, rejected)",
    )


@dataclass
class _Parsed:
    rows: list[_Row]
    lines: int
    duplicates: int
    rejected: list[tuple[int | None, str | None, str]]  # the first MAX_ERRORS_KEPT
    rejected_count: int


def _parse_file(
    fileobj,
    kinds: set[str],
    progress: ProgressCallback | None,
    *,
    skip_invalid: bool = False,
    on_reject: RejectCallback | None = None,
    questions: list = (),
) -> _Parsed:
    """Parse and validate every line, with repeats inside the file removed.

    Every bad line is passed to ``on_reject``. All or nothing (the default):
    any bad line raises ``ImportFailed``. With ``skip_invalid`` bad lines are
    left out and counted, and only a problem with the whole file (not text,
    empty, no valid line at all) raises."""
    errors: list[tuple[int | None, str | None, str]] = []
    error_count = 0
    rows: list[_Row] = []
    by_hash: dict[str, _Row] = {}
    by_id: dict[str, _Row] = {}
    lines = duplicates = 0

    def fail(line, field_name, message, text=None):
        nonlocal error_count
        error_count += 1
        if len(errors) < MAX_ERRORS_KEPT:
            errors.append((line, field_name, message))
        if on_reject is not None and line is not None:
            on_reject(line, field_name, message, text.rstrip("\r\n") if text is not None else None)

    for number, text, problem in _read_lines(fileobj, progress):
        if problem is not None:
            if number is None:  # not a text file at all: nothing to skip to
                raise ImportFailed([(None, None, problem)])
            lines += 1
            fail(number, None, problem)
            continue
        if not text.strip():
            continue
        lines += 1
        try:
            row = _parse_line(text, number, kinds, questions)
        except _RowError as exc:
            fail(number, exc.field, exc.message, text)
            continue
        if row.external_id:
            first = by_id.get(row.external_id)
            if first is not None:
                if first.item_hash != row.item_hash:
                    fail(number, "id", f"{json.dumps(row.external_id)} is already used on line {first.line}", text)
                else:
                    duplicates += 1
                continue
        first = by_hash.get(row.item_hash)
        if first is not None:
            duplicates += 1
            if first.chosen_hash is None and row.chosen_hash is not None:
                first.chosen_hash, first.fmt, first.line = row.chosen_hash, row.fmt, row.line
            continue
        by_hash[row.item_hash] = row
        if row.external_id:
            by_id[row.external_id] = row
        rows.append(row)
    if not lines:
        raise ImportFailed([(None, None, "the file is empty: no JSON lines found")])
    if errors and not skip_invalid:
        raise ImportFailed(errors, error_count)
    if not rows and not duplicates:
        raise ImportFailed(
            [*errors[: MAX_ERRORS_KEPT - 1], (None, None, f"no valid line: all {lines} lines were rejected")],
            error_count + 1,
        )
    return _Parsed(rows, lines, duplicates, errors, error_count)


# ---------------------------------------------------------------- writing


def _chunks(values: list, size: int = QUERY_CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _imported_annotator(source_name: str) -> Annotator:
    name = f"imported:{source_name or 'dataset'}"[:200]
    annotator, _ = Annotator.objects.get_or_create(
        type=Annotator.Type.IMPORTED, name=name, model_name="", defaults={"params": {"source": source_name}}
    )
    return annotator


def items_import(
    *,
    project: Project,
    fileobj,
    source_name: str = "",
    user=None,
    progress: ProgressCallback | None = None,
    skip_invalid: bool = False,
    on_reject: RejectCallback | None = None,
) -> ImportReport:
    """Import a JSONL file of items into ``project``, all or nothing unless
    ``skip_invalid``.

    ``fileobj`` is a binary file-like object (an uploaded file, ``open(path,
    "rb")``). ``source_name`` names the imported annotator of TRL/HH labels
    (``imported:<source_name>``, default ``imported:dataset``) and is recorded
    on new prompts with ``user``. When ``user`` is given they must be a curator
    or owner of the project. ``progress(stage, done, total)`` is called while
    reading (``"read"``, bytes) and writing (``"write"``, items).

    Raises ``ImportFailed`` (nothing written) when any line is bad. With
    ``skip_invalid`` the valid lines are imported (still in one transaction)
    and the bad ones left out: ``report.lines_rejected`` counts them and
    ``report.rejected`` keeps the first ``MAX_ERRORS_KEPT`` as ``(line,
    field, message)``; only a file that is not text, is empty or has no
    valid line raises. ``on_reject(line, field, message, text)`` is called
    for every bad line in either mode (``text`` is the line, or None when it
    could not be read), e.g. to write them to a file.
    """
    if user is not None and not getattr(user, "is_superuser", False) and project.role_of(user) not in CURATE_ROLES:
        raise PermissionDenied("Only the project's curators can import items.")
    problem = jsoninput.bad_text(source_name)
    if problem is None and len(source_name) > MAX_SOURCE_NAME:
        problem = f"must be at most {MAX_SOURCE_NAME} characters, got {len(source_name)}"
    if problem:
        raise ImportFailed([(None, "source_name", problem)])
    parsed = _parse_file(
        fileobj,
        set(project.kinds or []),
        progress,
        skip_invalid=skip_invalid,
        on_reject=on_reject,
        questions=questions_in_use(project),
    )
    rows = parsed.rows
    provenance = {"import": {"source": source_name, "by": user.get_username() if user is not None else ""}}
    for attempt in range(WRITE_ATTEMPTS):
        report = ImportReport(
            lines=parsed.lines,
            items_skipped_duplicate=parsed.duplicates,
            lines_rejected=parsed.rejected_count,
            rejected=list(parsed.rejected),
        )
        try:
            with transaction.atomic():
                # One import per project at a time: the existence checks below
                # stay true until commit, so concurrent imports cannot collide
                # on the unique constraints.
                Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
                _write(project, rows, report, source_name, provenance, progress)
            return report
        except IntegrityError:
            # Another writer (a generation job, say) added one of our prompts
            # or responses meanwhile; everything was rolled back, so look again.
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class _Inserter:
    """Inserts rows given as tuples of column values and returns their ids.

    The ids are drawn from the table's sequence in one query and the rows are
    streamed with PostgreSQL's ``COPY`` (five to ten times faster than
    ``bulk_create``, which builds a model instance per row). Columns not given
    take the model field's default, so a field added later with a default
    needs no change here.
    """

    def __init__(self):
        self.now = timezone.now()

    def insert(self, model, columns: list[str], rows: list[tuple], returning: bool = True) -> list[int]:
        """Insert ``rows`` (values for ``columns``, attnames); return the new
        ids in order, or ``[]`` when ``returning`` is false."""
        if not rows:
            return []
        return self._copy(model, columns, rows, returning)

    def _copy(self, model, columns: list[str], rows: list[tuple], returning: bool) -> list[int]:
        meta = model._meta
        given = {name: i for i, name in enumerate(columns)}
        out_columns = [meta.pk.column] if returning else []
        template: list = [None] * len(out_columns)  # constants; the rest is filled per row
        from_row: list[tuple[int, int]] = []  # (output position, index in row)
        as_json: list[int] = []  # output positions of JSON values from the row
        per_row_calls: list[tuple[int, Callable]] = []  # (output position, default factory)
        for f in meta.concrete_fields:
            if f.primary_key:
                continue
            position = len(out_columns)
            out_columns.append(f.column)
            template.append(None)
            if f.attname in given:
                from_row.append((position, given[f.attname]))
                if isinstance(f, JSONField):
                    as_json.append(position)
            elif getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
                template[position] = self.now
            elif f.has_default() and callable(f.default) and f.default not in (dict, list):
                per_row_calls.append((position, f.default))  # e.g. a fresh uuid per row
            else:
                value = f.get_default()  # the default, or "" / None as Django would store
                template[position] = json.dumps(value) if isinstance(f, JSONField) and value is not None else value
        quote = connection.ops.quote_name
        sql = f"COPY {quote(meta.db_table)} ({', '.join(quote(c) for c in out_columns)}) FROM STDIN"
        dumps = json.dumps
        with connection.cursor() as cursor:
            ids: list[int] = []
            if returning:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                    [quote(meta.db_table), meta.pk.column, len(rows)],
                )
                ids = [r[0] for r in cursor.fetchall()]
            # wrap_database_errors: psycopg's errors become Django's (IntegrityError, ...)
            with connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
                for n, row in enumerate(rows):
                    values = template.copy()
                    if returning:
                        values[0] = ids[n]
                    for position, index in from_row:
                        values[position] = row[index]
                    for position in as_json:
                        if values[position] is not None:
                            values[position] = dumps(values[position])
                    for position, factory in per_row_calls:
                        values[position] = factory()
                    copy.write_row(values)
        return ids


def _write(project, rows: list[_Row], report: ImportReport, source_name: str, provenance: dict, progress) -> None:
    inserter = _Inserter()
    # Items already in the project, by content hash or external id.
    existing_by_hash: dict[str, int] = {}
    for chunk in _chunks([r.item_hash for r in rows]):
        # uses item_unique_content (project, content_hash)
        existing_by_hash.update(
            Item.objects.filter(project=project, content_hash__in=chunk).values_list("content_hash", "pk")
        )
    existing_ids: set[str] = set()
    for chunk in _chunks([r.external_id for r in rows if r.external_id]):
        # exclude("") lets PostgreSQL use the partial index item_unique_external_id
        existing_ids.update(
            Item.objects.filter(project=project, external_id__in=chunk)
            .exclude(external_id="")
            .values_list("external_id", flat=True)
        )
    new_rows: list[_Row] = []
    label_existing: list[tuple[int, _Row]] = []
    for row in rows:
        existing_pk = existing_by_hash.get(row.item_hash)
        if existing_pk is not None or (row.external_id and row.external_id in existing_ids):
            report.items_skipped_duplicate += 1
            if existing_pk is not None and row.chosen_hash is not None:
                label_existing.append((existing_pk, row))
        else:
            new_rows.append(row)

    needs_annotator = label_existing or any(r.chosen_hash is not None or r.choice for r in new_rows)
    annotator = _imported_annotator(source_name) if needs_annotator else None
    total = len(new_rows)
    if progress is not None:
        progress("write", 0, total)

    # Prompts: existing ones by hash, the rest created.
    prompt_ids: dict[str, int] = {}
    wanted_prompts = {r.prompt_hash: r.messages for r in new_rows}
    for chunk in _chunks(list(wanted_prompts)):
        # uses prompt_unique_content (project, content_hash)
        prompt_ids.update(
            Prompt.objects.filter(project=project, content_hash__in=chunk).values_list("content_hash", "pk")
        )
    existing_prompt_ids = list(prompt_ids.values())
    new_prompts = [(h, messages) for h, messages in wanted_prompts.items() if h not in prompt_ids]
    ids = inserter.insert(
        Prompt,
        ["project_id", "messages", "content_hash", "source", "metadata"],
        [(project.pk, messages, h, Source.IMPORT, provenance) for h, messages in new_prompts],
    )
    prompt_ids.update(zip((h for h, _ in new_prompts), ids))
    report.prompts_created = len(new_prompts)

    # Responses: existing ones of existing prompts, the rest created.
    response_ids: dict[tuple[int, str], int] = {}
    for chunk in _chunks(existing_prompt_ids):
        # uses response_unique_content (prompt, content_hash)
        for prompt_id, digest, pk in Response.objects.filter(prompt_id__in=chunk).values_list(
            "prompt_id", "content_hash", "pk"
        ):
            response_ids[(prompt_id, digest)] = pk
    new_responses: dict[tuple[int, str], tuple] = {}
    for row in new_rows:
        prompt_id = prompt_ids[row.prompt_hash]
        for text, digest, model_name, metadata in row.responses:
            key = (prompt_id, digest)
            if key not in response_ids and key not in new_responses:
                new_responses[key] = (prompt_id, text, digest, Source.IMPORT, model_name, metadata)
    ids = inserter.insert(
        Response,
        ["prompt_id", "text", "content_hash", "source", "model_name", "metadata"],
        list(new_responses.values()),
    )
    response_ids.update(zip(new_responses, ids))
    report.responses_created = len(new_responses)

    # Items, their response links and imported labels, a batch at a time.
    batch_size = BATCH_SIZE * 5
    for start in range(0, total, batch_size):
        batch = new_rows[start : start + batch_size]
        item_ids = inserter.insert(
            Item,
            ["project_id", "kind", "prompt_id", "external_id", "content_hash", "metadata"],
            [
                (project.pk, row.kind, prompt_ids[row.prompt_hash], row.external_id, row.item_hash, row.metadata)
                for row in batch
            ],
        )
        links = []
        labels = []
        for item_id, row in zip(item_ids, batch):
            prompt_id = prompt_ids[row.prompt_hash]
            for position, response in enumerate(row.responses):
                links.append((item_id, response_ids[(prompt_id, response[1])], position))
            if row.chosen_hash is not None:
                choice = PairwiseChoice.A if row.responses[0][1] == row.chosen_hash else PairwiseChoice.B
                labels.append(_label(project, item_id, choice, row, source_name))
            elif row.choice:
                labels.append(_label(project, item_id, row.choice, row, source_name))
            report.by_kind[row.kind] = report.by_kind.get(row.kind, 0) + 1
        inserter.insert(ItemResponse, ["item_id", "response_id", "position"], links, returning=False)
        report.items_created += len(item_ids)
        report.annotations_created += len(annotations_record_bulk(annotator=annotator, labels=labels))
        if progress is not None:
            progress("write", report.items_created, total)

    if label_existing:
        report.annotations_created += _label_existing(project, label_existing, annotator, source_name)


def _label(project: Project, item_id: int, choice: str, row: _Row, source_name: str) -> Label:
    """The imported label of a TRL/HH row (or a Docket item with ``choice``) on item ``item_id``,
    with the line's pre-filled answers."""
    return Label(
        item=Item(pk=item_id, project=project, kind=row.kind),
        data=AnnotationInput(
            choice=choice,
            metadata={"import": {"source": source_name, "format": row.fmt, "line": row.line}},
            answers=row.answers or {},
        ),
    )


def _label_existing(project, pending: list[tuple[int, _Row]], annotator: Annotator, source_name: str) -> int:
    """Add imported labels to existing pairwise items that have none yet."""
    item_ids = list({pk for pk, _ in pending})
    labelled: set[int] = set()
    positions: dict[int, dict[str, int]] = {}
    for chunk in _chunks(item_ids):
        labelled.update(
            Annotation.objects.filter(item_id__in=chunk, annotator__type=Annotator.Type.IMPORTED).values_list(
                "item_id", flat=True
            )
        )
        for item_id, position, digest in ItemResponse.objects.filter(item_id__in=chunk).values_list(
            "item_id", "position", "response__content_hash"
        ):
            positions.setdefault(item_id, {})[digest] = position
    labels = []
    for item_id, row in pending:
        if item_id in labelled:
            continue
        labelled.add(item_id)
        choice = PairwiseChoice.A if positions.get(item_id, {}).get(row.chosen_hash) == 0 else PairwiseChoice.B
        labels.append(_label(project, item_id, choice, row, source_name))
    return len(annotations_record_bulk(annotator=annotator, labels=labels))
