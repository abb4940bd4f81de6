"""Training, in one place.

The Trainer set-up, checkpoints and signals, when to stop, progress on stderr,
and a whole run (data, model, run folder, pictures).

Modules, from the inside out:

* :mod:`.stopping`: the stop rule, early stopping with the best weights kept, and
  a validation at every run's end;
* :mod:`.checkpoints`: atomic checkpoint writes, ``last.ckpt`` kept current, the
  stop on SIGINT/SIGTERM, the checks before resuming;
* :mod:`.progress`: a progress bar on a terminal, one line per epoch elsewhere;
* :mod:`.trainer`: :func:`make_trainer` and :func:`fit`, which the command line,
  the bake-off and the scikit-learn estimators all train through;
* :mod:`.loggers`: ``--logger`` (TensorBoard, CSV, MLflow) for a run folder;
* :mod:`.lr_finder`: ``lr="auto"``, Lightning's learning-rate finder before training;
* :mod:`.job`: one ``autoencoders train`` run from its two configs;
* :mod:`.search_space`, :mod:`.tuning`, :mod:`.tuning_report`: ``autoencoders tune``,
  an Optuna study whose trials are runs, and its HTML page;
* :mod:`.in_memory`: training on rows in memory that writes no files (the
  scikit-learn estimators).

Example:
    >>> from autoencoders.training import fit  # doctest: +SKIP
"""

from autoencoders.training.stopping import StopRule, ValidateAtEnd
from autoencoders.training.trainer import TrainResult, fit, make_trainer, set_threads

__all__ = ["StopRule", "TrainResult", "ValidateAtEnd", "fit", "make_trainer", "set_threads"]
