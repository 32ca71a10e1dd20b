"""Execute every notebooks/NN_*.py in the smoke profile with papermill and check its results file.

New notebooks are picked up automatically; NOTEBOOK_CHECKS adds notebook-specific assertions.
Executed notebooks are kept in build/executed/smoke/ for inspection.
"""

import json
import math
import time

import pytest

from helpers.course.profiles import results_path
from helpers.course.notebooks import EXECUTED_DIR, execute_notebook, notebook_sources

# Wall-clock limit per notebook in the smoke profile (seconds); default below.
TIME_LIMITS = {"00_setup_and_tour": 90, "07_gpt2_instruction_translator": 180}
DEFAULT_LIMIT = 240


def _finite_numbers(obj, path="results"):
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return
    if isinstance(obj, (int, float)):
        assert math.isfinite(obj), f"{path} is not finite: {obj}"
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite_numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _finite_numbers(v, f"{path}[{i}]")


def check_00(res):
    assert res["rendering"]["works"], res["rendering"]
    assert res["bodies"]["cheetah"] == {"obs_dim": 17, "action_dim": 6, "frame_skip": 5}
    assert res["bodies"]["humanoid"]["obs_dim"] == 45
    for body, video in res["videos"].items():
        from helpers import REPO_ROOT

        assert (REPO_ROOT / video).stat().st_size > 1000, video
    cheetah = res["simulator_speed"]["cheetah"]
    # physics is faster than physics plus Python, and both are in a plausible range for one core
    assert 1_000 < cheetah["env_step_per_s"] < 200_000
    assert cheetah["mj_step_per_s"] / 5 > 0.5 * cheetah["env_step_per_s"]


def check_01_ppo_from_scratch(res):
    seeds = res["cheetah"]["seeds"]
    assert len(seeds) >= 1 and res["cheetah"]["env_steps"] >= res["budget"]["cheetah_steps"]
    for impl in ("ours", "sb3"):
        r = res[impl]
        assert r["seeds"] == seeds and len(r["final_returns"]) == len(r["wall_clock_s"]) == len(seeds), (impl, r)
        assert abs(r["mean_final_return"] - sum(r["final_returns"]) / len(seeds)) < 0.1, (impl, r)
        # a HalfCheetah return is bounded by speed and control cost: anything outside this is a bug
        assert all(-1000 < x < 15000 for x in r["final_returns"]), (impl, r)
        assert r["mean_wall_clock_s"] > 0 and 100 < r["steps_per_s"] < 100_000, (impl, r)
    small = res["small_task"]
    assert small["env_steps"] >= res["budget"]["small_steps"] and small["final_return"] <= 1000
    # even the smoke budget's few thousand steps balance the pendulum longer than random actions do
    assert small["final_return"] > 2 * small["random_return"], small
    assert res["reload_check"]["return_during_run"] == res["reload_check"]["return_after_load"]


def check_06_goal_conditioned_generalist(res):
    # the notebook's own short run learned, on the datasets it found
    assert res["demo"]["steps"] > 0 and res["demo"]["last_loss"] < res["demo"]["first_loss"], res["demo"]
    assert res["demo_datasets"], "the notebook found no dataset to train on"
    scores, per_skill = res["scores"], res["per_skill"]
    assert per_skill and scores["min_skill_score"] == min(r["score"] for r in per_skill.values()), scores
    lo, hi = scores["iqm_ci95"]
    assert lo <= scores["iqm"] <= hi, scores
    for skill, r in per_skill.items():
        assert r["expert_return"] > r["random_return"], (skill, r)  # the normalisation is meaningful
    if res["source"] == "pretrained/generalist":  # the committed checkpoint: one model, both bodies' skills
        assert {"run_forward", "run_backward", "jump", "front_flip", "target_speed"} <= set(per_skill), per_skill
        assert scores["iqm"] > 0.5, scores  # far above random (0) on held-out seeds; the card has the full number
    for name, by in res["switching"].items():
        for who in ("generalist", "experts"):
            assert 0 <= by[who]["reached_rate"] <= 1, (name, who, by[who])


