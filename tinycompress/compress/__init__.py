"""Deep Compression (Han, Mao, Dally, ICLR 2016) for Keras 3 models.

``compress(model, x, y, CompressSpec(...))`` runs pruning, weight sharing and the Huffman
size accounting, optionally after removing whole filters (``CompressSpec(structured=...)``);
each stage is also usable alone (``structured.apply``, ``prune.apply``, ``cluster.apply``,
``huffman.encode``). ``distill`` trains a smaller student from a teacher (Hinton et al. 2015) and
``qat`` fine-tunes a model through TFLite's int8 arithmetic, simulated (quantization-aware
training). Importing this package does not import TensorFlow.
"""

from tinycompress.compress.cluster import ClusterSpec
from tinycompress.compress.distill import DistillSpec, distill
from tinycompress.compress.pipeline import CompressionReport, CompressSpec, compress
from tinycompress.compress.prune import PruneSpec
from tinycompress.compress.qat import QATSpec, qat
from tinycompress.compress.structured import StructuredSpec
from tinycompress.compress.train import TrainSpec

__all__ = ["compress", "CompressSpec", "CompressionReport", "PruneSpec", "ClusterSpec", "TrainSpec",
           "StructuredSpec", "distill", "DistillSpec", "qat", "QATSpec"]
