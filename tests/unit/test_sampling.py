"""The spot-check draw: reproducible, and weighted toward units that reported few problems."""

from collections import Counter

from app.domain.sampling import draw, unit_weights


def test_the_same_seed_draws_the_same_sample():
    population = [(t, t % 4) for t in range(1, 41)]
    weights = unit_weights(Counter(u for _, u in population))
    assert draw(population, weights, 5, seed=7) == draw(list(reversed(population)), weights, 5, seed=7)
    assert draw(population, weights, 5, seed=7) != draw(population, weights, 5, seed=8)


def test_a_unit_that_reported_few_problems_is_checked_more_often_per_task():
    # unit 1 reported 2 problems, unit 2 reported 20: per task, unit 1 should be drawn far more often
    population = [(t, 1) for t in range(2)] + [(t, 2) for t in range(2, 22)]
    weights = unit_weights({1: 2, 2: 20})
    hits = Counter()
    for seed in range(2000):
        for task in draw(population, weights, 3, seed):
            hits[1 if task < 2 else 2] += 1
    per_task_few, per_task_many = hits[1] / 2, hits[2] / 20
    assert per_task_few > 3 * per_task_many


def test_asking_for_more_than_there_is_returns_everything_once():
    population = [(1, 1), (2, 1), (3, 2)]
    assert sorted(draw(population, unit_weights({1: 2, 2: 1}), 10, seed=1)) == [1, 2, 3]
