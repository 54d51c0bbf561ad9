"""Training: state, jitted steps, and the loop with checkpoints and logging."""
