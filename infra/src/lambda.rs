//! What both Lambdas' SQS handlers share.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsMessage};

/// The partial-batch response naming the messages whose outcome asks for redelivery
/// (`ReportBatchItemFailures`); every other message is deleted by the event source mapping.
pub fn batch_response<'a>(
    handled: impl IntoIterator<Item = (&'a SqsMessage, bool)>,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for (message, redeliver) in handled {
        if redeliver {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}
