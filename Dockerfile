# The nbo service image, installed the way `make demo` installs it: the pinned lock, then nbo.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NBO_SERVICE__HOST=0.0.0.0

RUN useradd --create-home --uid 10001 nbo
WORKDIR /app

COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock

COPY nbo ./nbo
COPY sources ./sources
COPY features ./features
COPY training ./training
COPY serving ./serving
COPY evaluation ./evaluation
COPY models ./models
RUN pip install --no-cache-dir --no-deps . && chown -R nbo:nbo /app

USER nbo
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["nbo", "serve"]
