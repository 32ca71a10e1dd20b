"""Stage 1, the bodies and their skills: the skill table (:mod:`.skills`), rewards and per-step info
(:mod:`.rewards`), the one env factory (:mod:`.factory`), episode metrics (:mod:`.metrics`),
rollouts and evaluation (:mod:`.rollouts`) and a look at the simulator itself (:mod:`.simulator`).

Imports only :mod:`helpers.core`.
"""
