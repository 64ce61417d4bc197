//! On-failure destinations of event source mappings: an SQS queue or an SNS topic, named by ARN.
//! Used by `mlops-local` to deliver the invocation record of a batch that failed over.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use super::retry::{code_suffix, sdk_failure};

/// Where failed-over batches go.
#[derive(Debug, Clone)]
pub struct Destinations {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
}

/// Why a destination could not take a message.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("unsupported on-failure destination {0}: only SQS queues and SNS topics are served locally")]
    Unsupported(String),
    #[error("{operation} to {arn} failed: {message}")]
    Send { operation: &'static str, arn: String, message: String },
}

impl Destinations {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: Option<&str>) -> Self {
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        let mut sns = aws_sdk_sns::config::Builder::from(sdk);
        if let Some(url) = endpoint.filter(|u| !u.is_empty()) {
            sqs = sqs.endpoint_url(url);
            sns = sns.endpoint_url(url);
        }
        Destinations {
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            sns: aws_sdk_sns::Client::from_conf(sns.build()),
        }
    }

    /// Sends `message` to the queue or topic `arn`.
    pub async fn send(&self, arn: &str, message: &str) -> Result<(), DestinationError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [_, _, service, _region, account, name] = parts[..] else {
            return Err(DestinationError::Unsupported(arn.to_string()));
        };
        match service {
            "sqs" => {
                let err =
                    |message: String| DestinationError::Send { operation: "SQS SendMessage", arn: arn.into(), message };
                let url = self
                    .sqs
                    .get_queue_url()
                    .queue_name(name)
                    .queue_owner_aws_account_id(account)
                    .send()
                    .await
                    .map_err(|e| err(describe(&e)))?
                    .queue_url
                    .unwrap_or_default();
                self.sqs
                    .send_message()
                    .queue_url(url)
                    .message_body(message)
                    .send()
                    .await
                    .map_err(|e| err(describe(&e)))?;
                Ok(())
            }
            "sns" => {
                self.sns.publish().topic_arn(arn).message(message).send().await.map_err(|e| {
                    DestinationError::Send { operation: "SNS Publish", arn: arn.into(), message: describe(&e) }
                })?;
                Ok(())
            }
            _ => Err(DestinationError::Unsupported(arn.to_string())),
        }
    }
}

/// AWS's message and error code, as the other clients report them.
fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let f = sdk_failure(e);
    format!("{}{}", f.message, code_suffix(&f.code))
}
