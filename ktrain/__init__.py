"""ktrain: trainers fed by kcli manifests (Korean text encoder, Stable Diffusion LoRA), generation, evaluation.

Shared plumbing every trainer uses: ``runtime`` (one accelerate set-up, fp32 on CPU, mixed precision
on GPU), ``optim`` (AdamW with no-decay groups, schedules), ``checkpoints`` (``checkpoint-{step}/``,
resume latest, keep N, best kept) and ``metrics`` (JSON lines).
"""
