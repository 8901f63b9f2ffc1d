//! The one rule for which URLs an SNS message may make this process fetch.
//!
//! A message's `SigningCertURL` and `SubscribeURL` are attacker-controlled text until the
//! signature verifies (and the certificate URL is fetched *before* it can be verified), so
//! both are fetched only when they name AWS SNS itself: `https`, the default port, no
//! userinfo, and a host that is exactly `sns.<region>.amazonaws.com` (or
//! `sns.cn-<…>.amazonaws.com.cn` for the China partition). Anything else — an IP address,
//! `sns.evil.com`, `sns.us-east-1.amazonaws.com.evil.com`, a trailing dot, control
//! characters — is refused, so an unsigned message cannot point the gateway at an internal
//! address or an attacker's certificate.

use std::sync::Arc;

/// Whether `url` is an https URL on an AWS SNS endpoint: `https`, the default port, no
/// userinfo, and a host that is exactly `sns.<region>.amazonaws.com` (or
/// `sns.cn-<…>.amazonaws.com.cn`). An IP address, `sns.evil.com`,
/// `sns.us-east-1.amazonaws.com.evil.com`, a trailing dot or a control character is refused.
pub fn is_aws_sns_url(url: &str) -> bool {
    aws_sns_url(url).is_some()
}

/// `url` parsed, when it is an https URL on an AWS SNS endpoint.
fn aws_sns_url(url: &str) -> Option<url::Url> {
    // The URL parser silently drops tabs and newlines and trims spaces; refuse them instead,
    // so what is checked is what was sent.
    if url
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\')
    {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    if parsed.scheme() != "https"
        || parsed.port().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return None;
    }
    let Some(url::Host::Domain(host)) = parsed.host() else {
        return None;
    };
    let (region, china) = match host.strip_suffix(".amazonaws.com.cn") {
        Some(rest) => (rest.strip_prefix("sns.")?, true),
        None => (
            host.strip_suffix(".amazonaws.com")?.strip_prefix("sns.")?,
            false,
        ),
    };
    (is_region(region) && region.starts_with("cn-") == china).then_some(parsed)
}

/// An AWS region name: a two-letter partition prefix, one or more lowercase words, a number
/// (`us-east-1`, `eu-central-1`, `us-gov-west-1`, `ap-southeast-2`, `cn-north-1`).
fn is_region(region: &str) -> bool {
    if region.len() > 32 {
        return false;
    }
    let parts: Vec<&str> = region.split('-').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return false;
    };
    first.len() == 2
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !middle.is_empty()
        && middle
            .iter()
            .all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
}

type Admit = dyn Fn(&str) -> Option<url::Url> + Send + Sync;

/// Which SNS URLs may be fetched, and the URL actually requested for each.
///
/// Production uses [`SnsUrlRule::aws`]: the URL itself, when [`is_aws_sns_url`] admits it.
/// [`SnsUrlRule::custom`] exists so that tests can serve certificates and confirmations from a
/// local server; the gateway never builds one.
#[derive(Clone)]
pub struct SnsUrlRule {
    admit: Arc<Admit>,
    aws: bool,
}

impl std::fmt::Debug for SnsUrlRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.aws {
            "SnsUrlRule::aws"
        } else {
            "SnsUrlRule::custom"
        })
    }
}

impl Default for SnsUrlRule {
    fn default() -> Self {
        Self::aws()
    }
}

impl SnsUrlRule {
    /// The AWS rule: only https URLs on `sns.<region>.amazonaws.com[.cn]`, fetched as given.
    pub fn aws() -> Self {
        Self {
            admit: Arc::new(aws_sns_url),
            aws: true,
        }
    }

    /// A rule of the caller's: `admit` returns the URL to request for a message's URL, or
    /// `None` to refuse it. For tests against a local server; never for production.
    pub fn custom(admit: impl Fn(&str) -> Option<url::Url> + Send + Sync + 'static) -> Self {
        Self {
            admit: Arc::new(admit),
            aws: false,
        }
    }

