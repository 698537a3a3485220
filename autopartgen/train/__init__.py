"""Training of the shipped compact model: `autopartgen train {vae,dit,export}`.

``common`` the step loop shared by both models (DDP, accumulation, EMA, checkpoints, exact resume);
``prep`` per-object clouds and framed images; ``vae`` the VAE loop; ``latents`` the VAE latent cache;
``dit`` the part DiT loop (image encoder trained jointly); ``export`` the model folder and card.
"""
