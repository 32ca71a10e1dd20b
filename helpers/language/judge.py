"""Did the rollout do what was asked? Two judges behind one interface, and the structured summary
they read.

* :class:`RuleVerifier`: the skill table's rules (``helpers.envs.metrics.SUCCESS_RULES``: speeds and
  their direction, flips counted, peak height, torso height, upright share, speed error) applied to
  each plan step's stretch of the rollout after its first second (the body needs a moment to change
  gait). Deterministic: the oracle the tests and notebook 08 rely on.
* :class:`LMJudge`: a language model (SmolLM2-135M-Instruct, offline) reads the instruction and the
  rollout summary (numbers, not frames) and answers in a fixed JSON format: first ``checks``, one
  true/false per numbered rule of the summary (the reading, written out before the verdict), then
  ``success`` (all checks hold), ``failure_mode`` and ``adjustment``. Each field is chosen by scoring
  its valid values under the model (deterministic, and always an allowed answer); the text is then
  parsed with ``json.loads`` and validated, never executed.
  A summary it cannot read (missing fields, wrong types) is refused with an error.

Both return a :class:`Verdict`: ``success``, ``failure_mode``, ``adjustment`` (what the agent should
change on its next attempt) and, for the rule verifier, the verdict of every step.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ..core.checkpoints import PRETRAINED_DIR
from ..core.errors import InvalidArgumentError
from ..core.provenance import verify_card_files
from ..envs.metrics import SUCCESS_RULES, episode_metrics, rule_holds, skill_success
from ..envs.skills import SKILLS, PlanStep

FAILURE_MODES = ("none", "wrong_skill", "too_slow", "wrong_direction", "too_low", "no_flip", "speed_error",
                 "fell", "not_standing")
ADJUSTMENTS = ("none", "longer", "recovery_step", "retry")
SETTLE_S = 1.0  # each step's first second is the change of gait: the rules read what follows


@dataclass
class Verdict:
    success: bool
    failure_mode: str = "none"
    adjustment: str = "none"
    failed_step: int | None = None  # the first step that failed (an index into the plan)
    steps: list[dict[str, Any]] = field(default_factory=list)  # per step: success and the rule's readings

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Judge(Protocol):
    def judge(self, instruction: str, summary: dict[str, Any]) -> Verdict: ...


# --- the summary both judges read -------------------------------------------------------------------
def summary_number(value: float) -> float:
    """A metric as summaries hold it: three decimals, and 0.0 rather than -0.0 (read as "-0.000")."""
    return round(float(value), 3) + 0.0


def rollout_summary(plan: list[PlanStep], trace: dict[str, Any], settle_s: float = SETTLE_S) -> dict[str, Any]:
    """Per plan step: the skill asked, its speed and duration, and the metrics of its stretch of the
    rollout after ``settle_s`` (from :func:`helpers.experts.switching.run_schedule`'s trace)."""
    dt, steps = trace["dt"], []
    skip = int(round(settle_s / dt))
    for k, step in enumerate(plan):
        infos = [info for info, seg in zip(trace["infos"], trace["segment"]) if seg == k]
        if SKILLS[step.skill].has_goal:  # the speed error is against the speed asked, whatever was run
            infos = [{**info, "target_speed": step.target_speed} for info in infos]
        # a flip is counted over the whole step (the turn may begin at once); speeds and heights after the settle
        body = infos[skip:] if len(infos) > 2 * skip and step.skill != "front_flip" else infos
        metrics = episode_metrics(step.skill, body) if body else {}
        steps.append({"skill": step.skill, "target_speed": step.target_speed, "duration_s": step.duration_s,
                      "metrics": {key: summary_number(v) for key, v in metrics.items()}})
    return {"steps": steps, "dt": dt}


def check_summary(summary: Any) -> list[dict[str, Any]]:
    """The steps of a summary, or :class:`InvalidArgumentError` saying what is missing: a judge refuses
    to judge what it cannot read."""
    if not isinstance(summary, dict) or not isinstance(summary.get("steps"), list) or not summary["steps"]:
        raise InvalidArgumentError("a rollout summary is {'steps': [{'skill', 'metrics', ...}, ...]} with one entry per plan step")
    for i, step in enumerate(summary["steps"]):
        if not isinstance(step, dict) or step.get("skill") not in SKILLS or not isinstance(step.get("metrics"), dict):
            raise InvalidArgumentError(f"step {i + 1} of the summary needs a known 'skill' and its 'metrics'")
        needed = {key for key, _, _ in SUCCESS_RULES[step["skill"]]}
        missing = needed - set(step["metrics"])
        if missing:
            raise InvalidArgumentError(f"step {i + 1} ({step['skill']}) lacks the metrics {sorted(missing)}")
        if not all(isinstance(step["metrics"][k], (int, float)) and np.isfinite(step["metrics"][k]) for k in needed):
            raise InvalidArgumentError(f"step {i + 1} ({step['skill']}): metrics must be finite numbers")
    return summary["steps"]


# --- the rule verifier ------------------------------------------------------------------------------
def _failure_mode(skill: str, metrics: dict[str, float]) -> str:
    """Which way a step failed its rule, in the judge's vocabulary."""
    up = metrics.get("upright_fraction", 1.0)
    if skill in ("run_forward", "run_backward"):
        speed = metrics["mean_forward_speed" if skill == "run_forward" else "mean_backward_speed"]
        return "fell" if up < 0.9 else ("wrong_direction" if speed < 0 else "too_slow")
    if skill == "jump":
        return "fell" if up < 0.95 else "too_low"
    if skill == "front_flip":
        return "no_flip"
    if skill == "target_speed":
        return "fell" if up < 0.5 else "speed_error"
    if skill == "walk":
        return "fell" if metrics["final_torso_height"] < 1.0 else "too_slow"
    return "not_standing"


class RuleVerifier:
    """The skill table's rules, step by step (see the module docstring)."""

    def judge(self, instruction: str, summary: dict[str, Any]) -> Verdict:
        steps = check_summary(summary)
        readings, failed = [], None
        for i, step in enumerate(steps):
            ok, verdicts = skill_success(step["skill"], step["metrics"])
            readings.append({"skill": step["skill"], "success": ok, "rule": verdicts})
            if not ok and failed is None:
                failed = i
        if failed is None:
            return Verdict(True, steps=readings)
        mode = _failure_mode(steps[failed]["skill"], steps[failed]["metrics"])
        # after a switch, a fall or a wrong direction asks for a moment to settle first; a step that was
        # going the right way but not far enough asks for more time; anything else for another try
        if failed > 0 and mode in ("fell", "wrong_direction", "no_flip"):
            adjustment = "recovery_step"
        elif mode in ("too_slow", "speed_error", "too_low", "not_standing"):
            adjustment = "longer"
        else:
            adjustment = "retry"
        return Verdict(False, mode, adjustment, failed, readings)


# --- the language-model judge -------------------------------------------------------------------------
def rule_checks(summary: dict[str, Any]) -> list[bool]:
    """Every rule of every step, in order, met or not: what the LM judge writes before its verdict."""
    return [rule_holds(step["metrics"][key], op, bar)
            for step in check_summary(summary) for key, op, bar in SUCCESS_RULES[step["skill"]]]


def describe(instruction: str, summary: dict[str, Any]) -> str:
    """The summary as the LM judge reads it: the instruction, then one line per step, each rule of the
    step a numbered check with the measured number beside its bar."""
    lines, k = [f"Instruction: {instruction}"], 0
    for i, step in enumerate(check_summary(summary), 1):
        m = step["metrics"]
        asked = step["skill"] + (f" at {step['target_speed']:+g} m/s" if step.get("target_speed") is not None else "")
        # each number beside its bar, both with three decimals (the summary's precision): the judge
        # compares two numbers of the same shape digit by digit, it need not remember the table
        parts = []
        for key, op, bar in SUCCESS_RULES[step["skill"]]:
            k += 1
            parts.append(f"check {k}: {key.replace('_', ' ')} {m[key]:.3f}, needs {'at least' if op == '>=' else 'at most'} {bar:.3f}")
        if "upright_fraction" not in {key for key, _, _ in SUCCESS_RULES[step["skill"]]}:
            parts.append(f"upright fraction {m.get('upright_fraction', 1.0):.3f}")
        lines.append(f"Step {i}: asked {asked} for {step.get('duration_s', 0):g} s; " + "; ".join(parts))
    return "\n".join(lines)


# short: every rule is in the summary, as numbered checks beside their bars (each prompt token is
# paid again on every fine-tuning step and every judgement)
JUDGE_SYSTEM = ("You judge whether a simulated robot did what it was asked: say for each numbered check whether "
                "it holds, then give the verdict. Answer with JSON only.")


def answer_text(success: bool, failure_mode: str, adjustment: str, checks: list[bool] | None = None) -> str:
    """The judge's answer: the checks it read (when given), then the verdict."""
    head = {"checks": list(checks)} if checks is not None else {}
    return json.dumps({**head, "success": success, "failure_mode": failure_mode, "adjustment": adjustment})


def parse_verdict(text: str) -> Verdict:
    """A judge's JSON answer, parsed and checked against the allowed values (never executed)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"the judge's answer is not JSON ({exc.msg}): {text[:80]!r}") from None
    if not isinstance(value, dict) or set(value) - {"checks"} != {"success", "failure_mode", "adjustment"}:
        raise InvalidArgumentError(f"the judge's answer must have exactly success, failure_mode and adjustment "
                                   f"(and optionally checks): {value!r}")
    if not isinstance(value["success"], bool) or value["failure_mode"] not in FAILURE_MODES \
            or value["adjustment"] not in ADJUSTMENTS:
        raise InvalidArgumentError(f"the judge's answer has a value outside {FAILURE_MODES} / {ADJUSTMENTS}: {value!r}")
    if value["success"] != (value["failure_mode"] == "none"):
        raise InvalidArgumentError(f"the judge's answer contradicts itself: {value!r}")
    checks = value.get("checks")
    if checks is not None and (not isinstance(checks, list) or not all(isinstance(c, bool) for c in checks)
                               or value["success"] != all(checks)):
        raise InvalidArgumentError(f"the judge's checks must be booleans that all hold exactly when it says success: {value!r}")
    return Verdict(value["success"], value["failure_mode"], value["adjustment"])


class LMJudge:
    """A causal LM's verdict, chosen among the valid JSON answers by its log-likelihood, field by field."""

    def __init__(self, model, tokenizer, few_shot: list[tuple[str, str]] | None = None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.few_shot = list(few_shot or [])
        self._cached = None  # (prompt, its length, its keys and values, the next token's log-probabilities)

    def prompt(self, instruction: str, summary: dict[str, Any]) -> str:
        messages = [{"role": "system", "content": JUDGE_SYSTEM}]
        for question, answer in self.few_shot:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": describe(instruction, summary)})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _scores(self, prefix: str, options: list[str]) -> np.ndarray:
        """Sum of log-probabilities of each option's tokens after ``prefix`` (tokenised apart, as in
        fine-tuning). The prefix's keys and values are computed once per prefix and reused for every
        field's options: a judgement costs one pass over the prompt, not one per option."""
        import copy

        import torch

        if self._cached is None or self._cached[0] != prefix:
            ids = self.tokenizer(prefix, add_special_tokens=False)["input_ids"]
            with torch.no_grad():
                out = self.model(input_ids=torch.tensor([ids]), use_cache=True)
            self._cached = (prefix, len(ids), out.past_key_values, torch.log_softmax(out.logits[0, -1].float(), -1))
        _, n_prefix, cache, first = self._cached
        rows = [self.tokenizer(o, add_special_tokens=False)["input_ids"] for o in options]
        width = max(len(r) for r in rows)
        batch = torch.full((len(rows), width), self.tokenizer.pad_token_id or 0)
        mask = torch.zeros((len(rows), n_prefix + width), dtype=torch.long)
        mask[:, :n_prefix] = 1
        for i, r in enumerate(rows):
            batch[i, :len(r)], mask[i, n_prefix:n_prefix + len(r)] = torch.tensor(r), 1
        past = copy.deepcopy(cache)
        past.batch_repeat_interleave(len(rows))
        positions = torch.arange(n_prefix, n_prefix + width).expand(len(rows), -1)
        with torch.no_grad():
            logp = torch.log_softmax(self.model(input_ids=batch, attention_mask=mask, position_ids=positions,
                                                past_key_values=past, use_cache=True).logits.float(), -1)
        out = []
        for i, r in enumerate(rows):  # token j of an option is predicted at position j - 1 (the first by the prefix)
            score = float(first[r[0]])
            if len(r) > 1:
                score += float(logp[i, torch.arange(len(r) - 1), torch.tensor(r[1:])].sum())
            out.append(score)
        return np.asarray(out)

    def judge(self, instruction: str, summary: dict[str, Any]) -> Verdict:
        prompt = self.prompt(instruction, summary)

        def pick(fields: dict[str, Any], key: str, values: list) -> Any:
            # each candidate is the answer's JSON up to this field, tokenised on its own as in fine-tuning
            # (prompt and answer apart), so the tokens scored are the tokens the judge was trained on
            options = [json.dumps({**fields, key: v})[:-1] for v in values]
            return values[int(np.argmax(self._scores(prompt, options)))] if len(values) > 1 else values[0]

        # first each rule's check, one at a time (the list left open), then the verdict they imply
        checks: list[bool] = []
        for _ in range(sum(len(SUCCESS_RULES[step["skill"]]) for step in check_summary(summary))):
            options = [json.dumps({"checks": checks + [v]})[:-2] for v in (True, False)]
            checks.append((True, False)[int(np.argmax(self._scores(prompt, options)))])
        ok = all(checks)
        fields: dict[str, Any] = {"checks": checks, "success": ok}
        fields["failure_mode"] = pick(fields, "failure_mode", ["none"] if ok else [m for m in FAILURE_MODES if m != "none"])
        adjustment = pick(fields, "adjustment", ["none"] if ok else [a for a in ADJUSTMENTS if a != "none"])
        return parse_verdict(answer_text(ok, fields["failure_mode"], adjustment, checks))  # parsed and checked, as any answer


JUDGE_DIR = PRETRAINED_DIR / "judge"


def load_lm_judge(adapter: str | None = None, few_shot: list[tuple[str, str]] | None = None,
                  model: str = "smollm2-135m") -> LMJudge:
    """SmolLM2-135M-Instruct as a judge (``model="tiny-llama"``: its random-weight twin, for smoke
    tests): prompted, or with a LoRA ``adapter`` folder fine-tuned for it (``"committed"``: pretrained/judge,
    from ``python -m helpers.finetune_judge``)."""
    from .base_models import load_pretrained_lm

    tokenizer, model = load_pretrained_lm(model)
    if adapter == "committed":  # pretrained/judge, its files checked against the card and manifest first
        verify_card_files(JUDGE_DIR)
        adapter = str(JUDGE_DIR)
    if adapter:
        from peft import PeftModel  # noqa: PLC0415 - only a fine-tuned judge needs peft

        model = PeftModel.from_pretrained(model, adapter)
    return LMJudge(model, tokenizer, few_shot)
