"""Time one DiT sampling step (cached vs uncached condition) and one VAE decode chunk.

Uses the release architecture (width 2048, 21 blocks; VAE decoder width 1024, 16 blocks) with random
weights, at reduced sequence lengths by default so that it runs on a CPU. Prints a markdown table with,
per stage, the FLOPs of one call (``torch.utils.flop_counter``: matrix products and attention) and the
rate they ran at.

    python bench/model_core.py [--latents 256] [--image-tokens 261] [--chunk 50000] [--repeats 3]
    python bench/model_core.py --device cuda --dtype bfloat16 --latents 2048 --image-tokens 1029   # release sizes
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from autopartgen.config import load_config
from autopartgen.models import build_model


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """(min s, median s, FLOPs of one call) of ``fn`` after one warm-up call (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    with FlopCounterMode(display=False) as counter:
        fn()  # warm-up, counted
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), float(counter.get_total_flops())


def random_init_(model: torch.nn.Module, seed: int = 0) -> None:
    """N(0, 0.02^2) weights, drawn on the model's device (a 1.5B-parameter model inits in seconds on a GPU)."""
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator, device=device) * 0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="release-2048")
    parser.add_argument("--latents", type=int, default=256, help="latent tokens N (release: 2048)")
    parser.add_argument("--image-tokens", type=int, default=261, help="image tokens (release: 1029 at 448 px)")
    parser.add_argument("--batch", type=int, default=3, help="DiT batch (part stage: 3 = uncond, image, geometry)")
    parser.add_argument("--chunk", type=int, default=50_000, help="VAE query points per decode chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                        help="autocast dtype (the pipeline runs the release weights in bfloat16 on CUDA)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    device = torch.device(args.device)
    rows = []

    dit = build_model("dit", config.dit, device, empty=True)
    random_init_(dit)
    c = dit.in_channels
    x = torch.randn(args.batch, args.latents, c, device=device)
    t = torch.full((args.batch,), 500, device=device)
    image = torch.randn(args.batch, args.image_tokens, 2 * config.dit["cross_attention_dim"], device=device)
    parts = torch.randn(args.batch, 2, args.latents, dit.latent_dim, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), autocast:
        prepared = dit.prepare_condition(image, parts)
        uncached = timed(lambda: dit(x, t, [image, parts]), args.repeats)
        cached = timed(lambda: dit.forward_prepared(x, t, prepared), args.repeats)
        prepare = timed(lambda: dit.prepare_condition(image, parts), args.repeats)
    rows += [("DiT step, uncached (prepare every step)", *uncached),
             ("DiT step, cached condition", *cached),
             ("DiT condition preparation (once per sample)", *prepare)]
    del dit, prepared

    vae = build_model("vae", config.vae, device, empty=True)
    random_init_(vae, seed=1)
    latent = torch.randn(1, args.latents, vae.latent_channels, device=device)
    queries = torch.rand(1, args.chunk, 3, device=device) * 2 - 1
    with torch.inference_mode(), autocast:
        tokens = vae.decoder_tokens(latent)
        token_time = timed(lambda: vae.decoder_tokens(latent), args.repeats)
        chunk_time = timed(lambda: vae.query_field(tokens, queries), args.repeats)
    rows += [("VAE decoder tokens (once per latent)", *token_time),
             (f"VAE decode chunk ({args.chunk} queries)", *chunk_time)]

    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"{args.threads} threads, {platform.processor() or platform.machine()}")
    print(f"# model core timings: {args.config}, N={args.latents}, image tokens={args.image_tokens}, "
          f"batch={args.batch}, {args.dtype}, {where}, torch {torch.__version__}\n")
    print("| stage | min (s) | median (s) | GFLOP per call | TFLOP/s (median) | calls/s (median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, best, median, flops in rows:
        print(f"| {name} | {best:.4f} | {median:.4f} | {flops / 1e9:.1f} | {flops / median / 1e12:.2f} | "
              f"{1 / median:.1f} |")
    if device.type == "cuda":
        print(f"\npeak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    step_saving = 1 - rows[1][2] / rows[0][2]
    print(f"\ncached step saves {100 * step_saving:.1f}% of the uncached step time (medians)")


if __name__ == "__main__":
    main()
