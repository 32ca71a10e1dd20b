"""The language-driven agent (notebook 08): the rule verifier, the LM judge's answers, the feedback
loop's adjustments and the CLI end to end on a tiny untrained generalist."""

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers.core.errors import InvalidArgumentError
from helpers.envs.skills import PlanStep
from helpers.language.judge import (ADJUSTMENTS, FAILURE_MODES, LMJudge, RuleVerifier, Verdict, answer_text, check_summary,
                                    describe, parse_verdict, rollout_summary)
from helpers.models.agent import adjust, plan_from_answer


def summary(*steps):
    return {"steps": [{"skill": skill, "target_speed": speed, "duration_s": 3.0, "metrics": metrics}
                      for skill, speed, metrics in steps], "dt": 0.05}


RUN_OK = ("run_forward", None, {"mean_forward_speed": 4.0, "upright_fraction": 1.0})
RUN_BACKWARDS = ("run_forward", None, {"mean_forward_speed": -2.0, "upright_fraction": 1.0})
NO_FLIP = ("front_flip", None, {"flips_per_episode": 0.0, "upright_fraction": 1.0})
FELL = ("run_forward", None, {"mean_forward_speed": 0.2, "upright_fraction": 0.1})


def test_rule_verifier_reads_each_step_and_names_the_first_failure():
    judge = RuleVerifier()
    assert judge.judge("run", summary(RUN_OK)).success
    v = judge.judge("run", summary(RUN_BACKWARDS))
    assert (v.success, v.failure_mode, v.adjustment, v.failed_step) == (False, "wrong_direction", "retry", 0)
    v = judge.judge("run then flip", summary(RUN_OK, NO_FLIP))
    assert (v.failure_mode, v.adjustment, v.failed_step) == ("no_flip", "recovery_step", 1)
    assert [s["success"] for s in v.steps] == [True, False]
    v = judge.judge("flip then run", summary(("front_flip", None, {"flips_per_episode": 2.0, "upright_fraction": 0.6}), FELL))
    assert (v.failure_mode, v.adjustment) == ("fell", "recovery_step")


@pytest.mark.parametrize("bad, message", [
    ({}, "one entry per plan step"),
    ({"steps": [{"skill": "moonwalk", "metrics": {}}]}, "known 'skill'"),
    (summary(("front_flip", None, {})), "lacks the metrics"),
    (summary(("run_forward", None, {"mean_forward_speed": float("nan"), "upright_fraction": 1.0})), "finite"),
])
def test_judges_refuse_summaries_they_cannot_read(bad, message):
    with pytest.raises(InvalidArgumentError, match=message):
        check_summary(bad)
    with pytest.raises(InvalidArgumentError, match=message):
        RuleVerifier().judge("x", bad)


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ('{"success": true}', "exactly"),
    ('{"success": "yes", "failure_mode": "none", "adjustment": "none"}', "outside"),
    ('{"success": false, "failure_mode": "exploded", "adjustment": "none"}', "outside"),
    ('{"success": true, "failure_mode": "fell", "adjustment": "none"}', "contradicts"),
    ('["__import__(\\"os\\")"]', "exactly"),
    ('{"checks": [true, false], "success": true, "failure_mode": "none", "adjustment": "none"}', "checks"),
    ('{"checks": "all", "success": true, "failure_mode": "none", "adjustment": "none"}', "checks"),
])
def test_malformed_judge_answers_are_refused(text, message):
    with pytest.raises(InvalidArgumentError, match=message):
        parse_verdict(text)


def test_a_valid_answer_parses():
    v = parse_verdict('{"success": false, "failure_mode": "too_slow", "adjustment": "longer"}')
    assert (v.success, v.failure_mode, v.adjustment) == (False, "too_slow", "longer")
    v = parse_verdict('{"checks": [true, false], "success": false, "failure_mode": "too_slow", "adjustment": "longer"}')
    assert (v.success, v.failure_mode) == (False, "too_slow")


def test_the_judge_reads_numbered_checks_that_match_the_rules():
    from helpers.language.judge import rule_checks

    s = summary(RUN_OK, NO_FLIP)
    text = describe("run, then flip", s)
    assert "check 1: mean forward speed" in text and "check 3: flips per episode" in text and "check 4" not in text
    assert rule_checks(s) == [True, True, False]
    assert answer_text(False, "no_flip", "retry", rule_checks(s)).startswith('{"checks": [true, true, false]')


