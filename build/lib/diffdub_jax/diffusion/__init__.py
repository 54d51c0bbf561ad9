"""Diffusion: noise schedule, masked training objective, DDIM sampling."""
