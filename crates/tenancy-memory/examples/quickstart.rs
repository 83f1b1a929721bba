//! Quick start: the whole tenancy walk-through on the in-memory store.
//!
//! Creates an org, invites a user with a pre-declared grant, accepts the invitation, promotes
//! the new member, then has the founder leave, printing each step.
#![allow(clippy::print_stdout)] // An example prints what it does.

use flametrench_ids::UsrId;
use flametrench_tenancy_core::{
    AcceptInvitation, CreateInvitation, CreateOrg, EntityType, Identifier, OrgName, PreTuple, Role,
    Slug, TenancyError, TenancyStore,
};
use flametrench_tenancy_core::{ChangeRole, SelfLeave};
use flametrench_tenancy_memory::InMemoryTenancyStore;
use time::{Duration, OffsetDateTime};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), TenancyError> {
    let store = InMemoryTenancyStore::new();

    let alice = UsrId::new();
    let bob = UsrId::new();
    store.ensure_user(alice).await?;
    store.ensure_user(bob).await?;
    println!("users: alice={alice} bob={bob}");

    let created = store
        .create_org(
            CreateOrg::new(alice)
                .name(OrgName::new("Acme Corp")?)
                .slug(Slug::new("acme")?),
        )
        .await?;
    let org = created.org;
    println!(
        "1. alice created org {} (slug {:?}) and owns it",
        org.id,
        org.slug.as_ref().map(Slug::as_str)
    );

    let grant = PreTuple::new("editor", "proj", "0190f2a8-1b3c-7abc-8123-aaaaaaaaaaaa")?;
    let invitation = store
        .create_invitation(
            CreateInvitation::new(
                org.id,
                Identifier::new("bob@example.com")?,
                Role::Member,
                alice,
                OffsetDateTime::now_utc() + Duration::days(7),
            )?
            .pre_tuples([grant])?,
        )
        .await?;
    println!(
        "2. alice invited bob@example.com as member with an editor grant: {}",
        invitation.id
    );

    let accepted = store
        .accept_invitation(AcceptInvitation::as_user(
            invitation.id,
            bob,
            Identifier::new("bob@example.com")?,
        ))
        .await?;
    println!(
        "3. bob accepted: membership {} ({}), {} grant(s) materialized",
        accepted.membership.id,
        accepted.membership.role,
        accepted.materialized_tuples.len()
    );

    let promoted = store
        .change_role(ChangeRole::new(accepted.membership.id, Role::Admin))
        .await?;
    println!(
        "4. bob promoted to {}: new membership {} replaces {}",
        promoted.role,
        promoted.id,
        promoted
            .replaces
            .map(|id| id.to_string())
            .unwrap_or_default()
    );

    match store
        .self_leave(SelfLeave::new(created.owner_membership.id))
        .await
    {
        Err(error) => println!("5. alice cannot leave alone: {} ({})", error, error.code()),
        Ok(_) => println!("5. unexpected: the sole owner left"),
    }
    let left = store
        .self_leave(SelfLeave::new(created.owner_membership.id).transfer_to(bob))
        .await?;
    println!(
        "6. alice left, handing ownership to bob; her membership is now {}",
        left.status
    );

    let relations: Vec<String> = store
        .list_tuples_for_subject(EntityType::usr(), bob.as_uuid())
        .await?
        .into_iter()
        .map(|tuple| {
            format!(
                "{} on {}_{}",
                tuple.relation,
                tuple.object_type,
                tuple.object_id.simple()
            )
        })
        .collect();
    println!("7. bob now holds: {}", relations.join(", "));
    Ok(())
}
