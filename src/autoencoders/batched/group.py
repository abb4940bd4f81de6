"""One config's models trained together: the step loop, Adam, validation and early stopping.

:class:`Group` follows Lightning's loop per model (grouped steps, validation
checks, ``EarlyStopping`` and :class:`~autoencoders.training.stopping.BestWeights`); a
model that stops leaves the stack with its best weights.
"""

from __future__ import annotations

import torch
from torch.optim.adam import adam

from autoencoders.batched.data import val_batches, widen
from autoencoders.batched.layers import Pass
from autoencoders.batched.member import Member
from autoencoders.batched.model import Stack
from autoencoders.errors import NonFiniteLoss
from autoencoders.module import GRID_IMAGES
from autoencoders.nn.bottlenecks import VariationalBottleneck
from autoencoders.nn.noise import corrupt
from autoencoders.training.stopping import StopRule

#: steps whose batch indices are drawn and moved to the device at once
SCHEDULE_CHUNK = 64
#: the code-statistics buffers every AutoEncoder keeps (updated here, not by a layer)
CODE_BUFFERS = ("code_count", "code_sum", "code_outer", "code_epoch")


class Group:
    """Trains the models of one config together; see :mod:`autoencoders.batched`."""

    def __init__(
        self, members: list[Member], rule: StopRule, device: torch.device, user_rule: StopRule
    ) -> None:
        self.members = members
        #: the rule in trainer epochs (passes > 1: several passes per epoch)
        self.rule = rule
        self.user_rule = user_rule
        self.device = device
        self.stack = Stack([m.model for m in members], device)
        self.cfg = self.stack.cfg
        self.shape = tuple(self.cfg.input_shape)
        self.x_all = torch.cat([m.data.train.to(device, torch.float32) for m in members])
        self.bs = max(m.stream.bs for m in members)
        self.variational = isinstance(self.stack.template.bottleneck, VariationalBottleneck)
        self._make_val()
        # Adam's state, stacked like the parameters; the step count is shared, since
        # every model of the group takes every step until it leaves the group
        self.exp_avg = [torch.zeros_like(v) for v in self.stack.params.values()]
        self.exp_avg_sq = [torch.zeros_like(v) for v in self.stack.params.values()]
        self.adam_steps = [
            torch.zeros((), dtype=torch.float32, device=device) for _ in self.exp_avg
        ]
        self.fused = fused_adam_works(device)
        self._chunk_left = 0
        # Lightning's min_steps (and its implied min_epochs=1) only apply when stopping early
        self.min_steps = rule.min_steps if rule.early and rule.min_steps else 0
        self.min_epochs = 1 if self.min_steps else 0
        self.finished: dict[int, tuple[dict[str, torch.Tensor], str]] = {}

    # ---------------------------------------------------------------- set-up
    def _adam_step(self, grads: list[torch.Tensor]) -> None:
        """Torch's Adam (fused where it can, as AutoEncoder.configure_optimizers) on the stack.

        Adam is elementwise, so one over the stacked tensors is each model's own.
        """
        params = [p.detach() for p in self.stack.params.values()]
        options = {
            "amsgrad": False, "beta1": 0.9, "beta2": 0.999, "lr": self.cfg.lr,
            "weight_decay": self.cfg.weight_decay, "eps": 1e-8, "maximize": False,
        }  # fmt: skip
        adam(params, grads, self.exp_avg, self.exp_avg_sq, [], self.adam_steps,
             fused=self.fused, foreach=False if not self.fused else None, **options)  # fmt: skip

    def _make_val(self) -> None:
        """Validation rounds: round r holds every model's r-th validation batch, padded."""
        per_model = [
            val_batches(m.data.val, int(m.data.eval_batch_size or 1024)) if m.validates else []
            for m in self.members
        ]
        self.val_sizes = [[len(b) for b in batches] for batches in per_model]
        self.val_rounds: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for r in range(max((len(b) for b in per_model), default=0)):
            width = max(len(b[r]) for b in per_model if len(b) > r)
            x = torch.zeros(len(self.members), width, *self.shape)
            n = torch.zeros(len(self.members))
            for k, batches in enumerate(per_model):
                if len(batches) > r:
                    x[k, : len(batches[r])] = batches[r].to(torch.float32).cpu()
                    n[k] = len(batches[r])
            mask = (torch.arange(width)[None, :] < n[:, None]).float()
            self.val_rounds.append((x.to(self.device), mask.to(self.device), n.to(self.device)))

    def _next_chunk(self) -> None:
        taken = [m.stream.take(SCHEDULE_CHUNK) for m in self.members]
        idx = torch.stack(
            [t[0] if t[0].shape[1] == self.bs else widen(t[0], self.bs) for t in taken]
        )
        sizes = torch.tensor([t[1] for t in taken], dtype=torch.float32)
        self.chunk_idx = idx.to(self.device)
        self.chunk_n = sizes.to(self.device)
        self.chunk_mask = (
            (torch.arange(self.bs)[None, None, :] < sizes[..., None]).float().to(self.device)
        )
        self.chunk_sizes = [t[1] for t in taken]
        self.chunk_where = [t[2] for t in taken]
        self._chunk_pos, self._chunk_left = 0, SCHEDULE_CHUNK

    # ---------------------------------------------------------------- training
    def run(self) -> None:
        while self.members:
            if self._chunk_left == 0:
                self._next_chunk()
            self._step()

    def _step(self) -> None:
        t = self._chunk_pos
        self._chunk_pos += 1
        self._chunk_left -= 1
        sizes = [s[t] for s in self.chunk_sizes]
        where = [w[t] for w in self.chunk_where]
        width = max(sizes)
        uniform = min(sizes) == width
        x = self.x_all[self.chunk_idx[:, t, :width]]
        n = self.chunk_n[:, t]
        p = Pass(True, None if uniform else self.chunk_mask[:, t, :width], n)
        places = [m.position(w) for m, w in zip(self.members, where, strict=True)]
        starting = [k for k, (_, j) in enumerate(places) if j == 0]
        if starting:
            self._reset_codes(starting, [places[k][0] for k in starting])
        x_in, eps = self._draws(x, sizes)
        loss, z = self.stack.losses(x_in, x, p, eps)
        grads = torch.autograd.grad(loss.sum(), list(self.stack.params.values()))
        with torch.no_grad():
            # the fused kernel walks the gradient in the parameter's (contiguous) layout
            self._adam_step([g.contiguous() for g in grads])
            self._add_codes(z.detach(), p)
        self._after_step(places, loss.detach())

    def _draws(self, x: torch.Tensor, sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Each model's noise and code samples, from its own generator in its own order."""
        cfg = self.cfg
        x_in = x
        if cfg.noise_ratio > 0:
            x_in = x.clone()
            for k, m in enumerate(self.members):
                x_in[k, : sizes[k]] = corrupt(
                    x[k, : sizes[k]], cfg.noise, cfg.noise_ratio, generator=m.generator
                )
        eps = None
        if self.variational:
            latent = self.stack.template.bottleneck.latent_dim
            eps = x.new_zeros(len(self.members), x.shape[1], latent)
            for k, m in enumerate(self.members):
                eps[k, : sizes[k]] = torch.randn(
                    sizes[k], latent, generator=m.generator, device=x.device, dtype=x.dtype
                )
        return x_in, eps

    @torch.no_grad()
    def _reset_codes(self, rows: list[int], epochs: list[int]) -> None:
        b = self.stack.buffers
        idx = torch.tensor(rows, device=self.device)
        for name in ("code_count", "code_sum", "code_outer"):
            b[name].index_fill_(0, idx, 0)
        b["code_epoch"].index_copy_(
            0, idx, torch.tensor(epochs, dtype=b["code_epoch"].dtype, device=self.device)
        )

    def _add_codes(self, z: torch.Tensor, p: Pass) -> None:
        """The code statistics of AutoEncoder._accumulate_codes, over each model's own rows."""
        b = self.stack.buffers
        z = z.float()
        if p.mask is not None:
            z = z * p.mask.unsqueeze(2)
        b["code_count"].add_(p.n.to(b["code_count"].dtype))
        b["code_sum"].add_(z.sum(1))
        b["code_outer"].baddbmm_(z.transpose(1, 2), z)

    def _after_step(self, where: list[tuple[int, int]], loss: torch.Tensor) -> None:
        """Lightning's loop decisions per model: validation, end of epoch, end of training."""
        rule = self.rule
        ends: list[tuple[int, bool, bool]] = []  # (row, last group of its epoch, max_steps hit)
        for k, m in enumerate(self.members):
            m.steps += 1
            m.epoch, j = where[k]
            hit_max = rule.max_steps is not None and m.steps >= rule.max_steps
            if hit_max and m.validate_at_end and m.validates:
                m.end_check = m.should_stop = True  # ValidateAtEnd: validate, then stop
            group_end = (j + 1) % m.group == 0 or j + 1 == m.epoch_batches
            if group_end or hit_max:
                ends.append((k, j // m.group == m.groups_per_epoch - 1, hit_max))
        if not ends:
            return
        # As after_steps: one host sync per group, on the loss of its last step
        rows = torch.tensor([k for k, _, _ in ends], device=self.device)
        finite = torch.isfinite(loss.index_select(0, rows)).cpu()
        if not bool(finite.all()):
            m = self.members[ends[int((~finite).nonzero()[0])][0]]
            raise NonFiniteLoss(
                f"training loss of model {m.index} (seed {m.seed}) became non-finite by step "
                f"{m.steps} (epoch {m.epoch + 1})"
            )
        checks = [
            k
            for k, last_group, _ in ends
            if self._check_epoch(self.members[k])
            and (
                last_group
                or (self.members[k].should_stop and self._can_stop(self.members[k], False))
            )
        ]
        if checks:
            self._validate(checks)
        done: list[int] = []
        for k, last_group, hit_max in ends:
            m = self.members[k]
            epoch_over = last_group or hit_max
            if not epoch_over and m.should_stop and self._can_stop(m, False):
                epoch_over = True
            if not epoch_over:
                continue
            processed = m.epoch + 1
            if (
                hit_max
                or processed >= rule.epoch_limit
                or (m.should_stop and self._can_stop(m, True))
            ):
                done.append(k)
        if done:
            self._finish(done)

    def _check_epoch(self, m: Member) -> bool:
        if not m.validates:
            return False
        last = m.validate_at_end and m.epoch + 1 >= self.rule.epoch_limit
        return last or m.end_check or (m.epoch + 1) % m.per_check == 0

    def _can_stop(self, m: Member, epoch_done: bool) -> bool:
        """Lightning's ``_can_stop_early``: min_epochs (processed epochs) and min_steps met."""
        processed = m.epoch + 1 if epoch_done else m.epoch
        return processed >= self.min_epochs and m.steps >= self.min_steps

    # ---------------------------------------------------------------- validation
    @torch.no_grad()
    def _validate(self, rows: list[int]) -> None:
        total = torch.zeros(len(self.members), device=self.device)
        count = torch.zeros(len(self.members), device=self.device)
        for x, mask, n in self.val_rounds:
            p = Pass(False, mask, n.clamp(min=1))
            loss, _ = self.stack.losses(x, x, p, None)
            total += torch.where(n > 0, loss * n, 0.0)
            count += n
        losses = (total / count.clamp(min=1)).cpu()
        for k in rows:
            self._advance_val_noise(k)
            self._early_stopping(k, losses[k].reshape(()))

    def _advance_val_noise(self, k: int) -> None:
        """Draws what the normal path's validation draws from torch's generator (denoising)."""
        cfg, m = self.cfg, self.members[k]
        if cfg.noise_ratio <= 0:
            return
        draw = torch.randn if cfg.noise == "gaussian" else torch.rand
        images = len(self.shape) == 3 and self.stack.template.log_images
        for b, size in enumerate(self.val_sizes[k]):
            draw((size, *self.shape), generator=m.generator, device=self.device)
            if b == 0 and images:  # the reconstruction grid's noisy row
                draw(
                    (min(GRID_IMAGES, size), *self.shape), generator=m.generator, device=self.device
                )

    def _early_stopping(self, k: int, current: torch.Tensor) -> None:
        m = self.members[k]
        m.val_loss = float(current)
        if not self.rule.early:
            return
        before = float(m.best)
        stop = False
        if not torch.isfinite(current):
            stop = True
        elif bool(current - self.rule.min_delta < m.best):
            m.best, m.wait = current, 0
        else:
            m.wait += 1
            stop = m.wait >= self.rule.patience
        m.should_stop = m.should_stop or stop
        if stop:
            m.stopped_epoch = m.epoch
        if float(m.best) < before:
            m.best_epoch = m.epoch + 1
            m.best_state = self.stack.state(k)

    # ---------------------------------------------------------------- the end
    def _finish(self, rows: list[int]) -> None:
        for k in rows:
            m = self.members[k]
            state = m.best_state if self.rule.early and m.best_state is not None else None
            self.finished[m.index] = (state or self.stack.state(k), self._reason(m))
        keep = [k for k in range(len(self.members)) if k not in rows]
        self.members = [self.members[k] for k in keep]
        if not keep:
            return
        rows_t = torch.tensor(keep, device=self.device)
        self.stack.keep(rows_t)
        self.exp_avg = [v.index_select(0, rows_t) for v in self.exp_avg]
        self.exp_avg_sq = [v.index_select(0, rows_t) for v in self.exp_avg_sq]
        self.chunk_idx = self.chunk_idx.index_select(0, rows_t)
        self.chunk_n = self.chunk_n.index_select(0, rows_t)
        self.chunk_mask = self.chunk_mask.index_select(0, rows_t)
        self.chunk_sizes = [self.chunk_sizes[k] for k in keep]
        self.chunk_where = [self.chunk_where[k] for k in keep]
        self.val_sizes = [self.val_sizes[k] for k in keep]
        self.val_rounds = [
            (x.index_select(0, rows_t), mask.index_select(0, rows_t), n.index_select(0, rows_t))
            for x, mask, n in self.val_rounds
        ]

    def _reason(self, m: Member) -> str:
        """Why ``m`` stopped, in the words of BestWeights.reason and limit_reason.

        Epochs count passes over the rows, which is what the user's rule counts.
        """
        rule = self.user_rule
        epochs = (m.epoch + 1) * m.passes
        if rule.max_steps is not None and m.steps >= rule.max_steps:
            limit = f"reached the step budget (--max-steps {rule.max_steps})"
        elif rule.early:
            limit = f"reached --max-epochs {rule.max_epochs}"
        else:
            limit = f"trained the fixed --epochs {rule.epochs}"
        if not rule.early:
            return limit
        best = f"best validation loss {float(m.best):.4g} in epoch {m.best_epoch * m.passes}"
        at_limit = epochs >= rule.epoch_limit or (
            rule.max_steps is not None and m.steps >= rule.max_steps
        )
        if m.stopped_epoch and not at_limit:
            return (
                f"stopped early: no improvement of the validation loss in {rule.patience} "
                f"checks ({best})"
            )
        return f"{limit} before the validation loss stopped improving ({best})"


def fused_adam_works(device: torch.device) -> bool:
    """Whether torch's fused Adam runs on ``device`` (AutoEncoder.configure_optimizers' test)."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError):
        return False
    return True