def check_07_gpt2_instruction_translator(res):
    # the shipped translator, re-measured on a sample of each split, agrees with its card (whole splits)
    tr, card = res["translator"], res["card"]
    for split, band in (("test", 0.06), ("paraphrase", 0.10)):
        assert tr[split]["accuracy"] >= card["accuracy"][split] - band, (split, tr[split], card["accuracy"])
    assert card["accuracy"]["test"] >= 0.9, card  # whichever base ships, training wordings are mastered
    if tr["test"]["n"] == card["n"]["test"]:  # whole splits: the notebook reproduces the card (up to float ties)
        for split in ("test", "paraphrase"):
            assert abs(tr[split]["accuracy"] - card["accuracy"][split]) <= 0.003, (split, tr[split], card)
    assert res["refusals"]["refused"] == res["refusals"]["n"], res["refusals"]
    # the matched comparison names its winner on the dev split, and the shipped translator is it
    comparison = res["comparison"]
    assert res["shipped"] in comparison and res["winner"] in comparison, (res["shipped"], list(comparison))
    best_dev = max(comparison, key=lambda n: comparison[n].get("paraphrase_dev accuracy", -1))
    assert res["winner"] == best_dev, comparison
    # the notebook's own tiny fine-tuning run learned something
    assert res["demo"]["steps"] > 0 and res["demo"]["last_loss"] < res["demo"]["first_loss"], res["demo"]
    assert res["dataset"]["templates_shared"] == 0
    assert res["novel"]["correct"] >= 0.5 * res["novel"]["n"], res["novel"]
    est = res["gpt2_medium_estimate"]
    assert 354e6 < est["parameters"] < 356e6 and est["lora"]["total_gb"] < est["full_finetune"]["total_gb"]


def check_08_language_driven_agent(res):
    # the labelled rollouts are balanced by the verifier, and agreement is computed on all of them
    test = res["judge_test"]
    c = test["confusion"]
    n_success = c["verifier_success_judge_success"] + c["verifier_success_judge_failure"]
    n_failure = c["verifier_failure_judge_success"] + c["verifier_failure_judge_failure"]
    assert n_success + n_failure == test["n"] and abs(n_success - n_failure) <= 1, c
    assert 0 <= test["accuracy"] <= 1 and -1 <= test["kappa"] <= 1, test
    e2e = res["end_to_end"]
    for kind in ("single", "multi"):
        assert 0 <= e2e[f"{kind}_first_try"] <= e2e[f"{kind}_within"] <= 1, e2e  # retries never lose a success
    assert 0 <= e2e["plan_accuracy"] <= 1, e2e
    # the verifier deciding the retries: the same first attempts (same seeds, deterministic), then only gains
    rules = res["end_to_end_verifier_retries"]
    for kind in ("single", "multi"):
        assert rules[f"{kind}_first_try"] == e2e[f"{kind}_first_try"], (rules, e2e)
        assert rules[f"{kind}_within"] >= rules[f"{kind}_first_try"], rules
    assert res["demo"]["attempts"] >= 1 and isinstance(res["demo"]["checked"], bool), res["demo"]


def check_02_skill_experts(res):
    assert res["resume_demo"]["final_steps"] >= res["budget"]["demo_train_steps"] > res["resume_demo"]["first_sitting_steps"] > 0
    experts = res["experts"]
    assert set(experts) == {"run_forward", "run_backward", "jump", "front_flip", "target_speed"}
    # fresh-seed evaluations agree with the cards (one episode in smoke: a loose band)
    for name, e in experts.items():
        assert abs(e["mean_return"] - e["card_return"]) <= 0.25 * abs(e["card_return"]) + 50, (name, e)
    assert experts["run_forward"]["metric"] > 3 and experts["run_backward"]["metric"] > 2
    assert experts["front_flip"]["metric"] >= 5
    # the jump jumps and lands on its feet (the first one lay on its back: upright 0.11)
    assert experts["jump"]["metric"] >= 0.3 and experts["jump"]["upright_fraction"] >= 0.95, experts["jump"]
    assert experts["run_forward"]["upright_fraction"] >= 0.95 and experts["run_backward"]["upright_fraction"] >= 0.95
    assert res["target_speed_mean_abs_error"] < 0.5
    assert res["sac_vs_ppo"]["ppo_env_steps_per_s"] > res["sac_vs_ppo"]["sac_env_steps_per_s"]
    # the humanoid experts reproduce their cards on the notebook's own seeds
    humanoid = {r["skill"]: r for r in res["humanoid"]}
    assert set(humanoid) == {"walk", "stand_up"}, humanoid
    walk, stand = humanoid["walk"], humanoid["stand_up"]
    assert walk["mean_episode_length"] >= 900 and walk["value"] >= 0.5 and walk["does_what_it_says"], walk
    assert abs(walk["mean_return"] - walk["card_return"]) <= 0.15 * walk["card_return"], walk
    # stand_up sits (issue 15), and one sitting episode's return moves with the seed and with the CPU's
    # floating point: 106.5k on seed 2000 here, 120k-139k on seeds 1000-1002, card 133.5k; lying down
    # earns ~35k. So the band is wider than walk's; the torso height below is the behavioural check.
    assert abs(stand["mean_return"] - stand["card_return"]) <= 0.25 * stand["card_return"], stand
    assert abs(stand["value"] - stand["card_value"]) <= 0.25, stand
    assert res["does_what_it_says"]["jump"] and res["does_what_it_says"]["walk"]


