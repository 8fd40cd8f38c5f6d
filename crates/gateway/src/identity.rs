//! Who is calling: the identity the edge's client authentication attaches to every request it
//! lets through (as an axum request extension), for governance, usage records and a
//! per-identity response store to read.
//!
//! Invariant: an identity never holds a secret. It names a configured client key by its
//! position in `client_keys` (`client-key-0`, …), never by its value, so it can be logged,
//! returned by an admin API and used as a storage key.

use std::sync::Arc;

use ccp_governance::keys::VirtualKey;
use serde::Serialize;

/// How the caller was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum IdentityKind {
    /// No `client_keys` are configured: every caller is the same anonymous one.
    Anonymous,
    /// The caller presented `client_keys[index]`.
    ClientKey { index: usize },
    /// The caller presented a virtual key (issue 14); `id` is the key's id (`cfg:<name>` for a
    /// key in the config, `vk_…` for one created by the admin API).
    VirtualKey,
    /// The caller presented `admin_keys[index]` (admin routes only; never a client).
    AdminKey { index: usize },
}

/// The caller of one request: a stable, non-secret id and how it was established.
#[derive(Debug, Clone, Serialize)]
pub struct ClientIdentity {
    /// Stable across requests and restarts while the config keeps its order; safe to log.
    pub id: String,
    pub kind: IdentityKind,
    /// The virtual key's record (policy, principal, team) — never its secret.
    #[serde(skip)]
    pub key: Option<Arc<VirtualKey>>,
}

impl PartialEq for ClientIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.kind == other.kind
    }
}

impl Eq for ClientIdentity {}

impl std::hash::Hash for ClientIdentity {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
        self.kind.hash(state);
    }
}

impl ClientIdentity {
    /// The caller when the proxy requires no client key.
    pub fn anonymous() -> Self {
        ClientIdentity {
            id: "anonymous".to_owned(),
            kind: IdentityKind::Anonymous,
            key: None,
        }
    }

    /// The caller that presented `client_keys[index]`.
    pub fn client_key(index: usize) -> Self {
        ClientIdentity {
            id: format!("client-key-{index}"),
            kind: IdentityKind::ClientKey { index },
            key: None,
        }
    }

    /// The caller of an admin route that presented `admin_keys[index]`.
    pub fn admin_key(index: usize) -> Self {
        ClientIdentity {
            id: format!("admin-key-{index}"),
            kind: IdentityKind::AdminKey { index },
            key: None,
        }
    }

    /// The caller that presented a virtual key.
    pub fn virtual_key(key: Arc<VirtualKey>) -> Self {
        ClientIdentity {
            id: key.id.clone(),
            kind: IdentityKind::VirtualKey,
            key: Some(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_name_the_key_position_not_the_key() {
        assert_eq!(ClientIdentity::client_key(2).id, "client-key-2");
        assert_eq!(
            ClientIdentity::client_key(2).kind,
            IdentityKind::ClientKey { index: 2 }
        );
        assert_eq!(ClientIdentity::anonymous().id, "anonymous");
        assert_ne!(ClientIdentity::client_key(0), ClientIdentity::client_key(1));
        assert_eq!(ClientIdentity::admin_key(1).id, "admin-key-1");
        assert_ne!(
            ClientIdentity::admin_key(0).kind,
            ClientIdentity::client_key(0).kind
        );
    }
}
