//! One batch of messages, in three phases: each message is taken in (parsed, validated,
//! queued, rejected or found done) concurrently; one round of admission serves the whole batch
//! (ten rounds racing for the same waiting room would only conflict); then each message is
//! settled from what the round did. A wake-up message only asks for the round.

use std::collections::BTreeSet;

use aws_lambda_events::event::sqs::SqsMessage;
use futures::future::join_all;
use tracing::{Instrument, Span, info_span, warn};
use trainq_common::metrics::{self, Metric};
use trainq_common::naming::request_id_for_message;
use trainq_common::ports::{AlertSink, CapacityLedger, JobStore, RequestQueue, TrainingService};
use trainq_common::relaunch::is_wake;
use trainq_common::request::{parse, peek_request_id, validate};
use trainq_common::scheduling::{Place, Pool};
use trainq_common::time_util::now_epoch_ms;
use uuid::Uuid;

use crate::admission::{Round, Stop};
use crate::{Dispatcher, Outcome, sender_of};

/// Where a message stands after it was taken in.
enum Step {
    /// Nothing more to do for it.
    Done(Outcome),
    /// Its request (of this registry) waits at this place; the round decides.
    Waiting(Uuid, Place, &'static str),
    /// A wake-up: it asked for the round.
    Wake,
}

impl<S, T, A, Q, L> Dispatcher<S, T, A, Q, L>
where
    S: JobStore,
    T: TrainingService,
    A: AlertSink,
    Q: RequestQueue,
    L: CapacityLedger,
{
    /// The outcome of every message, in order.
    pub(crate) async fn handle_messages(&self, messages: &[SqsMessage]) -> Vec<Outcome> {
        let taken: Vec<(Span, Step)> = join_all(messages.iter().map(|m| self.take_in(m))).await;
        let wants_round = self.wants_round(&taken).await;
        let round = if wants_round {
            // Boxed: the round's future is deep, and the batch's would nest it in every
            // message's (past the compiler's type-layout depth in the binary).
            Box::pin(self.round().instrument(info_span!("round"))).await
        } else {
            Round::default()
        };
        let outcomes = join_all(messages.iter().zip(taken).map(|(message, (span, step))| {
            let round = &round;
            async move {
                let outcome = self.settle(message, step, round).await;
                outcome.log();
                outcome
            }
            .instrument(span)
        }))
        .await;
        self.continue_round(&round, &outcomes).await;
        outcomes
    }

    /// Parses, validates and queues (or rejects) one message, in its own span.
    async fn take_in(&self, message: &SqsMessage) -> (Span, Step) {
        let body = message.body.as_deref().unwrap_or_default();
        let message_id = message.message_id.as_deref().unwrap_or_default();
        if is_wake(body) {
            return (info_span!("wake", message_id), Step::Wake);
        }
        let fallback_id = match &message.message_id {
            Some(id) => request_id_for_message(id),
            None => {
                warn!("message without a message id; its request cannot be deduplicated");
                Uuid::new_v4()
            }
        };
        let registries = &self.config.registries;
        let checked = parse(body)
            .and_then(|request| validate(request, registries, fallback_id))
            .and_then(|valid| {
                let request = &valid.request;
                registries.get(request.registry).trust.check_sender(
                    request.registry,
                    &request.customer,
                    sender_of(message),
                )?;
                Ok(valid)
            });
        let request_id = match &checked {
            Ok(valid) => valid.request_id,
            Err(_) => peek_request_id(body).unwrap_or(fallback_id),
        };
        let span = info_span!(
            "request",
            %request_id,
            job_name = tracing::field::Empty,
            message_id,
        );
        let step = async {
            match checked {
                Ok(valid) => {
                    let registry = valid.request.registry.as_str();
                    match self.enqueue(valid, message).await {
                        Ok((id, job_name, place)) => {
                            Span::current().record("job_name", job_name.as_str());
                            Step::Waiting(id, place, registry)
                        }
                        Err(outcome) => Step::Done(outcome),
                    }
                }
                Err(error) => Step::Done(self.reject(request_id, body, error, message).await),
            }
        }
        .instrument(span.clone())
        .await;
        (span, step)
    }

    /// What the round did for one message.
    async fn settle(&self, message: &SqsMessage, step: Step, round: &Round) -> Outcome {
        let (request_id, registry) = match step {
            Step::Done(outcome) => return outcome,
            Step::Wake => return Outcome::Admitted(round.launched.len()),
            Step::Waiting(id, _, registry) => (id, registry),
        };
        if let Some(job_name) = round.launched_job(request_id) {
            return Outcome::Launched {
                job_name,
                already_existed: false,
            };
        }
        if let Some((_, cause)) = round.failed.iter().find(|(id, _)| *id == request_id) {
            return Outcome::Failed(cause.clone());
        }
        match &round.stop {
            // Back-pressure: the request waits in its place; its message comes back later
            // to run another round.
            Some(Stop::Throttled(cause)) => self.delay(message, cause.clone()).await,
            Some(Stop::Failed(cause)) => Outcome::Retry(cause.clone()),
            Some(Stop::MoreToAdmit) | None => {
                metrics::emit(registry, &[(Metric::Queued, 1.0)]);
                Outcome::Queued
            }
        }
    }

    /// Whether the batch needs a round: a wake-up asked for one, or a request it queued may
    /// fit a pool now. When every pool the new requests may use is full, nobody can be
    /// admitted into them (whoever frees a slot wakes the dispatcher), so the round — a look
    /// at the whole waiting room — is saved; only a new pressure episode is announced.
    async fn wants_round(&self, taken: &[(Span, Step)]) -> bool {
        if taken.iter().any(|(_, step)| matches!(step, Step::Wake)) {
            return true;
        }
        let live: Vec<(Uuid, Place)> = taken
            .iter()
            .filter_map(|(_, step)| match step {
                Step::Waiting(id, place, _) => Some((*id, place.clone())),
                _ => None,
            })
            .collect();
        if live.is_empty() {
            return false;
        }
        let pools: Vec<Pool> = live
            .iter()
            .flat_map(|(_, p)| p.pools.iter().cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let Ok(books) = self.ledger.pools(&pools).await else {
            return true; // the round will say what is wrong
        };
        let now = now_epoch_ms();
        let scheduler = &self.config.scheduler;
        let fits = live.iter().any(|(_, place)| {
            place.pools.iter().any(|pool| {
                let book = books.get(pool).cloned().unwrap_or_default();
                book.capacity(scheduler.limit(pool), now)
                    .fits(place.instance_count)
            })
        });
        if !fits {
            self.note_pressure(&live, &[], &books, now).await;
        }
        fits
    }

    /// A round cut short continues: at once by a wake-up when more fits, after a delay when
    /// it was pushed back and no message of the batch comes back to run it.
    async fn continue_round(&self, round: &Round, outcomes: &[Outcome]) {
        match &round.stop {
            Some(Stop::MoreToAdmit) => self.wake_next(0).await,
            Some(Stop::Throttled(_) | Stop::Failed(_))
                if !outcomes.iter().any(Outcome::redeliver) =>
            {
                self.wake_next(self.config.defer_base_s).await;
            }
            _ => {}
        }
    }
}
