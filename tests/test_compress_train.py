"""The shared fine-tuning loop: image augmentation and knowledge distillation."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress import zoo  # noqa: E402
from tinycompress.compress.pipeline import CompressSpec, compress  # noqa: E402
from tinycompress.compress.prune import PruneSpec  # noqa: E402
from tinycompress.compress.train import TrainSpec, augment_batch, fine_tune  # noqa: E402
from tinycompress.errors import UserError  # noqa: E402


def images(n=64, h=7, w=9, seed=0):
    return np.random.default_rng(seed).normal(size=(n, h, w, 2)).astype(np.float32)


def test_flip_mirrors_about_half_the_images_and_leaves_the_input_alone():
    x = images(400)
    keep = x.copy()
    out = augment_batch(x, TrainSpec(augment="flip").augmentations(), np.random.default_rng(1))
    assert np.array_equal(x, keep)
    same = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)])
    assert np.all(same ^ mirrored)
    assert 150 < mirrored.sum() < 250


@pytest.mark.parametrize("pixels", [1, 2, 3])
def test_shift_moves_each_image_by_at_most_n_pixels_with_zero_fill(pixels):
    x = images(300)
    out = augment_batch(x, TrainSpec(augment=f"shift{pixels}").augmentations(), np.random.default_rng(2))
    assert out.shape == x.shape
    seen = set()
    for o, i in zip(out, x):
        padded = np.pad(i, ((pixels, pixels), (pixels, pixels), (0, 0)))
        hits = [(dy, dx) for dy in range(2 * pixels + 1) for dx in range(2 * pixels + 1)
                if np.array_equal(o, padded[dy:dy + x.shape[1], dx:dx + x.shape[2]])]
        assert hits, "an output image is not a shifted copy of its input"
        seen.add(hits[0])
    assert len(seen) == (2 * pixels + 1) ** 2  # every offset occurs


def test_augment_and_distill_settings_are_checked():
    assert TrainSpec(augment="flip, shift").augmentations() == (("flip", 0), ("shift", 2))
    assert TrainSpec(augment="").augmentations() == ()
    with pytest.raises(UserError, match="unknown augmentation 'rotate'.*use flip, shift or shiftN"):
        TrainSpec(augment="flip,rotate")
    with pytest.raises(UserError, match="distill must be a weight in 0..1"):
        TrainSpec(distill=1.5)
    with pytest.raises(UserError, match="temperature must be in"):
        TrainSpec(temperature=0)


def classifier(seed, inputs=8, classes=4):
    inp = keras.Input((inputs,))
    h = keras.layers.Dense(32, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(seed))(inp)
    out = keras.layers.Dense(classes, activation="softmax",
                             kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(h)
    return keras.Model(inp, out)


def agreement(a, b, x):
    return float(np.mean(np.argmax(a.predict(x, verbose=0), -1) == np.argmax(b.predict(x, verbose=0), -1)))


def test_distillation_follows_the_teacher_not_the_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 8)).astype(np.float32)
    noise = rng.integers(0, 4, len(x)).astype(np.int32)   # labels unrelated to the teacher
    teacher = classifier(10)
    spec = dict(epochs=6, batch_size=64, learning_rate=3e-3, seed=0)
    distilled = classifier(20)
    fine_tune(distilled, x, noise, TrainSpec(**spec, distill=1.0, temperature=2.0), teacher=teacher)
    from_labels = classifier(20)
    fine_tune(from_labels, x, noise, TrainSpec(**spec), teacher=teacher)
    assert agreement(distilled, teacher, x) > 0.75
    assert agreement(from_labels, teacher, x) < 0.6


def test_distill_and_augment_refuse_what_they_cannot_do():
    x = np.zeros((16, 8), np.float32)
    y = np.zeros(16, np.int32)
    with pytest.raises(UserError, match="distill > 0 needs a teacher model"):
        fine_tune(classifier(0), x, y, TrainSpec(distill=0.5))
    with pytest.raises(UserError, match="distill needs a classifier"):
        fine_tune(classifier(0), x, np.zeros((16, 4), np.float32) + 0.5, TrainSpec(distill=0.5),
                  teacher=classifier(1))
    with pytest.raises(UserError, match=r"needs image inputs \[N,H,W,C\], got shape \(16, 8\)"):
        fine_tune(classifier(0), x, y, TrainSpec(augment="flip"))
    with pytest.raises(UserError, match="does not match the model's"):
        fine_tune(classifier(0), x, y, TrainSpec(distill=0.5), teacher=classifier(1, classes=3))


def test_compress_distils_from_the_uncompressed_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype(np.int32)
    model = zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0)
    train = TrainSpec(epochs=1, batch_size=32, learning_rate=3e-3, augment="flip,shift1", distill=0.7)
    before = [w.copy() for w in model.get_weights()]
    model, report = compress(model, x, y, CompressSpec(prune=PruneSpec(sparsity=0.5, train=train), cluster=None))
    assert report.after_prune is not None and 0.0 <= report.after <= 1.0
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def _compress_args(tmp_path, seed: int, bits: int) -> list[str]:
    """`tinycompress compress` arguments for a small LeNet-5 and random two-class data saved in
    tmp_path (output: tmp_path / "o.keras")."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(96, 12, 12, 1)).astype(np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > 0).astype(np.int32)
    zoo.lenet5(input_shape=(12, 12, 1), classes=2, seed=0).save(tmp_path / "m.keras")
    np.savez(tmp_path / "train.npz", x=x, y=y)
    return ["compress", str(tmp_path / "m.keras"), "--data", str(tmp_path / "train.npz"), "-o",
            str(tmp_path / "o.keras"), "--sparsity", "0.5", "--bits", str(bits), "--epochs", "0.5"]


