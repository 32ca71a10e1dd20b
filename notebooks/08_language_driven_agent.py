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
# # 08 · The language-driven agent, and who judges it
#
# Everything comes together: a person types what the robot should do; the translator of notebook 07
# turns it into a plan; the generalist of notebook 06 acts the plan out on one body; and a judge
# reads what happened and says whether the instruction was carried out. When it was not, the agent
# tries again with the judge's adjustment: a longer step, a moment standing still before the step
# that failed, or simply another try.
#
# **Learning goals.** How to close the loop from language to behaviour and back; how to check an
# LLM judge against a deterministic oracle (agreement, Cohen's kappa, a confusion table, on rollouts
# built to fail in known ways); and how to report an agent's success honestly: on instructions not
# used for tuning, first try against within three.

# %% tags=["parameters"]
PROFILE = "cpu"  # smoke | cpu | gpu

# %% tags=["hide"]
from helpers.course.notebook import setup, show_code

lesson = setup("08_language_driven_agent", PROFILE)
budget, results = lesson.budget, lesson.results

import json
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from helpers import REPO_ROOT
from helpers.envs.metrics import SUCCESS_RULES
from helpers.envs.simulator import rendering_works
from helpers.language.instructions import build_dataset
from helpers.language.judge import JUDGE_DIR, RuleVerifier, load_lm_judge
from helpers.language.judge_data import synthetic_examples
from helpers.language.translation import load_translator
from helpers.models.agent import Agent
from helpers.models.agent_eval import agreement, cohen_kappa, end_to_end, labelled_rollouts, runnable_examples
from helpers.models.generalist_policy import load_committed_generalist

# %% [markdown]
# ## The loop
#
# `python -m helpers.agent "run forward for 3 seconds, then do a front flip" --json` runs it from a
# shell. Inside, `Agent.run` is short:

# %%
show_code(Agent.run, start="answer = translate_batch", end="plan = adjust(plan, verdict)")

# %% [markdown]
# The translator's text is parsed and checked against the skill table before anything moves (a
# refusal ends the run with an error); the plan runs on one continuously simulated cheetah, whose
# skills follow each other, or as one humanoid skill (walking and standing up live in two different
# MuJoCo models). Each step's stretch of the rollout, after its first second, becomes a line of
# numbers, and both judges read those numbers, never frames.

# %%
generalist = load_committed_generalist()
translator = load_translator()
verifier = RuleVerifier()
# two LM judges: SmolLM2 prompted, and with the LoRA adapter of `python -m helpers.finetune_judge`
# (pretrained/judge); the dev split below picks one. Smoke: SmolLM2's random-weight twin, prompted.
judges = {"prompted": load_lm_judge(model=budget["lm_judge"])}
if budget["lm_judge"] == "smollm2-135m" and (JUDGE_DIR / "card.json").exists():
    judges["fine-tuned"] = load_lm_judge(adapter="committed")
lm_judge = judges["prompted"]
agent = Agent(translator, generalist, lm_judge, verifier)

instruction = "run forward for 3 seconds, then do a front flip for 3 seconds"
demo = agent.run(instruction, seed=11, retries=budget["retries"])
print(json.dumps({k: demo[k] for k in ("plan", "checked", "verdict")}, indent=1)[:1500])
results["demo"] = {"instruction": instruction, "attempts": len(demo["attempts"]), "checked": demo["checked"]["success"],
                   "verdict": demo["verdict"], "seconds": demo["seconds"]}

# %% [markdown]
# ## The oracle: the skill table's rules
#
# The rule verifier is the course's definition of "did what was asked", the rules of notebook 02
# applied to each step: deterministic, documented, and what the tests rely on.

# %%
display(pd.DataFrame([{"skill": s, "rule": " and ".join(f"{k} {op} {bar:g}" for k, op, bar in rules)}
                      for s, rules in SUCCESS_RULES.items()]).set_index("skill"))

# %% [markdown]
# ## The LM judge
#
# SmolLM2-135M-Instruct reads the instruction and the rollout summary, in which every rule of every
# step is a numbered check with the measured number beside its bar, and answers in one JSON format,
# `{"checks": [...], "success": ..., "failure_mode": ..., "adjustment": ...}`: first, check by check,
# whether the number clears its bar (its reading, written out), then the verdict, a success exactly
# when every check holds. Its answer is *chosen*, not sampled: every
# allowed value of each field is scored under the model and the likeliest taken, so the answer is
# deterministic and always parses; it is still parsed with `json.loads` and validated, never
# executed. What it reads:

