//! Access tokens (HS256 JWTs, 15 minutes, naming their session) and opaque
//! refresh tokens (256 random bits; only their SHA-256 is stored, which is
//! enough for a value with that much entropy).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const AUDIENCE: &str = "gezinsregie-api";
/// Audience of machine-client tokens: a client token never verifies as a
/// user token, so it cannot reach the JGT endpoints.
pub const CLIENT_AUDIENCE: &str = "gezinsregie-clients";

pub fn random_bytes() -> [u8; 32] {
    rand::random()
}

/// 256 random bits, base64url.
pub fn random_token() -> String {
    B64URL.encode(random_bytes())
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// User id.
    pub sub: Uuid,
    /// Session id; revoking the session invalidates the token at once.
    pub sid: Uuid,
    pub role: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

/// Claims of a machine client's access token (client-credentials grant).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientClaims {
    /// Client id.
    pub sub: Uuid,
    /// Granted scopes, space-separated (RFC 6749 section 3.3).
    pub scope: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The `kid` of the current key, put in every token's header.
    kid: String,
    /// Keys retired by a rotation, accepted until their overlap ends.
    previous: Vec<PreviousKey>,
    validation: Validation,
    client_validation: Validation,
    issuer: String,
    pub ttl_seconds: i64,
}

/// A retired signing key: its tokens verify until `accept_until` (the
/// rotation plus one access-token lifetime), so nobody is logged out by a
/// rotation, and a token it signs later does not.
struct PreviousKey {
    kid: String,
    decoding: DecodingKey,
    accept_until: i64,
}