def check_03_policy_switching(res):
    overall = res["overall"]
    assert overall["switches"] == res["budget"]["seeds"] * len(res["per_schedule"])
    assert 0 <= overall["upside_down_rate"] <= 1 and overall["mean_time_to_behaviour_s"] > 0
    by_name = {row["schedule"]: row for row in res["per_schedule"]}
    # between the two running gaits the switch works: the new gait shows, well before the 8 s segment ends
    # (8.0 is what a switch that never reaches it records)
    if "forward_to_backward" in by_name:
        assert by_name["forward_to_backward"]["never_reached"] == 0.0, by_name["forward_to_backward"]
        assert by_name["forward_to_backward"]["time_to_behaviour_s"] < 7.0, by_name["forward_to_backward"]
    for label, ref in res["references"].items():  # experts beat random on their own segments
        assert ref["steady"] > ref["floor"], (label, ref)


def check_04_trajectory_datasets(res):
    cards = res["datasets"]
    assert {c["quality"] for c in cards} == {"expert", "medium", "random"}
    for skill in res["skills"]:
        by_q = {c["quality"]: c for c in cards if c["skill"] == skill}
        mix = res["budget"]["humanoid_mix" if skill in ("walk", "stand_up") else "mix"]
        for q, steps in mix.items():
            assert by_q[q]["steps"] >= steps, (skill, q)
        # the three levels are ordered: expert > medium > random (target_speed's returns are negative)
        assert by_q["expert"]["return_mean"] > by_q["medium"]["return_mean"] > by_q["random"]["return_mean"], skill
    kill = res["kill_demo"]
    assert kill["episodes_after"] == kill["expected"] and kill["episodes_before_rerun"] < kill["expected"]
    assert res["skills_without_expert"] == [], res["skills_without_expert"]  # every skill has its expert now
    transitions = {t["dataset_id"]: t for t in res["transitions"]}
    assert set(transitions) == {"course/transitions/experts-v0", "course/transitions/recovery-v0"}
    for t in transitions.values():
        assert t["steps"] >= res["budget"]["transitions_steps"], t
        assert abs(t["share_expert"] + t["share_medium"] + t["share_random"] - 1) < 1e-6 and t["share_expert"] > 0, t
    assert res["throughput"]["collector_steps_per_s"] > 0 and res["throughput"]["physics_limit_steps_per_s"] > 0


def check_05_decision_transformer(res):
    table = res["table"]
    expert = table["expert (PPO)"]["mean_return"]
    # the committed DT (pretrained/dt), asked for the best return in the data, runs like the expert
    assert table["Decision Transformer"]["mean_return"] >= 0.8 * expert, table
    assert table["Decision Transformer"]["mean_return"] > table["random"]["mean_return"] + 1000, table
    # return conditioning: asking for 40% of the expert's return gives clearly less
    cond = res["conditioning"]
    assert cond["low_return"] < 0.85 * cond["high_return"], cond
    # the notebook's own short run learned, and the data is the mixture of notebook 04
    assert res["demo"]["last_loss"] < res["demo"]["first_loss"], res["demo"]
    assert res["data"]["steps"] == sum(res["budget"]["mix"].values()), res["data"]
    assert res["cost"]["actions_per_s"] > 100 and res["cost"]["cpu_train_samples_per_s"] > 0


