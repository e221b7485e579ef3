"""Scripted lander: a PD controller that holds the lander upright and controls its descent speed.

It does not steer towards the pad: attitude hold (a small tilt against the horizontal velocity,
to cancel drift) and a vertical-speed schedule (fast while high, slow near the ground) set the
torque and the throttle. It lands softly almost always, wherever it happens to be, so it reaches
the pad only when it starts above it; that is the bar a trained policy, which steers, has to beat.
It assumes the default gravity (4) and max_thrust (10), and reads the observation layout of
csrc/envs/lander.c.
"""
import numpy as np

GRAVITY = 4.0
MAX_THRUST = 10.0


def act(observations, action_masks, rng):
    """Throttle and torque in [-1, 1] for a batch of lander observations ([rows, 8] float32)."""
    del action_masks, rng
    height = observations[:, 1] * 10.0
    vx, vy = observations[:, 2] * 5.0, observations[:, 3] * 5.0
    sin, cos = observations[:, 4], observations[:, 5]
    theta, omega = np.arctan2(sin, cos), observations[:, 6] * 4.0
    # vertical speed: 0.3 m/s per metre of height, between -4 and -0.8 m/s
    target_vy = -np.clip(0.3 * height, 0.8, 4.0)
    throttle = (GRAVITY + 2.0 * (target_vy - vy)) / (MAX_THRUST * np.maximum(cos, 0.5))
    # attitude: lean against the horizontal velocity (thrust along -sin theta pushes -x)
    target_theta = np.clip(0.15 * vx, -0.25, 0.25)
    torque = 3.0 * (target_theta - theta) - 2.0 * omega
    actions = np.stack([2.0 * np.clip(throttle, 0.0, 1.0) - 1.0, np.clip(torque, -1.0, 1.0)], axis=1)
    return actions.astype(np.float32)
