#!/usr/bin/env bash
# Installs, from Debian packages only, whatever Tandem needs to build and run that is
# missing. Idempotent: a second run installs nothing. Needs root (or sudo).
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libtorch-dev            # LibTorch (CPU)
  libgloo-dev             # Gloo headers: c10d's ProcessGroupGloo (the replica group, --group-size)
  libopenblas0-pthread    # ~10x faster BLAS than the reference one libtorch links by default
  libboost-dev            # Asio + Beast (header-only)
  libssl-dev openssl      # TLS (wss://, https://); the tests make throw-away certificates with openssl
  libflatbuffers-dev flatbuffers-compiler
  libspdlog-dev libfmt-dev
  doctest-dev libcli11-dev nlohmann-json3-dev
  gnuplot-nox             # tandem-plot draws learning curves with it
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer + ASan/UBSan runtimes (Debian 12: clang 14)
  python3 python3-numpy python3-flatbuffers python3-websocket  # the Python client (python/tandem)
  python3-pytest python3-pandas  # its tests, run by ctest (pandas reads the experience output as a user would)
  python3-onnx python3-protobuf  # scripts/tandem-export (ONNX) and its test (onnx.checker); test_tensorboard.py decodes event files
  chromium chromium-driver python3-selenium  # tests/python/test_play_page.py plays the /play/ page in headless Chromium
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all packages present"
fi

# Prefer OpenBLAS over the reference BLAS that libtorch links by default.
for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
  cand=$(update-alternatives --list "$alt" 2>/dev/null | grep -m1 openblas-pthread || true)
  if [ -n "$cand" ]; then $SUDO update-alternatives --set "$alt" "$cand" >/dev/null; fi
done