# %%
dev = synthetic_examples(budget["dev_examples"], seed=0)  # the dev split: summaries drawn around each rule
print(lm_judge.prompt(*dev[0][:2])[-900:])

# %% [markdown]
# ### Agreement on the dev split
#
# Synthetic summaries, half of them successes, with metrics drawn close to each rule's bar: where
# the prompt was written and the judge chosen. The fine-tuned judge trained on other draws of the
# same generator, some of their metrics drawn anywhere in the range real rollouts reach (a cheetah
# runs several times faster than its 1 m/s bar, not just near it), and on real rollouts of plans
# from the translator's *train* split with seeds of their own: never the test's plans below, nor its
# seeds (its card has the command). A judge that always says "success" scores 50% here.

# %%
dev_labels = np.array([v.success for _, _, v in dev])
results["judge_dev"] = {}
for name, judge in judges.items():
    dev_pred = np.array([judge.judge(i, s).success for i, s, _ in dev])
    results["judge_dev"][name] = {"n": len(dev), "accuracy": float((dev_pred == dev_labels).mean()),
                                  "kappa": cohen_kappa(dev_labels, dev_pred), "says_success": float(dev_pred.mean())}
display(pd.DataFrame(results["judge_dev"]).T.round(3))
chosen = max(judges, key=lambda n: results["judge_dev"][n]["accuracy"])
lm_judge = agent.judge = judges[chosen]
results["judge_chosen"] = chosen
print(f"the {chosen} judge is used from here on")

# %% [markdown]
# ### Agreement on real rollouts it never saw
#
# The test: real rollouts of the generalist on plans from the paraphrase test split of notebook 07,
# half of them successes and half failures by the verifier. The failures are built to fail in known
# ways: the wrong skill run, the wrong speed, random actions for one step (a fall, for the humanoid).

# %%
data = build_dataset()
asked = runnable_examples(data["paraphrase"], max_steps=2)
labelled = labelled_rollouts(generalist, asked, budget["labelled"], seed=5000)
agree = agreement(lm_judge, labelled)
confusion = pd.DataFrame([[agree["confusion"]["verifier_success_judge_success"], agree["confusion"]["verifier_success_judge_failure"]],
                          [agree["confusion"]["verifier_failure_judge_success"], agree["confusion"]["verifier_failure_judge_failure"]]],
                         index=["verifier: success", "verifier: failure"], columns=["judge: success", "judge: failure"])
print(f"LM judge vs verifier on {agree['n']} rollouts: agreement {agree['accuracy']:.3f}, kappa {agree['kappa']:.3f}")
display(confusion)
results["judge_test"] = {k: v for k, v in agree.items() if k != "predicted"}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5, 2.8))
kinds = list(agree["accuracy_by_corruption"])
ax.bar(kinds, [agree["accuracy_by_corruption"][k] for k in kinds], color="tab:blue")
ax.axhline(0.9, ls=":", c="tab:red", lw=1)
ax.set_ylim(0, 1)
ax.set_ylabel("agreement with the verifier")
ax.set_title("the LM judge, by how the rollout was run")
lesson.figure(fig, "judge_agreement.png")
plt.show()

# %% [markdown]
# ## End to end, on instructions not used for tuning
#
# Single-skill and two-step instructions from the paraphrase test split (templates the translator
# never trained on, and that no prompt here was chosen on). A success needs the translator's plan to
# be the instruction's plan *and* the verifier to pass the rollout. The LM judge decides whether to
# try again, as it would without an oracle; the last column lets the verifier decide instead, which
# measures the feedback loop itself.

# %%
singles = [x for x in asked if ";" not in x[1]][: budget["end_to_end"]]
doubles = [x for x in asked if ";" in x[1]][: budget["end_to_end"]]
e2e = end_to_end(agent, singles + doubles, seed=7000, retries=budget["retries"])
# the same instructions and seeds with the verifier deciding the retries: what the loop itself buys
# when its judge is right (the first attempts are the same rollouts)
e2e_rules = end_to_end(Agent(translator, generalist, verifier, verifier), singles + doubles, seed=7000,
                       retries=budget["retries"])
rows = pd.DataFrame(e2e["rows"])
within = f"within {budget['retries'] + 1} attempts"
summary = pd.DataFrame({"first try": [e2e["single_first_try"], e2e["multi_first_try"]],
                        f"{within} (LM judge)": [e2e["single_within"], e2e["multi_within"]],
                        f"{within} (verifier)": [e2e_rules["single_within"], e2e_rules["multi_within"]]},
                       index=["single skill", "two steps"])
