"""Keras conversion runs in a child process: a converter crash is a one-line error naming the
unusual layers, a broken model file a one-line error, and a normal compile prints only
tinycompress's own lines."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinycompress.cli import main
from tinycompress.errors import UserError
from tinycompress.frontends import child

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dense_model(tmp_path_factory):
    import keras

    d = tmp_path_factory.mktemp("child")
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, activation="relu"),
                          keras.layers.Dense(3)])
    m.save(d / "dense.keras")
    np.savez(d / "cal.npz", x=np.random.default_rng(0).random((16, 8), np.float32))
    return d


def test_crash_names_the_unusual_layers(monkeypatch, tmp_path):
    script = ("import json, os, signal, sys; w = sys.argv[1]; "
              "open(w + '/layers.json', 'w').write(json.dumps([['dense', 'Dense'], "
              "['lstm_7', 'LSTM']])); os.kill(os.getpid(), signal.SIGSEGV)")
    monkeypatch.setattr(child, "child_command",
                        lambda path, work, pc: [sys.executable, "-c", script, str(work)])
    with pytest.raises(UserError) as e:
        child.convert_in_child(tmp_path / "m.keras", np.zeros((2, 3), np.float32))
    msg = str(e.value)
    assert "killed by SIGSEGV" in msg and "lstm_7 (LSTM)" in msg and "dense" not in msg
    assert "\n" not in msg


def test_crash_before_loading(monkeypatch, tmp_path):
    monkeypatch.setattr(child, "child_command",
                        lambda path, work, pc: [sys.executable, "-c", "raise SystemExit(7)"])
    with pytest.raises(UserError, match="exited with status 7.*did not get as far as loading"):
        child.convert_in_child(tmp_path / "m.keras", np.zeros((2, 3), np.float32))


def test_broken_keras_file_is_one_line(tmp_path, capsys, dense_model):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    code = main(["compile", str(bad), "--calibration", str(dense_model / "cal.npz"),
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot load Keras model")
    assert not (tmp_path / "out").exists()


def test_compile_prints_only_its_own_lines(tmp_path, dense_model):
    proc = subprocess.run(
        [sys.executable, "-m", "tinycompress", "compile", str(dense_model / "dense.keras"),
         "--calibration", str(dense_model / "cal.npz"), "-o", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert json.loads(proc.stdout)["ops"] == {"FULLY_CONNECTED": 2}


def test_debug_shows_tensorflow_output(tmp_path, dense_model):
    proc = subprocess.run(
        [sys.executable, "-m", "tinycompress", "--debug", "compile",
         str(dense_model / "dense.keras"), "--calibration", str(dense_model / "cal.npz"),
         "-o", str(tmp_path / "out"), "--json"],
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0
    assert proc.stderr.strip(), "TensorFlow's logs were expected with --debug"
