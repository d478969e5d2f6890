"""Newton's prior on the ground reaction force, from the wearables alone.

Every lab obeys `GRF_l + GRF_r = sum_i m_i (a_i - g)`: no data set can take that away, so it is
the one part of a GRF model that transfers from synthetic walkers to real ones by construction.

* `segments`: segment masses (Winter 2009) and the segment orientations the wearables' joint
  angles imply, so each accelerometer's specific force can be put in the heading frame.
* `newton`: the whole-body force in body weights from the pelvis, thigh and shank
  accelerometers weighted by the masses they stand for.
* `split`: the share of each foot, from the wearable gait events, with the smooth-transition
  rule of Ren et al. (2008) in double support.
* `stream`: the per-foot estimate as a `physics` stream beside the recorded ones, so the sample
  builders cut it into steps and windows like any other channel, and the baseline that scores it
  (no learning) on the same samples the networks are scored on.
"""