display(summary.round(3))
print(f"translator's plan right on {e2e['plan_accuracy']:.1%} of them")
results["end_to_end"] = {k: v for k, v in e2e.items() if k != "rows"}
results["end_to_end_verifier_retries"] = {k: v for k, v in e2e_rules.items() if k != "rows"}

# %% tags=["hide-input"]
fig, ax = plt.subplots(figsize=(5, 2.8))
x = np.arange(2)
for k, column in enumerate(summary.columns):
    ax.bar(x + (k - 1) * 0.27, summary[column], 0.27, label=column)
ax.set_xticks(x, summary.index)
ax.set_ylim(0, 1)
ax.set_ylabel("success (verifier)")
ax.legend(fontsize=8)
lesson.figure(fig, "end_to_end.png")
plt.show()

# %% [markdown]
# ## The failures
#
# Every instruction that did not succeed within its attempts, with the first attempt's failure mode
# as the verifier reads it: a wrong plan is the translator's failure, the rest the generalist's.

# %%
failures = rows[~rows["within"]]
display(failures[[c for c in ("instruction", "plan_ok", "failure_mode", "attempts", "error") if c in failures]].head(20))
results["failure_modes"] = failures["failure_mode"].fillna("translation").value_counts().to_dict() if len(failures) else {}

# %% [markdown]
# ## How fast it answers
#
# A 10 s cheetah plan, one attempt, no video: translation, 200 steps of the generalist, the summary
# and both judges.

# %%
plan_text = "run forward for 5 seconds, then jump for 5 seconds"
timings = []
for k in range(budget["latency_runs"]):
    t0 = time.perf_counter()
    agent.run(plan_text, seed=100 + k, retries=0)
    timings.append(time.perf_counter() - t0)
results["latency_s"] = {"median": float(np.median(timings)), "max": float(np.max(timings)), "runs": len(timings)}
print(f"10 s plan, one attempt: median {np.median(timings):.2f} s")

# %% [markdown]
# ## Watch it
#
# The instruction and the step in force are written on the frames.

# %%
if rendering_works():
    video = lesson.out_dir / "agent_demo.mp4"
    agent.run(instruction, seed=11, retries=0, video=str(video))
    display(lesson.show_video(video))
    results["video"] = str(video.relative_to(REPO_ROOT))

# %% [markdown]
# ## What this shows, and what it does not
#
# The verifier is an oracle only for what the skill table defines; a judge that agrees with it has
# learned to read those numbers, not to watch a robot. The agent cannot do better than its
# generalist: where a skill fails in notebook 06, no number of retries fixes it here.

# %% tags=["hide"]
lesson.save()

# %% [markdown] tags=["exercise"]
# ## Exercises
#
# Each exercise is a function to finish (the `TODO`). `check(...)` runs it on a few small cases and
# says what is wrong, if anything; it never stops the notebook. `show_solution("...")` shows one
# answer (from [`helpers/course/solutions.py`](../helpers/course/solutions.py)): try first.
#
# **1 · Cohen's kappa.** Agreement flatters a judge: where most rollouts succeed, one that always
# says "success" agrees most of the time. Finish `kappa(verifier, judge)` for two boolean arrays:
# $\kappa = (p_o - p_e) / (1 - p_e)$, with $p_o$ the share of rollouts the two agree on and $p_e$
# the agreement expected by chance from each one's own rate of "success".

# %% tags=["exercise"]
import numpy as np

from helpers.course.exercises import check, show_solution


def kappa(verifier, judge):
    """Cohen's kappa of a judge's verdicts against the verifier's."""
    return float(np.mean(verifier == judge))  # TODO: this is the plain agreement; how much would chance give?


check("08.kappa", kappa)

# %% [markdown] tags=["exercise"]
# **2 · The verifier's first failed step.** Finish `first_failed_step(steps)`: `steps` holds one
# `(skill, metrics)` pair per plan step, and the answer is the index of the first step that misses a
# rule of its skill in `SUCCESS_RULES` (the table above), or None when the plan was carried out. The
# agent's adjustment is aimed at that step.

# %% tags=["exercise"]
from helpers.envs.metrics import SUCCESS_RULES


def first_failed_step(steps):
    """Where the plan first went wrong by the skill table's rules (None: nowhere)."""
    for i, (skill, metrics) in enumerate(steps):
        key, op, bar = SUCCESS_RULES[skill][0]
        if metrics[key] < bar:  # TODO: every rule of the skill, and rules with "<=" too
            return i
    return None


check("08.first_failed_step", first_failed_step)
