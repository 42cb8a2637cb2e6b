//! Even spread: which live host takes which free session. Every host computes the same
//! water-filling over the `nodes` table — each free session goes, one at a time, to the live,
//! non-draining node with the fewest leases that still has room (ties: the smaller node id) —
//! and claims only its own part, so sessions spread evenly without a coordinator. A session
//! created through any host's API is placed the same way: the creating host claims it at once
//! when it is the least-loaded, else it is left to the least-loaded host's next round (within
//! a third of the TTL).

use super::{leases, nodes, Cluster, ClusterError, NodeRow};

/// How many of `free` sessions `me` should claim, given every live node's `(id, held, max)`.
pub(crate) fn share(nodes: &[(String, i64, i64)], free: i64, me: &str) -> i64 {
    let mut load: Vec<(String, i64, i64)> = nodes.to_vec();
    let mut mine = 0;
    for _ in 0..free.max(0) {
        let Some(next) = load
            .iter_mut()
            .filter(|(_, held, max)| held < max)
            .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        else {
            break;
        };
        next.1 += 1;
        if next.0 == me {
            mine += 1;
        }
    }
    mine
}

impl Cluster {
    /// The live, non-draining nodes as `(id, held, max)`, with this node's own count from
    /// what it runs (it may hold leases not yet visible as live to others).
    async fn live_loads(&self) -> Result<Vec<(String, i64, i64)>, ClusterError> {
        let pool = self.inner.store.pool();
        let mine = self.inner.epochs.len() as i64;
        let live: Vec<NodeRow> =
            nodes::all(pool, self.ttl_ms()).await?.into_iter().filter(|n| n.alive && !n.draining).collect();
        let mut loads: Vec<(String, i64, i64)> = live
            .into_iter()
            .map(|n| {
                let held = if n.id == self.inner.node { mine.max(n.held) } else { n.held };
                (n.id, held, n.max_sessions)
            })
            .collect();
        if !loads.iter().any(|(id, _, _)| *id == self.inner.node) && !self.inner.draining.is_cancelled() {
            loads.push((self.inner.node.clone(), mine, self.inner.max as i64));
        }
        Ok(loads)
    }

    /// How many free leases this host claims in this round (its part of the even spread).
    pub(super) async fn want(&self) -> Result<i64, ClusterError> {
        let free = leases::free_count(self.inner.store.pool()).await?;
        if free == 0 || self.inner.epochs.len() >= self.inner.max {
            return Ok(0);
        }
        let loads = self.live_loads().await?;
        Ok(share(&loads, free, &self.inner.node).min(self.inner.max as i64 - self.inner.epochs.len() as i64))
    }

    /// A session was just created (its record is in the store, no lease yet): when this host
    /// is the least-loaded with room it claims the session now and starts it; else the
    /// least-loaded host claims it at its next round. Returns the node it is claimed by now,
    /// if any.
    pub async fn place_new(&self, id: &str) -> Result<Option<String>, ClusterError> {
        if self.inner.draining.is_cancelled() || self.inner.epochs.len() >= self.inner.max {
            return Ok(None);
        }
        let loads = self.live_loads().await?;
        if share(&loads, 1, &self.inner.node) == 0 {
            return Ok(None);
        }
        let Some(epoch) = leases::claim_one(self.inner.store.pool(), &self.inner.node, id, self.ttl_ms()).await? else {
            return Ok(None);
        };
        self.inner.epochs.set(id, epoch);
        tokio::spawn(self.clone().take(id.to_string(), epoch));
        Ok(Some(self.inner.node.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::share;

    fn n(id: &str, held: i64, max: i64) -> (String, i64, i64) {
        (id.into(), held, max)
    }

    #[test]
    fn free_sessions_fill_the_least_loaded_first_within_capacity() {
        let nodes = [n("a", 1, 3), n("b", 1, 3), n("c", 0, 3)];
        // Two new sessions: c first (fewest), then a (tie of three at 1, smallest id).
        assert_eq!(share(&nodes, 2, "c"), 1);
        assert_eq!(share(&nodes, 2, "a"), 1);
        assert_eq!(share(&nodes, 2, "b"), 0);
        // Capacity bounds it: a full node takes nothing, the rest is left unplaced.
        let nodes = [n("a", 3, 3), n("b", 2, 3)];
        assert_eq!(share(&nodes, 5, "a"), 0);
        assert_eq!(share(&nodes, 5, "b"), 1);
        // Nine on three empty nodes: three each.
        let nodes = [n("a", 0, 9), n("b", 0, 9), n("c", 0, 9)];
        assert!(["a", "b", "c"].iter().all(|me| share(&nodes, 9, me) == 3));
    }
}