impl TokenIssuer {
    pub fn new(key: &[u8; 32], issuer: &str, ttl_seconds: i64) -> Self {
        // Only HS256 is accepted: `alg: none` and other algorithms fail.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        let mut client_validation = validation.clone();
        client_validation.set_audience(&[CLIENT_AUDIENCE]);
        Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            kid: crate::crypto::keys::key_id(&zeroize::Zeroizing::new(*key)),
            previous: Vec::new(),
            validation,
            client_validation,
            issuer: issuer.to_owned(),
            ttl_seconds,
        }
    }

    /// Also accepts tokens of `key`, retired at `retired_at`, for one
    /// access-token lifetime after that (the overlap of a rotation).
    pub fn accepting_previous(mut self, key: &[u8; 32], retired_at: DateTime<Utc>) -> Self {
        self.previous.push(PreviousKey {
            kid: crate::crypto::keys::key_id(&zeroize::Zeroizing::new(*key)),
            decoding: DecodingKey::from_secret(key),
            accept_until: retired_at.timestamp() + self.ttl_seconds,
        });
        self
    }

    /// The `kid` new tokens carry.
    pub fn key_id(&self) -> &str {
        &self.kid
    }

    /// The server's issuer: signing with the current token purpose key,
    /// accepting the retired ones this process holds (`crypto::keys::status`).
    pub fn from_settings(
        keys: &crate::crypto::keys::PurposeKeys,
        auth: &crate::config::AuthSettings,
    ) -> Self {
        let mut issuer = Self::new(
            &keys.token_signing,
            &auth.issuer,
            auth.access_token_ttl_seconds,
        );
        for old in crate::crypto::keys::status().retired("token_signing") {
            issuer = issuer.accepting_previous(&old.key, old.retired_at);
        }
        issuer
    }

    pub fn issue(&self, user_id: Uuid, session_id: Uuid, role: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            role: role.to_owned(),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl_seconds,
        };
        self.sign(&claims)
    }

    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        self.open(token, &self.validation)
    }

    /// A client token with `scope`, living as long as a user's access token.
    pub fn issue_client(&self, client_id: Uuid, scope: &str) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = ClientClaims {
            sub: client_id,
            scope: scope.to_owned(),
            iss: self.issuer.clone(),
            aud: CLIENT_AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::new_v4(),
        };
        self.sign(&claims)
    }

    pub fn verify_client(&self, token: &str) -> Option<ClientClaims> {
        self.open(token, &self.client_validation)
    }

    /// HS256 with the token-signing key: the one algorithm this server
    /// signs (and, through each `Validation`, the one it accepts).
    fn sign(&self, claims: &impl Serialize) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.encoding).map_err(|e| anyhow::anyhow!("signing token: {e}"))
    }

    /// The claims of `token` when its signature, audience, issuer and
    /// expiry pass `validation`; why it failed does not matter to callers.
    /// The header's `kid` picks the key: the current one (also for tokens
    /// without a `kid`, issued before keys had ids) or a retired one whose
    /// overlap has not ended.
    fn open<C: DeserializeOwned>(&self, token: &str, validation: &Validation) -> Option<C> {
        let kid = decode_header(token).ok()?.kid;
        let key = match kid.as_deref() {
            None => &self.decoding,
            Some(kid) if kid == self.kid => &self.decoding,
            Some(kid) => {
                let old = self.previous.iter().find(|p| p.kid == kid)?;
                if chrono::Utc::now().timestamp() >= old.accept_until {
                    return None;
                }
                &old.decoding
            }
        };
        decode::<C>(token, key, validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_foreign_ones_do_not() {
        let issuer = TokenIssuer::new(&[7; 32], "gezinsregie", 900);
        let other = TokenIssuer::new(&[8; 32], "gezinsregie", 900);
        let token = issuer
            .issue(Uuid::new_v4(), Uuid::new_v4(), "team_lead")
            .unwrap();
        assert!(issuer.verify(&token).is_some());
        assert!(other.verify(&token).is_none());
        assert!(issuer.verify("not.a.token").is_none());
    }

    #[test]
    fn client_and_user_tokens_never_pass_for_each_other() {
        let issuer = TokenIssuer::new(&[7; 32], "gezinsregie", 900);
        let client = issuer
            .issue_client(Uuid::new_v4(), "referrals:write")
            .unwrap();
        let user = issuer
            .issue(Uuid::new_v4(), Uuid::new_v4(), "team_lead")
            .unwrap();
        assert!(issuer.verify(&client).is_none());
        assert_eq!(
            issuer.verify_client(&client).unwrap().scope,
            "referrals:write"
        );
        assert!(issuer.verify_client(&user).is_none());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let issuer = TokenIssuer::new(&[7; 32], "gezinsregie", -60);
        let token = issuer
            .issue(Uuid::new_v4(), Uuid::new_v4(), "team_lead")
            .unwrap();
        assert!(issuer.verify(&token).is_none());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = random_token();
        assert_ne!(a, random_token());
        assert_eq!(hash_token(&a).len(), 32);
    }

    #[test]
    fn tokens_carry_the_key_id_and_a_retired_key_verifies_only_during_its_overlap() {
        let old = TokenIssuer::new(&[7; 32], "gezinsregie", 900);
        let token = old
            .issue(Uuid::new_v4(), Uuid::new_v4(), "team_lead")
            .unwrap();
        let header = decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(old.key_id()));

        let rotated = TokenIssuer::new(&[8; 32], "gezinsregie", 900)
            .accepting_previous(&[7; 32], chrono::Utc::now());
        assert!(rotated.verify(&token).is_some(), "within the overlap");
        let fresh = rotated
            .issue(Uuid::new_v4(), Uuid::new_v4(), "team_lead")
            .unwrap();
        assert_eq!(
            decode_header(&fresh).unwrap().kid.as_deref(),
            Some(rotated.key_id())
        );
        assert_ne!(rotated.key_id(), old.key_id());
        assert!(old.verify(&fresh).is_none());

        let long_ago = chrono::Utc::now() - chrono::Duration::seconds(901);
        let ended =
            TokenIssuer::new(&[8; 32], "gezinsregie", 900).accepting_previous(&[7; 32], long_ago);
        assert!(ended.verify(&token).is_none(), "after the overlap");
    }
}
