"""ktrain: trainers fed by kcli manifests (Korean text encoder, Stable Diffusion LoRA), generation, evaluation."""
