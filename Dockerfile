# syntax=docker/dockerfile:1
# incident-operator: multi-stage, non-root, read-only-root-fs friendly.
# Dependencies come from requirements/image.lock (every runtime extra: aws, github, agent and the anthropic /
# openai model providers; pinned with hashes, `make lock`); the package itself is installed without resolving anything again.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements/image.lock requirements/image.lock
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/image.lock
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY bridge_lambda/ bridge_lambda/
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/venv /opt/venv
COPY crds/ /opt/incident-operator/crds/
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["incident-operator"]
CMD ["run", "--liveness", "http://0.0.0.0:8081/healthz"]
