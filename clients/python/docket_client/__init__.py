"""docket-client: a small, typed client for Docket's REST API.

from docket_client import Client
client = Client("http://localhost:8000", token)
project = client.project("demo")
dataset = project.export(format="dpo").wait(progress=True).dataset()
ds = dataset.to_datasets()          # datasets.DatasetDict
"""

__version__ = "0.1.0"

from .client import Client, Project  # noqa: E402
from .datasets import Dataset, DatasetFile  # noqa: E402
from .errors import (  # noqa: E402
    AuthenticationError,
    ChecksumMismatch,
    DocketError,
    JobFailed,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerError,
    TransportError,
    ValidationError,
)
from .jobs import Job, JobProgress  # noqa: E402
from .models import (  # noqa: E402
    Annotation,
    AnnotatorAudit,
    AnnotatorRef,
    AuditItem,
    AuditSummary,
    Item,
    PrincipleAgreement,
    QuestionAgreement,
    ResponseText,
)
from .webhooks import Webhook, WebhookDelivery, verify_signature  # noqa: E402

__all__ = [
    "Annotation",
    "AnnotatorAudit",
    "PrincipleAgreement",
    "QuestionAgreement",
    "AnnotatorRef",
    "AuditItem",
    "AuditSummary",
    "AuthenticationError",
    "ChecksumMismatch",
    "Client",
    "Dataset",
    "DatasetFile",
    "DocketError",
    "Item",
    "Job",
    "JobFailed",
    "JobProgress",
    "NotFound",
    "PermissionDenied",
    "Project",
    "RateLimited",
    "ResponseText",
    "ServerError",
    "TransportError",
    "ValidationError",
    "Webhook",
    "WebhookDelivery",
    "verify_signature",
]
