# callhub container image: `docker build -t callhub .`
# One image, the `hub` entry point for every role: `hub web`, `hub worker`, `hub migrate`.

# --- build: wheels for the pinned dependencies and the project itself ---------------------------
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY requirements.txt pyproject.toml ./
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt
COPY hub ./hub
COPY webhooks ./webhooks
COPY connectors ./connectors
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# --- run: the wheels installed in a venv, owned by root, run by an unprivileged user ---------------
FROM python:3.11-slim-bookworm AS run
ENV PATH=/opt/callhub/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HUB_DATA_DIR=/var/lib/callhub \
    HUB_CONFIG=/etc/callhub/hub.yaml \
    HUB_MAPPINGS_DIR=/etc/callhub/mappings \
    HUB_LOG_FORMAT=json \
    HUB_REQUIRE_LIVE=1
COPY --from=build /wheels /wheels
RUN python -m venv /opt/callhub/venv \
    && /opt/callhub/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --home-dir /var/lib/callhub --shell /usr/sbin/nologin callhub \
    && mkdir -p /var/lib/callhub /etc/callhub \
    && chown callhub /var/lib/callhub
WORKDIR /opt/callhub
COPY wsgi.py ./
COPY hub.yaml /etc/callhub/hub.yaml
COPY mappings /etc/callhub/mappings
USER callhub
EXPOSE 8000
ENTRYPOINT ["hub"]
CMD ["web", "--port", "8000"]
