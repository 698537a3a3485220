"""Time one DiT sampling step (cached vs uncached condition) and one VAE decode chunk.

Uses the release architecture (width 2048, 21 blocks; VAE decoder width 1024, 16 blocks) with random
weights at reduced sequence lengths so that it runs on a CPU. Prints a markdown table.

    python bench/model_core.py [--latents 256] [--image-tokens 261] [--chunk 50000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from autopartgen.config import load_config
from autopartgen.models import build_model


def timed(fn, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def random_init_(model: torch.nn.Module, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="release-2048")
    parser.add_argument("--latents", type=int, default=256, help="latent tokens N (release: 2048)")
    parser.add_argument("--image-tokens", type=int, default=261, help="image tokens (release: 1029 at 448 px)")
    parser.add_argument("--batch", type=int, default=3, help="DiT batch (part stage: 3 = uncond, image, geometry)")
    parser.add_argument("--chunk", type=int, default=50_000, help="VAE query points per decode chunk")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    rows = []

    dit = build_model("dit", config.dit, "cpu", empty=True)
    random_init_(dit)
    c = dit.in_channels
    x = torch.randn(args.batch, args.latents, c)
    t = torch.full((args.batch,), 500)
    image = torch.randn(args.batch, args.image_tokens, 2 * config.dit["cross_attention_dim"])
    parts = torch.randn(args.batch, 2, args.latents, dit.latent_dim)
    with torch.inference_mode():
        prepared = dit.prepare_condition(image, parts)
        uncached = timed(lambda: dit(x, t, [image, parts]), args.repeats)
        cached = timed(lambda: dit.forward_prepared(x, t, prepared), args.repeats)
        prepare = timed(lambda: dit.prepare_condition(image, parts), args.repeats)
    rows += [("DiT step, uncached (prepare every step)", *uncached),
             ("DiT step, cached condition", *cached),
             ("DiT condition preparation (once per sample)", *prepare)]
    del dit, prepared

    vae = build_model("vae", config.vae, "cpu", empty=True)
    random_init_(vae, seed=1)
    latent = torch.randn(1, args.latents, vae.latent_channels)
    queries = torch.rand(1, args.chunk, 3) * 2 - 1
    with torch.inference_mode():
        tokens = vae.decoder_tokens(latent)
        token_time = timed(lambda: vae.decoder_tokens(latent), args.repeats)
        chunk_time = timed(lambda: vae.query_field(tokens, queries), args.repeats)
    rows += [("VAE decoder tokens (once per latent)", *token_time),
             (f"VAE decode chunk ({args.chunk} queries)", *chunk_time)]

    print(f"# model core timings: {args.config}, N={args.latents}, image tokens={args.image_tokens}, "
          f"batch={args.batch}, {args.threads} threads, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}\n")
    print("| stage | min (s) | median (s) |")
    print("| --- | ---: | ---: |")
    for name, best, median in rows:
        print(f"| {name} | {best:.3f} | {median:.3f} |")
    step_saving = 1 - rows[1][2] / rows[0][2]
    print(f"\ncached step saves {100 * step_saving:.1f}% of the uncached step time (medians)")


if __name__ == "__main__":
    main()
