//! The AWS clients one pipeline operation uses, built from the provider configuration.

use crate::clients::cloudwatch::CloudWatch;
use crate::clients::iam::Iam;
use crate::clients::lambda::Lambda;
use crate::clients::logs::Logs;
use crate::provider_data::ProviderData;
use tfplug::diag::Diagnostic;

pub struct Clients {
    pub lambda: Lambda,
    pub iam: Iam,
    pub logs: Logs,
    pub cloudwatch: CloudWatch,
}

impl Clients {
    pub async fn open(data: &ProviderData) -> Result<Self, Diagnostic> {
        let sdk = data.sdk_for("this pipeline").await?;
        let ep = |s: &str| data.aws.endpoints.get(s).map(String::as_str);
        Ok(Self {
            lambda: Lambda::new(sdk, ep("lambda")),
            iam: Iam::new(sdk, ep("iam")),
            logs: Logs::new(sdk, ep("logs")),
            cloudwatch: CloudWatch::new(sdk, ep("cloudwatch")),
        })
    }
}
