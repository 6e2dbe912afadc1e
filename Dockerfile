# CS Connector: one image, `cs-connector serve` by default (the built-in scheduler with
# /healthz and /metrics on :9108). For an external scheduler, run `cs-connector run --once`.
# No secrets in any layer: every credential comes from the environment at run time.

# The base image by exact version and Debian release, so a rebuild gets the same Python; bump
# it on purpose (Dependabot/Renovate can), or pin by digest: --build-arg PYTHON_IMAGE=python@sha256:…
ARG PYTHON_IMAGE=python:3.12.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

FROM ${PYTHON_IMAGE}
RUN useradd --create-home --uid 10001 connector && mkdir /data && chown connector /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY mappings ./mappings
COPY playbooks ./playbooks
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MAPPINGS_DIR=/app/mappings \
    PLAYBOOKS_DIR=/app/playbooks \
    STATE_DATABASE_URL=sqlite:////data/state.db
USER connector
VOLUME /data
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"]
ENTRYPOINT ["cs-connector"]
CMD ["serve"]
