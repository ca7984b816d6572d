# One image for the four services; the service is chosen by the command
# (`uvicorn --factory <service>.app:create_app`), since they share one locked
# dependency set and the shared library.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m pip install --no-cache-dir uv
WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY shared shared
COPY services services
RUN python -m uv sync --all-packages --frozen --no-dev \
 && useradd --system --uid 10001 --home-dir /app platform \
 && mkdir -p /data && chown platform /data
USER platform
ENV CONFORMITY_DATA_DIR=/data
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["uvicorn", "--factory", "certificates.app:create_app", "--host", "0.0.0.0", "--port", "8000"]
