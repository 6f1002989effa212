# FauxPilot with llama.cpp compiled for NVIDIA GPUs (CUDA), for machines with Docker and the
# NVIDIA Container Toolkit. Not built on this project's CI machine (it has no Docker daemon
# and no GPU); the CPU set-up in README.md is the tested path.
#
#   docker compose up --build        (see docker-compose.yml)

FROM nvidia/cuda:12.6.3-devel-ubuntu24.04 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
      build-essential cmake git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# GGML_NATIVE=off: the image must run on other CPUs than the one that built it.
RUN python3 -m venv /opt/fauxpilot \
 && CMAKE_ARGS="-DGGML_CUDA=on -DGGML_NATIVE=off" \
    /opt/fauxpilot/bin/pip install --no-cache-dir .

FROM nvidia/cuda:12.6.3-runtime-ubuntu24.04
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/fauxpilot /opt/fauxpilot
ENV FAUXPILOT_HOME=/data \
    FAUXPILOT_HOST=0.0.0.0 \
    FAUXPILOT_PORT=5000
VOLUME /data
EXPOSE 5000
ENTRYPOINT ["/opt/fauxpilot/bin/fauxpilot"]
CMD ["serve"]
