"""Flax models: the stage-1 renderer (UNet, semantic encoder) and, later, stage 2 and HuBERT."""
