# One image for the five services (and the dashboard and the portal); the service is chosen by the command
# (`uvicorn --factory <service>.app:create_app`), since they share one locked dependency
# set (uv.lock) and the shared library: one image means one build and one set of layers.
#
# PYTHON_IMAGE: any Python 3.11 image with venv; containers/build.sh passes the one it built
# from Debian's packages where no registry can be reached.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG UV_VERSION=0.13.9
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_NO_CACHE=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
# uv in a venv of its own: Debian's Python refuses pip installs into the system (PEP 668).
RUN python3 -m venv /opt/uv \
 && /opt/uv/bin/pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
# A CJK font for the certificates' rendered PDFs (Chinese and English), from Debian's packages.
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends fonts-wqy-microhei \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The dependencies first, as their own layer: it is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
RUN /opt/uv/bin/uv sync --frozen --no-dev --all-packages --no-install-workspace --python python3
COPY shared shared
COPY devstack/pyproject.toml devstack/pyproject.toml
COPY services services
COPY operators operators
COPY portal portal
# The development stack (local broker, test fixtures) is a workspace member but not installed:
# nothing in production imports it.
RUN /opt/uv/bin/uv sync --frozen --no-dev --all-packages --no-install-package conformity-devstack --python python3 \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin platform \
 && mkdir -p /data && chown platform:platform /data
USER platform
ENV CONFORMITY_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
CMD ["uvicorn", "--factory", "certificates.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
