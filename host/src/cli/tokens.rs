//! `vigil owner token …`: an owner's API tokens, made and revoked in the store directly (as
//! `vigil owner set` writes owners), so a running host sees the change on the next request.

use clap::Subcommand;

use crate::config::Config;
use crate::store::Store;

#[derive(Subcommand, Debug)]
pub enum TokenAction {
    /// Make a token for the owner; it is printed once and not kept.
    Create {
        /// The owner's email (see `vigil owner set`).
        email: String,
        /// What the token is for.
        #[arg(long)]
        label: Option<String>,
    },
    /// List the owner's tokens (ids, labels, when made and revoked; never the tokens).
    List {
        /// The owner's email.
        email: String,
    },
    /// Replace a token by a new one with the same label; the old one stops working now.
    Rotate {
        /// The owner's email.
        email: String,
        /// The token's id (see `vigil owner token list`).
        id: String,
    },
    /// Revoke one token, or every token of the owner with `--all`.
    Revoke {
        /// The owner's email.
        email: String,
        /// The token's id (see `vigil owner token list`).
        id: Option<String>,
        /// Revoke all of the owner's tokens.
        #[arg(long)]
        all: bool,
    },
}

fn email_of(a: &TokenAction) -> &str {
    match a {
        TokenAction::Create { email, .. }
        | TokenAction::List { email }
        | TokenAction::Rotate { email, .. }
        | TokenAction::Revoke { email, .. } => email,
    }
}

/// Runs `action` on the store of `config`.
pub async fn run(config: &Config, action: TokenAction) -> anyhow::Result<()> {
    let email = email_of(&action).to_string();
    crate::store::owners::check_owner(&email, None).map_err(anyhow::Error::msg)?;
    let store = Store::open(config.database_url.as_deref(), &config.data_dir).await?;
    let out = act(&store, &email, action).await;
    store.close().await;
    out
}

async fn act(store: &Store, email: &str, action: TokenAction) -> anyhow::Result<()> {
    if store.owner(email).await?.is_none() {
        anyhow::bail!("no owner `{email}`: add them first with `vigil owner set {email} --name NAME`");
    }
    let now = chrono::Utc::now();
    match action {
        TokenAction::Create { label, .. } => {
            let label = label.as_deref().map(str::trim).filter(|l| !l.is_empty());
            let t = store.create_owner_token(email, label, now).await?;
            println!("token {} for {email} (shown once, keep it now):\n{}", t.info.id, t.token);
        }
        TokenAction::List { .. } => {
            for t in store.owner_tokens(email).await? {
                let state = match t.revoked {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M UTC")),
                    None => "live".to_string(),
                };
                println!(
                    "{}  {}  made {}  {}",
                    t.id,
                    t.label.as_deref().unwrap_or("-"),
                    t.created.format("%Y-%m-%d %H:%M UTC"),
                    state
                );
            }
        }
        TokenAction::Rotate { id, .. } => match store.rotate_owner_token(email, &id, now).await? {
            Some(t) => println!("token {id} revoked; its replacement {} (shown once):\n{}", t.info.id, t.token),
            None => anyhow::bail!("{email} has no live token `{id}`: see `vigil owner token list {email}`"),
        },
        TokenAction::Revoke { id: Some(_), all: true, .. } => {
            anyhow::bail!("give a token id or --all, not both")
        }
        TokenAction::Revoke { id: None, all: false, .. } => {
            anyhow::bail!("name the token to revoke (see `vigil owner token list {email}`), or pass --all")
        }
        TokenAction::Revoke { id: None, all: true, .. } => {
            let n = store.revoke_owner_tokens(email, now).await?;
            println!("{n} token(s) of {email} revoked");
        }
        TokenAction::Revoke { id: Some(id), .. } => {
            if !store.revoke_owner_token(email, &id, now).await? {
                anyhow::bail!("{email} has no live token `{id}`: see `vigil owner token list {email}`");
            }
            println!("token {id} of {email} revoked");
        }
    }
    Ok(())
}
