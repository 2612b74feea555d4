//! Identical queries outstanding at once share one upstream exchange: the
//! first leads, the others follow and get its outcome.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use hickory_proto::op::Message;
use tokio::sync::watch;

use super::cache::CacheKey;

/// The outcome of resolving a question: the answer, or `None` when every
/// attempt failed.
pub(crate) type Outcome = Option<Message>;

type Slot = watch::Receiver<Option<Outcome>>;

/// The questions being resolved now.
#[derive(Debug, Default)]
pub(crate) struct Outstanding {
    map: Mutex<HashMap<CacheKey, Slot>>,
}

/// What a query does about its question.
#[derive(Debug)]
pub(crate) enum Joined<'a, T> {
    /// Another query resolves it: wait for its outcome.
    Follow(Follower),
    /// Resolve it, then hand the outcome to the followers.
    Lead(Leader<'a>, T),
    /// Nobody resolves it and `admit` said no.
    Refused,
}

impl Outstanding {
    /// Follows the query resolving `key`, or, when there is none, leads if
    /// `admit` gives a ticket (e.g. a concurrency slot); atomically.
    pub(crate) fn join<T>(
        &self,
        key: &CacheKey,
        admit: impl FnOnce() -> Option<T>,
    ) -> Joined<'_, T> {
        let mut map = self.lock();
        if let Some(slot) = map.get(key) {
            return Joined::Follow(Follower(slot.clone()));
        }
        let Some(ticket) = admit() else {
            return Joined::Refused;
        };
        let (tx, rx) = watch::channel(None);
        map.insert(key.clone(), rx);
        Joined::Lead(
            Leader {
                outstanding: self,
                key: key.clone(),
                tx,
            },
            ticket,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Slot>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The query that resolves a question; dropping it (done or cancelled)
/// lets the next identical query lead.
#[derive(Debug)]
pub(crate) struct Leader<'a> {
    outstanding: &'a Outstanding,
    key: CacheKey,
    tx: watch::Sender<Option<Outcome>>,
}

impl Leader<'_> {
    /// Hands `outcome` to the followers.
    pub(crate) fn finish(self, outcome: &Outcome) {
        self.tx.send_replace(Some(outcome.clone()));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        self.outstanding.lock().remove(&self.key);
    }
}

/// A query waiting for its leader.
#[derive(Debug)]
pub(crate) struct Follower(Slot);

impl Follower {
    /// The leader's outcome, or `None` when the leader was cancelled
    /// before it had one (the follower should try again).
    pub(crate) async fn outcome(mut self) -> Option<Outcome> {
        let value = self.0.wait_for(Option::is_some).await.ok()?;
        value.clone()
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::{OpCode, Query, ResponseCode};
    use hickory_proto::rr::{Name, RecordType};

    use super::*;

    fn key() -> CacheKey {
        CacheKey::new(
            &Query::query(Name::from_ascii("a.example.").unwrap(), RecordType::A),
            false,
            false,
        )
    }

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let outstanding = Outstanding::default();
        let Joined::Lead(leader, ()) = outstanding.join(&key(), || Some(())) else {
            panic!("first query leads");
        };
        let Joined::Follow(a) = outstanding.join(&key(), || Some(())) else {
            panic!("second query follows");
        };
        let Joined::Follow(b) = outstanding.join(&key(), || None::<()>) else {
            panic!("followers need no ticket");
        };
        let answer = Message::error_msg(1, OpCode::Query, ResponseCode::NXDomain);
        leader.finish(&Some(answer.clone()));
        assert_eq!(a.outcome().await, Some(Some(answer)));
        assert_eq!(b.outcome().await.unwrap().unwrap().metadata.id, 1);
        // Done: the next query leads again, or is refused without a ticket.
        assert!(matches!(
            outstanding.join(&key(), || None::<()>),
            Joined::Refused
        ));
    }

    #[tokio::test]
    async fn cancelled_leader_releases_its_followers() {
        let outstanding = Outstanding::default();
        let Joined::Lead(leader, ()) = outstanding.join(&key(), || Some(())) else {
            panic!("first query leads");
        };
        let Joined::Follow(follower) = outstanding.join(&key(), || Some(())) else {
            panic!("second query follows");
        };
        drop(leader);
        assert_eq!(follower.outcome().await, None);
        assert!(matches!(
            outstanding.join(&key(), || Some(())),
            Joined::Lead(..)
        ));
    }
}
