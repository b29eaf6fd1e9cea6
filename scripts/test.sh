#!/usr/bin/env bash
# Installs what is missing, builds everything and runs the test suite (ctest), then fuzzes
# the request path for 60 s (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
(cd build && ctest --output-on-failure -j1)
# Then 60 s of fuzzing the request path (build-fuzz; docs/SECURITY.md#fuzzing).
bash scripts/fuzz.sh 60
