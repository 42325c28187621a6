#!/usr/bin/env bash
# Regenerates docs/conformance.md from the ONNX node tests (needs a build in build/).
set -euo pipefail
cd "$(dirname "$0")/.."
./build/tests/nncompress_node_conformance --known tests/conformance/known_failures.txt --markdown docs/conformance.md
