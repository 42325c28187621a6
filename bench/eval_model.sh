# Sourced by bench/eval_throughput.sh and bench/eval_builds.sh: sets model (the .onnx path) and
# model_name from model_name, a torchvision architecture (exported with random weights) or the
# path of an .onnx file.
if [[ $model_name == *.onnx ]]; then
  model=$model_name
  model_name=$(basename "$model" .onnx)
else
  /usr/bin/python3 tools/export_torchvision.py --out build/testmodels "$model_name" >/dev/null
  model=build/testmodels/$model_name.onnx
fi
