"""Stage 2, one expert per skill: the minimal PPO (:mod:`.ppo`) and its stable-baselines3 reference
(:mod:`.ppo_sb3`), the expert configurations (:mod:`.configs`), resumable training (:mod:`.trainer`),
SB3 files without pickles of our own (:mod:`.sb3_files`), observation normalisation
(:mod:`.normalization`), acting (:mod:`.policy`), publishing with a card (:mod:`.publish`), and
composing experts by switching (:mod:`.switching`).

Imports :mod:`helpers.core` and :mod:`helpers.envs`.
"""
