# Budget Arena: the web app with the bundled local model; the store lives on a volume.
# Build: docker build -t budget-arena .   Run: docker run -p 8501:8501 -v arena-data:/data budget-arena

FROM python:3.11-slim AS build
# llama-cpp-python compiles llama.cpp from source: it needs a C/C++ toolchain and cmake.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reasoning ./reasoning
COPY storage ./storage
COPY app ./app
COPY pages ./pages
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir ".[local,postgres]"

FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 arena \
    && mkdir -p /data \
    && chown arena:arena /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/arena
ENV PATH=/opt/venv/bin:$PATH \
    BUDGET_ARENA_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
USER 1000
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "http://127.0.0.1:8501/_stcore/health"]
CMD ["budget-arena", "serve", "--host", "0.0.0.0", "--port", "8501"]