def test_lm_judge_always_answers_within_the_vocabulary_and_deterministically():
    from helpers.language.judge import load_lm_judge

    judge = load_lm_judge(model="tiny-llama")  # random weights: any answer, but a valid one
    s = summary(RUN_OK, NO_FLIP)
    first, second = judge.judge("run, then flip", s), judge.judge("run, then flip", s)
    assert first == second
    assert first.failure_mode in FAILURE_MODES and first.adjustment in ADJUSTMENTS
    assert first.success == (first.failure_mode == "none")
    assert "Step 2: asked front_flip" in describe("run, then flip", s)
    with pytest.raises(InvalidArgumentError):
        judge.judge("x", {"steps": []})


def test_adjustments_change_the_plan_as_named():
    plan = [PlanStep("run_forward", None, 3.0), PlanStep("front_flip", None, 2.0)]
    longer = adjust(plan, Verdict(False, "too_slow", "longer", failed_step=0))
    assert longer[0].duration_s == 4.5 and longer[1] == plan[1]
    recovered = adjust(plan, Verdict(False, "no_flip", "recovery_step", failed_step=1))
    assert [s.skill for s in recovered] == ["run_forward", "target_speed", "front_flip"]
    assert recovered[1].target_speed == 0.0
    assert adjust(plan, Verdict(False, "fell", "retry", failed_step=0)) == plan


def test_refused_and_invalid_answers_end_before_any_rollout():
    with pytest.raises(InvalidArgumentError, match="refused"):
        plan_from_answer({"plan": [], "error": "not a skill"})
    with pytest.raises(InvalidArgumentError, match="one step"):
        plan_from_answer({"plan": [{"skill": "walk", "duration_s": 3}, {"skill": "walk", "duration_s": 3}]})
    with pytest.raises(InvalidArgumentError):
        plan_from_answer({"plan": [{"skill": "run_forward", "duration_s": 3}, {"skill": "walk", "duration_s": 3}]})


def test_rollout_summary_skips_each_steps_first_second():
    from helpers.envs.metrics import episode_metrics

    still = {"torso_height": 0.6, "pitch": 0.0, "torso_up": 1.0}
    infos = [{"x_velocity": -1.0, **still}] * 20 + [{"x_velocity": 3.0, **still}] * 40
    trace = {"dt": 0.05, "infos": infos, "segment": np.zeros(60, int)}
    s = rollout_summary([PlanStep("run_forward", None, 3.0)], trace)
    assert s["steps"][0]["metrics"]["mean_forward_speed"] == pytest.approx(3.0)
    assert episode_metrics("run_forward", infos)["mean_forward_speed"] < 3.0


@pytest.fixture(scope="module")
def tiny_generalist(tmp_path_factory):
    """An untrained generalist of the committed layout: the loop runs, the rollouts fail."""
    import torch

    from helpers.envs.skills import BODIES
    from helpers.models.generalist import Generalist, GeneralistConfig, save_generalist

    torch.manual_seed(0)
    cfg = GeneralistConfig(context_len=4, n_layer=1, n_embd=16)
    norm = {b: {"obs_mean": [0.0] * o, "obs_std": [1.0] * o} for b, (o, a) in cfg.bodies.items()}
    scale = {b: [1.0] * a for b, (o, a) in cfg.bodies.items()}
    return save_generalist(Generalist(cfg), tmp_path_factory.mktemp("gen") / "tiny",
                           {"normalisation": norm, "action_scale": scale})


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "helpers.agent", *args], capture_output=True, text=True, timeout=300)


