# The zincfluor screening service: `zincfluor serve` (API) and `zincfluor worker` (screen jobs).
# Built by docker-compose.yml; the model shipped in models/ is baked into the image.
#
#   docker build -t zincfluor .
#   docker run -p 8000:8000 -v zf:/data zincfluor   # embedded SQLite /data/zincfluor.db, migrated
#   docker exec CONTAINER zincfluor apikey create --name me      # the same database
#
# torch: pip resolves it from PyPI by default. To get the small CPU-only build, pass your
# PyTorch CPU wheel index: --build-arg PIP_EXTRA_INDEX_URL=<index> --build-arg TORCH_SPEC=torch==<v>+cpu
FROM python:3.11-slim

ARG PIP_EXTRA_INDEX_URL=""
ARG TORCH_SPEC="torch"
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    ZINCFLUOR_MODEL=/app/models/emission8-default \
    ZINCFLUOR_HOME=/data

WORKDIR /app
RUN pip install "${TORCH_SPEC}"
COPY pyproject.toml README.md ./
COPY zincfluor ./zincfluor
COPY api ./api
COPY migrations ./migrations
RUN pip install .
COPY models ./models

RUN useradd --create-home --uid 1000 zincfluor && mkdir -p /data && chown zincfluor /data
USER zincfluor
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --retries=5 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health')"]
CMD ["zincfluor", "serve", "--host", "0.0.0.0", "--port", "8000"]
