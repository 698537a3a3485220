"""The teacher-forced localisation metric of DiT training (train/localization.py) against hand-made fields."""

import numpy as np
import torch

from autopartgen.train.localization import LocalizationObject, cell_iou, teacher_forced_localization


class Cache:
    """Two objects' latents as the latent cache holds them (only counts, whole and history are read)."""

    ids = ["a", "b"]
    counts = [3, 2]
    empty = torch.zeros(4, 2)

    def whole(self, i):
        return torch.ones(4, 2)

    def history(self, i, k):
        return torch.full((4, 2), float(k))


class Pipe:
    """sample_part returns ``plan(call)``; field_at is positive on the cells of the part index the latent holds
    (a negative index: everywhere)."""

    device = torch.device("cpu")
    config = type("Config", (), {"scale_factor": 1.0})()

    def __init__(self, owner_of, plan):
        self.owner_of, self.plan, self.calls = owner_of, plan, []

    def part_guidance(self, mode, options):
        return (0.0, 2.0)

    def drop_features(self):
        return torch.zeros(1, 3, 2)

    def sample_part(self, image_condition, dummy, geometry, seed, scales, options):
        self.calls.append(geometry[0, 1, 0, 0].item())  # the history slot says which prefix it was given
        return torch.tensor(float(self.plan(len(self.calls) - 1)))

    def field_at(self, latent, points):
        target = int(latent)
        return np.where((self.owner_of(points) == target) | (target < 0), 1.0, -1.0)


def objects():
    rng = np.random.default_rng(0)
    made = []
    for index, parts in enumerate(Cache.counts):
        owner = rng.integers(0, parts, 50)
        points = np.stack([np.arange(50), np.zeros(50), np.zeros(50)], axis=1).astype(np.float32)
        made.append(LocalizationObject(index, points.astype(np.int64), points, owner))
    return made


def scripted_pipe(made, propose):
    """A Pipe whose sample at teacher-forced step (object, k) is part ``propose(object, k)`` of that object;
    returns (pipe, the (object, k) steps in the metric's order)."""
    order = [(o.cache_index, k) for o in made for k in range(Cache.counts[o.cache_index])]
    owners = {o.cache_index: o.owner for o in made}
    current = {"object": 0}

    def owner_of(points):
        return owners[current["object"]][points[:, 0].astype(int)]

    def plan(call):
        current["object"] = order[call][0]
        return propose(*order[call])

    return Pipe(owner_of, plan), order


def test_a_perfect_sampler_scores_one_and_sees_the_true_history():
    made = objects()
    pipe, order = scripted_pipe(made, lambda index, k: k)
    result = teacher_forced_localization(pipe, Cache(), made, num_steps=2)
    assert result == {"val_loc_iou": 1.0, "val_loc_hit": 1.0, "val_loc_any": 1.0}
    assert pipe.calls == [k for _, k in order]  # part k was conditioned on the history of parts 0..k-1


def test_a_field_covering_everything_claims_only_the_unheld_cells():
    made = objects()
    pipe = Pipe(lambda points: np.zeros(len(points), int), lambda call: -1)
    result = teacher_forced_localization(pipe, Cache(), made, num_steps=2)
    expected = []
    for o in made:  # part k's share of the cells parts 0..k-1 do not hold
        for k in range(Cache.counts[o.cache_index]):
            expected.append(np.count_nonzero(o.owner == k) / np.count_nonzero(o.owner >= k))
    assert np.isclose(result["val_loc_iou"], np.mean(expected))
    assert np.isclose(result["val_loc_hit"], np.mean(np.asarray(expected) >= 0.5))
    assert cell_iou(np.zeros(3, bool), np.zeros(3, bool)) == 1.0
    # the all-covering field matches no remaining part better than the one holding most of the rest
    best = [max(np.count_nonzero(o.owner == g) for g in range(k, Cache.counts[o.cache_index]))
            / np.count_nonzero(o.owner >= k) for o in made for k in range(Cache.counts[o.cache_index])]
    assert np.isclose(result["val_loc_any"], np.mean(best))


def test_a_sampler_taking_the_parts_in_another_order_is_no_miss_order_free():
    """The sampler always proposes the last remaining part: wrong for part k (but the last), right order-free."""
    made = objects()
    pipe, order = scripted_pipe(made, lambda index, k: Cache.counts[index] - 1)
    result = teacher_forced_localization(pipe, Cache(), made, num_steps=2)
    assert result["val_loc_any"] == 1.0
    last_parts = len(made) / len(order)  # only each object's last part is hit in the canonical order
    assert np.isclose(result["val_loc_hit"], last_parts) and result["val_loc_iou"] < 1.0
