"""The loss functions, on hand-made tensors: zero exactly when they should be, order-blind where the UNet is."""

from __future__ import annotations

import pytest
import torch

from ktrain.encoder.losses import pooled_mse, soft_alignment_mse, unet_noise_mse, weighted_total


def test_pooled_mse_is_the_mean_squared_difference() -> None:
    a, b = torch.zeros(2, 3), torch.ones(2, 3) * 2
    assert pooled_mse(a, b).item() == pytest.approx(4.0)
    assert pooled_mse(b, b).item() == 0.0


def test_soft_alignment_ignores_order_and_length_but_not_content() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(2, 7, 16)
    shuffled = teacher[:, torch.randperm(7)]
    # The same vectors in another order (cross-attention cannot tell) cost almost nothing...
    assert soft_alignment_mse(shuffled, teacher, temperature=0.01).item() < 1e-4
    # ...and so does a longer sequence that only repeats them, while other vectors cost a lot.
    repeated = torch.cat([shuffled, teacher[:, :3]], dim=1)
    assert soft_alignment_mse(repeated, teacher, temperature=0.01).item() < 1e-4
    other = torch.randn(2, 5, 16)
    assert soft_alignment_mse(other, teacher, temperature=0.01).item() > 0.5


def test_soft_alignment_gradient_pulls_a_vector_towards_its_counterpart() -> None:
    teacher = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    student = torch.tensor([[[1.0, 0.0], [0.2, 0.8]]], requires_grad=True)
    soft_alignment_mse(student, teacher, temperature=0.05).backward()
    step = -student.grad[0, 1]
    assert step[0] < 0 < step[1]  # towards (0, 1)


def test_unet_noise_mse_is_zero_for_the_teacher_states_and_scaled() -> None:
    class FakeUNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))

        def forward(self, latents: torch.Tensor, timesteps: torch.Tensor, encoder_hidden_states: torch.Tensor):
            class Out:
                sample = latents * encoder_hidden_states.mean(dim=(1, 2))[:, None, None, None] * self.weight

            return Out()

    unet, latents, steps = FakeUNet(), torch.ones(2, 4, 2, 2), torch.tensor([1, 2])
    teacher = torch.ones(2, 3, 5)
    target = unet(latents, steps, teacher).sample
    assert unet_noise_mse(unet, latents, steps, teacher, target).item() == 0.0
    assert unet_noise_mse(unet, latents, steps, teacher * 3, target, scale=2.0).item() == pytest.approx(2.0)


def test_weighted_total_skips_switched_off_objectives() -> None:
    losses = {"pooled": torch.tensor(2.0), "sequence": torch.tensor(float("nan"))}
    assert weighted_total(losses, {"pooled": 0.5, "sequence": 0.0}).item() == 1.0
    with pytest.raises(ValueError, match="no objective"):
        weighted_total(losses, {"pooled": 0.0})
