"""HuBERT-large front end: audio seconds per second and peak memory, JAX against transformers' PyTorch.

    python benchmarks/hubert.py --seconds=20 --long_seconds=60

Random weights in the hubert-large layout (1024 wide, 24 layers, 16 heads, pre-LN, LayerNorm conv
stack; norms, biases and weight-norm gains randomised) are saved once as a Hugging Face folder; each
backend then runs in its own subprocess, so its peak RSS is its own (reset after the warm-up call:
memory is what a steady-state forward adds, compilation and weights excluded). Rows: one pass over
`--seconds` of audio in each backend, and the JAX chunked extractor (30 s windows, 3 s context)
over `--long_seconds`. The last line is the parity of all 25 hidden states between the one passes.

Measured on the 2-core CPU machine (float32, 20 s / 60 s):
| backend                          | audio s / s | peak RSS added |
| PyTorch (transformers), one pass | 0.82        | 625 MiB        |
| JAX, one pass (jit)              | 1.23        | 89 MiB         |
| JAX, chunked 30 s / 3 s context  | 0.71        | 1001 MiB       |
parity: max abs error 2.96e-05 over 25 hidden states (2.7e-06 of the largest value).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags, logging

_SECONDS = flags.DEFINE_float("seconds", 20.0, "Audio length for the one-pass rows.")
_LONG_SECONDS = flags.DEFINE_float("long_seconds", 60.0, "Audio length for the chunked JAX row (0: skip).")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed repetitions after one warm-up.")
_DTYPE = flags.DEFINE_enum("dtype", "float32", ["float32", "bfloat16"], "JAX compute dtype.")
_WORKER = flags.DEFINE_string("worker", "", "Internal: 'torch', 'jax' or 'jax_chunked' (one measurement).")
_FOLDER = flags.DEFINE_string("folder", "", "Internal: the HF folder to load.")
_OUT = flags.DEFINE_string("out", "", "Internal: where the worker saves its hidden states.")


def _waveform(seconds: float) -> np.ndarray:
    """Normalised speech-like noise (what Wav2Vec2FeatureExtractor would hand the model)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(16000 * seconds)) / 16000
    wave = (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) * (np.sin(2 * np.pi * 200 * t) + 0.3 * rng.standard_normal(t.size))
    return ((wave - wave.mean()) / wave.std()).astype(np.float32)


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")


def _rss_mib(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        line = next(line for line in handle if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def _timed(fn, repeats: int) -> tuple[float, float, object]:
    """Median seconds over repeats after a warm-up (compile) call, the peak RSS (MiB) those repeats
    added over the RSS after the warm-up, and the last result."""
    result = fn()
    _reset_peak_rss()
    base = _rss_mib("VmRSS")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), _rss_mib("VmHWM") - base, result


def _torch_worker(folder: str, seconds: float, repeats: int, out: str) -> dict:
    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel

    model = transformers.HubertModel.from_pretrained(folder).eval()
    x = torch.from_numpy(_waveform(seconds))[None]

    def forward():
        with torch.no_grad():
            result = model(x, output_hidden_states=True)
        return [h[0].numpy() for h in result.hidden_states[:-1]] + [result.last_hidden_state[0].numpy()]

    seconds_taken, peak, states = _timed(forward, repeats)
    np.save(out, np.stack(states))
    return {"time": seconds_taken, "peak_mib": peak}


def _jax_worker(folder: str, seconds: float, repeats: int, out: str, dtype: str, chunked: bool) -> dict:
    import jax  # pylint: disable=import-outside-toplevel
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

    from diffdub_jax.serving import audio_frontend  # pylint: disable=import-outside-toplevel

    extractor = audio_frontend.HubertFeatures.from_pretrained(folder, jnp.dtype(dtype), normalize=False)
    params = jax.device_put(extractor.params)
    waveform = _waveform(seconds)
    apply = jax.jit(extractor.model.apply)

    def forward():
        if chunked:
            return extractor.hidden_states(waveform)
        return np.asarray(apply({"params": params}, waveform[None]), np.float32)[:, 0]

    seconds_taken, peak, states = _timed(forward, repeats)
    if out:
        np.save(out, states)
    return {"time": seconds_taken, "peak_mib": peak}


def _save_random_large(folder: str) -> None:
    import torch  # pylint: disable=import-outside-toplevel
    import transformers  # pylint: disable=import-outside-toplevel

    config = transformers.HubertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                       intermediate_size=4096, feat_extract_norm="layer", do_stable_layer_norm=True,
                                       conv_bias=True)
    torch.manual_seed(0)
    model = transformers.HubertModel(config).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "original0" in name or ("norm" in name and name.endswith("weight")):
                param.mul_(1 + 0.1 * torch.randn_like(param))
            elif name.endswith("bias"):
                param.copy_(0.02 * torch.randn_like(param))
    model.save_pretrained(folder)


def _run_worker(kind: str, folder: str, seconds: float, out: str = "") -> dict:
    command = [sys.executable, __file__, f"--worker={kind}", f"--folder={folder}", f"--seconds={seconds}",
               f"--repeats={_REPEATS.value}", f"--dtype={_DTYPE.value}", f"--out={out}"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> None:
    del argv
    logging.set_verbosity(logging.WARNING)  # the table, not the libraries' INFO lines
    if _WORKER.value:
        if _WORKER.value == "torch":
            result = _torch_worker(_FOLDER.value, _SECONDS.value, _REPEATS.value, _OUT.value)
        else:
            result = _jax_worker(_FOLDER.value, _SECONDS.value, _REPEATS.value, _OUT.value, _DTYPE.value,
                                 chunked=_WORKER.value == "jax_chunked")
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        _save_random_large(folder)
        torch_out, jax_out = os.path.join(folder, "torch.npy"), os.path.join(folder, "jax.npy")
        rows = [("PyTorch (transformers), one pass", _SECONDS.value,
                 _run_worker("torch", folder, _SECONDS.value, torch_out)),
                (f"JAX {_DTYPE.value}, one pass (jit)", _SECONDS.value,
                 _run_worker("jax", folder, _SECONDS.value, jax_out))]
        if _LONG_SECONDS.value > 0:
            rows.append((f"JAX {_DTYPE.value}, chunked 30 s / 3 s context", _LONG_SECONDS.value,
                         _run_worker("jax_chunked", folder, _LONG_SECONDS.value)))
        reference, ours = np.load(torch_out), np.load(jax_out)
    print(f"HuBERT-large layout, random weights, CPU ({os.cpu_count()} cores)")
    print(f"| {'backend':42s} | audio s | wall s | audio s / s | peak RSS added, MiB |")
    print(f"|{'-' * 44}|---------|--------|-------------|--------------------|")
    for name, seconds, result in rows:
        print(f"| {name:42s} | {seconds:7.1f} | {result['time']:6.2f} | {seconds / result['time']:11.2f} "
              f"| {result['peak_mib']:18.0f} |")
    errors = np.abs(ours - reference).max(axis=(1, 2))
    scale = np.abs(reference).max(axis=(1, 2))
    print(f"parity over {len(errors)} hidden states: max abs error {errors.max():.2e} "
          f"(state {errors.argmax()}, whose max |value| is {scale[errors.argmax()]:.1f}); "
          f"max error / max |value| per state {np.max(errors / scale):.2e}")


if __name__ == "__main__":
    app.run(main)
