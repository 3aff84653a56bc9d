"""Saving a Keras model the way every training command does (see tinycompress.compress.save)."""

from ..compress.save import check_keras_output, save_keras

__all__ = ["check_keras_output", "save_keras"]
