"""Stage 3, trajectories: behaviour policies (:mod:`.behaviour`), collection on processes or Ray
(:mod:`.collection`) through shards (:mod:`.shards`) into Minari datasets (:mod:`.minari_io`), and
the flat memory-mapped arrays (:mod:`.flat`) and window sampler (:mod:`.windows`) the models train on.

Imports :mod:`helpers.core`, :mod:`helpers.envs` and :mod:`helpers.experts` (the behaviour policies).
"""
