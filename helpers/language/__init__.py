"""Stage 5, language: plan text and its grammar (:mod:`.plans`), text normalisation (:mod:`.text`),
the instruction generator (:mod:`.instructions`) with its phrase pools as data files (``pools/``),
the translator model (:mod:`.translator`), translating with it (:mod:`.translation`), fine-tuning
(:mod:`.finetuning`) and the encoder probe (:mod:`.encoder_probe`). The agent's judge goes here too.

Imports :mod:`helpers.core` and :mod:`helpers.envs` (the skill table and :class:`~helpers.envs.skills.PlanStep`).
"""
