"""Official PyTorch checkpoints -> our Flax parameter trees."""
