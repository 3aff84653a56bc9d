"""`tinycompress fit`: search compression settings that meet a board's flash, RAM, latency and
accuracy budgets, measuring every candidate as it will be deployed (an optuna study; several
processes may share it). Entry point: :func:`fit`. Importing this package does not import
TensorFlow or optuna."""

from tinycompress.fit.measure import Budgets, TrainPlan
from tinycompress.fit.search import FitResult, fit
from tinycompress.fit.space import Candidate

__all__ = ["fit", "FitResult", "Budgets", "TrainPlan", "Candidate"]