def test_agent_cli_end_to_end_with_retries(tiny_generalist, tmp_path):
    video = tmp_path / "agent.mp4"
    out = run_cli("run forward for 2 seconds, then jump for 2 seconds", "--generalist", str(tiny_generalist),
                  "--judge", "rules", "--retries", "1", "--seed", "3", "--video", str(video), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert [s["skill"] for s in result["plan"]] == ["run_forward", "jump"]
    assert {"plan", "segments", "checked", "verdict", "attempts"} <= set(result)
    assert len(result["segments"]) == len(result["final_plan"])
    assert all(np.isfinite(list(seg["metrics"].values())).all() for seg in result["segments"])
    assert isinstance(result["checked"]["success"], bool) and len(result["checked"]["steps"]) == len(result["final_plan"])
    # an untrained policy fails, so the loop makes its second attempt, on the next seed
    assert not result["attempts"][0]["checked"]["success"]
    assert [a["seed"] for a in result["attempts"]] == [3, 4]
    assert video.exists() and video.stat().st_size > 0


def test_agent_cli_refuses_without_moving(tiny_generalist):
    out = run_cli("bake me a cake", "--generalist", str(tiny_generalist), "--judge", "rules", "--json")
    assert out.returncode == 2 and "refused" in out.stderr and out.stdout.strip() == ""
    out = run_cli("run forward", "--retries", "-1")
    assert out.returncode == 2 and "--retries" in out.stderr


def test_judge_fine_tuning_runs_resumes_and_publishes(tmp_path):
    from helpers.language.judge import load_lm_judge
    from helpers.language.judge_data import synthetic_examples
    from helpers.language.judge_tuning import JudgeTuneConfig, publish, train

    cfg = JudgeTuneConfig(model="tiny-llama", n_train=16, n_dev=4, steps=4, batch_size=2, log_every=2, ckpt_every=2,
                          eval_every=4, warmup=1)
    _, first = train(cfg, tmp_path / "run", progress=False, stop_after=2)
    assert first["step"] == 2 and not (tmp_path / "run" / "adapter").exists()
    _, state = train(cfg, tmp_path / "run", progress=False)  # the same call resumes
    assert state["step"] == 4
    losses = [float(r.split(",")[1]) for r in (tmp_path / "run" / "progress.csv").read_text().splitlines()[1:]]
    assert len(losses) == 2 and np.isfinite(losses).all()
    card = publish(cfg, tmp_path / "run", tmp_path / "judge", "python -m helpers.finetune_judge --model tiny-llama", 0.0)
    assert 0 <= card["evaluation"]["dev"]["success_agreement"] <= 1 and "adapter_model.safetensors" in card["files"]
    judge = load_lm_judge(adapter=str(tmp_path / "judge"), model="tiny-llama")
    instruction, summary, _ = synthetic_examples(1, seed=3)[0]
    assert judge.judge(instruction, summary).failure_mode in FAILURE_MODES


def test_synthetic_examples_are_balanced_and_labelled_by_the_rules():
    from helpers.language.judge_data import synthetic_examples

    examples = synthetic_examples(40, seed=1)
    assert sum(v.success for _, _, v in examples) == 20
    verifier = RuleVerifier()
    assert all(verifier.judge(i, s).success == v.success for i, s, v in examples)
    assert synthetic_examples(10, seed=1) != synthetic_examples(10, seed=2)
    assert [s for _, s, _ in synthetic_examples(10, seed=1)] == [s for _, s, _ in synthetic_examples(10, seed=1)]


def test_far_draws_reach_the_range_of_real_rollouts_and_stay_labelled_by_the_rules():
    from helpers.envs.metrics import SUCCESS_RULES
    from helpers.language.judge_data import SCALES, synthetic_examples

    def widest(far_share):
        # the largest distance of any metric from its bar, in units of its near-bar scale
        return max(abs(s["metrics"][k] - bar) / SCALES[k] for _, summary, _ in synthetic_examples(200, 4, far_share)
                   for s in summary["steps"] for k, _, bar in SUCCESS_RULES[s["skill"]])

    assert widest(0.0) < 1.5 < 3.0 < widest(0.5)
    examples = synthetic_examples(60, seed=4, far_share=0.5)
    assert sum(v.success for _, _, v in examples) == 30
    verifier = RuleVerifier()
    assert all(verifier.judge(i, s).success == v.success for i, s, v in examples)
    # no negative zero (a summary reads "0.000", as the rollouts' summaries do)
    assert all(str(x) != "-0.0" for _, s, _ in examples for st in s["steps"] for x in st["metrics"].values())


def test_speed_share_oversamples_the_at_most_rule_and_leaves_the_default_stream_alone():
    from helpers.language.judge_data import synthetic_examples
    from helpers.language.judge_tuning import JudgeTuneConfig

    def share(examples):
        steps = [s for _, summary, _ in examples for s in summary["steps"] if s["skill"] != "walk" and s["skill"] != "stand_up"]
        return np.mean([s["skill"] == "target_speed" for s in steps])

    assert share(synthetic_examples(400, seed=5)) < 0.3 < 0.45 < share(synthetic_examples(400, seed=5, speed_share=0.6))
    assert synthetic_examples(20, seed=5) == synthetic_examples(20, seed=5, speed_share=None)
    examples = synthetic_examples(40, seed=5, speed_share=1.0)
    assert sum(v.success for _, _, v in examples) == 20
    with pytest.raises(InvalidArgumentError, match="speed_share"):
        JudgeTuneConfig(speed_share=-0.1)


def test_judge_fine_tuning_mixes_in_real_examples_and_checks_their_count(tmp_path):
    from helpers.core.errors import InvalidArgumentError
    from helpers.language.judge_data import synthetic_examples
    from helpers.language.judge_tuning import JudgeTuneConfig, train

    cfg = JudgeTuneConfig(model="tiny-llama", n_train=8, n_dev=2, steps=1, batch_size=2, log_every=1, ckpt_every=1,
                          eval_every=1, warmup=1, n_real=3, far_share=0.5)
    with pytest.raises(InvalidArgumentError, match="n_real is 3"):
        train(cfg, tmp_path / "run", progress=False, real_examples=synthetic_examples(2, seed=9))
    _, state = train(cfg, tmp_path / "run", progress=False, real_examples=synthetic_examples(3, seed=9))
    assert state["step"] == 1
    with pytest.raises(InvalidArgumentError, match="far_share"):
        JudgeTuneConfig(far_share=1.5)


def test_labelled_rollouts_are_balanced_and_corrupted_as_named(tiny_generalist):
    from helpers.envs.skills import PlanStep
    from helpers.models.agent_eval import cohen_kappa, corrupt
    import random

    plan = [PlanStep("run_forward", None, 2.0), PlanStep("target_speed", 1.0, 2.0)]
    rng = random.Random(0)
    for kind in ("wrong_skill", "wrong_speed", "random_actions"):
        for _ in range(10):
            executed, random_steps = corrupt(plan, kind, rng)
            changed = [k for k in range(2) if executed[k] != plan[k]] + sorted(random_steps)
            assert len(changed) == 1, (kind, executed, random_steps)
            if kind == "wrong_speed" and executed[1] != plan[1]:
                assert abs(executed[1].target_speed - 1.0) >= 0.5
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0 and abs(cohen_kappa([1, 0, 1, 0], [1, 1, 0, 0])) < 1e-9


def test_runnable_examples_keep_only_plans_the_agent_can_run():
    from types import SimpleNamespace as E

    from helpers.models.agent_eval import runnable_examples

    examples = [E(instruction="a", plan="run_forward - 3"), E(instruction="b", plan="unknown"),
                E(instruction="c", plan="target_speed -5 -"), E(instruction="d", plan="jump - 2 ; front_flip - 3"),
                E(instruction="e", plan="walk - 3 ; stand_up - 2"), E(instruction="f", plan="walk - 3"),
                E(instruction="g", plan="jump - 1 ; run_forward - 1 ; jump - 1")]
    assert [i for i, _ in runnable_examples(examples, max_steps=2)] == ["a", "d", "f"]


def test_agreement_keeps_at_most_rules_apart():
    """A judge that reads every "at most" rule backwards agrees on the other rollouts and on none of those."""
    from helpers.language.judge import RuleVerifier, Verdict
    from helpers.models.agent_eval import LabelledRollout, agreement

    def summary(skill, metrics):
        return {"steps": [{"skill": skill, "target_speed": 1.0 if skill == "target_speed" else None,
                           "duration_s": 3.0, "metrics": {"upright_fraction": 1.0, **metrics}}], "dt": 0.05}

    rollouts = [LabelledRollout("x", [], [], "none", 0, s, RuleVerifier().judge("x", s).success) for s in (
        summary("target_speed", {"mean_abs_speed_error": 0.05}), summary("target_speed", {"mean_abs_speed_error": 1.5}),
        summary("run_forward", {"mean_forward_speed": 3.0}), summary("run_forward", {"mean_forward_speed": 0.1}))]

    class Backwards:
        def judge(self, instruction, s):
            ok = RuleVerifier().judge(instruction, s).success
            return Verdict(not ok if s["steps"][0]["skill"] == "target_speed" else ok)

    result = agreement(Backwards(), rollouts, progress=False)
    assert result["accuracy"] == 0.5
    assert result["accuracy_by_rule_kind"] == {"with_an_at_most_rule": {"n": 2, "accuracy": 0.0},
                                               "at_least_rules_only": {"n": 2, "accuracy": 1.0}}
