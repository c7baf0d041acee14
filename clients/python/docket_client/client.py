"""The client: one ``httpx.Client`` with the token, JSON errors as exceptions,
retries of safe calls, and pagination followed for you."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from . import __version__
from .datasets import Dataset
from .errors import AuthenticationError, DocketError, RateLimited, ServerError, TransportError, error_from_response
from .jobs import Job
from .models import Annotation, AnnotatorAudit, AuditItem, AuditSummary, Item, PrincipleAgreement, QuestionAgreement
from .webhooks import Webhook, WebhookDelivery

API = "/api/v1/"
RETRY_STATUSES = {429, 502, 503, 504}


def _site(url: str) -> str:
    """``http://host:8000`` from a site URL or its ``/api/v1/`` URL."""
    url = url.strip().rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, got {url!r}")
    return url


def _params(**values: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, datetime):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


class Client:
    """Docket's REST API as a token holder sees it.

    ``url`` is the site (``http://localhost:8000``; its ``/api/v1/`` URL works
    too), ``token`` an API token (``/account/tokens/``, or :meth:`login`).
    Calls that only read, and external annotations (idempotent by key), are
    retried ``retries`` times on throttling (honouring ``Retry-After``),
    502/503/504 and connection errors. Use it as a context manager, or
    :meth:`close` it.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
        verify: bool | str = True,
    ) -> None:
        if not token:
            raise ValueError("token is empty: create one on /account/tokens/ or use Client.login(...)")
        self.url = _site(url)
        self.retries = retries
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Token {token}", "User-Agent": f"docket-client/{__version__}"},
            timeout=timeout,
            transport=transport,
            verify=verify,
            follow_redirects=False,
        )

    # ------------------------------------------------------------ set-up

    @classmethod
    def login(
        cls,
        url: str,
        username: str,
        password: str,
        *,
        token_name: str = "docket-client",  # noqa: S107 - the token's label, not a secret
        ttl_hours: int | None = None,
        **kwargs: Any,
    ) -> Client:
        """Sign in with a username and password: a new named token (``POST /api/v1/auth/token/``)."""
        body: dict[str, Any] = {"username": username, "password": password, "name": token_name}
        if ttl_hours is not None:
            body["ttl_hours"] = ttl_hours
        options = {key: kwargs[key] for key in ("timeout", "verify", "transport") if key in kwargs}
        with httpx.Client(base_url=_site(url), **options) as http:
            try:
                response = http.post(API + "auth/token/", json=body)
            except httpx.TransportError as exc:
                raise TransportError(f"cannot reach {url}: {exc}") from exc
        if response.status_code != 201:
            error = error_from_response(response)
            if error.code == "invalid_credentials":
                raise AuthenticationError(error.message, status=error.status, code=error.code)
            raise error
        return cls(url, response.json()["token"], **kwargs)

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """``Client(os.environ["DOCKET_URL"], os.environ["DOCKET_TOKEN"])``."""
        return cls(os.environ["DOCKET_URL"], os.environ["DOCKET_TOKEN"], **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # ------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any) -> httpx.Response:
        """One call (``path`` under ``/api/v1/``, or an absolute URL the API gave); errors raise.

        ``retry`` defaults to True for GET.
        """
        url = path if path.startswith(("http://", "https://")) else API + path.lstrip("/")
        retry = method.upper() == "GET" if retry is None else retry
        attempts = 1 + (self.retries if retry else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if last:
                    raise TransportError(f"{method} {url}: {exc}") from exc
                time.sleep(min(2**attempt, 30))
                continue
            if response.status_code < 400:
                return response
            if response.status_code in RETRY_STATUSES and not last:
                error = error_from_response(response)
                wait = error.retry_after if isinstance(error, RateLimited) and error.retry_after else 2**attempt
                time.sleep(min(wait, 60))
                continue
            raise error_from_response(response)
        raise ServerError(f"{method} {url}: gave up")  # pragma: no cover - the loop returns or raises

    def get_json(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_params(**params)).json()

    def paginate(self, path: str, *, page_size: int = 500, **params: Any) -> Iterator[dict[str, Any]]:
        """Every row of a paginated listing, fetching the next page as you iterate."""
        page: dict[str, Any] = self.get_json(path, limit=min(max(page_size, 1), 1000), **params)
        while True:
            yield from page["results"]
            if not page.get("next"):
                return
            page = self.request("GET", page["next"]).json()

    # ------------------------------------------------------------ resources

    def me(self) -> dict[str, Any]:
        """``{"username", "projects": {slug: role}}``."""
        return self.get_json("me/")

    def projects(self) -> list[Project]:
        """The projects you may read (owner, curator or researcher)."""
        return [Project(self, row) for row in self.paginate("projects/")]

    def project(self, slug: str) -> Project:
        """One project (``NotFound`` if you hold no reading role in it)."""
        return Project(self, self.get_json(f"projects/{slug}/"))

    def job(self, job_id: str) -> Job:
        return Job(self, self.get_json(f"jobs/{job_id}/"))

    def dataset(self, dataset_id: str) -> Dataset:
        return Dataset(self, self.get_json(f"datasets/{dataset_id}/"))

    def tokens(self) -> list[dict[str, Any]]:
        """Your API tokens (name, prefix, created, last used, expiry), never the secrets."""
        return list(self.paginate("auth/tokens/"))

    def revoke_token(self, token_id: str) -> None:
        self.request("DELETE", f"auth/tokens/{token_id}/")

    def webhook_deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        """A webhook's latest deliveries, newest first (owners and curators of its project)."""
        return [WebhookDelivery.from_api(row) for row in self.get_json(f"webhooks/{webhook_id}/deliveries/")]

    def delete_webhook(self, webhook_id: str) -> None:
        self.request("DELETE", f"webhooks/{webhook_id}/")


