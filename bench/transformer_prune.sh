#!/usr/bin/env bash
# Issue 18's pruning numbers on the reference transformers: attention heads and MLP neurons
# removed for real down to TARGET of the MACs (channel groups, criterion l1), then fine-tuned by
# distillation from the original (Adam, one-cycle, labels weighted 0.1) on the training split;
# top-1 on the test split before and after, and onnxruntime-node latency of the original and
# pruned models (bench/prune_speed.sh: batch 32 and 1, median of 20).
#   bench/transformer_prune.sh vit|text [TARGET [EPOCHS [ROUND_TO]]]   (default: 0.5, 5, 8)
#   vit:  models/vit-fmnist.onnx, Fashion-MNIST (flips while fine-tuning)
#   text: models/bert-debian.onnx, the Debian package descriptions (tools/models/make_text_dataset.py)
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:?usage: bench/transformer_prune.sh vit|text [TARGET [EPOCHS [ROUND_TO]]]}
target=${2:-0.5}
epochs=${3:-5}
round_to=${4:-8}
case "$which" in
  vit)
    model=models/vit-fmnist.onnx
    train=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
    test=models/data/fmnist-test.npz
    tune=(--augment-flip --batch 128) ;;
  text)
    model=models/bert-debian.onnx
    [ -e build/data/debian-sections-train.npz ] || /usr/bin/python3 tools/models/make_text_dataset.py
    train=build/data/debian-sections-train.npz
    test=models/data/debian-sections-test.npz
    tune=(--batch 64) ;;
  *) echo "unknown model '$which' (vit or text)" >&2; exit 2 ;;
esac
work=build/bench/${which}_prune
mkdir -p "$work"
nnc=./build/nncompress
threads=${THREADS:-$(nproc)}
$nnc --quiet --threads "$threads" prune "$model" -o "$work/pruned.onnx" --method channels --criterion l1 \
  --target-macs "$target" --round-to "$round_to" --val "$test" --json >"$work/prune.json"
$nnc --quiet --threads "$threads" finetune "$work/pruned.onnx" -o "$work/pruned-finetuned.onnx" --data "$train" \
  --val "$test" --distill-from "$model" --optimizer adam --lr 5e-4 --schedule onecycle --weight-decay 0 \
  "${tune[@]}" --epochs "$epochs" --seed 1 >/dev/null
$nnc --quiet eval "$work/pruned-finetuned.onnx" --data "$test" --json >"$work/finetuned.json"
/usr/bin/python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
p, f = json.load(open(f"{work}/prune.json")), json.load(open(f"{work}/finetuned.json"))
print(f"MACs {p['macs_before']:,} -> {p['macs_after']:,} ({p['macs_after'] / p['macs_before']:.3f}), "
      f"params {p['params_before']:,} -> {p['params_after']:,}; top-1 {100 * p['top1_before']:.2f}% -> "
      f"{100 * p['top1_after']:.2f}% pruned -> {100 * f['top1']:.2f}% fine-tuned "
      f"({100 * (p['top1_before'] - f['top1']):.2f} pp lost)")
PY
bench/prune_speed.sh "$model" "$target" "$threads" "$work/pruned-finetuned.onnx"
