#!/usr/bin/env bash
# Runs every shipped recipe (tools/recipes/*.yaml) with the command in its header and prints one
# Markdown row each: top-1 before -> after, file and encoded-weight ratios, the steps' seconds.
#   bench/recipes.sh [RECIPE-NAME ...]   (default: all)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench/recipes
[ -f build/data/mnist-train.npz ] || /usr/bin/python3 tools/models/make_datasets.py --train-only >/dev/null
fmnist_train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
names=("$@")
[ ${#names[@]} -eq 0 ] && names=($(basename -s .yaml tools/recipes/*.yaml))
echo "| recipe | top-1 before -> after | file ratio | encoded weights before -> after | steps (s) |"
echo "|---|---|---:|---|---|"
for name in "${names[@]}"; do
  case "$name" in
    lenet5-*) model=models/lenet5-mnist.onnx train=build/data/mnist-train.npz val=models/data/mnist-test.npz ;;
    resnet20-*) model=models/resnet20-fmnist.onnx train=$fmnist_train val=models/data/fmnist-test.npz ;;
    *) echo "no data known for recipe $name" >&2; exit 2 ;;
  esac
  out=build/bench/recipes/$name
  ./build/nncompress --quiet compress "$model" -o "$out.onnx" --recipe "tools/recipes/$name.yaml" --data "$train" \
    --val "$val" --seed 1 --report "$out.json" >/dev/null
  /usr/bin/python3 - "$out.json" "$name" <<'PY'
import json, sys
j, name = json.load(open(sys.argv[1])), sys.argv[2]
a, b = j["accuracy"], j["before"]
steps = ", ".join(f"{s['pass']} {s['seconds']:.0f}" for s in j["steps"])
print(f"| {name} | {100 * a['top1_before']:.2f}% -> {100 * a['top1_after']:.2f}% ({-a['drop_pp']:+.2f} pp) | "
      f"{j['sizes']['size_ratio']:.2f}x | {b['weights_encoded_bytes']:,} -> {j['after']['weights_encoded_bytes']:,} B "
      f"({b['weights_encoded_bytes'] / j['after']['weights_encoded_bytes']:.1f}x) | {steps} |")
PY
done
