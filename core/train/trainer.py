"""Staged CSBSR training with resumable checkpoints (``csbsr train``).

Phases (iteration counts from :class:`core.config.TrainConfig`):

* P1 non-blind SR: KBPN with the true kernel (kernel head and refiners bypassed, frozen);
  loss L_SR.
* P2 kernel estimator: only the initial kernel head and the refiners train; loss L_SR.
* P3 blind SR: the whole KBPN; loss L_SR.
* P4 joint: KBPN + segmentation (BlurSkip off); L = (1-β)·L_SR + β·L_seg, w^F on the SR
  loss after ``wf_start`` P4 iterations in the w^F variants.
* P5 BlurSkip: only BlurSkip trains; everything else is frozen and in eval mode (BN
  statistics and dropout frozen); SR runs without gradient, so the loss is β·L_seg.

Variants (the ablation rows): ``joint`` (d), ``joint_wf`` (e), ``joint_wf_blurskip`` (f, the
shipped model), ``separate`` (c: P1-P3 SR, then P4 trains the segmentation on HR images
with the SR frozen; evaluated as a cascade), ``hr_seg`` (a: segmentation on HR images only)
and ``bicubic_seg`` (b: segmentation on bicubic-upscaled LR only). The segmentation-only
variants train for the P4 budget.

Optimiser: a fresh Adam per phase (the phases train different parameter sets), cosine
decay lr -> lr_min inside the phase, gradient clip. A checkpoint (``<out>/ckpt/last``:
safetensors with the model *and* the Adam moments, never a pickle, plus JSON with the phase,
iteration, random-generator state, log and wall time) is written every
``checkpoint_every`` iterations and at each phase end, so ``--resume`` continues exactly.
Each phase ends with a validation pass on a fixed subset of the val split and an export
``<out>/phase_Pn.safetensors`` (+ card) usable by ``csbsr evaluate``. The final model is
``<out>/model.safetensors``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from .. import atomic
from ..config import to_dict
from ..errors import CheckpointError, ConfigError, InvalidInputError, OutputExistsError
from ..model.config import named_model_config
from ..progress import NullProgress, Progress, check_cancelled, format_eta
from .checkpoint import RunState, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .schedule import (
    DATA_SOURCES,
    SEG_ONLY,
    VARIANT_PHASES,
    VARIANTS,
    cosine_lr,
    eval_mode_for,
    machine_description,
    phase_iters,
)

LOG_EVERY = 10

PathLike = Union[str, Path]


class Trainer:
    """Owns the model, data, optimiser and run directory of one training run.

    Args:
        cfg: the training recipe.
        out: run directory (created; holds ckpt/, log.jsonl, phase exports, model).
        variant: one of :data:`VARIANTS`.
        manifest: manifest TSV; train rows train, val rows validate.
        phases: restrict to these phases (default: the variant's).
        init: weights to start from (a model file from an earlier run/phase).
        resume: continue the run found in ``out``.
        samples: preloaded training samples (tests), else read from ``manifest``.
        val_samples: preloaded validation samples (tests).
        negatives: orthophotos (a folder or files) for the negative bank, when the recipe's
            ``bank_fraction`` > 0.
    """

    def __init__(self, cfg: TrainConfig, out: PathLike, variant: str = "joint_wf_blurskip",
                 manifest: Optional[Union[PathLike, Sequence[PathLike]]] = None,
                 phases: Optional[Sequence[str]] = None,
                 init: Optional[PathLike] = None, resume: bool = False,
                 samples: Optional[Sequence[Any]] = None,
                 val_samples: Optional[Sequence[Any]] = None,
                 progress: Optional[Progress] = None,
                 negatives: Optional[Union[PathLike, Sequence[PathLike]]] = None) -> None:
        import torch

        from ..device import keep_freed_memory, resolve_device
        from ..model.card import build_model
        from .data import fixed_eval_items, load_samples, read_manifests, subset_rows
        from .sampler import CropPolicy, PatchSampler

        self.progress = progress or NullProgress()
        if variant not in VARIANTS:
            raise ConfigError(f"unknown variant {variant!r}; use one of {VARIANTS}")
        allowed = VARIANT_PHASES[variant]
        phases = list(phases) if phases else list(allowed)
        bad = [p for p in phases if p not in allowed]
        if bad:
            raise ConfigError(f"phase(s) {bad} are not part of variant {variant!r} "
                              f"(its phases: {list(allowed)})")
        phases = [p for p in allowed if p in phases and phase_iters(cfg, p) > 0]
        self.cfg = cfg
        self.variant = variant
        self.out = Path(out)
        self.ckpt_dir = self.out / "ckpt"
        if (self.ckpt_dir / "last.json").exists() and not resume:
            raise OutputExistsError(
                f"{self.out} already holds a training run: pass --resume to continue it "
                "or choose another --out")
        if resume and not (self.ckpt_dir / "last.json").exists():
            raise CheckpointError(f"--resume: no checkpoint in {self.ckpt_dir}; "
                                  "start without --resume")
        self.choice = resolve_device(cfg.device, cfg.precision)
        self.device = torch.device(self.choice.torch_device)
        if not self.choice.is_gpu:
            keep_freed_memory()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.model_cfg = named_model_config(cfg.model).with_blurskip(
            variant == "joint_wf_blurskip")
        self.model = build_model(self.model_cfg).to(self.device)
        self.scale = self.model.scale
        if init is not None:
            self._load_init(Path(init))
        # created only once the weights to start from are known to be good
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_dir.mkdir(exist_ok=True)
        # data
        if samples is None:
            if manifest is None:
                raise InvalidInputError("no training data: pass --data MANIFEST")
            self.progress.set_status("loading training images")
            samples = load_samples(read_manifests(manifest, ["train"]), cfg.hr_policy, self.scale)
        if val_samples is None and manifest is not None and cfg.val_images:
            rows = subset_rows(read_manifests(manifest, ["val"]), cfg.val_images)
            val_samples = load_samples(rows, cfg.hr_policy, self.scale)
        self.n_train = len(samples)
        self.val_items = fixed_eval_items(val_samples or [], seed=cfg.val_seed,
                                          protocol=cfg.protocol, scale=self.scale,
                                          padding=cfg.padding)
        self.rng = np.random.default_rng(cfg.seed)
        bank = None
        if cfg.bank_fraction > 0:
            from .negatives import NegativeBank

            if negatives is None:
                raise InvalidInputError("the recipe draws orthophoto negatives "
                                        "(bank_fraction > 0): pass --negatives FOLDER")
            bank = NegativeBank(negatives, part="train")
        policy = CropPolicy(
            crack_fraction=cfg.crack_fraction, hardneg_fraction=cfg.hardneg_fraction,
            bank_fraction=cfg.bank_fraction,
            gsd_jitter=(float(cfg.gsd_jitter[0]), float(cfg.gsd_jitter[1])),
            colour_jitter=cfg.colour_jitter,
            protocols=tuple(cfg.train_protocols) or (cfg.protocol,),
            dataset_power=cfg.dataset_power, dataset_boost=tuple(cfg.dataset_boost),
            hardneg_weight=cfg.hardneg_weight)
        self.sampler = PatchSampler(samples, cfg.crop, cfg.batch_size, self.scale, self.rng,
                                    padding=cfg.padding, policy=policy, bank=bank)
        self.per_epoch = self.n_train // cfg.batch_size + 1
        self.state = RunState(variant=variant, phases=phases)
        self.optimizer: Any = None
        self.log_path = self.out / "log.jsonl"
        if resume:
            self._load_checkpoint()
        else:
            self._write_run_json(init)

    # ---------------------------------------------------------------- set-up helpers
    def _write_run_json(self, init: Optional[PathLike]) -> None:
        doc = {"variant": self.variant, "phases": self.state.phases, "train": to_dict(self.cfg),
               "model": to_dict(self.model_cfg), "init": str(init) if init else None,
               "device": self.choice.description, "machine": machine_description(),
               "n_train": self.n_train, "n_val": len(self.val_items)}
        atomic.write_text(self.out / "run.json", json.dumps(doc, indent=2) + "\n")

    def _load_init(self, path: Path) -> None:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        wpath = path if path.suffix == ".safetensors" or path.is_file() \
            else path.with_suffix(".safetensors")
        if not wpath.is_file():
            raise CheckpointError(f"--init: {wpath} does not exist; pass a phase export "
                                  "(phase_P3.safetensors) or a model file")
        try:
            state = load_file(str(wpath))
        except (SafetensorError, OSError, ValueError) as exc:
            raise CheckpointError(f"--init: {wpath} is not a safetensors model file "
                                  f"({str(exc).splitlines()[0]}); pass a .safetensors export "
                                  "of a csbsr run (pickles are never loaded)") from exc
        own = self.model.state_dict()
        missing = [k for k in own if k not in state and not k.startswith("seg_net.blurskip.")]
        unexpected = [k for k in state if k not in own]
        shapes = [k for k in state if k in own and own[k].shape != state[k].shape]
        if missing or unexpected or shapes:
            raise CheckpointError(
                f"--init {wpath.name} does not fit the {self.cfg.model} architecture: "
                f"{len(missing)} missing, {len(unexpected)} unexpected, {len(shapes)} "
                f"mis-shaped tensors (e.g. {(missing + unexpected + shapes)[:3]})")
        self.model.load_state_dict(state, strict=False)

    def _optimizer(self, phase: str) -> Any:
        """A fresh Adam over the phase's parameters: SR parameters (``sr``, ``kernel``) in a
        group whose rate is ``lr * sr_lr_factor``, the rest at ``lr``."""
        import torch

        params = self._trainable(phase)
        groups = self.model.parameter_groups()
        sr_ids = {id(p) for n in ("sr", "kernel") for p in groups[n]}
        sr = [p for p in params if id(p) in sr_ids]
        rest = [p for p in params if id(p) not in sr_ids]
        spec: List[Dict[str, Any]] = [
            {"params": g, "lr_scale": f, "lr": self.cfg.lr * f}
            for g, f in ((sr, self.cfg.sr_lr_factor), (rest, 1.0)) if g]
        return torch.optim.Adam(spec, lr=self.cfg.lr)

    def _trainable(self, phase: str) -> List[Any]:
        """Set requires_grad for ``phase``; return the trainable parameters.

        Uses the model's parameter groups (kernel, sr, seg, blurskip); the trainer never
        looks inside a network.
        """
        groups = self.model.parameter_groups()
        if phase == "P1":
            names = ["sr"]
        elif phase == "P2":
            names = ["kernel"]
        elif phase == "P3":
            names = ["sr", "kernel"]
        elif phase == "P4":
            names = ["seg"] if self.variant in SEG_ONLY else ["sr", "kernel", "seg"]
        else:
            names = ["blurskip"]
        for p in self.model.parameters():
            p.requires_grad_(False)
        params = [p for n in names for p in groups[n]]
        for p in params:
            p.requires_grad_(True)
        if not params:
            raise ConfigError(f"phase {phase} of variant {self.variant} has nothing to train")
        return params

    def _set_modes(self, phase: str) -> None:
        m = self.model
        m.use_blurskip = phase == "P5"
        if phase == "P5":
            m.eval()
            m.seg_net.blurskip.train()
        else:
            m.train()

    # ------------------------------------------------------------------- the step
    def _sdf(self, mask: Any) -> Any:
        import torch

        from .losses import signed_distance_maps

        phi = signed_distance_maps(mask[:, 0].numpy() > 0.5)
        return torch.from_numpy(phi)[:, None]

    def step_loss(self, phase: str, batch: Any, joint_it: int) -> tuple:
        """Forward one batch in ``phase``; return (loss tensor, dict of floats)."""
        import torch

        from ..device import autocast
        from .degrade import bicubic_upscale
        from .losses import (
            SRLossWeights,
            alpha_at,
            deep_supervision_loss,
            failure_weights,
            seg_loss,
            sr_loss,
        )

        cfg = self.cfg
        dev = self.device
        lr, hr = batch.lr.to(dev), batch.hr.to(dev)
        mask, kernel = batch.mask.to(dev), batch.kernel.to(dev)
        w = SRLossWeights(*cfg.sr_weights)
        logs: Dict[str, float] = {}
        ac = autocast(self.choice)
        if phase in ("P1", "P2", "P3"):
            with ac:
                out = self.model.sr_net(lr, kernel if phase == "P1" else None)
            l_sr, parts = sr_loss(out.sr, hr, lr, out.kernel, kernel, w, padding=cfg.padding)
            logs.update({f"sr_{k}": float(v.detach().mean()) for k, v in parts.items()})
            return l_sr.mean(), logs
        weight = batch.weight.to(dev) if batch.weight is not None else None
        if cfg.seg_loss == "bce_dice":
            def seg_terms(logits: Any, aux: Any) -> tuple:
                return deep_supervision_loss(logits, aux, mask, weight, cfg.aux_weight,
                                             cfg.pos_weight)
        else:
            sdf = self._sdf(batch.mask).to(dev)
            alpha = alpha_at(joint_it, self.per_epoch)
            logs["alpha"] = alpha

            def seg_terms(logits: Any, aux: Any) -> tuple:
                return seg_loss(logits, aux, mask, sdf, alpha, cfg.aux_weight)
        if phase == "P4" and self.variant in SEG_ONLY:
            img = bicubic_upscale(lr, self.scale) if self.variant == "bicubic_seg" else hr
            with ac:
                logits, aux = self.model.segment(img)
            l_seg, parts = seg_terms(logits, aux)
            loss = l_seg.mean()
        elif phase == "P5":
            with ac:
                with torch.no_grad():
                    sro = self.model.super_resolve(lr)
                logits, aux = self.model.segment(sro.sr, sro.kernel_cond)
            l_seg, parts = seg_terms(logits, aux)
            loss = cfg.beta * l_seg.mean()
        else:
            with ac:
                out = self.model(lr)
            use_wf = self.variant != "joint" and joint_it >= cfg.wf_start
            wf = failure_weights(out.seg_logits, mask, cfg.m_f) if use_wf else None
            l_sr, sparts = sr_loss(out.sr, hr, lr, out.kernel, kernel, w, wf=wf,
                                   padding=cfg.padding)
            l_seg, parts = seg_terms(out.seg_logits, out.aux_logits)
            loss = (1 - cfg.beta) * l_sr.mean() + cfg.beta * l_seg.mean()
            logs.update({f"sr_{k}": float(v.detach().mean()) for k, v in sparts.items()})
            logs["wf"] = float(use_wf)
        logs.update({f"seg_{k}": float(v.detach().mean()) for k, v in parts.items()})
        return loss, logs

    # -------------------------------------------------------------------- running
    def run(self) -> Path:
        """Train the remaining phases; return the final model path."""
        import torch

        cfg = self.cfg
        total = sum(phase_iters(cfg, p) for p in self.state.phases)
        global_done = sum(phase_iters(cfg, p) for p in self.state.phases[:self.state.phase_index])
        global_done += self.state.it
        session_steps = 0
        t_run = time.perf_counter()
        scaler = (torch.amp.GradScaler(self.device.type) if self.choice.precision == "fp16"
                  else None)
        while self.state.phase_index < len(self.state.phases):
            phase = self.state.phases[self.state.phase_index]
            n = phase_iters(cfg, phase)
            params = self._trainable(phase)
            self._set_modes(phase)
            if self.optimizer is None:
                self.optimizer = self._optimizer(phase)
            joint_base = phase_iters(cfg, "P4") if phase == "P5" else 0
            acc: Dict[str, List[float]] = {}
            t_phase = time.perf_counter()
            while self.state.it < n:
                check_cancelled(self.progress)
                it = self.state.it
                lr_now = cosine_lr(it, n, cfg.lr, cfg.lr_min)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr_now * g.get("lr_scale", 1.0)
                t0 = time.perf_counter()
                batch = self.sampler.next()
                loss, logs = self.step_loss(phase, batch, joint_base + it)
                if not torch.isfinite(loss):
                    raise CheckpointError(
                        f"{phase} iteration {it}: the loss is {float(loss)}; lower --lr or "
                        "resume from the last checkpoint")
                self.optimizer.zero_grad(set_to_none=True)
                if scaler is not None:  # fp16 AMP on a GPU: scale the loss, unscale to clip
                    scaler.scale(loss).backward()
                    scaler.unscale_(self.optimizer)
                else:
                    loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                if scaler is not None:
                    scaler.step(self.optimizer)
                    scaler.update()
                else:
                    self.optimizer.step()
                dt = time.perf_counter() - t0
                logs.update({"loss": float(loss.detach()), "step_s": dt})
                for k, v in logs.items():
                    acc.setdefault(k, []).append(v)
                self.state.it += 1
                global_done += 1
                session_steps += 1
                rate = (time.perf_counter() - t_run) / session_steps
                self.progress.set_progress(100.0 * global_done / max(1, total))
                self.progress.set_status(
                    f"{phase} {self.state.it}/{n} loss {logs['loss']:.4f} "
                    f"{dt:.2f} s/it ETA {format_eta(rate * (total - global_done))}")
                if self.state.it % LOG_EVERY == 0 or self.state.it == n:
                    self._log({"phase": phase, "it": self.state.it, "lr": lr_now,
                               **{k: float(np.mean(v)) for k, v in acc.items()}})
                    acc = {}
                if self.state.it % cfg.checkpoint_every == 0 and self.state.it < n:
                    self._account_time(phase, t_phase)
                    t_phase = time.perf_counter()
                    self._save_checkpoint()
            self._account_time(phase, t_phase)
            self._end_phase(phase)
        self.state.done = True
        self._save_checkpoint()
        return self.export(self.out / "model.safetensors", self.state.phases[-1])

    def _account_time(self, phase: str, t_start: float) -> None:
        dt = time.perf_counter() - t_start
        self.state.wall_s += dt
        self.state.phase_wall_s[phase] = self.state.phase_wall_s.get(phase, 0.0) + dt

    def _end_phase(self, phase: str) -> None:
        self.progress.set_status(f"{phase}: validating on {len(self.val_items)} val images")
        t0 = time.perf_counter()
        val = self.validate(phase)
        val["val_seconds"] = round(time.perf_counter() - t0, 1)
        self.state.val[phase] = val
        self._log({"phase": phase, "validation": val,
                   "phase_wall_s": round(self.state.phase_wall_s.get(phase, 0.0), 1)})
        self.export(self.out / f"phase_{phase}.safetensors", phase)
        self.state.phase_index += 1
        self.state.it = 0
        self.optimizer = None
        self._save_checkpoint()

    def validate(self, phase: str) -> Dict[str, Any]:
        """Metrics on the fixed val subset after ``phase`` (SR-only phases: PSNR/SSIM)."""
        import torch

        from .evaluate import evaluate_items
        from .metrics import psnr, ssim

        if not self.val_items:
            return {}
        if phase in ("P1", "P2", "P3"):
            self.model.eval()
            ps, ss = [], []
            with torch.inference_mode():
                for item in self.val_items:
                    k = item.kernel.to(self.device) if phase == "P1" else None
                    sr = self.model.sr_net(item.lr.to(self.device), k).sr
                    sr_np = sr.float().clamp(0, 1)[0].cpu().numpy()
                    ps.append(psnr(sr_np, item.hr[0].numpy()))
                    ss.append(ssim(sr_np, item.hr[0].numpy()))
            self._set_modes(phase)
            return {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)),
                    "non_blind": phase == "P1", "n_images": len(ps)}
        use_bs = self.model.use_blurskip
        self.model.use_blurskip = phase == "P5"
        try:
            res = evaluate_items(self.model, self.val_items, mode=eval_mode_for(self.variant),
                                 hd_every=4, device=self.device)
        finally:
            self.model.use_blurskip = use_bs
            self._set_modes(phase)
        return res

    # ------------------------------------------------------------- checkpoints/export
    def export(self, path: Path, phase: str) -> Path:
        """Write the model as it stands after ``phase`` with a card (save_model)."""
        from ..model.card import ModelCard, build_model, save_model

        with_bs = self.model_cfg.blurskip.enabled and phase == "P5"
        cfg = self.model_cfg.with_blurskip(with_bs)
        model = self.model
        if self.model_cfg.blurskip.enabled and not with_bs:
            model = build_model(cfg)
            own = self.model.state_dict()
            model.load_state_dict({k: v for k, v in own.items() if k in model.state_dict()},
                                  strict=True)
        val = self.state.val.get(phase, {})
        threshold = float(val.get("best_threshold", 0.5)) if val else 0.5
        card = ModelCard(
            model=cfg, input_gsd_m=None, recommended_threshold=threshold,
            training=self.training_record(phase), metrics={"val_subset": val},
            description=f"CSBSR {self.cfg.model} x{self.scale}, variant {self.variant}, "
                        f"after {phase} (eval mode: {eval_mode_for(self.variant)})")
        return save_model(model, card, path)

    def training_record(self, phase: str) -> Dict[str, Any]:
        """The ``training`` section of a model card."""
        return {"variant": self.variant, "eval_mode": eval_mode_for(self.variant),
                "phases": self.state.phases, "last_phase": phase,
                "recipe": to_dict(self.cfg), "n_train_images": self.n_train,
                "data_sources": DATA_SOURCES,
                "wall_time_s": round(self.state.wall_s, 1),
                "phase_wall_s": {k: round(v, 1) for k, v in self.state.phase_wall_s.items()},
                "device": self.choice.description, "machine": machine_description()}

    def _log(self, record: Dict[str, Any]) -> None:
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def _save_checkpoint(self) -> None:
        self.state.rng_state = dict(self.rng.bit_generator.state)
        save_checkpoint(self.ckpt_dir, self.model, self.optimizer, self.state)

    def _load_checkpoint(self) -> None:
        state, optimizer_state = load_checkpoint(self.ckpt_dir, self.model)
        if state.variant != self.variant or state.phases != self.state.phases:
            raise CheckpointError(
                f"the run in {self.out} is variant {state.variant} with phases "
                f"{state.phases}; resume it with the same --variant and --phases")
        self.state = state
        self.rng.bit_generator.state = state.rng_state
        if optimizer_state is not None and state.phase_index < len(state.phases):
            self.optimizer = self._optimizer(state.phases[state.phase_index])
            self.optimizer.load_state_dict(optimizer_state)


def train(cfg: TrainConfig, out: PathLike, variant: str = "joint_wf_blurskip",
          manifest: Optional[Union[PathLike, Sequence[PathLike]]] = None,
          phases: Optional[Sequence[str]] = None,
          init: Optional[PathLike] = None, resume: bool = False,
          progress: Optional[Progress] = None,
          negatives: Optional[Union[PathLike, Sequence[PathLike]]] = None) -> Path:
    """Train (or resume) a run and return the path of its final model."""
    trainer = Trainer(cfg, out, variant=variant, manifest=manifest, phases=phases, init=init,
                      resume=resume, progress=progress, negatives=negatives)
    return trainer.run()
