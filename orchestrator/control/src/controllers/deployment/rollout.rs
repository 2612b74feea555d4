//! The arithmetic of a rolling update (after Kubernetes'
//! `pkg/controller/deployment/rolling.go`), as pure functions.

/// One ReplicaSet as the rollout sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Set {
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl Set {
    /// Available pods that will still exist once the set has scaled to
    /// `replicas` (a set scaled down keeps reporting the pods it is about
    /// to delete for a moment; counting them twice would scale down too far).
    pub fn lasting_available(&self) -> i32 {
        self.available.min(self.replicas)
    }
}

/// `maxSurge` and `maxUnavailable` resolved against `replicas` (surge
/// rounded up, unavailable down); both 0 would stall, so unavailable is
/// then 1, as Kubernetes does.
pub fn resolve(replicas: i32, surge: i32, unavailable: i32) -> (i32, i32) {
    let unavailable = if surge == 0 && unavailable == 0 {
        1
    } else {
        unavailable
    };
    (surge, unavailable.min(replicas.max(0)))
}

/// The new ReplicaSet's next `replicas`: up by what the surge allows.
pub fn new_replicas(replicas: i32, surge: i32, new: Set, all: &[Set]) -> i32 {
    if new.replicas >= replicas {
        return replicas;
    }
    let total: i32 = all.iter().map(|s| s.replicas).sum();
    let room = replicas + surge - total;
    if room <= 0 {
        return new.replicas;
    }
    new.replicas + room.min(replicas - new.replicas)
}

/// How far each old ReplicaSet may scale down now (same order as `old`),
/// keeping at least `replicas - unavailable` pods available: first the
/// old pods that are not available anyway, then available ones.
pub fn old_scale_down(replicas: i32, unavailable: i32, new: Set, old: &[Set]) -> Vec<i32> {
    let mut down = vec![0; old.len()];
    let old_total: i32 = old.iter().map(|s| s.replicas).sum();
    if old_total == 0 {
        return down;
    }
    let all_total = old_total + new.replicas;
    let min_available = replicas - unavailable;
    let new_unavailable = (new.replicas - new.available).max(0);
    let mut budget = all_total - min_available - new_unavailable;
    if budget <= 0 {
        return down;
    }
    // Unhealthy old pods cost no availability.
    for (i, s) in old.iter().enumerate() {
        if budget <= 0 {
            break;
        }
        let unhealthy = (s.replicas - s.available).max(0);
        let d = unhealthy.min(budget);
        down[i] = d;
        budget -= d;
    }
    // Then available ones, down to the minimum.
    let available: i32 = new.lasting_available()
        + old
            .iter()
            .zip(&down)
            .map(|(s, d)| Set {
                replicas: s.replicas - d,
                available: s.available,
            })
            .map(|s| s.lasting_available())
            .sum::<i32>();
    let mut more = available - min_available;
    for (i, s) in old.iter().enumerate() {
        if more <= 0 {
            break;
        }
        let left = s.replicas - down[i];
        let d = left.min(more);
        down[i] += d;
        more -= d;
    }
    down
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(replicas: i32, available: i32) -> Set {
        Set {
            replicas,
            available,
        }
    }

    /// Simulates a rollout where every pod becomes available at once after
    /// each step, checking availability never drops below the minimum and
    /// the total never exceeds replicas + surge.
    fn simulate(replicas: i32, surge: i32, unavailable: i32) -> usize {
        let (surge, unavailable) = resolve(replicas, surge, unavailable);
        let mut new = set(0, 0);
        let mut old = vec![set(replicas, replicas)];
        let mut steps = 0;
        while new.available < replicas || old.iter().any(|s| s.replicas > 0) {
            steps += 1;
            assert!(steps < 1000, "stalled");
            let mut all = old.clone();
            all.push(new);
            new.replicas = new_replicas(replicas, surge, new, &all);
            let down = old_scale_down(replicas, unavailable, new, &old);
            for (s, d) in old.iter_mut().zip(down) {
                s.replicas -= d;
                s.available = s.available.min(s.replicas);
            }
            let available: i32 = old.iter().map(|s| s.available).sum::<i32>() + new.available;
            let total: i32 = old.iter().map(|s| s.replicas).sum::<i32>() + new.replicas;
            assert!(
                available >= replicas - unavailable,
                "step {steps}: {available} available"
            );
            assert!(total <= replicas + surge, "step {steps}: {total} pods");
            // The new pods come up.
            new.available = new.replicas;
        }
        steps
    }

    #[test]
    fn rollouts_stay_within_their_bounds() {
        for (r, s, u) in [
            (10, 3, 2),
            (4, 1, 1),
            (3, 1, 0),
            (3, 0, 1),
            (1, 1, 0),
            (5, 0, 0),
            (100, 25, 25),
        ] {
            simulate(r, s, u);
        }
    }

    #[test]
    fn surge_and_unavailable() {
        assert_eq!(resolve(4, 0, 0), (0, 1));
        assert_eq!(resolve(4, 1, 1), (1, 1));
        // maxSurge 1: one new pod beyond the four.
        let all = [set(4, 4), set(0, 0)];
        assert_eq!(new_replicas(4, 1, set(0, 0), &all), 1);
        // Full: no more.
        let all = [set(4, 4), set(1, 0)];
        assert_eq!(new_replicas(4, 1, set(1, 0), &all), 1);
        // maxUnavailable 1, the new pod not ready yet: one old pod may go.
        assert_eq!(old_scale_down(4, 1, set(1, 0), &[set(4, 4)]), [1]);
        assert_eq!(old_scale_down(4, 1, set(1, 1), &[set(4, 4)]), [2]);
        // Unhealthy old pods go first, whatever the budget.
        assert_eq!(old_scale_down(4, 0, set(0, 0), &[set(4, 2)]), [0]);
        assert_eq!(old_scale_down(4, 1, set(0, 0), &[set(4, 2)]), [1]);
        // A set already scaled down does not count its leaving pods.
        assert_eq!(old_scale_down(4, 1, set(1, 1), &[set(2, 4)]), [0]);
    }
}