class Project:
    """A project you can read; its fields are those of ``GET projects/<slug>/``."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._client = client
        self.raw = data
        self.slug: str = data["slug"]
        self.name: str = data.get("name", "")
        self.description: str = data.get("description", "")
        self.guidelines: str = data.get("guidelines", "")
        self.kinds: list[str] = list(data.get("kinds") or [])
        self.principles: list[str] = list(data.get("principles") or [])
        self.role: str = data.get("role", "")
        self.item_count: int = int(data.get("item_count") or 0)
        self.annotation_count: int = int(data.get("annotation_count") or 0)

    def __repr__(self) -> str:
        return f"Project({self.slug!r}, role={self.role!r}, items={self.item_count})"

    def _path(self, tail: str) -> str:
        return f"projects/{self.slug}/{tail}"

    def items(
        self,
        *,
        kind: str | None = None,
        status: str | None = None,
        excluded: bool | None = None,
        since: datetime | str | None = None,
        page_size: int = 500,
    ) -> Iterator[Item]:
        """Items with their responses (canonical order), every page in turn."""
        rows = self._client.paginate(
            self._path("items/"), page_size=page_size, kind=kind, status=status, excluded=excluded, since=since
        )
        return (Item.from_api(row) for row in rows)

    def annotations(
        self,
        *,
        kind: str | None = None,
        annotator_type: str | None = None,
        item: str | None = None,
        since: datetime | str | None = None,
        page_size: int = 500,
    ) -> Iterator[Annotation]:
        rows = self._client.paginate(
            self._path("annotations/"),
            page_size=page_size,
            kind=kind,
            annotator_type=annotator_type,
            item=item,
            since=since,
        )
        return (Annotation.from_api(row) for row in rows)

    def audit(self) -> AuditSummary:
        """The latest audit's summary (``NotFound`` with code ``no_audit`` before the first one)."""
        return AuditSummary.from_api(self._client.get_json(self._path("audit/")))

    def audit_items(
        self,
        *,
        kind: str | None = None,
        flag: str | None = None,
        min_disagreement: float | None = None,
        discretion_category: str | None = None,
        ordering: str | None = None,
        responses: bool = True,
        prompt: bool = False,
        limit: int | None = None,
        page_size: int = 500,
    ) -> Iterator[AuditItem]:
        """Per-item audit figures; with ``responses`` (default) each row carries its responses' texts
        (``row.chosen_text``, ``row.rejected_text``), with ``prompt`` its conversation.
        ``ordering`` e.g. ``"-ln_ches"`` (highest CHES first) or ``"-disagreement"``."""
        expand = ",".join(name for name, wanted in (("prompt", prompt), ("responses", responses)) if wanted) or None
        rows = self._client.paginate(
            self._path("audit/items/"),
            page_size=min(page_size, limit) if limit else page_size,
            kind=kind,
            flag=flag,
            min_disagreement=min_disagreement,
            discretion_category=discretion_category,
            ordering=ordering,
            expand=expand,
        )
        for count, row in enumerate(rows, start=1):
            yield AuditItem.from_api(row)
            if limit is not None and count >= limit:
                return

    def audit_annotators(
        self, *, annotator_type: str | None = None, outlier: bool | None = None, ordering: str | None = None
    ) -> list[AnnotatorAudit]:
        rows = self._client.paginate(
            self._path("audit/annotators/"), annotator_type=annotator_type, outlier=outlier, ordering=ordering
        )
        return [AnnotatorAudit.from_api(row) for row in rows]

    def audit_principles(
        self, *, group: str | None = None, kind: str | None = None, principle: str | int | None = None
    ) -> list[PrincipleAgreement]:
        """How ambiguous each principle is in the latest audit: per principle, kind and group
        (``all``, ``human``, ``judge``) α of the verdicts with its interval and the split share;
        most ambiguous (lowest α) first. ``principle`` is a name or id."""
        params = {"group": group, "kind": kind, "principle": None if principle is None else str(principle)}
        rows = self._client.get_json(self._path("audit/principles/"), **params)
        return [PrincipleAgreement.from_api(row) for row in rows]

    def audit_questions(self, *, question: str | None = None, type: str | None = None) -> list[QuestionAgreement]:  # noqa: A002
        """Agreement on each custom question in the latest audit (α per question, per category for
        multi-label, annotators against the consensus); ``question`` is a key, ``type`` one of
        ``single_choice``, ``multi_label``, ``rating``, ``text``."""
        rows = self._client.get_json(self._path("audit/questions/"), question=question, type=type)
        return [QuestionAgreement.from_api(row) for row in rows]

    def export(self, format: str = "dpo", *, name: str | None = None, **options: Any) -> Job:  # noqa: A002
        """Queue an export (format options, filters, split: the API's ``ExportOptions``); returns its job.

        A bad or unknown option raises ``ValidationError`` naming it, before anything is queued.
        """
        if name is not None:
            options["name"] = name
        response = self._client.request("POST", self._path("exports/"), json={"format": format, "options": options})
        return self._client.job(response.json()["id"])

    def datasets(self, *, format: str | None = None) -> list[Dataset]:  # noqa: A002
        """The project's datasets, newest first."""
        return [Dataset(self._client, row) for row in self._client.paginate(self._path("datasets/"), format=format)]

    def webhooks(self) -> list[Webhook]:
        """The project's webhooks (owners and curators; ``NotFound`` for anyone else)."""
        return [Webhook.from_api(row) for row in self._client.get_json(self._path("webhooks/"))]

    def add_webhook(self, url: str, events: Sequence[str], *, description: str = "") -> Webhook:
        """Have Docket POST these events (``docket_client.webhooks.EVENTS``) to ``url``; the returned
        hook's ``secret`` signs them (check with ``docket_client.verify_signature``). A URL that
        resolves to a private address, or an unknown event, raises ``ValidationError`` naming it."""
        body = {"url": url, "events": list(events), "description": description}
        return Webhook.from_api(self._client.request("POST", self._path("webhooks/"), json=body).json())

    def annotate_external(
        self,
        item: str | Item,
        *,
        annotator: str,
        model_name: str,
        annotator_prompt: str = "",
        choice: str = "",
        strength: int | None = None,
        ranking: list[list[str]] | None = None,
        critique: str = "",
        corrected_response: str = "",
        rationale: str = "",
        verdicts: dict[str, str] | None = None,
        probabilities: Any = None,
        idempotency_key: str | uuid.UUID | None = None,
        answers: dict[str, Any] | None = None,
    ) -> Annotation:
        """Store an algorithmic annotator's judgment of ``item`` (curators and owners).

        The annotator is stored like Docket's own judges (by ``annotator`` name and
        ``model_name``). The call is idempotent: the same ``idempotency_key`` (one
        is made for you and reused across retries), or a second judgment of the
        same item by the same annotator, returns the first annotation. ``answers``: the
        project's custom questions by key (a question about each response: an object
        keyed by response id), as ``Annotation.answers`` gives them back.
        """
        who = {"name": annotator, "model_name": model_name, "prompt": annotator_prompt}
        return self._annotate(
            item, who, choice=choice, strength=strength, ranking=ranking, critique=critique,
            corrected_response=corrected_response, rationale=rationale, verdicts=verdicts,
            probabilities=probabilities, idempotency_key=idempotency_key, answers=answers,
        )  # fmt: skip

    def annotate(
        self,
        item: str | Item,
        *,
        choice: str = "",
        strength: int | None = None,
        ranking: list[list[str]] | None = None,
        critique: str = "",
        corrected_response: str = "",
        rationale: str = "",
        verdicts: dict[str, str] | None = None,
        idempotency_key: str | uuid.UUID | None = None,
        answers: dict[str, Any] | None = None,
    ) -> Annotation:
        """Store your own judgment of ``item`` as a person (curators and owners): the same annotator
        as on the annotate page, taking one of the item's slots. The project's required questions
        must be answered (``ValidationError`` naming ``answers.<key>`` otherwise, nothing stored).
        Idempotent like ``annotate_external``."""
        return self._annotate(
            item, None, choice=choice, strength=strength, ranking=ranking, critique=critique,
            corrected_response=corrected_response, rationale=rationale, verdicts=verdicts,
            probabilities=None, idempotency_key=idempotency_key, answers=answers,
        )  # fmt: skip

    def _annotate(self, item: str | Item, who: dict | None, *, choice, strength, ranking, critique,
                  corrected_response, rationale, verdicts, probabilities, idempotency_key, answers) -> Annotation:  # fmt: skip
        item_id = item.id if isinstance(item, Item) else str(item)
        body: dict[str, Any] = {
            "idempotency_key": str(idempotency_key or uuid.uuid4()),
            "choice": choice,
            "strength": strength,
            "ranking": ranking,
            "critique": critique,
            "corrected_response": corrected_response,
            "rationale": rationale,
            "verdicts": verdicts or {},
            "probabilities": probabilities,
            "answers": answers or {},
        }
        if who is not None:
            body["annotator"] = who
        response = self._client.request("POST", self._path(f"items/{item_id}/annotations/"), json=body, retry=True)
        return Annotation.from_api(response.json())


__all__ = ["Client", "DocketError", "Project"]
