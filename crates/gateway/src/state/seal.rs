//! The proxy's own reasoning `encrypted_content`: an opaque, authenticated blob.
//!
//! A reasoning item the proxy produced can carry state the upstream needs back on the next turn
//! (OpenRouter/MiniMax `reasoning_details`, Anthropic thinking blocks with their signatures, see
//! `ccp_convert`'s `ccp:v1:` and `ccp:anthropic:v1:` formats) and the reasoning text itself, which
//! thinking upstreams require on tool turns. Stateless clients (Codex, the Vercel AI SDK with
//! `store: false`) round-trip `encrypted_content` verbatim, so the proxy seals that state into it:
//!
//! ```text
//! ccp:v2:<base64url(nonce ‖ ChaCha20-Poly1305(payload))>
//! ```
//!
//! where the payload is the JSON `{"e": <inner encrypted_content>, "t": <reasoning text>,
//! "o": <the upstream that produced it>}` (all optional; `replay.rs` opens a blob for the backend
//! that receives it). The key is derived from the server secret (kept in the store, so every replica and
//! every restart shares it). Invariants: a blob that does not decrypt under the key — modified,
//! truncated, or written by another deployment — is refused, never half-used; an inner value is
//! never shown to the client unsealed; values that are not ours (OpenAI's own encrypted
//! reasoning) pass through untouched.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::aead::{self, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// Prefix of a sealed blob.
pub const SEALED_PREFIX: &str = "ccp:v2:";

/// Prefixes of the unsealed inner formats the converters write. A client never sees these (the
/// proxy seals them on the way out), so one arriving from a client was forged or is stale.
const INNER_PREFIXES: &[&str] = &["ccp:v1:", "ccp:anthropic:v1:"];

/// What a sealed blob carries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The converter's own `encrypted_content` (`ccp:v1:…`, `ccp:anthropic:v1:…`).
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    pub inner: Option<String>,
    /// The reasoning text.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The upstream that produced `inner` (its kind and endpoint): the only one it is valid
    /// for. `None` in blobs sealed before origins were recorded.
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// Why a client's `encrypted_content` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealError {
    /// It claims to be ours but does not authenticate.
    Tampered,
    /// An unsealed inner format, which the proxy never hands out.
    Unsealed,
}

/// Seals and opens blobs with one key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer whose key is derived from `server_secret` (HMAC-SHA256 of a fixed label: 32
    /// bytes, the cipher's key length).
    pub fn new(server_secret: &[u8]) -> Result<Self, ring::error::Unspecified> {
        let mac = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, server_secret),
            b"ccp reasoning seal v2",
        );
        let key = UnboundKey::new(&CHACHA20_POLY1305, mac.as_ref())?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// A sealer with a random key (a process without a store: blobs live as long as it does).
    pub fn random() -> Result<Self, ring::error::Unspecified> {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret)?;
        Sealer::new(&secret)
    }

    /// Seals `payload` into a `ccp:v2:` string; `None` only if the system RNG fails.
    pub fn seal(&self, payload: &Sealed) -> Option<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut buf = serde_json::to_vec(payload).ok()?;
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(SEALED_PREFIX.as_bytes()),
                &mut buf,
            )
            .ok()?;
        let mut raw = Vec::with_capacity(NONCE_LEN + buf.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&buf);
        Some(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Opens a client's `encrypted_content`: `Ok(Some)` for a valid sealed blob, `Ok(None)` for a
    /// value that is not the proxy's (left as it is), an error for a forged or modified one.
    pub fn open(&self, value: &str) -> Result<Option<Sealed>, SealError> {
        let Some(body) = value.strip_prefix(SEALED_PREFIX) else {
            if INNER_PREFIXES.iter().any(|p| value.starts_with(p)) {
                return Err(SealError::Unsealed);
            }
            return Ok(None);
        };
        let mut raw = URL_SAFE_NO_PAD
            .decode(body.trim())
            .map_err(|_| SealError::Tampered)?;
        if raw.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(SealError::Tampered);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&raw[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(SEALED_PREFIX.as_bytes()),
                &mut raw[NONCE_LEN..],
            )
            .map_err(|_| SealError::Tampered)?;
        serde_json::from_slice(plain)
            .map(Some)
            .map_err(|_| SealError::Tampered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Sealed {
        Sealed {
            inner: Some("ccp:anthropic:v1:[{\"type\":\"thinking\",\"signature\":\"sig\"}]".into()),
            text: Some("let me think ✓".into()),
            origin: Some("anthropic https://api.anthropic.com/v1/messages".into()),
        }
    }

    #[test]
    fn round_trips_and_is_opaque() {
        let s = Sealer::new(b"secret").unwrap();
        let blob = s.seal(&payload()).unwrap();
        assert!(blob.starts_with(SEALED_PREFIX));
        assert!(!blob.contains("think") && !blob.contains("sig"), "{blob}");
        assert_eq!(s.open(&blob), Ok(Some(payload())));
        // Fresh nonce per seal.
        assert_ne!(blob, s.seal(&payload()).unwrap());
        // The same secret (another replica, a restart) opens it.
        assert_eq!(
            Sealer::new(b"secret").unwrap().open(&blob),
            Ok(Some(payload()))
        );
    }

    #[test]
    fn tampering_and_other_keys_are_refused() {
        let s = Sealer::new(b"secret").unwrap();
        let blob = s.seal(&payload()).unwrap();
        let mut bytes = blob.clone().into_bytes();
        let at = bytes.len() - 5;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let modified = String::from_utf8(bytes).unwrap();
        assert_eq!(s.open(&modified), Err(SealError::Tampered));
        assert_eq!(s.open(&blob[..blob.len() - 4]), Err(SealError::Tampered));
        assert_eq!(s.open("ccp:v2:!!!"), Err(SealError::Tampered));
        assert_eq!(s.open("ccp:v2:"), Err(SealError::Tampered));
        assert_eq!(
            Sealer::new(b"other").unwrap().open(&blob),
            Err(SealError::Tampered)
        );
        assert_eq!(
            s.open("ccp:v1:{\"reasoning_details\":[]}"),
            Err(SealError::Unsealed)
        );
        assert_eq!(s.open("gAAAAABopenai-blob"), Ok(None));
    }
}
