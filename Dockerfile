# HealthGate image: both entry points, healthgate-operator and healthgate-sidecar.
# Multi-stage: the build stage has pip and a compiler toolchain's worth of wheels; the final stage
# only copies the finished virtualenv, runs as a numeric non-root UID and needs no writable root
# filesystem (no .pyc writes, no caches, config arrives as a mounted ConfigMap).
ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY sidecar ./sidecar
COPY operator ./operator
RUN python -m venv /opt/healthgate \
 && /opt/healthgate/bin/pip install --no-compile . \
 && /opt/healthgate/bin/python -m compileall -q /opt/healthgate/lib

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="healthgate" \
      org.opencontainers.image.description="HealthGate operator and sidecar" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /opt/healthgate /opt/healthgate
ENV PATH=/opt/healthgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8086
CMD ["healthgate-sidecar", "serve", "--config", "/etc/healthgate/config.yaml"]