def check_09_scaling_out(res):
    # a real 2-node Ray cluster ran every Ray row, one worker per node at 2 workers
    assert res["ray_nodes"] == 2, res["ray_nodes"]
    rows = {(r["engine"], r["workers"]): r for r in res["collection"]["rows"]}
    assert set(rows) == {("ray", 1), ("ray", 2), ("multiprocessing", 1), ("multiprocessing", 2)}, set(rows)
    assert rows[("ray", 2)]["nodes"] == 2 and rows[("ray", 1)]["nodes"] == 1
    assert all(r["steps"] >= res["budget"]["collect_steps"] and r["steps_per_s"] > 0 for r in rows.values())
    assert res["ratio"] > 0 and res["vs_multiprocessing"] > 0 and 0 <= res["merge_share"] < 1, res
    assert 0.5 < res["machine_ceiling"] < 2.5, res["machine_ceiling"]  # 2 physics loops at once over 1, on 2 cores
    # DDP at the same global batch: the loss of 2 processes is the loss of 1, up to float sums
    ddp = res["ddp"]
    assert res["ddp_processes"] == 2 and len(ddp["losses_1"]) == len(ddp["losses_2"]) == res["budget"]["ddp"]["steps"]
    assert res["ddp_max_loss_gap"] < 1e-3 and ddp["same_weights_on_every_rank"], ddp
    costs = res["cost_model"]
    assert costs["collect"]["hours_wall"] > 0 and costs["collect"]["cost_usd"] > 0
    assert costs["train"]["100x"]["gpu_hours_wall"] > costs["train"]["10x"]["gpu_hours_wall"] > 0


NOTEBOOK_CHECKS = {"00_setup_and_tour": check_00, "01_ppo_from_scratch": check_01_ppo_from_scratch,
                   "02_skill_experts": check_02_skill_experts, "03_policy_switching": check_03_policy_switching,
                   "04_trajectory_datasets": check_04_trajectory_datasets,
                   "05_decision_transformer": check_05_decision_transformer,
                   "06_goal_conditioned_generalist": check_06_goal_conditioned_generalist,
                   "07_gpt2_instruction_translator": check_07_gpt2_instruction_translator,
                   "08_language_driven_agent": check_08_language_driven_agent,
                   "09_scaling_out": check_09_scaling_out}


@pytest.mark.notebook
@pytest.mark.parametrize("source", notebook_sources(), ids=lambda p: p.stem)
def test_notebook_smoke(source):
    res_file = results_path(source.stem, "smoke")
    res_file.unlink(missing_ok=True)
    limit = TIME_LIMITS.get(source.stem, DEFAULT_LIMIT)
    t0 = time.time()
    executed = execute_notebook(source, "smoke", EXECUTED_DIR / "smoke", timeout=limit)
    elapsed = time.time() - t0
    assert executed.exists()
    print(f"{source.stem}: {elapsed:.0f} s in the smoke profile (papermill stops it after {limit} s)")
    assert res_file.exists(), f"{source.stem} did not write {res_file}"
    res = json.loads(res_file.read_text())
    assert res["profile"] == "smoke" and res["notebook"] == source.stem
    _finite_numbers(res)
    if source.stem in NOTEBOOK_CHECKS:
        NOTEBOOK_CHECKS[source.stem](res)


def test_notebooks_are_percent_scripts_with_one_parameters_cell():
    for source in notebook_sources():
        text = source.read_text()
        assert "format_name: percent" in text, source
        assert text.count('tags=["parameters"]') == 1, f"{source} needs exactly one parameters cell"
        params = text.split('tags=["parameters"]', 1)[1].split("# %%", 1)[0]
        assert "PROFILE =" in params, f"{source}: the parameters cell must set PROFILE"


def test_unknown_profile_stops_the_notebook(tmp_path):
    import papermill

    source = notebook_sources(["00"])[0]
    with pytest.raises(papermill.PapermillExecutionError) as err:
        execute_notebook(source, "smoke", tmp_path, extra_parameters={"PROFILE": "bogus"})
    message = str(err.value)
    for name in ("smoke", "cpu", "gpu", "bogus"):
        assert name in message
