//! `HealthStore`: what `/healthz` asks of the database.

use crate::store::HealthStore;

use super::on_both_backends;

async fn a_reachable_database_answers_a_ping<S: HealthStore>(store: &S) {
    store.ping().await.unwrap();
    // And again: a ping leaves nothing behind that the next one trips on.
    store.ping().await.unwrap();
}

on_both_backends!(a_reachable_database_answers_a_ping);
