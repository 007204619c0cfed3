"""Tolerances that decide whether a hand is plausible, in one place for the losses (`priors`), the metrics
(`eval`), the fitter and the reported results.

Both come from the knowledge-prior paper (the anatomical prior with winding-number non-penetration,
Sec. 3.2 and its evaluation): a vertex up to 6 mm inside the hand counts as touching, not penetrating
(eq. 4's d_tol); a joint angle up to 5 degrees beyond its range of motion counts as within it.
"""

from __future__ import annotations

PENETRATION_TOLERANCE_M: float = 0.006
PENETRATION_TOLERANCE_MM: float = PENETRATION_TOLERANCE_M * 1000.0
JOINT_LIMIT_TOLERANCE_DEG: float = 5.0
