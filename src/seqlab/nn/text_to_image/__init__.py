"""Text to image: the VQ-VAE image tokenizer (stage 1), DALL·E (stage 2) and the CLIP that
re-ranks its drawings."""
