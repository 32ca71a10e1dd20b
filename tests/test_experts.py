"""The committed experts: checksums, fast actors, and cards that reproduce on other seeds."""

import json
import shutil

import numpy as np
import pytest

from helpers import checkpoints
from helpers.checkpoints import ChecksumError
from helpers.evaluate import RandomPolicy, evaluate_policy
from helpers.experts import expert_dir, fast_actor, load_expert
from helpers.skills import SKILLS, make_env

PUBLISHED = [name for name in SKILLS if (expert_dir(name) / "card.json").exists()]
CHEETAH_PUBLISHED = [n for n in PUBLISHED if SKILLS[n].body == "cheetah"]


def test_the_cheetah_experts_are_published():
    assert set(CHEETAH_PUBLISHED) == {"run_forward", "run_backward", "jump", "front_flip", "target_speed"}


@pytest.mark.parametrize("skill", PUBLISHED)
def test_card_has_what_a_reader_needs(skill):
    card = json.loads((expert_dir(skill) / "card.json").read_text())
    for key in ("skill", "algorithm", "hyperparameters", "env_steps", "wall_clock_s", "hardware", "evaluation", "command"):
        assert key in card, key
    ev = card["evaluation"]
    assert ev["deterministic"] and ev["episodes"] >= 10 and len(ev["seeds"]) == ev["episodes"]
    assert SKILLS[skill].metric in ev["metrics"]


@pytest.mark.parametrize("skill", CHEETAH_PUBLISHED)
def test_card_reproduces_on_other_seeds_and_beats_random(skill):
    card = json.loads((expert_dir(skill) / "card.json").read_text())
    expert = load_expert(skill)
    res = evaluate_policy(expert, skill, episodes=2, seed=4242)
    random = evaluate_policy(RandomPolicy(make_env(skill).action_space, 0), skill, episodes=1, seed=4242)
    assert res["mean_return"] > random["mean_return"] + 0.5 * abs(card["evaluation"]["mean_return"] - random["mean_return"])
    assert res["mean_return"] == pytest.approx(card["evaluation"]["mean_return"], rel=0.10, abs=25)


@pytest.mark.parametrize("skill", PUBLISHED)
def test_fast_actor_matches_sb3_predict(skill):
    expert = load_expert(skill)
    env = make_env(skill)
    rng = np.random.default_rng(0)
    obs = np.stack([env.reset(seed=i)[0] for i in range(8)]) + rng.normal(0, 0.5, (8,) + env.observation_space.shape)
    assert np.allclose(fast_actor(expert)(obs), expert(obs), atol=1e-5)
    assert np.allclose(fast_actor(expert)(obs[0]), expert(obs[0]), atol=1e-5)


def test_tampered_expert_is_refused(tmp_path, monkeypatch):
    skill = CHEETAH_PUBLISHED[0]
    copy = tmp_path / skill
    shutil.copytree(expert_dir(skill), copy)
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", tmp_path)
    load_expert(skill, copy)  # an intact copy loads
    with open(copy / "model.zip", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        load_expert(skill, copy)


def test_missing_expert_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.train_expert --skill walk"):
        load_expert("walk", tmp_path / "nowhere")
