"""Many small models trained at once: one batched computation instead of a loop.

A small model leaves the CPU (or GPU) idle between its tiny kernels: ten
per-class models of the bake-off's one-class protocol, the seeds of
``bakeoff --seeds N`` or an ``AutoencoderOutlierDetector(n_models=8)`` each pay
the per-step overhead on their own. :func:`fit_many` trains K models of one
config as one computation: their parameters are stacked along a leading model
axis, every layer runs once for all of them (``bmm``, grouped convolutions,
batch norm over the stacked channels), one Adam step updates them all. Each
model still has its own

* seed: initialisation (``torch.manual_seed(seed)`` then
  :func:`~autoencoders.models.build_model`, as ``train_run`` does) and its own
  random stream for the denoising noise and the variational code, cloned from
  torch's generator right after that model was built;
* data: its own training rows, batch order (a permutation seeded with
  ``order_seed + epoch``, as :class:`~autoencoders.data.loader.TensorBatchLoader`
  draws it) and validation rows; data sets may differ in length, batches of
  different sizes are padded and masked (batch-norm statistics, losses and the
  code statistics count only a model's own rows);
* Adam state (elementwise, so one Adam over the stacked tensors is K Adams: the
  models take their steps together, so their step counts agree);
* early stopping: the rule of :class:`~autoencoders.training.stopping.StopRule` and
  :class:`~autoencoders.training.stopping.BestWeights` (Lightning's ``EarlyStopping``:
  patience in validation checks, one check per ~20 steps, ``min_steps``,
  ``max_epochs``, ``max_steps``, the grouped steps' stop points), decided per
  model; a model that stops leaves the stack (its rows are dropped, so it takes
  no further update) and gets its best weights back.

The arithmetic is that of training each model alone through the package's
normal path (``training.fit`` / the estimators' trainer on an
:class:`~autoencoders.data.ArrayDataModule`), up to float rounding (batched
matrix products sum in another order): ``tests/test_batched.py`` compares the
weights, the stop epochs and the best weights kept. Rounding can grow on both
paths alike: a parameter the loss cannot see (the deep mlp's last encoder bias,
behind the decoder's batch norm) gets rounding noise as its gradient, which Adam
turns into lr-sized steps, and batch norm over a short last batch amplifies
small differences over hundreds of steps; long runs then agree closely in loss
and mostly in their stop epoch, not to float tolerance. The result is K ordinary :class:`~autoencoders.module.AutoEncoder`
modules (``build_model(config)`` with the trained state loaded), so scoring,
``trainer.save_checkpoint``/:func:`save_checkpoint` and
:func:`autoencoders.load` work on them unchanged.

Models that cannot be batched are trained one by one with the normal Lightning
path, and the reason is logged (:func:`batch_problem`): a bottleneck with state
updated in place (the VQ codebook), training that differs per stage (the
stacked model), loss terms through the input's gradient (contractive), LSTMs,
and layers this package has no batched form for.

API::

    fit_many(configs, data, seeds, rule, *, batch_size=256, eval_batch_size=1024,
             steps_per_call=None, validate=True, validate_at_end=True, passes=1,
             device=None, batched=True) -> list[ManyFit]
    train_many(...same...) -> list[AutoEncoder]
    batch_problem(model) -> str | None        # why a model would train one by one
    save_checkpoint(model, path) -> Path      # a file autoencoders.load reads

* ``configs``: one :class:`~autoencoders.config.ModelConfig` (or its dict) for
  every model, or one per model; models with equal configs are batched together.
  ``input_shape`` must be the data's.
* ``data``: one per model, or one shared by all: a :class:`ModelData` (training
  tensor, optional validation tensor, optional batch-order seed and batch
  sizes), an :class:`~autoencoders.data.ArrayDataModule` (its splits, batch
  sizes and seed, exactly as ``fit`` would use them), or a plain tensor
  (training rows only).
* ``seeds``: one int per model: initialisation, noise, and (unless the data
  says otherwise) batch order.
* ``rule``: a :class:`~autoencoders.training.stopping.StopRule` or an epoch count.
* ``validate``: run the validation checks of a fixed-epoch rule too (as
  ``fit`` does; the estimators skip them). Early stopping always validates.
* ``validate_at_end``: the last epoch and the step that uses up ``max_steps``
  validate too, as ``training.fit`` (its ``ValidateAtEnd``) does; ``False`` for
  a plain trainer, as the estimators use.
* ``passes``: passes over the rows per trainer epoch, with one validation per
  trainer epoch (the estimators' set-up on small data); the rule counts passes.
* ``steps_per_call``: as ``--steps-per-call``: where in an epoch an early stop
  after ``min_steps`` may land (the grouped steps' boundaries).
* ``device``: where to train (default: the device of the first training tensor).
* ``batched=False`` trains every model one by one on the normal path (the
  reference this module is measured against).

Each :class:`ManyFit` holds the model (in eval mode, on ``device``), epochs,
optimizer steps, best epoch, the stop reason in the words of
:class:`~autoencoders.training.TrainResult`, and whether it was batched.

Where it lives: ``data`` (:class:`ModelData`, each model's batch order and the
padding of short batches), ``layers`` (the stacked parameters and their batched
linear, convolution and batch-norm layers), ``model`` (:func:`batch_problem` and
the stacked encoder, bottleneck, decoder and losses), ``group`` (one config's
models trained together: Adam, validation, early stopping, best weights),
``sequential`` (the one-by-one path on the normal trainer), ``results``
(:class:`ManyFit`, :func:`save_checkpoint`) and ``fit`` (:func:`fit_many`,
:func:`train_many`).
"""

from autoencoders.batched.data import DataLike, ModelData
from autoencoders.batched.fit import fit_many, train_many
from autoencoders.batched.model import batch_problem
from autoencoders.batched.results import ManyFit, save_checkpoint

__all__ = [
    "DataLike",
    "ManyFit",
    "ModelData",
    "batch_problem",
    "fit_many",
    "save_checkpoint",
    "train_many",
]
