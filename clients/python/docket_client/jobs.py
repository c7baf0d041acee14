"""Background jobs (exports, audits): poll, wait with a progress bar, get the dataset."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import DocketError, JobFailed

if TYPE_CHECKING:
    from .client import Client
    from .datasets import Dataset

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobProgress:
    done: int
    total: int
    percent: int


class Job:
    """A job as ``GET jobs/<uuid>/`` last reported it; :meth:`refresh` asks again."""

    def __init__(self, client: Client, data: dict[str, Any]) -> None:
        self._client = client
        self._set(data)

    def _set(self, data: dict[str, Any]) -> None:
        self.raw = data
        self.id: str = data["id"]
        self.url: str = data["url"]
        self.project: str = data.get("project", "")
        self.kind: str = data.get("kind", "")
        self.status: str = data["status"]
        progress = data.get("progress") or {}
        self.progress = JobProgress(
            done=int(progress.get("done") or 0),
            total=int(progress.get("total") or 0),
            percent=int(progress.get("percent") or 0),
        )
        self.message: str = data.get("message") or ""
        self.result: Any = data.get("result")
        self.error: str = data.get("error") or ""
        self._dataset: dict[str, Any] | None = data.get("dataset")

    def __repr__(self) -> str:
        return f"Job({self.id!r}, kind={self.kind!r}, status={self.status!r}, {self.progress.percent}%)"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def refresh(self) -> Job:
        self._set(self._client.get_json(self.url))
        return self

    def cancel(self) -> Job:
        """Ask the server to cancel (a running job stops after its current batch)."""
        self._set(self._client.request("POST", f"jobs/{self.id}/cancel/").json())
        return self

    def wait(self, *, timeout: float | None = None, poll_interval: float = 1.0, progress: bool = False) -> Job:
        """Poll until the job ends; returns it when it succeeded.

        Raises :class:`JobFailed` when it failed or was cancelled, ``TimeoutError``
        after ``timeout`` seconds (the job goes on). ``progress=True`` draws a
        tqdm bar of ``done``/``total`` (a plain line on stderr without tqdm).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = _Bar(self) if progress else None
        try:
            while True:
                if bar is not None:
                    bar.update(self)
                if self.finished:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"job {self.id} still {self.status} after {timeout} s")
                time.sleep(poll_interval)
                self.refresh()
        finally:
            if bar is not None:
                bar.close()
        if self.status != "succeeded":
            raise JobFailed(self)
        return self

    def dataset(self) -> Dataset:
        """The dataset a succeeded export job wrote."""
        from .datasets import Dataset

        if self._dataset is None and not self.finished:
            self.refresh()
        if self._dataset is None:
            raise DocketError(f"job {self.id} ({self.kind}, {self.status}) has no dataset", code="no_dataset")
        return Dataset(self._client, self._client.get_json(self._dataset["url"]))


class _Bar:
    """tqdm when installed, else a line on stderr rewritten in place."""

    def __init__(self, job: Job) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._tqdm = None
        else:
            self._tqdm = tqdm(total=job.progress.total or None, desc=f"{job.kind} {job.id[:8]}", unit="item")
        self._last = ""

    def update(self, job: Job) -> None:
        if self._tqdm is not None:
            if job.progress.total and self._tqdm.total != job.progress.total:
                self._tqdm.total = job.progress.total
            self._tqdm.n = job.progress.done
            self._tqdm.set_postfix_str(job.status, refresh=False)
            self._tqdm.refresh()
            return
        line = (
            f"{job.kind} {job.id[:8]}: {job.status} {job.progress.done}/{job.progress.total} ({job.progress.percent}%)"
        )
        if line != self._last:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
            self._last = line

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self._last:
            sys.stderr.write("\n")
