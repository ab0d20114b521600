"""The distillation objectives, as pure functions of tensors (and, for the last, a frozen UNet).

Stable Diffusion 1.x conditions its UNet on the text encoder's whole 77-token sequence of hidden
states; the pooled vector is not read at all. So besides the pooled MSE of earlier Korean CLIP work
(the baseline), kcli matches what the UNet actually reads:

- :func:`pooled_mse` — the baseline: student(ko) and student(en) pooled outputs against teacher(en).
- :func:`soft_alignment_mse` — the token sequences differ in length and segmentation (a Korean
  sentence is not a word-by-word English one), so position *i* of one means nothing at position *i*
  of the other. But the UNet's cross-attention, softmax(Q Kᵀ) V over the 77 context vectors, has no
  notion of context position at all: it is permutation invariant over the context, so what matters is
  *which* vectors are present. The alignment is therefore soft attention between the two sets: each
  teacher vector is compared with its soft nearest counterpart among the student's vectors (attention
  weights from cosine similarity at a low temperature), and each student vector with its counterpart
  among the teacher's. The forward direction says every vector the UNet would read from the teacher is
  present in the student's sequence; the backward direction says the student adds nothing the teacher
  would not. All 77 positions count, padding included, because the UNet reads padding too. What this
  does not pin down is how *many* student vectors sit near each teacher vector (attention mass); the
  through-UNet term below does.
- :func:`unet_noise_mse` — through-UNet distillation: with the UNet frozen, its noise prediction under
  the student's states must equal its prediction under the teacher's, for the same noisy latent and
  timestep. This is exactly the "denoising agreement" that ``kcli eval encoder`` reports.
"""

from __future__ import annotations

from typing import Any


def pooled_mse(student_pooled: Any, teacher_pooled: Any) -> Any:
    """Mean squared error between pooled outputs, shape (batch, dim)."""
    import torch.nn.functional as F

    return F.mse_loss(student_pooled.float(), teacher_pooled.float())


def soft_alignment_mse(student_states: Any, teacher_states: Any, temperature: float = 0.05) -> Any:
    """Bidirectional soft-attention alignment between two (batch, tokens, dim) sequences of any lengths.

    ``temperature`` scales cosine similarities before the softmax: small values approach a hard nearest
    neighbour (a Chamfer distance), large ones average everything into the mean vector.
    """
    import torch.nn.functional as F

    student, teacher = student_states.float(), teacher_states.float()
    similarity = F.normalize(teacher, dim=-1) @ F.normalize(student, dim=-1).transpose(1, 2) / temperature
    student_for_teacher = similarity.softmax(dim=-1) @ student  # (batch, teacher tokens, dim)
    teacher_for_student = similarity.transpose(1, 2).softmax(dim=-1) @ teacher  # (batch, student tokens, dim)
    return 0.5 * (F.mse_loss(student_for_teacher, teacher) + F.mse_loss(student, teacher_for_student))


def unet_noise_mse(unet: Any, noisy_latents: Any, timesteps: Any, student_states: Any, teacher_prediction: Any,
                   scale: float = 1.0) -> Any:
    """MSE between the frozen UNet's noise prediction under the student's states and the teacher's (given),
    divided by ``scale``: how far an empty prompt's prediction is from the teacher's (see ``DenoiseProbe``), so
    the term reads "fraction of the prompt's effect on the UNet that the student gets wrong", about 1 at the
    start whatever the model's size, and its weight means the same for a tiny UNet and SD-1.5's."""
    import torch.nn.functional as F

    states = student_states.to(next(unet.parameters()).dtype)
    prediction = unet(noisy_latents, timesteps, encoder_hidden_states=states).sample
    return F.mse_loss(prediction.float(), teacher_prediction.float()) / scale


def weighted_total(losses: dict[str, Any], weights: dict[str, float]) -> Any:
    """Sum of ``weight * loss`` over the objectives that are switched on (weight > 0)."""
    terms = [weights[name] * value for name, value in losses.items() if weights.get(name, 0.0) > 0]
    if not terms:
        raise ValueError("no objective has a positive weight")
    return sum(terms[1:], terms[0])


def sdxl_unet_noise_mse(unet: Any, noisy_latents: Any, timesteps: Any, student_states: Any, student_pooled: Any,
                        time_ids: Any, teacher_prediction: Any) -> Any:
    """:func:`unet_noise_mse` for SDXL: the UNet reads the pair's concatenated states *and* its added
    conditioning, the second encoder's pooled projection (``text_embeds``) beside the size/crop ``time_ids``;
    a student pair must match the teacher pair's noise prediction through both paths."""
    import torch.nn.functional as F

    dtype = next(unet.parameters()).dtype
    added = {"text_embeds": student_pooled.to(dtype), "time_ids": time_ids.to(dtype)}
    prediction = unet(noisy_latents, timesteps, encoder_hidden_states=student_states.to(dtype),
                      added_cond_kwargs=added).sample
    return F.mse_loss(prediction.float(), teacher_prediction.float())