    /// The URL to request for `url`, or `None` when the rule refuses it.
    pub fn admit(&self, url: &str) -> Option<url::Url> {
        (self.admit)(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn aws_sns_endpoints_are_admitted() {
        for good in [
            "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
            "https://sns.eu-central-1.amazonaws.com/x.pem",
            "https://sns.us-gov-west-1.amazonaws.com/x.pem",
            "https://sns.ap-southeast-2.amazonaws.com/?Action=ConfirmSubscription&Token=t",
            "https://sns.cn-north-1.amazonaws.com.cn/x.pem",
            "https://sns.cn-northwest-1.amazonaws.com.cn/x.pem",
            "https://SNS.US-EAST-1.AMAZONAWS.COM/x.pem",
            "https://sns.us-east-1.amazonaws.com:443/x.pem",
            "https://sns.us-east-1.amazonaws.com",
        ] {
            assert!(is_aws_sns_url(good), "{good}");
        }
    }

    #[test]
    fn everything_else_is_refused() {
        for bad in [
            "",
            "not a url",
            "http://sns.us-east-1.amazonaws.com/x.pem",
            "ftp://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com:8443/x.pem",
            "https://sns.us-east-1.amazonaws.com:80/x.pem",
            "https://user@sns.us-east-1.amazonaws.com/x.pem",
            "https://user:pass@sns.us-east-1.amazonaws.com/x.pem",
            "https://:pass@sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.evil.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.com/x.pem",
            "https://sns.us-east-1.amazonaws.com.evil.example/x.pem",
            "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
            "https://evil.example/?u=https://sns.us-east-1.amazonaws.com/",
            "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
            "https://sns.us-east-1.amazonaws.com./x.pem",
            "https://sns.us-east-1.amazonaws.com.cn./x.pem",
            "https://s3.amazonaws.com/x.pem",
            "https://sns.amazonaws.com/x.pem",
            "https://sns..amazonaws.com/x.pem",
            "https://sns.-.amazonaws.com/x.pem",
            "https://sns.us.amazonaws.com/x.pem",
            "https://sns.us-east.amazonaws.com/x.pem",
            "https://sns.us-east-123.amazonaws.com/x.pem",
            "https://sns.use-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1a.amazonaws.com/x.pem",
            "https://sns.us--1.amazonaws.com/x.pem",
            "https://sns.a.b.amazonaws.com/x.pem",
            "https://sns.us-east-1.evil.amazonaws.com/x.pem",
            "https://evil.sns.us-east-1.amazonaws.com/x.pem",
            "https://xsns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.co/x.pem",
            "https://sns.us-east-1.amazonaws.com.cn/x.pem",
            "https://sns.cn-north-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com\\@evil.example/x.pem",
            "https://sns.us-east-1.amazon\naws.com/x.pem",
            "https://sns.us-east-1.amazon\taws.com/x.pem",
            " https://sns.us-east-1.amazonaws.com/x.pem",
            "https://sns.us-east-1.amazonaws.com/x.pem\n",
            "https://52.94.236.248/x.pem",
            "https://[::1]/x.pem",
            "https://127.0.0.1/x.pem",
            "https://0x7f000001/x.pem",
            "https://sns.us-east-1.amazonaws.com%2eevil.example/x.pem",
            "https://sns.us-east-1.xn--amazonaws-.com/x.pem",
        ] {
            assert!(!is_aws_sns_url(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_aws_rule_fetches_the_url_as_given_and_custom_rules_decide_themselves() {
        let rule = SnsUrlRule::aws();
        let url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=t";
        assert_eq!(rule.admit(url).unwrap().as_str(), url);
        assert!(rule.admit("https://sns.evil.com/x").is_none());
        let local = SnsUrlRule::custom(|_| url::Url::parse("http://127.0.0.1:1/").ok());
        assert!(local.admit("anything").is_some());
        assert_eq!(format!("{:?}", SnsUrlRule::default()), "SnsUrlRule::aws");
    }

    proptest! {
        /// Any region-shaped label on the AWS suffix passes; any extra label, suffix, port or
        /// scheme fails.
        #[test]
        fn only_the_exact_host_shape_passes(
            prefix in "[a-z]{2}",
            word in "[a-z]{1,10}",
            number in 1u8..20,
            junk in "[a-z0-9.-]{1,12}",
            port in 1u16..,
        ) {
            let region = format!("{prefix}-{word}-{number}");
            let (suffix, china) = if prefix == "cn" {
                ("amazonaws.com.cn", true)
            } else {
                ("amazonaws.com", false)
            };
            let good = format!("https://sns.{region}.{suffix}/c.pem");
            let china_host = aws_sns_url(&good).map(|u| u.host_str().unwrap_or_default().ends_with(".cn"));
            let bad = [
                format!("https://sns.{region}.{suffix}.{junk}/c.pem"),
                format!("https://{junk}.sns.{region}.{suffix}/c.pem"),
                format!("http://sns.{region}.{suffix}/c.pem"),
                format!("https://sns.{region}.{suffix}./c.pem"),
                format!("https://{junk}@sns.{region}.{suffix}/c.pem"),
                format!("https://sns.{region}-{junk}.{suffix}/c.pem"),
            ];
            let other_port = format!("https://sns.{region}.{suffix}:{port}/c.pem");
            prop_assert!(is_aws_sns_url(&good), "{}", good);
            prop_assert_eq!(china_host, Some(china));
            for url in &bad {
                prop_assert!(!is_aws_sns_url(url), "{}", url);
            }
            prop_assert_eq!(is_aws_sns_url(&other_port), port == 443);
        }

        /// Arbitrary text never panics, and whatever passes has the exact host shape.
        #[test]
        fn arbitrary_text_is_judged_safely(text in ".{0,80}") {
            if let Some(url) = aws_sns_url(&text) {
                let host = url.host_str().unwrap();
                prop_assert!(host.starts_with("sns."));
                prop_assert!(host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
                prop_assert_eq!(url.scheme(), "https");
            }
        }
    }
}
