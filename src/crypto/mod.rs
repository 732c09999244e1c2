//! Protection of BSNs at rest: AES-256-GCM for storage (random nonce per
//! value) and a keyed HMAC-SHA256 for matching, so the database can enforce
//! "one active family per child" on the hash without ever holding a BSN in
//! clear. Losing the keys makes stored BSNs unreadable; that is the point.
//! Every key here is a purpose key derived in [`keys`].

pub mod keys;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::anyhow;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::Bsn;

#[derive(Clone)]
pub struct BsnVault {
    cipher: Aes256Gcm,
    /// Retired encryption keys of a rotation in progress: stored BSNs not
    /// yet re-encrypted (`gezinsregie keys rotate-bsn`) still decrypt.
    previous: Vec<Aes256Gcm>,
    mac: Hmac<Sha256>,
}

/// The ciphers of the retired keys of `purpose` this process holds.
fn retired_ciphers(purpose: &str) -> Vec<Aes256Gcm> {
    keys::status()
        .retired(purpose)
        .map(|old| Aes256Gcm::new((&*old.key).into()))
        .collect()
}

/// `nonce || ciphertext || tag` under `cipher`, with a fresh random nonce.
fn seal_with(cipher: &Aes256Gcm, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let nonce_bytes: [u8; 12] = rand::random();
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce_bytes), plain)
        .map_err(|_| anyhow!("encryption failed"))?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens `nonce || ciphertext || tag` with the first of `ciphers` whose tag
/// verifies (GCM authenticates, so a wrong key fails rather than misreads);
/// also says whether it took a retired key.
fn open_with<'a>(
    ciphers: impl IntoIterator<Item = &'a Aes256Gcm>,
    stored: &[u8],
) -> Option<(Vec<u8>, bool)> {
    if stored.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = stored.split_at(12);
    ciphers.into_iter().enumerate().find_map(|(i, c)| {
        c.decrypt(Nonce::from_slice(nonce), ciphertext)
            .ok()
            .map(|plain| (plain, i > 0))
    })
}

impl BsnVault {
    pub fn new(encryption_key: &[u8; 32], hash_key: &[u8; 32]) -> anyhow::Result<Self> {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(hash_key)
            .map_err(|_| anyhow!("invalid BSN hash key"))?;
        Ok(Self {
            cipher: Aes256Gcm::new(encryption_key.into()),
            previous: retired_ciphers("bsn_encryption"),
            mac,
        })
    }

    /// nonce (12 bytes) || ciphertext || tag.
    pub fn encrypt(&self, bsn: &Bsn) -> anyhow::Result<Vec<u8>> {
        let nonce_bytes: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), bsn.as_str().as_bytes())
            .map_err(|_| anyhow!("BSN encryption failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn decrypt(&self, stored: &[u8]) -> anyhow::Result<String> {
        self.decrypt_any(stored).map(|(bsn, _)| bsn)
    }

    /// The BSN, and whether it was encrypted with a retired key (then
    /// `keys rotate-bsn` re-encrypts it).
    pub fn decrypt_any(&self, stored: &[u8]) -> anyhow::Result<(String, bool)> {
        let (plain, retired) =
            open_with(std::iter::once(&self.cipher).chain(&self.previous), stored).ok_or_else(
                || anyhow!("stored BSN cannot be decrypted with the configured keys"),
            )?;
        let bsn = String::from_utf8(plain).map_err(|_| anyhow!("stored BSN is not text"))?;
        Ok((bsn, retired))
    }

    /// A BSN encrypted with a retired key, encrypted anew with the current
    /// one; `None` when it already is (`keys rotate-bsn`).
    pub fn reencrypt(&self, stored: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let (plain, retired) =
            open_with(std::iter::once(&self.cipher).chain(&self.previous), stored).ok_or_else(
                || anyhow!("stored BSN cannot be decrypted with the configured keys"),
            )?;
        retired.then(|| seal_with(&self.cipher, &plain)).transpose()
    }

    /// Deterministic keyed hash: equal BSNs give equal hashes, and without the
    /// key the hash cannot be brute-forced over the small BSN space.
    pub fn hash(&self, bsn: &Bsn) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(bsn.as_str().as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// Secrets the server must use again later (a client's notification signing
/// secret), sealed with AES-256-GCM under their own purpose key
/// ([`keys::PurposeKeys::callback_secrets`]).
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
    /// Retired keys of a rotation in progress, as in [`BsnVault`].
    previous: Vec<Aes256Gcm>,
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
            previous: retired_ciphers("callback_secrets"),
        }
    }

    /// nonce (12 bytes) || ciphertext || tag.
    pub fn seal(&self, plain: &[u8]) -> anyhow::Result<Vec<u8>> {
        let nonce_bytes: [u8; 12] = rand::random();
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce_bytes), plain)
            .map_err(|_| anyhow!("sealing failed"))?;
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
        self.open_any(sealed).map(|(plain, _)| plain)
    }

    /// A secret sealed with a retired key, sealed anew with the current one;
    /// `None` when it already is.
    pub fn reseal(&self, sealed: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
        let (plain, retired) = self.open_any(sealed)?;
        retired.then(|| seal_with(&self.cipher, &plain)).transpose()
    }

    /// The secret, and whether it was sealed with a retired key.
    pub fn open_any(&self, sealed: &[u8]) -> anyhow::Result<(Vec<u8>, bool)> {
        open_with(std::iter::once(&self.cipher).chain(&self.previous), sealed)
            .ok_or_else(|| anyhow!("sealed secret cannot be opened with the configured keys"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypts_with_fresh_nonces_and_decrypts() {
        let vault = BsnVault::new(&[1; 32], &[2; 32]).unwrap();
        let bsn = Bsn::parse("111222333").unwrap();
        let a = vault.encrypt(&bsn).unwrap();
        let b = vault.encrypt(&bsn).unwrap();
        assert_ne!(a, b, "same BSN must not give the same ciphertext");
        assert_eq!(vault.decrypt(&a).unwrap(), "111222333");
        assert!(!a.windows(9).any(|w| w == b"111222333"));
    }

    #[test]
    fn hashes_match_only_under_the_same_key() {
        let bsn = Bsn::parse("111222333").unwrap();
        let v1 = BsnVault::new(&[1; 32], &[2; 32]).unwrap();
        let v2 = BsnVault::new(&[1; 32], &[3; 32]).unwrap();
        assert_eq!(v1.hash(&bsn), v1.hash(&bsn));
        assert_ne!(v1.hash(&bsn), v2.hash(&bsn));
    }

    #[test]
    fn a_wrong_key_cannot_decrypt() {
        let bsn = Bsn::parse("111222333").unwrap();
        let stored = BsnVault::new(&[1; 32], &[2; 32])
            .unwrap()
            .encrypt(&bsn)
            .unwrap();
        assert!(BsnVault::new(&[9; 32], &[2; 32])
            .unwrap()
            .decrypt(&stored)
            .is_err());
    }

    #[test]
    fn sealed_secrets_open_only_for_their_purpose() {
        let a = SecretBox::new(&[1; 32]);
        let b = SecretBox::new(&[2; 32]);
        let sealed = a.seal(b"whsec_abc").unwrap();
        assert_eq!(a.open(&sealed).unwrap(), b"whsec_abc");
        assert!(b.open(&sealed).is_err());
        assert_ne!(sealed, a.seal(b"whsec_abc").unwrap());
    }
}
