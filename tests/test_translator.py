"""The instruction translator: plan parsing and validation, the normaliser, the dataset generator,
the translate CLI contract, fine-tuning resume, and the committed translator's accuracy."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO_ROOT
from helpers.core.checkpoints import ChecksumError
from helpers.language.instructions import (PARAPHRASE_POOL, TRAIN_POOL, DatasetConfig, build_dataset, pool_templates, template_text)
from helpers.language.text import normalise, split_steps
from helpers.language.plans import (DEFAULT_DURATION_S, MAX_PLAN_STEPS, PlanError, copies_numbers, instruction_numbers, is_complete_plan, is_plan_prefix, parse_plan, plan_result)
from helpers.envs.skills import SKILLS

TRANSLATOR = REPO_ROOT / "pretrained" / "translator"
SMALL = DatasetConfig(n_train=400, n_val=40, n_test=40, n_paraphrase=60, n_paraphrase_dev=30)


# --- plans: parsing and validation ---------------------------------------------------------------
def test_valid_plan_parses_with_default_duration():
    steps = parse_plan("target_speed -1.5 3 ; jump - -")
    assert [s.to_json() for s in steps] == [
        {"skill": "target_speed", "target_speed": -1.5, "duration_s": 3.0},
        {"skill": "jump", "target_speed": None, "duration_s": DEFAULT_DURATION_S},
    ]


@pytest.mark.parametrize("text, message", [
    ("fly - -", "unknown skill 'fly'"),
    ("target_speed 5 -", "outside the valid range"),
    ("target_speed -3.5 2", "outside the valid range"),
    ("target_speed - 2", "needs a target speed"),
    ("jump 2 -", "takes no target speed"),
    ("jump - 0", "duration 0 s is outside"),
    ("walk - 900", "duration 900 s is outside"),
    ("jump - abc", "is not a number"),
    ("jump - 1 2", "malformed"),
    ("unknown", "nothing the skills cover"),
    ("run_forward - - ; unknown", "step 2 of the instruction asks for something no skill covers"),
    ("", "empty plan"),
    ("asdf qwer zxcv", "unknown skill 'asdf'"),
    (" ; ".join(["jump - -"] * (MAX_PLAN_STEPS + 1)), "at most"),
])
def test_invalid_plans_become_error_json(text, message):
    with pytest.raises(PlanError, match=re.escape(message)):
        parse_plan(text)
    result = plan_result(text)
    assert result["plan"] == [] and message in result["error"]


def test_error_for_unknown_skill_lists_the_known_ones():
    error = plan_result("swim - -")["error"]
    for name in SKILLS:
        assert name in error


def test_grammar_prefixes():
    plan = "target_speed -1.5 3 ; jump - - ; front_flip - 2.5"
    assert is_complete_plan(plan) and is_complete_plan("unknown")
    for i in range(len(plan) + 1):
        assert is_plan_prefix(plan[:i]), plan[:i]
    for bad in ["fly", "jump x", "jump - - jump", "target_speed 1..", "jump - -  ;", "unknown -"]:
        assert not is_plan_prefix(bad), bad
    assert not is_complete_plan("jump - ") and not is_complete_plan("jump - - ;")


def test_numbers_must_be_copied_whole_from_the_instruction():
    allowed = instruction_numbers("scurry back for 599 seconds at 1.50 m/s")
    assert {"599", "1.50", "1.5", "0"} <= allowed
    assert copies_numbers("run_backward - 59", allowed)  # still being written: "59" may become "599"
    assert not copies_numbers("run_backward - 59", allowed, complete=True)
    assert not copies_numbers("run_backward - 59 ; jump - -", allowed)
    assert copies_numbers("target_speed -1.5 599", allowed, complete=True)
    assert copies_numbers("target_speed 0 - ; jump - -", allowed, complete=True)  # "stop" needs no number
    assert not copies_numbers("target_speed 7", allowed) and not copies_numbers("jump - 2", allowed)
    assert copies_numbers("unknown", frozenset({"0"}), complete=True) and copies_numbers("", allowed)


# --- the normaliser --------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("Run backwards at two and a half metres per second for half a minute!", "run backwards at 2.5 m/s for 30 seconds!"),
    ("run at 7.2 km/h", "run at 2 m/s"),
    ("go at ten kilometres an hour for a minute and a half", "go at 2.78 m/s for 90 seconds"),
    ("jump for 2 mins", "jump for 120 seconds"),
    ("move at minus one point five m/s", "move at -1.5 m/s"),
    ("a 3-second sprint", "a 3 seconds sprint"),
    ("sprint for 3s then hop for 2.50 secs", "sprint for 3 seconds then hop for 2.5 seconds"),
])
def test_normaliser(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("jump, lasting ten seconds", "jump, for 10 seconds"),
    ("hop over a period of 2 minutes", "hop for 120 seconds"),
    ("run with a duration of 4 s", "run for 4 seconds"),
    ("flip throughout the next 3 seconds", "flip for 3 seconds"),
    ("walk and keep it up for 5 seconds", "walk for 5 seconds"),
    ("walk, and carry on for 5 seconds", "walk for 5 seconds"),
    ("spend 6 seconds on this: jump", "for 6 seconds: jump"),
    ("jump for about 2 seconds", "jump for 2 seconds"),
    ("jump 3 seconds later", "jump 3 seconds later"),  # no duration attached: left alone
])
def test_normaliser_attaches_every_duration_the_same_way(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("text, clauses", [
    ("run forward, then jump", ["run forward", "jump"]),
    ("first jump for 2 seconds, after that walk, and finally stand up", ["jump for 2 seconds", "walk", "stand up"]),
    ("jump; flip; walk", ["jump", "flip", "walk"]),
    ("jump followed by a flip", ["jump", "a flip"]),
    ("jump. afterwards, flip. lastly, walk", ["jump", "flip", "walk"]),
    ("jump, subsequently flip", ["jump", "flip"]),
    ("jump after you flip", ["flip", "jump"]),  # the order of events, not of words
    ("once you have flipped, jump", ["flipped", "jump"]),
    ("before you jump, flip", ["flip", "jump"]),
    ("jump, but first flip", ["flip", "jump"]),
    ("flip before you jump", ["flip", "jump"]),
    ("walk, and when you're done, stand still", ["walk", "stand still"]),
    # no connector, no split: "and", commas, fillers and durations stay with their clause
    ("jump up and down", ["jump up and down"]),
    ("run forward for the next 5 seconds", ["run forward for the next 5 seconds"]),
    ("walk as soon as you can", ["walk as soon as you can"]),
    ("jump when you are ready", ["jump when you are ready"]),
    ("run forward nose first, then stop", ["run forward nose first", "stop"]),
    # a clause of nothing but fillers is no step; a filler opening a clause does not hide its connector
    ("right then, stand up", ["stand up"]),
    ("jump; so lastly, walk", ["jump", "walk"]),
    ("run back; actually and then walk", ["run back", "walk"]),
    ("alright, once you flip, jump", ["flip", "jump"]),
    ("move like a crab", ["move like a crab"]),
])
def test_split_steps_orders_clauses_by_time(text, clauses):
    assert split_steps(text) == clauses


def test_split_steps_never_loses_text():
    for text in ["", "then", "first", "and then"]:
        assert isinstance(split_steps(text), list)
    assert split_steps("hello") == ["hello"]
    assert split_steps("ok") == ["ok"]  # all fillers: the model reads it (and refuses it)


# --- the dataset generator -------------------------------------------------------------------
def test_dataset_is_deterministic_and_seeded():
    a, b = build_dataset(SMALL), build_dataset(SMALL)
    assert a == b
    c = build_dataset(DatasetConfig(**{**SMALL.__dict__, "seed": 1}))
    assert [e.instruction for e in a["train"]] != [e.instruction for e in c["train"]]
    assert {k: len(v) for k, v in a.items()} == {"train": 400, "val": 40, "test": 40, "paraphrase_dev": 30,
                                                 "paraphrase": 60}


def test_the_paraphrase_dev_split_shares_no_template_with_the_test_split():
    """Decoding knobs are tuned on paraphrase_dev: it must not see a single template of the paraphrase test."""
    from helpers.language.instructions import PARAPHRASE_DEV_POOL, PARAPHRASE_TEST_POOL

    dev, test = pool_templates(PARAPHRASE_DEV_POOL), pool_templates(PARAPHRASE_TEST_POOL)
    assert dev and test and not dev & test and not test & pool_templates(TRAIN_POOL)
    data = build_dataset(SMALL)
    used_dev = {t for e in data["paraphrase_dev"] for t in e.templates}
    used_test = {t for e in data["paraphrase"] for t in e.templates}
    assert not {template_text(t) for t in used_dev if not t.startswith("direction:")} & \
        {template_text(t) for t in used_test if not t.startswith("direction:")}


def test_tuning_splits_add_new_dev_examples_and_leave_every_split_as_it_was():
    from helpers.language.instructions import PARAPHRASE_TEST_POOL, tuning_splits

    data = build_dataset(SMALL)
    before = {k: [e.normalised for e in v] for k, v in data.items()}
    dev = tuning_splits(data, SMALL, 25)
    assert {k: [e.normalised for e in v] for k, v in data.items()} == before
    assert [e.normalised for e in dev["val"][:40]] == before["val"] and len(dev["val"]) == 65
    assert [e.normalised for e in dev["paraphrase_dev"][:30]] == before["paraphrase_dev"] and len(dev["paraphrase_dev"]) == 55
    added = [e.normalised for e in dev["val"][40:] + dev["paraphrase_dev"][30:]]
    assert len(set(added)) == len(added) and not set(added) & {t for v in before.values() for t in v}
    test_wording = {template_text(t) for t in pool_templates(PARAPHRASE_TEST_POOL) if not t.startswith("direction:")}
    assert not {template_text(t) for e in dev["paraphrase_dev"] for t in e.templates
                if not t.startswith("direction:")} & test_wording


def test_paraphrase_wording_is_disjoint_from_training_templates():
    train_keys, para_keys = pool_templates(TRAIN_POOL), pool_templates(PARAPHRASE_POOL)
    train_texts = {template_text(k) for k in train_keys}
    para_texts = {template_text(k) for k in para_keys}
    assert not train_texts & para_texts, sorted(train_texts & para_texts)[:5]
    data = build_dataset(SMALL)
    for example in data["paraphrase"]:
        assert set(example.templates) <= para_keys, example
    for split in ("train", "val", "test"):
        for example in data[split]:
            assert set(example.templates) <= train_keys, example
    seen = {e.normalised for e in data["train"]}
    for split in ("val", "test", "paraphrase"):
        assert not seen & {e.normalised for e in data[split]}, split


def test_paraphrase_only_words_never_occur_in_training_templates():
    from helpers.language.instructions import PARAPHRASE_ONLY_WORDS

    train_words = {w for key in pool_templates(TRAIN_POOL) for w in re.findall(r"[a-z]+", template_text(key))}
    para_words = {w for key in pool_templates(PARAPHRASE_POOL) for w in re.findall(r"[a-z]+", template_text(key))}
    assert PARAPHRASE_ONLY_WORDS <= para_words, PARAPHRASE_ONLY_WORDS - para_words
    assert not PARAPHRASE_ONLY_WORDS & train_words, PARAPHRASE_ONLY_WORDS & train_words


def test_every_example_is_labelled_consistently():
    data = build_dataset(SMALL)
    kinds = set()
    for example in [e for split in data.values() for e in split]:
        kinds.add(example.kind)
        assert is_complete_plan(example.plan), example
        # every number the plan holds is written in the text the model reads (it copies, never computes)
        for word in example.plan.replace(";", " ").split():
            still = any(":stand_still:" in t for t in example.templates)  # "stop" is target_speed 0
            if re.fullmatch(r"-?\d+(\.\d+)?", word) and not (still and word == "0"):
                assert re.search(rf"(?<![\d.]){re.escape(word.lstrip('-'))}(?![\d.])", example.normalised), example
        # so decoding that only lets the model copy numbers never rules out the right plan
        assert copies_numbers(example.plan, instruction_numbers(example.normalised), complete=True), example
        if example.kind in ("refusal", "gibberish"):
            assert example.plan == "unknown"
    assert {"single", "sequence", "refusal", "noun"} <= kinds


# --- fine-tuning: offline default, resume, the gpt2-medium error ------------------------------
def test_finetune_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from helpers.core.errors import ConfigMismatchError
    from helpers.language.finetuning import FinetuneConfig, settings_changed, train

    common = dict(encoder="none", n_layer=1, n_embd=32, n_head=2, vocab_size=300, batch_size=8, n_train=200,
                  n_val=20, n_test=10, n_paraphrase=10, eval_every=2, eval_examples=4, checkpoint_every=2,
                  threads=1, out=str(tmp_path / "run"), warmup=2)
    _, first = train(FinetuneConfig(steps=2, **common))
    assert first["step"] == 2 and (tmp_path / "run" / "checkpoint.safetensors").exists()
    _, second = train(FinetuneConfig(steps=4, **common))
    assert second["step"] == 4
    assert [h["step"] for h in second["history"] if "val_loss" in h] == [2, 4]
    with pytest.raises(ConfigMismatchError, match="other settings"):
        train(FinetuneConfig(steps=6, **{**common, "lr": 0.1}))
    # the same settings on instruction data generated from edited pools: not a resume either
    monkeypatch.setattr("helpers.language.finetuning.generator_fingerprint", lambda: "edited-pools")
    assert set(settings_changed(FinetuneConfig(steps=6, **common))) == {"dataset"}
    with pytest.raises(ConfigMismatchError, match="dataset"):
        train(FinetuneConfig(steps=6, **common))


def test_lora_on_a_local_pretrained_model_trains_exports_and_reloads(tmp_path):
    """The gpt2-medium path (pretrained LM, text prompt, LoRA, export) on a tiny GPT-2 saved locally."""
    from helpers.language.finetuning import FinetuneConfig, train
    from helpers.language.translation import load_translator, translate_batch
    from helpers.language.base_models import scratch_lm, train_tokenizer

    base = tmp_path / "tiny-gpt2"
    tokenizer = train_tokenizer([e.normalised + " " + e.plan for e in build_dataset(SMALL)["train"]], 400)
    scratch_lm(len(tokenizer), 1, 32, 2, 128, 0.0, tokenizer.eos_token_id).save_pretrained(base)
    tokenizer.save_pretrained(base)
    model, state = train(FinetuneConfig(model=str(base), encoder="none", lora=True, lora_rank=4, steps=3, batch_size=4,
                                        n_train=100, n_val=8, n_test=8, n_paraphrase=8, eval_every=3, eval_examples=4,
                                        warmup=1, threads=1, out=str(tmp_path / "run"), export=str(tmp_path / "export")))
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n for n in trained)  # only the adapters learn
    card = json.loads((tmp_path / "export" / "card.json").read_text())
    assert card["model"]["lora"] and card["training"]["steps_done"] == 3 and "evaluation" in card
    assert (tmp_path / "export" / "adapter_model.safetensors").exists()
    answer = translate_batch(load_translator(tmp_path / "export"), ["jump"])[0]
    assert set(answer) <= {"plan", "error"}  # an untrained model may say anything; the answer is still valid JSON

    # re-measured in place with this checkout's decoder: training fields kept, decoding re-tuned on dev
    from helpers.core.errors import InvalidArgumentError

    train(FinetuneConfig(reevaluate=str(tmp_path / "export"), refusal_bias_grid="-1,0", threads=1))
    again = json.loads((tmp_path / "export" / "card.json").read_text())
    assert again["training"] == card["training"] and again["command"] == card["command"]
    assert again["decoding"]["refusal_bias"]["split"] == "val+paraphrase_dev"
    assert [r["bias"] for r in again["decoding"]["refusal_bias"]["grid"]] == [-1.0, 0.0]
    assert again["reevaluated"]["command"].endswith("--reevaluate " + str(tmp_path / "export") + " --refusal-bias-grid=-1,0")
    translate_batch(load_translator(tmp_path / "export"), ["jump"])  # its files still match their manifest
    with pytest.raises(InvalidArgumentError, match="no exported translator"):
        train(FinetuneConfig(reevaluate=str(tmp_path / "run")))


def test_export_writes_a_complete_verified_folder_atomically(tmp_path, monkeypatch):
    """The export stages everything (weights, card, manifest), verifies it, then swaps it in; a
    failure leaves the previous export untouched and no staging folder behind."""
    import helpers.language.finetuning as ft
    from helpers.core.checkpoints import MANIFEST, read_manifest

    cfg = ft.FinetuneConfig(encoder="none", n_layer=1, n_embd=32, n_head=2, vocab_size=300, batch_size=4, steps=2,
                            n_train=60, n_val=6, n_test=6, n_paraphrase=6, eval_every=2, eval_examples=4, warmup=1,
                            threads=1, out=str(tmp_path / "run"), export=str(tmp_path / "translator"))
    model, state = ft.train(cfg)
    out = tmp_path / "translator"
    files = {p.name for p in out.iterdir()}
    assert {"card.json", MANIFEST, "model.safetensors", "translator.json", "training_log.csv"} <= files
    assert set(read_manifest(out)) == files - {MANIFEST}  # the card is covered by the manifest too
    card = json.loads((out / "card.json").read_text())
    assert card["training"]["steps_done"] == 2 and card["command"].startswith("python -m helpers.finetune_gpt2")
    assert set(card["evaluation"]) == {"val", "test", "paraphrase", "paraphrase_dev"}
    assert "accuracy_by_kind" in card["evaluation"]["test"] and card["throughput"]["instructions_per_s"] > 0
    ft.verify_export(out)
    (out / "stray.txt").write_text("not in the manifest")
    with pytest.raises(ChecksumError, match="stray.txt"):
        ft.verify_export(out)
    (out / "stray.txt").unlink()
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken_card(*args, **kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(ft, "make_card", broken_card)
    with pytest.raises(RuntimeError, match="evaluation failed"):
        ft.export(cfg, model, ft.build_dataset(cfg.data_config()), state)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "translator"]  # no staging folder left


def test_gpt2_medium_offline_gives_a_clear_error(monkeypatch):
    from helpers.language.base_models import PretrainedModelUnavailable, load_pretrained_lm

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    try:
        load_pretrained_lm("gpt2-medium")
    except PretrainedModelUnavailable as exc:
        assert "gpt2-medium" in str(exc) and "--model smollm2-135m" in str(exc)
    else:
        pytest.skip("gpt2-medium is in this machine's Hugging Face cache")


def test_gpt2_medium_estimate_is_consistent():
    from helpers.language.base_models import estimate_finetune_budget

    est = estimate_finetune_budget()
    assert 354e6 < est["parameters"] < 356e6  # gpt2-medium: 354.8M with tied embeddings
    assert est["lora"]["total_gb"] < est["full_finetune"]["total_gb"]
    assert est["fits_12gb"]["lora"]


def test_whatever_the_model_writes_the_answer_is_a_valid_plan_or_an_error():
    """Model text is parsed and validated, never executed: a model that writes anything at all."""
    from helpers.language.translation import translate_batch

    class AnythingModel:
        outputs = ["__import__('os').system('echo hacked')", "target_speed 9 -", "jump - - ; fly - -", "", "walk - -",
                   "run_forward 2 -", "jump - -1", "unknown", "jump - - ; unknown"]

        def generate(self, texts):
            return self.outputs[:len(texts)]

    answers = translate_batch(AnythingModel(), ["x"] * len(AnythingModel.outputs))
    assert [bool(a["plan"]) for a in answers] == [False, False, False, False, True, False, False, False, False]
    for answer in answers:
        assert set(answer) == ({"plan"} if answer["plan"] else {"plan", "error"}) and json.dumps(answer)
        for step in answer["plan"]:
            assert step["skill"] in SKILLS and 0 < step["duration_s"] <= 300


def test_fast_decoding_writes_what_plain_decoding_writes(monkeypatch):
    """The decoder's shortcuts change no plan: prompts grouped by length and their caches joined,
    rows leaving the batch as they finish, and only the plan vocabulary scored, against one
    instruction at a time scored over the whole vocabulary (a random-weight model: varied plans)."""
    import torch

    from helpers.language.base_models import load_pretrained_lm
    from helpers.language.translator import PlanTranslator, TranslatorSpec

    tokenizer, lm = load_pretrained_lm("tiny-llama")
    model = PlanTranslator(lm, tokenizer, TranslatorSpec(base="tiny-llama", encoder=None, max_plan_tokens=24,
                                                         refusal_bias=0.5))
    texts = [e.normalised for e in build_dataset(SMALL)["test"][:9]]
    model.prefill_group = 2  # five groups of different lengths, joined into one cache
    vocabulary = model.plan_vocabulary()
    assert model.eos_id in vocabulary.tolist() and model.unknown_token() in vocabulary.tolist()
    assert len(vocabulary) < len(tokenizer) // 20
    fast = model.generate_units(texts, candidates=len(vocabulary))
    everything = torch.arange(len(tokenizer))
    monkeypatch.setattr(model, "plan_vocabulary", lambda: everything)
    plain = [model.generate_units([t], candidates=len(tokenizer))[0] for t in texts]
    assert fast == plain
    assert len(set(fast)) > 2  # the comparison is not between empty or identical plans


def test_no_eval_or_exec_in_translator_code():
    for path in sorted((REPO_ROOT / "helpers" / "language").glob("*.py")) + [REPO_ROOT / "helpers" / "translate.py"]:
        source, name = path.read_text(), path.name
        assert not re.search(r"(?<![.\w])(eval|exec)\(", source), name


# --- the committed translator -------------------------------------------------------------------
@pytest.fixture(scope="module")
def translator():
    from helpers.language.translation import load_translator

    return load_translator(TRANSLATOR)


def test_committed_translator_is_accurate_on_a_sample(translator):
    """A sample of each split, re-measured as a user loads the translator, agrees with its card (whole
    splits): a band of about three standard errors of a 60-example sample."""
    from helpers.language.translation import split_report

    card = json.loads((TRANSLATOR / "card.json").read_text())["evaluation"]
    data = build_dataset(DatasetConfig(n_paraphrase_dev=card["paraphrase_dev"]["n"]))  # the card's splits
    for split in ("test", "paraphrase"):
        report = split_report(translator, data[split][:60])
        assert report["accuracy"] >= card[split]["accuracy"] - 0.11, (split, [r for r in report["rows"] if not r["correct"]][:5])
    assert card["test"]["accuracy"] >= 0.95 and card["test"]["refusal_rate"] >= 0.9, card["test"]


def test_committed_translator_semantics(translator):
    from helpers.language.translation import translate_batch

    answers = translate_batch(translator, [
        "run forward at 2 m/s", "run backwards at 1.5 m/s", "sprint forward", "jump for 3 seconds",
        "make me a sandwich", "fly to the moon", "run at 18 km/h", "",
    ])
    # a long number is copied whole (the decoder may only write numbers the instruction states)
    assert translator.generate(["command: scurry back, for 599 seconds"]) == ["run_backward - 599"]
    assert answers[0]["plan"] == [{"skill": "target_speed", "target_speed": 2.0, "duration_s": DEFAULT_DURATION_S}]
    assert answers[1]["plan"] == [{"skill": "target_speed", "target_speed": -1.5, "duration_s": DEFAULT_DURATION_S}]
    assert answers[2]["plan"] == [{"skill": "run_forward", "target_speed": None, "duration_s": DEFAULT_DURATION_S}]
    assert answers[3]["plan"] == [{"skill": "jump", "target_speed": None, "duration_s": 3.0}]
    for refused in answers[4:]:  # out of scope; 18 km/h = 5 m/s is out of range; empty
        assert refused["plan"] == [] and refused["error"]


# Written by hand for this test, from neither template pool: how people might actually phrase things.
UNSEEN = {
    "Please make the cheetah run as fast as it can": "run_forward - -",
    "go in reverse, fast!": "run_backward - -",
    "I want to see a front flip": "front_flip - -",
    "do a backflip": "unknown",
    "tell me about the weather": "unknown",
    "cook pasta": "unknown",
    "hop up and down for 4 seconds": "jump - 4",
    "jump for three seconds then run forward": "jump - 3 ; run_forward - -",
    "move at 5 km/h": "target_speed 1.39 -",
    "go backwards at 3.6 km/h for 10 s": "target_speed -1 10",
    "walk forward for 20 seconds": "walk - 20",
    "stand up and then walk": "stand_up - - ; walk - -",
    "can the humanoid get off the floor?": "stand_up - -",
    "jog at 1 metre per second for half a minute": "target_speed 1 30",
    "run at negative two meters per second": "target_speed -2 -",
    "stay still for 5 seconds then sprint": "target_speed 0 5 ; run_forward - -",
    "Could you flip forward and then leap?": "front_flip - - ; jump - -",
    "leap for 2 s, flip for 3 s, then run backwards at 2 m/s for 4 s": "jump - 2 ; front_flip - 3 ; target_speed -2 4",
    "move backward at 2.5 metres per second for 12 seconds": "target_speed -2.5 12",
    "back up as quickly as possible for 6 seconds": "run_backward - 6",
    "perform a somersault": "front_flip - -",
    "run forward then fly": "run_forward - - ; unknown",
    "Sprint ahead for 8 seconds and then hop": "run_forward - 8 ; jump - -",
    "recover from the fall and stand": "stand_up - -",
}


def test_committed_translator_on_unseen_phrasings(translator):
    predicted = translator.generate([normalise(text) for text in UNSEEN])
    misses = [(text, want, got) for (text, want), got in zip(UNSEEN.items(), predicted) if want != got]
    assert len(misses) <= 2, misses


def _stub_translator(answers: dict, barred: dict | None = None, narrow: tuple = ("get some air",)):
    """A stand-in for PlanTranslator's decoding: ``answers`` per clause ("unknown" otherwise), and
    ``barred`` where refusing is barred (a refusal bias of -1e4); clauses split on " / "; the
    ``narrow`` clauses are refused by a lead of 0.5, every other refusal by 4."""
    from types import SimpleNamespace

    from helpers.language.translator import PlanTranslator

    class Stub:
        generate = PlanTranslator.generate
        _second_opinion = PlanTranslator._second_opinion
        _decode = PlanTranslator._decode
        memoised = PlanTranslator.memoised

        def __init__(self):
            self.spec = SimpleNamespace(refusal_bias=0.0, fallback_agreement=False, fallback_margin=None)
            self.fallback, self.asked, self.memo, self.copy_numbers = None, [], None, True

        def units(self, text):
            return text.split(" / ")

        def generate_units(self, units, constrained=True, refusal_leads=None):
            self.asked += units
            table = barred if self.spec.refusal_bias < -100 else answers
            texts = [table.get(u, "unknown") for u in units]
            if refusal_leads is not None:  # firm refusals: what the stub has never heard of ("sing")
                refusal_leads += [(0.5 if u in narrow else 4.0) if t == "unknown" else -1.0 for u, t in zip(units, texts)]
            return texts

    return Stub()


def test_the_fallback_answers_only_the_clauses_the_translator_refuses():
    """A refused clause goes to the fallback, whose answer is taken where it names a skill; answered
    clauses never reach it; a clause both refuse stays refused."""
    primary = _stub_translator({"run forward": "run_forward - -", "flip": "front_flip - 3"})
    primary.fallback = _stub_translator({"get some air": "jump - -"})
    out = primary.generate(["run forward / get some air", "flip", "sing / dance"])
    assert out == ["run_forward - - ; jump - -", "front_flip - 3", "unknown"]
    assert sorted(primary.fallback.asked) == ["dance", "get some air", "sing"]


def test_with_agreement_the_fallback_counts_only_where_both_name_the_same_skills():
    # barred from refusing, the translator's own best guesses: jump for the idiom, a flip for nonsense
    primary = _stub_translator({"run forward": "run_forward - -"},
                               barred={"get some air": "jump - 5", "make a sandwich": "front_flip - -"})
    primary.fallback = _stub_translator({"get some air": "jump - -", "make a sandwich": "run_backward - -"})
    primary.spec.fallback_agreement = True
    out = primary.generate(["run forward / get some air", "make a sandwich"])
    assert out == ["run_forward - - ; jump - -", "unknown"]  # the fallback's text (its numbers), where skills agree
    assert primary.spec.refusal_bias == 0.0  # the bar on refusing is lifted again


def test_with_a_margin_only_narrow_refusals_reach_the_fallback():
    """A firm refusal (the LM knows the request is out of scope) stands; a narrow one is asked about."""
    primary = _stub_translator({"run forward": "run_forward - -"})
    primary.fallback = _stub_translator({"get some air": "jump - -", "flip the pancake": "front_flip - -"})
    primary.spec.fallback_margin = 1.0
    out = primary.generate(["run forward / get some air", "flip the pancake"])
    assert out == ["run_forward - - ; jump - -", "unknown"]
    assert primary.fallback.asked == ["get some air"]


def test_memoised_decoding_asks_each_clause_once_and_forgets_after():
    primary = _stub_translator({"run forward": "run_forward - -"})
    with primary.memoised():
        for _ in range(3):
            assert primary.generate(["run forward / run forward"]) == ["run_forward - - ; run_forward - -"]
        assert primary.asked == ["run forward"]
        primary.spec.refusal_bias = 1.0  # another knob setting: decoded again
        primary.generate(["run forward"])
    assert primary.asked == ["run forward", "run forward"] and primary.memo is None


def test_a_fallback_outside_pretrained_is_refused():
    from helpers.core.errors import InvalidArgumentError
    from helpers.language.translator import fallback_directory

    assert fallback_directory("translator_baselines/scratch_minilm").name == "scratch_minilm"
    for bad in ("/tmp", "../tests", "translator_baselines/nothing"):
        with pytest.raises(InvalidArgumentError, match="translator_baselines/scratch_minilm"):
            fallback_directory(bad)


def test_tampered_translator_is_refused(tmp_path):
    from helpers.language.translator import PlanTranslator

    copy = tmp_path / "translator"
    shutil.copytree(TRANSLATOR, copy)
    spec = copy / "translator.json"
    spec.write_text(spec.read_text() + " ")
    with pytest.raises(ChecksumError, match="does not match"):
        PlanTranslator.load(copy)


# --- the CLI contract ---------------------------------------------------------------------------
def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "helpers.translate", *args, "--threads", "1"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def test_cli_single_instruction():
    lines = _cli("please run backwards at 1.5 m/s for 3 seconds, then do a front flip", "--json")
    assert lines == [{"plan": [{"skill": "target_speed", "target_speed": -1.5, "duration_s": 3.0},
                               {"skill": "front_flip", "target_speed": None, "duration_s": DEFAULT_DURATION_S}]}]


def test_cli_file(tmp_path: Path):
    f = tmp_path / "instructions.jsonl"
    f.write_text("\n".join([json.dumps("stand up"), json.dumps("swim across the pool"), "42",
                            json.dumps("run forward at 9 m/s"), "", json.dumps("walk for half a minute"),
                            json.dumps("run forward at 2 m/s for 3 seconds, then do a front flip"), "not json"]) + "\n")
    lines = _cli("--file", str(f), "--json")
    assert len(lines) == 7  # the blank line is skipped
    assert lines[0] == {"plan": [{"skill": "stand_up", "target_speed": None, "duration_s": DEFAULT_DURATION_S}]}
    assert lines[1]["plan"] == [] and "known skills" in lines[1]["error"]
    assert lines[2]["plan"] == [] and "not a string" in lines[2]["error"]
    assert lines[3]["plan"] == [] and "outside the valid range" in lines[3]["error"]
    assert lines[4] == {"plan": [{"skill": "walk", "target_speed": None, "duration_s": 30.0}]}
    assert lines[5] == {"plan": [{"skill": "target_speed", "target_speed": 2.0, "duration_s": 3.0},
                                 {"skill": "front_flip", "target_speed": None, "duration_s": DEFAULT_DURATION_S}]}
    assert lines[6]["plan"] == [] and "line 8" in lines[6]["error"] and "not JSON" in lines[6]["error"]


def test_cli_errors_are_clear(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "helpers.translate", "--file", str(tmp_path / "missing.jsonl")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such file" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "helpers.translate", "jump", "--model", str(tmp_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "not a saved translator" in proc.stderr


# --- the encoder probe (notebook 07's "decoder or encoder?") ------------------------------------
def test_encoder_probe_finds_skills_far_better_than_the_majority_skill():
    from collections import Counter

    from helpers.language.encoder_probe import ProbeConfig, one_step, plan_skill, probe

    data = build_dataset(DatasetConfig(n_train=2000, n_val=10, n_test=300, n_paraphrase=300))
    result = probe(ProbeConfig(n_reference=400, n_eval=120), data=data)
    for split, r in result["splits"].items():
        skills = [plan_skill(e.plan) for e in one_step(data[split])[:120]]
        majority = Counter(skills).most_common(1)[0][1] / len(skills)
        assert r["n"] == len(skills) and 0 <= r["skill_accuracy"] <= 1
        assert r["skill_accuracy"] > majority + 0.2, (split, r["skill_accuracy"], majority)


def test_encoder_probe_rejects_a_folder_that_is_not_a_model(tmp_path):
    from helpers.encoder_probe import main

    with pytest.raises(SystemExit):
        main(["--encoder", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["--k", "0"])


def test_novel_instructions_share_no_template_or_key_phrase_with_the_training_pools():
    from helpers.language.instructions import novel_instructions, shared_key_phrases, training_key_phrases

    phrases = training_key_phrases()
    assert "i want you to" in phrases and "run at breakneck speed" in phrases  # the check has teeth
    assert shared_key_phrases("i want you to run at breakneck speed", phrases)
    novel = novel_instructions()
    assert len(novel) >= 30 and {n["plan"] for n in novel} >= {"unknown", "run_forward - -"}
    overlaps = {n["instruction"]: shared_key_phrases(n["instruction"], phrases) for n in novel}
    assert not any(overlaps.values()), {k: v for k, v in overlaps.items() if v}
    normalised_train = {e.normalised for e in build_dataset(SMALL)["train"]}
    assert not any(normalise(n["instruction"]) in normalised_train for n in novel)
    for n in novel:  # every expected plan is a plan the validator accepts, or a refusal
        assert n["plan"] == "unknown" or "unknown" in n["plan"] or parse_plan(n["plan"])
