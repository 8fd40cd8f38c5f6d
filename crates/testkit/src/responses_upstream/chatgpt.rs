//! The ChatGPT Codex backend's view of credentials: which access tokens it currently accepts,
//! for which account.
//!
//! [`ChatGptTokens`] is a shared handle: the [`ResponsesUpstream`](super::ResponsesUpstream) in
//! ChatGPT mode reads it on every request, the test rotates it (expire, revoke, allow), and a
//! [`TokenEndpoint`](crate::TokenEndpoint) registers every access token it issues, so a test sees
//! expired token → 401 → refresh → retry → 200 end to end.
//!
//! Invariant: a token is accepted only if it was allowed and neither expired nor revoked since;
//! a token that is a JWT whose `exp` lies in the past counts as expired even if allowed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::script::unix_now;
use crate::token_endpoint::jwt_claims;

/// Where a known access token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Accepted.
    Valid,
    /// Refused with 401 `token_expired` (a refresh helps).
    Expired,
    /// Refused with 401 "token has been invalidated" (only a new login helps).
    Revoked,
}

/// What the backend makes of a bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid { account_id: String },
    Expired,
    Invalid,
}

#[derive(Debug)]
struct TokenBook {
    account_id: String,
    tokens: HashMap<String, (String, TokenState)>,
}

/// The set of access tokens a ChatGPT-mode mock accepts (cheap to clone; clones share state).
#[derive(Debug, Clone)]
pub struct ChatGptTokens(Arc<Mutex<TokenBook>>);

impl ChatGptTokens {
    /// An empty set whose default account (for [`ChatGptTokens::allow`]) is `account_id`.
    pub fn new(account_id: &str) -> Self {
        Self(Arc::new(Mutex::new(TokenBook {
            account_id: account_id.to_owned(),
            tokens: HashMap::new(),
        })))
    }

    fn lock(&self) -> MutexGuard<'_, TokenBook> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The default account id (what `ChatGPT-Account-ID` must say for its tokens).
    pub fn account_id(&self) -> String {
        self.lock().account_id.clone()
    }

    /// Accepts `token` for the default account.
    pub fn allow(&self, token: &str) {
        let account = self.account_id();
        self.allow_for(token, &account);
    }

    /// Accepts `token` for `account_id`.
    pub fn allow_for(&self, token: &str, account_id: &str) {
        self.lock()
            .tokens
            .insert(token.to_owned(), (account_id.to_owned(), TokenState::Valid));
    }

    /// From now on `token` gets 401 `token_expired`.
    pub fn expire(&self, token: &str) {
        self.set(token, TokenState::Expired);
    }

    /// Every currently valid token expires.
    pub fn expire_all(&self) {
        for (_, state) in self.lock().tokens.values_mut() {
            if *state == TokenState::Valid {
                *state = TokenState::Expired;
            }
        }
    }

    /// From now on `token` gets 401 "invalidated".
    pub fn revoke(&self, token: &str) {
        self.set(token, TokenState::Revoked);
    }

    fn set(&self, token: &str, state: TokenState) {
        let mut book = self.lock();
        let account = book.account_id.clone();
        book.tokens
            .entry(token.to_owned())
            .and_modify(|entry| entry.1 = state)
            .or_insert((account, state));
    }

    /// The state of `token`, if the backend knows it.
    pub fn state(&self, token: &str) -> Option<TokenState> {
        self.lock().tokens.get(token).map(|(_, state)| *state)
    }

    /// Whether `token` would be accepted now.
    pub fn is_valid(&self, token: &str) -> bool {
        matches!(self.check(token), TokenCheck::Valid { .. })
    }

    pub(crate) fn check(&self, token: &str) -> TokenCheck {
        let entry = self.lock().tokens.get(token).cloned();
        match entry {
            None | Some((_, TokenState::Revoked)) => TokenCheck::Invalid,
            Some((_, TokenState::Expired)) => TokenCheck::Expired,
            Some((account_id, TokenState::Valid)) => {
                let exp = jwt_claims(token).and_then(|claims| claims["exp"].as_u64());
                if exp.is_some_and(|exp| exp <= unix_now()) {
                    TokenCheck::Expired
                } else {
                    TokenCheck::Valid { account_id }
                }
            }
        }
    }
}
