//! The signing region and service of an AWS endpoint, read from its host name when the command
//! line does not give them.
//!
//! The rule: a host `PREFIX.REGION.amazonaws.com` (or `.amazonaws.com.cn`) names its region in
//! the label before the domain, when that label looks like a region (letters, dashes and a final
//! number: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`). The labels before the
//! region are the endpoint prefix; a `-fips` at its end is dropped. The prefix names the signing
//! service through [`SIGNING_NAMES`]; a one-label prefix that is not in the table is the service
//! itself (most services sign with their endpoint prefix: `kinesis`, `lambda`, `logs`). Any other
//! host (an IP address, `localhost`, `example.amazonaws.com`) gives nothing, and the region and
//! service must be given.

/// Endpoint prefixes whose signing name differs from the prefix, as `(prefix, service)`.
/// A prefix ending in `.s3` (a bucket's virtual host) signs as `s3` too.
pub(crate) const SIGNING_NAMES: &[(&str, &str)] = &[
    // Amazon Transcribe streaming (StartStreamTranscription, StartMedicalStreamTranscription,
    // StartCallAnalyticsStreamTranscription), HTTP/2 on port 8443.
    ("transcribestreaming", "transcribe"),
    // Amazon Bedrock runtime (InvokeModelWithResponseStream, ConverseStream,
    // InvokeModelWithBidirectionalStream) and Bedrock Agents runtime (InvokeAgent).
    ("bedrock-runtime", "bedrock"),
    ("bedrock-agent-runtime", "bedrock"),
    // Amazon SageMaker runtime (InvokeEndpointWithResponseStream).
    ("runtime.sagemaker", "sagemaker"),
    // Amazon Lex V2 runtime (StartConversation).
    ("runtime-v2-lex", "lex"),
    // Amazon Rekognition streaming (StartFaceLivenessSession).
    ("streaming-rekognition", "rekognition"),
    // CloudWatch Logs Live Tail (StartLiveTail).
    ("streaming-logs", "logs"),
];

/// What the host name says about the signing scope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Inferred {
    /// The region, e.g. `us-east-1`.
    pub(crate) region: Option<String>,
    /// The signing name of the service, e.g. `transcribe`.
    pub(crate) service: Option<String>,
}

/// Reads the region and service from an `*.amazonaws.com` host name (any case).
pub(crate) fn infer(host: &str) -> Inferred {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let Some(rest) = host
        .strip_suffix(".amazonaws.com")
        .or_else(|| host.strip_suffix(".amazonaws.com.cn"))
    else {
        return Inferred::default();
    };
    let Some((prefix, region)) = rest.rsplit_once('.') else {
        return Inferred::default();
    };
    if !is_region(region) || prefix.is_empty() {
        return Inferred::default();
    }
    let prefix = prefix.strip_suffix("-fips").unwrap_or(prefix);
    let service = SIGNING_NAMES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, service)| (*service).to_owned())
        .or_else(|| (prefix == "s3" || prefix.ends_with(".s3")).then(|| "s3".to_owned()))
        .or_else(|| (!prefix.contains('.')).then(|| prefix.to_owned()));
    Inferred {
        region: Some(region.to_owned()),
        service,
    }
}

/// Whether a label looks like a region: two or more dash-separated parts, letters and then a
/// final number (`us-east-1`, `us-gov-west-1`, `ap-southeast-5`).
fn is_region(label: &str) -> bool {
    let parts: Vec<&str> = label.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The endpoint's region and signing name, as strings.
    fn scope(host: &str) -> (Option<String>, Option<String>) {
        let inferred = infer(host);
        (inferred.region, inferred.service)
    }

    /// Both given: `Some(region)`, `Some(service)`.
    fn both(region: &str, service: &str) -> (Option<String>, Option<String>) {
        (Some(region.into()), Some(service.into()))
    }

    /// Every prefix of the table maps to its signing name.
    #[test]
    fn table_prefixes_map_to_their_signing_names() {
        assert_eq!(
            scope("transcribestreaming.us-east-1.amazonaws.com"),
            both("us-east-1", "transcribe")
        );
        for (prefix, service) in SIGNING_NAMES {
            assert_eq!(
                scope(&format!("{prefix}.eu-west-2.amazonaws.com")),
                both("eu-west-2", service),
                "{prefix}"
            );
        }
    }

    /// A one-label prefix outside the table is the service; FIPS, China and GovCloud endpoints,
    /// upper case and a trailing dot are understood.
    #[test]
    fn other_endpoints_sign_with_their_prefix() {
        assert_eq!(
            scope("kinesis.ap-southeast-5.amazonaws.com"),
            both("ap-southeast-5", "kinesis")
        );
        assert_eq!(
            scope("transcribestreaming-fips.us-gov-west-1.amazonaws.com"),
            both("us-gov-west-1", "transcribe")
        );
        assert_eq!(
            scope("lambda.cn-north-1.amazonaws.com.cn"),
            both("cn-north-1", "lambda")
        );
        assert_eq!(
            scope("TranscribeStreaming.US-EAST-1.AmazonAWS.com."),
            both("us-east-1", "transcribe")
        );
        assert_eq!(
            scope("my-bucket.s3.us-west-2.amazonaws.com"),
            both("us-west-2", "s3")
        );
    }

    /// A multi-label prefix outside the table gives the region only.
    #[test]
    fn unknown_multi_label_prefixes_give_the_region_only() {
        assert_eq!(
            scope("a.b.us-east-1.amazonaws.com"),
            (Some("us-east-1".into()), None)
        );
    }

    /// Hosts that are not regional AWS endpoints give nothing.
    #[test]
    fn other_hosts_give_nothing() {
        for host in [
            "127.0.0.1",
            "localhost",
            "example.amazonaws.com",
            "sts.amazonaws.com",
            "us-east-1.amazonaws.com",
            "transcribestreaming.us-east.amazonaws.com",
            "transcribestreaming.us-east-1.example.com",
            "transcribestreaming.us-east-1.amazonaws.com.evil.example",
            "transcribestreaming.1-east-1.amazonaws.com",
            "::1",
        ] {
            assert_eq!(infer(host), Inferred::default(), "{host}");
        }
    }
}
