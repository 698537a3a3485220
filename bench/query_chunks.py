"""VAE field queries per second against the query chunk size (docs/performance.md, issue 14).

    python bench/query_chunks.py --config tiny --threads 2
    python bench/query_chunks.py --config test-small --threads 2   # the golden small VAE

Evaluates the decoder's ``query_field`` on 524,288 uniform points of [-1, 1]^3 for each chunk size, two
rounds (read the second: the first warms caches and thread pools).
"""

import argparse
import time

import torch

from autopartgen.checkpoints import load_weights
from autopartgen.config import load_config
from autopartgen.models import build_model
from autopartgen.api import SHIPPED_MODEL

GOLDEN_VAE = "tests/data/compat/small_vae.safetensors"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", help="tiny (the shipped VAE) or test-small (the golden VAE)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunks", default="8192,16384,32768,50000,131072")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    vae = build_model("vae", config.vae).eval()
    load_weights(vae, GOLDEN_VAE if args.config == "test-small" else SHIPPED_MODEL / "vae.safetensors",
                 name="vae")
    tokens_count = {"test-small": 32}.get(args.config, 64)
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, tokens_count, config.vae["latent_channels"], generator=generator)
    points = torch.rand(1, 524_288, 3, generator=generator) * 2 - 1
    with torch.inference_mode():
        tokens = vae.decoder_tokens(latent)
        for round_number in (1, 2):
            for chunk in map(int, args.chunks.split(",")):
                start = time.perf_counter()
                for i in range(0, points.shape[1], chunk):
                    vae.query_field(tokens, points[:, i:i + chunk])
                rate = points.shape[1] / (time.perf_counter() - start) / 1e6
                print(f"round {round_number}, {args.config}, {args.threads} threads, chunk {chunk}: "
                      f"{rate:.3f} M queries/s", flush=True)


if __name__ == "__main__":
    main()
