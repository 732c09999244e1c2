//! Standard Webhooks signatures: HMAC-SHA256 with the client's secret over
//! `"{id}.{timestamp}.{body}"`, sent as `v1,<base64>`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The HMAC key of a `whsec_<base64>` secret.
pub fn key_of(secret: &str) -> anyhow::Result<Vec<u8>> {
    let encoded = secret
        .strip_prefix("whsec_")
        .ok_or_else(|| anyhow::anyhow!("callback secret lacks the whsec_ prefix"))?;
    B64.decode(encoded)
        .map_err(|_| anyhow::anyhow!("callback secret is not base64"))
}

/// The `webhook-signature` header value for one delivery.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|_| anyhow::anyhow!("invalid signing key"))?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Ok(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// Checks a `webhook-signature` header (which may list several signatures,
/// space-separated) in constant time. What a receiver does; used in tests.
pub fn verify(key: &[u8], id: &str, timestamp: i64, body: &str, header: &str) -> bool {
    let Ok(expected) = sign(key, id, timestamp, body) else {
        return false;
    };
    header.split_whitespace().any(|candidate| {
        use subtle::ConstantTimeEq;
        candidate.as_bytes().ct_eq(expected.as_bytes()).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_id_timestamp_and_body() {
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(&key, "msg_1", 1_700_000_000, r#"{"a":1}"#).unwrap();
        assert!(sig.starts_with("v1,"));
        assert!(verify(&key, "msg_1", 1_700_000_000, r#"{"a":1}"#, &sig));
        assert!(!verify(&key, "msg_2", 1_700_000_000, r#"{"a":1}"#, &sig));
        assert!(!verify(&key, "msg_1", 1_700_000_001, r#"{"a":1}"#, &sig));
        assert!(!verify(&key, "msg_1", 1_700_000_000, r#"{"a":2}"#, &sig));
        assert!(!verify(
            &[0; 24],
            "msg_1",
            1_700_000_000,
            r#"{"a":1}"#,
            &sig
        ));
        assert!(verify(
            &key,
            "msg_1",
            1_700_000_000,
            r#"{"a":1}"#,
            &format!("v1,bm9wZQ== {sig}")
        ));
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // Test vector of the Standard Webhooks reference libraries.
        let key = key_of("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = sign(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
