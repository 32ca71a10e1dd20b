"""Stage 4, models trained offline on the trajectories: the Decision Transformer (:mod:`.dt`), acting
with it (:mod:`.dt_policy`), its training and publishing (:mod:`.dt_training`), and behaviour
cloning baselines (:mod:`.bc`). The goal-conditioned generalist of notebook 06 lives here too.

Imports :mod:`helpers.core`, :mod:`helpers.envs`, :mod:`helpers.experts` (expert returns for the
cards) and :mod:`helpers.data`.
"""
