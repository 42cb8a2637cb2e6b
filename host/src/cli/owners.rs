//! `vigil owner set|list|token`: the owners in the store.

use super::*;

pub(super) async fn owner(config: &Config, action: OwnerAction) -> anyhow::Result<()> {
    let open = || crate::store::Store::open(config.database_url.as_deref(), &config.data_dir);
    match action {
        OwnerAction::Set { email, name, timezone } => {
            crate::store::owners::check_owner(&email, timezone.as_deref()).map_err(anyhow::Error::msg)?;
            let o = crate::store::owners::Owner {
                email: email.clone(),
                full_name: name,
                timezone,
                updated: chrono::Utc::now(),
            };
            let store = open().await?;
            store.upsert_owner(&o).await?;
            store.close().await;
            println!("owner {email} saved");
        }
        OwnerAction::List => {
            let store = open().await?;
            for o in store.owners().await? {
                println!("{}  {}  {}", o.email, o.full_name, o.timezone.as_deref().unwrap_or("-"));
            }
            store.close().await;
        }
        OwnerAction::Token { action } => crate::cli::tokens::run(config, action).await?,
    }
    Ok(())
}