def test_compress_command_takes_augment_and_distill(tmp_path, capsys):
    import json

    from tinycompress.cli import main

    args = _compress_args(tmp_path, seed=0, bits=3)
    assert main([*args, "--augment", "flip,shift1", "--distill", "0.5", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nonzero_params"] < summary["params"] and (tmp_path / "o.keras").is_file()
    (tmp_path / "o.keras").unlink()
    assert main([*args, "--augment", "rotate"]) == 2
    assert "unknown augmentation 'rotate'" in capsys.readouterr().err
    assert not (tmp_path / "o.keras").exists()


def test_compress_command_bits_per_layer_and_grid(tmp_path, capsys):
    import json

    from tinycompress.cli import main

    args = _compress_args(tmp_path, seed=1, bits=4)
    out = tmp_path / "o.keras"
    assert main([*args, "--layer-bits", "fc1=2", "--layer-bits", "conv1=7", "--grid", "none", "--json"]) == 0
    bits = {r["name"]: r["weight_bits"] for r in json.loads(capsys.readouterr().out)["layers"]}
    assert bits == {"conv1": 7, "conv2": 4, "fc1": 2, "fc2": 4, "fc3": 4}
    out.unlink()
    assert main([*args, "--layer-bits", "fc1=x"]) == 2
    assert "--layer-bits 'fc1=x' is not NAME=B: give e.g. conv1=8" in capsys.readouterr().err
    assert main([*args, "--layer-bits", "fc9=3"]) == 2
    assert "per_layer names unknown layer(s) fc9" in capsys.readouterr().err
    assert main([*args, "--layer-bits", "fc1=9"]) == 2
    assert "per_layer['fc1'] must be an integer number of bits in 1..8, got 9" in capsys.readouterr().err
    assert main([*args, "--grid", "float"]) == 2
    assert not out.exists()


def test_compress_command_refuses_data_sorted_by_class(tmp_path, capsys):
    from tinycompress.cli import main

    args = _compress_args(tmp_path, seed=2, bits=4)
    with np.load(tmp_path / "train.npz") as d:
        order = np.argsort(d["y"], kind="stable")
        x, y = d["x"][order], d["y"][order]
    np.savez(tmp_path / "train.npz", x=x, y=y)
    assert main([*args, "--val-split", "0.3"]) == 2
    err = capsys.readouterr().err
    assert "--val-split 0.3 (the first 28 samples of the data) holds out" in err and "sorted by class" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o.keras").exists()
