"""Knowledge distillation: the loss, the teacher's logits, refusals, the student-alone baseline, hints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tinycompress.cli import main  # noqa: E402
from tinycompress.compress.distill import (DistillSpec, check_labels, check_models, distill,  # noqa: E402
                                           distillation_loss, logits_model, parse_hints)
from tinycompress.errors import UserError  # noqa: E402

L = keras.layers


def test_loss_against_a_hand_computed_case():
    # one sample, 3 classes, label 0, T = 2, alpha = 0.25
    z_s, z_t, T, a = [1.0, 0.0, -1.0], [2.0, 0.0, 0.0], 2.0, 0.25
    ce = -math.log(math.e / (math.e + 1 + math.exp(-1)))           # softmax(z_s)[0] = 0.6652
    p_t = [math.e / (math.e + 2), 1 / (math.e + 2), 1 / (math.e + 2)]  # softmax(z_t / 2)
    e = math.exp(0.5)
    p_s = [e / (e + 1 + 1 / e), 1 / (e + 1 + 1 / e), (1 / e) / (e + 1 + 1 / e)]  # softmax(z_s / 2)
    kl = sum(p * math.log(p / q) for p, q in zip(p_t, p_s))
    want = (1 - a) * ce + a * T * T * kl
    # worked by hand: CE = -ln 0.6652 = 0.4076, KL = 0.02285, 0.75 * 0.4076 + 0.25 * 4 * 0.02285
    assert abs(ce - 0.4076) < 1e-4 and abs(kl - 0.02285) < 1e-4 and abs(want - 0.3286) < 1e-4
    got = float(distillation_loss(np.array([0]), np.array([z_s], np.float32), np.array([z_t], np.float32), T, a))
    assert got == pytest.approx(want, rel=1e-5)
    # alpha 0 is the hard-label cross-entropy; alpha 1 the soft term; the batch is averaged
    assert float(distillation_loss(np.array([0]), np.array([z_s]), np.array([z_t]), T, 0.0)) == pytest.approx(ce, rel=1e-5)
    two = distillation_loss(np.array([0, 0]), np.array([z_s, z_s]), np.array([z_t, z_t]), T, 1.0)
    assert float(two) == pytest.approx(T * T * kl, rel=1e-5)
    # a student that matches the teacher has no soft loss
    assert float(distillation_loss(np.array([0]), np.array([z_t]), np.array([z_t]), 3.0, 1.0)) == pytest.approx(0, abs=1e-6)


def mlp(hidden, classes=3, inputs=6, seed=0, end="layer"):
    init = keras.initializers.GlorotUniform
    inp = keras.Input((inputs,))
    h = L.Dense(hidden, activation="relu", kernel_initializer=init(seed), name="hidden")(inp)
    if end == "activation":
        return keras.Model(inp, L.Dense(classes, activation="softmax", kernel_initializer=init(seed + 1),
                                        name="out")(h))
    z = L.Dense(classes, kernel_initializer=init(seed + 1), name="out")(h)
    return keras.Model(inp, L.Softmax(name="softmax")(z) if end == "layer" else z)


@pytest.mark.parametrize("end, how", [("layer", "input of its final softmax layer 'softmax'"),
                                      ("activation", "without the softmax activation"),
                                      ("logits", "does not end in a softmax")])
def test_teacher_logits_are_taken_before_the_softmax(end, how):
    model = mlp(5, end=end)
    x = np.random.default_rng(0).normal(size=(7, 6)).astype(np.float32)
    logits, said = logits_model(model)
    assert how in said
    z = np.asarray(logits(x))
    probs = np.asarray(model(x))
    if end == "logits":
        assert np.array_equal(z, probs)
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        np.testing.assert_allclose(e / e.sum(axis=1, keepdims=True), probs, rtol=1e-5, atol=1e-7)
        assert not np.allclose(z.sum(axis=1), 1.0)  # logits, not probabilities


def test_different_output_shapes_are_refused_naming_both():
    with pytest.raises(UserError, match=r"teacher's output shape \[3\] differs from the student's \[4\]"):
        check_models(mlp(8, classes=3), mlp(2, classes=4))
    with pytest.raises(UserError, match=r"teacher takes inputs of shape \[6\] but the student \[5\]"):
        check_models(mlp(8), mlp(2, inputs=5))


def test_labels_are_checked():
    assert check_labels(np.array([0, 2, 1]), 3).tolist() == [0, 2, 1]
    assert check_labels(np.eye(3)[[2, 0]], 3).tolist() == [2, 0]  # one-hot rows
    assert check_labels(np.array([[1.0], [2.0]]), 3).tolist() == [1, 2]
    with pytest.raises(UserError, match=r"labels 0..3, out of range for 3 classes: give labels in 0..2"):
        check_labels(np.array([0, 3]), 3)
    with pytest.raises(UserError, match=r"labels -1..1, out of range"):
        check_labels(np.array([-1, 1]), 3)
    with pytest.raises(UserError, match="integer class labels"):
        check_labels(np.array([0.5, 1.0]), 3)
    with pytest.raises(UserError, match="TEACHER_LAYER=STUDENT_LAYER"):
        parse_hints(["conv2"])


def blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    centres = np.array([[2, 0, 0, 0, 0, 0], [0, 2, 0, 0, 0, 0], [0, 0, 2, 0, 0, 0]], np.float32)
    return (centres[y] + rng.normal(size=(n, 6))).astype(np.float32), y


def test_alpha_zero_is_the_student_alone_and_distillation_changes_it():
    x, y = blobs()
    teacher = mlp(32, seed=5)
    teacher.compile("adam", "sparse_categorical_crossentropy")
    teacher.fit(x, y, epochs=15, verbose=0)
    student = mlp(3, seed=9)
    start = [w.copy() for w in student.get_weights()]
    trained, alone, report = distill(teacher, student, x, y, DistillSpec(alpha=0.0, epochs=1, batch_size=32))
    for a, b in zip(trained.get_weights(), alone.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # same init, batches and budget
    assert report.distilled_accuracy == report.student_alone_accuracy
    student = mlp(3, seed=9)
    assert all(np.array_equal(a, b) for a, b in zip(student.get_weights(), start))
    seen = []
    _, _, report = distill(teacher, student, x[:240], y[:240], DistillSpec(alpha=0.9, epochs=2, batch_size=32),
                           x[240:], y[240:], progress=lambda *a: seen.append(a))
    assert not np.allclose(student.get_weights()[0], alone.get_weights()[0])
    assert [s[:3] for s in seen] == [("student alone", 1, 2), ("student alone", 2, 2), ("distilled", 1, 2),
                                     ("distilled", 2, 2)]
    assert report.teacher_params > 5 * report.student_params
    assert 0 <= report.distilled_accuracy <= 1 and report.teacher_accuracy > 0.7


def cnn(channels, name):
    inp = keras.Input((8, 8, 1))
    h = L.Conv2D(channels, 3, padding="same", activation="relu", name=f"{name}_conv")(inp)
    h = L.MaxPooling2D(2, name=f"{name}_pool")(h)
    h = L.Flatten()(h)
    return keras.Model(inp, L.Dense(3, activation="softmax", name=f"{name}_out")(h))


def test_hints_train_through_a_1x1_regressor_and_refuse_mismatched_features():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(64, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    teacher, student = cnn(8, "t"), cnn(2, "s")
    spec = DistillSpec(epochs=1, batch_size=16, hints=(("t_conv", "s_conv"),), baseline=False)
    before = student.get_layer("s_conv").get_weights()[0].copy()
    _, alone, report = distill(teacher, student, x, y, spec)
    assert alone is None and report.student_alone_accuracy is None
    assert not np.allclose(before, student.get_layer("s_conv").get_weights()[0])
    assert [la.name for la in student.layers if la.name.startswith("hint")] == []  # regressor dropped
    with pytest.raises(UserError, match=r"hint t_conv=s_pool: teacher features \[8, 8, 8\] and student "
                                        r"features \[4, 4, 2\] cannot be matched"):
        distill(teacher, cnn(2, "s"), x, y, DistillSpec(hints=(("t_conv", "s_pool"),)))
    with pytest.raises(UserError, match=r"no layer 'nope' in model"):
        distill(teacher, cnn(2, "s"), x, y, DistillSpec(hints=(("nope", "s_conv"),)))


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_keys_and_one_line_errors(capsys, tmp_path):
    x, y = blobs(200)
    np.savez(tmp_path / "train.npz", x=x, y=y, x_test=x[:50], y_test=y[:50])
    mlp(16).save(tmp_path / "t.keras")
    mlp(3, seed=2).save(tmp_path / "s.keras")
    code, out, err = run(capsys, "distill", "--teacher", tmp_path / "t.keras", "--student", tmp_path / "s.keras",
                         "--data", tmp_path / "train.npz", "-o", tmp_path / "d.keras", "--epochs", 1,
                         "--hint", "hidden=hidden", "--json")
    assert code == 0, err
    got = json.loads(out)
    assert {"teacher_accuracy", "student_alone_accuracy", "distilled_accuracy"} <= set(got)
    assert got["test_samples"] == 50 and got["hints"] == ["hidden=hidden"]
    assert err == ""
    assert keras.models.load_model(tmp_path / "d.keras").count_params() == mlp(3).count_params()

    mlp(3, classes=4).save(tmp_path / "s4.keras")
    code, _, err = run(capsys, "distill", "--teacher", tmp_path / "t.keras", "--student", tmp_path / "s4.keras",
                       "--data", tmp_path / "train.npz", "-o", tmp_path / "e.keras")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "output shape [3] differs from the student's [4]" in err
    np.savez(tmp_path / "bad.npz", x=x, y=y + 1)
    code, _, err = run(capsys, "distill", "--teacher", tmp_path / "t.keras", "--student", tmp_path / "s.keras",
                       "--data", tmp_path / "bad.npz", "-o", tmp_path / "e.keras")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "out of range for 3 classes" in err
    assert not (tmp_path / "e.keras").exists()
