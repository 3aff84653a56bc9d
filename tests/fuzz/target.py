"""The reader fuzzer's target: what `tinycompress compile` does to model bytes, short of the C
compiler (read_tflite, passes.run, emit), in one of three lowering contexts."""

from __future__ import annotations

from tinycompress import passes
from tinycompress.compiler import context_for
from tinycompress.emit import emit
from tinycompress.frontends.tflite import read_tflite

# Portable dense, portable --weights auto, a Cortex-M4 board (its DSP kernels) with --weights lut.
CONTEXTS = [context_for(None, "dense"), context_for(None, "auto"),
            context_for("nucleo-f446re", "lut")]


def compile_bytes(data: bytes, context: int | None = None) -> None:
    """Compile `data`; the context is picked by its length unless given."""
    ctx = CONTEXTS[len(data) % len(CONTEXTS) if context is None else context]
    emit(passes.run(read_tflite(data, "fuzz.tflite")), name="m", ctx=ctx, model_sha256="")
