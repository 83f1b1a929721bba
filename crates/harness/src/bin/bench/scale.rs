//! `bench scale`: what each paged read and each single-org write costs on orgs of 10, 10,000
//! and 1,000,000 members, users of 10 and 5,000 memberships, orgs of 10 and 10,000
//! invitations, and installs of 10,000 to 1,000,000 orgs, on both stores.
//!
//! The calls of one operation at its different sizes are interleaved (small, middle, big,
//! then big, middle, small, ...), so that drift in the machine's speed falls on every size
//! alike, and the p50 of each size is compared with the smallest size's. Time is not
//! deterministic, so it is reported, never gated. What is gated is deterministic: on
//! PostgreSQL the shared buffers each call touches and the rows it returns or writes (from
//! `pg_stat_statements`, all statements of the call summed), on the memory store the
//! instructions per call under callgrind. A FAIL makes the run exit non-zero.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flametrench_harness::Store;
use flametrench_ids::{MemId, OrgId};
use flametrench_tenancy_core::uuid::Uuid;
use flametrench_tenancy_core::{
    AcceptInvitation, AddMember, CreateInvitation, Cursor, EntityType, Identifier, ListInvitations,
    ListMembers, ListMembershipsForUser, ListOrgs, ListTuplesByObject, ListTuplesBySubject,
    MembershipStatus, Op, OrgQuery, OrgStatus, Relation, Role, TenancyError, TenancyStore,
    TransferOwnership,
};
use flametrench_tenancy_postgres::testing::TestPostgres;
use time::OffsetDateTime;
use tokio_postgres::{Client, Statement};

use crate::instructions::{callgrind, dump_total};
use crate::scale_load::{Fixture, Handles, IDENTIFIER, Shape, Unit, load_memory, load_postgres};
use crate::scale_report::{print_memory, print_postgres, write_plot};
use crate::timing::{ft_callgrind_dump, measure_sync, median, pg_error};
use flametrench_tenancy_core::{ChangeRole, MemberAction, OrgAction, SelfLeave};

/// The page size of every paged read: the 10-member org holds two full pages at it.
pub(crate) const LIMIT: u32 = 5;
/// PostgreSQL gate: shared buffers per call at a size may exceed the smallest size's by this
/// many. The orgs, users and invitations of every size share one database, so each index has
/// the same depth for all of them; what may differ is where a page of rows falls: one more
/// leaf page, and a heap page per row returned where the big org's rows sit on more pages.
/// Installs are databases of their own, so from 10,000 to 1,000,000 orgs an index may grow a
/// level: one block more per descent, and a trigram search descends once per trigram of its
/// query (`quokka`: 19 blocks at 10,000 orgs, 27 at 1,000,000 on the statements of
/// 2026-12-05). A read that scans instead of taking one range costs hundreds of blocks more at
/// 2,000 members or 20,000 orgs, thousands at 1,000,000.
pub(crate) const K_BLOCKS: f64 = 8.0;
/// PostgreSQL gate: rows per call may exceed the smallest size's by this many. Every input
/// returns or writes the same rows at every size, so none.
pub(crate) const K_ROWS: f64 = 0.0;
/// Memory gate: instructions per call at a size at most this many times the smallest size's.
pub(crate) const INSTRUCTION_GROWTH: f64 = 1.25;
/// Timed calls of a read that returns every row (1,000,000 tuples at the largest size).
pub(crate) const UNPAGED_CALLS: usize = 5;

/// What `bench scale` measures: its command line.
#[derive(clap::Args)]
pub(crate) struct Settings {
    /// Which stores to measure.
    #[arg(long, value_enum, default_value = "all")]
    store: Store,
    /// Timed calls per operation and size (after one untimed warm-up call); each write call
    /// acts on rows of its own, made beforehand.
    #[arg(long, default_value_t = 200)]
    iterations: usize,
    /// Members of the largest org. Orgs of 10, 10,000 and 1,000,000 members are measured up to
    /// it, and it; the busiest user has up to 5,000 memberships and the most-invited org up to
    /// 10,000 invitations, as this allows; the background before them holds as many
    /// memberships in orgs of 5.
    #[arg(long, default_value_t = 1_000_000)]
    max_members: usize,
    /// Orgs of the largest install list_orgs reads (more than 10,000): installs of 10,000,
    /// 100,000 and 1,000,000 orgs up to it, and it.
    #[arg(long, default_value_t = 1_000_000)]
    orgs: usize,
    /// Calls per operation and size counted under callgrind for the memory store's
    /// instructions per call (0 skips; skipped with a message without valgrind).
    #[arg(long, default_value_t = 20)]
    instructions: usize,
    /// Write an SVG plot of p50 against size (log-log, both stores) to this file.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// The sizes an operation is measured along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Members of the org.
    Members,
    /// Memberships of the user.
    UserMemberships,
    /// Invitations of the org.
    Invitations,
    /// Orgs of the install.
    Orgs,
}

impl Axis {
    /// What the sizes count.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Axis::Members => "members",
            Axis::UserMemberships => "memberships",
            Axis::Invitations => "invitations",
            Axis::Orgs => "orgs",
        }
    }
}

/// How an operation's cost should follow the size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// The same at every size: gated.
    Flat,
    /// Returns every row, so it grows with the size: reported, not gated.
    Unpaged,
    /// Acts on every member (`revoke_org`): reported per 100,000 members, not gated.
    PerMember,
}

/// What a write call needs made beforehand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// A plain active membership of the org.
    Member,
    /// A user who belongs nowhere yet.
    FreshUser,
    /// The org's admin, who may invite.
    Inviter,
    /// A pending invitation of the org, and a fresh user to accept it.
    Invitation,
    /// A plain active membership to hand ownership to.
    Promotee,
}

/// One measured operation: a store operation with its input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    GetOrg,
    MembersFirstPage,
    MembersLaterPage,
    MembersSuspended,
    MembersAdmins,
    UserFirstPage,
    UserLaterPage,
    InvitationsFirstPage,
    TuplesByObject,
    TuplesByObjectAdmins,
    TuplesBySubject,
    TuplesForObjectAdmins,
    TuplesForObject,
    TuplesForSubject,
    OrgsQuery,
    OrgsSuspended,
    AddMember,
    ChangeRole,
    SuspendMembership,
    SelfLeave,
    CreateInvitation,
    AcceptInvitation,
    TransferOwnership,
    RevokeOrg,
}

/// What a [`Probe`] is: the one table the labels, sizes, gates and write inputs come from.
pub(crate) struct Spec {
    pub(crate) op: Op,
    detail: &'static str,
    pub(crate) axis: Axis,
    pub(crate) expect: Expect,
    pub(crate) need: Option<Need>,
}

impl Probe {
    /// Every probe, in the order measured: the reads, then the writes (each on rows of its
    /// own), then `revoke_org`, which ends the orgs read.
    pub(crate) const ALL: [Probe; 24] = [
        Probe::GetOrg,
        Probe::MembersFirstPage,
        Probe::MembersLaterPage,
        Probe::MembersSuspended,
        Probe::MembersAdmins,
        Probe::UserFirstPage,
        Probe::UserLaterPage,
        Probe::InvitationsFirstPage,
        Probe::TuplesByObject,
        Probe::TuplesByObjectAdmins,
        Probe::TuplesBySubject,
        Probe::TuplesForObjectAdmins,
        Probe::TuplesForObject,
        Probe::TuplesForSubject,
        Probe::OrgsQuery,
        Probe::OrgsSuspended,
        Probe::AddMember,
        Probe::ChangeRole,
        Probe::SuspendMembership,
        Probe::SelfLeave,
        Probe::CreateInvitation,
        Probe::AcceptInvitation,
        // After the invitations: the owners it demotes are not the inviters anyway (admins
        // invite), but nothing after it depends on who owns what.
        Probe::TransferOwnership,
        Probe::RevokeOrg,
    ];

    pub(crate) fn spec(self) -> Spec {
        use Axis::{Invitations, Members, Orgs, UserMemberships};
        use Expect::{Flat, PerMember, Unpaged};
        let read = |op, detail, axis, expect| Spec {
            op,
            detail,
            axis,
            expect,
            need: None,
        };
        let write = |op, detail, need| Spec {
            op,
            detail,
            axis: Members,
            expect: Flat,
            need: Some(need),
        };
        match self {
            Probe::GetOrg => read(Op::GetOrg, "(reference)", Members, Flat),
            Probe::MembersFirstPage => read(Op::ListMembers, "(first page)", Members, Flat),
            Probe::MembersLaterPage => read(Op::ListMembers, "(later page)", Members, Flat),
            Probe::MembersSuspended => read(Op::ListMembers, "(status suspended)", Members, Flat),
            Probe::MembersAdmins => read(Op::ListMembers, "(role admin)", Members, Flat),
            Probe::UserFirstPage => read(
                Op::ListMembershipsForUser,
                "(first page)",
                UserMemberships,
                Flat,
            ),
            Probe::UserLaterPage => read(
                Op::ListMembershipsForUser,
                "(later page)",
                UserMemberships,
                Flat,
            ),
            Probe::InvitationsFirstPage => {
                read(Op::ListInvitations, "(first page)", Invitations, Flat)
            }
            Probe::TuplesByObject => {
                read(Op::ListTuplesByObject, "(org, first page)", Members, Flat)
            }
            Probe::TuplesByObjectAdmins => read(
                Op::ListTuplesByObject,
                "(org, relation admin)",
                Members,
                Flat,
            ),
            Probe::TuplesBySubject => read(
                Op::ListTuplesBySubject,
                "(user, first page)",
                UserMemberships,
                Flat,
            ),
            Probe::TuplesForObjectAdmins => read(
                Op::ListTuplesForObject,
                "(org, relation admin)",
                Members,
                Unpaged,
            ),
            Probe::TuplesForObject => read(Op::ListTuplesForObject, "(org, all)", Members, Unpaged),
            Probe::TuplesForSubject => read(
                Op::ListTuplesForSubject,
                "(user, all)",
                UserMemberships,
                Unpaged,
            ),
            Probe::OrgsQuery => read(Op::ListOrgs, "(query, 1 match)", Orgs, Flat),
            Probe::OrgsSuspended => read(Op::ListOrgs, "(status suspended)", Orgs, Flat),
            Probe::AddMember => write(Op::AddMember, "", Need::FreshUser),
            Probe::ChangeRole => write(Op::ChangeRole, "(to guest)", Need::Member),
            Probe::SuspendMembership => write(Op::SuspendMembership, "", Need::Member),
            Probe::SelfLeave => write(Op::SelfLeave, "", Need::Member),
            Probe::CreateInvitation => write(Op::CreateInvitation, "", Need::Inviter),
            Probe::AcceptInvitation => write(Op::AcceptInvitation, "", Need::Invitation),
            Probe::TransferOwnership => write(Op::TransferOwnership, "", Need::Promotee),
            Probe::RevokeOrg => read(Op::RevokeOrg, "", Members, PerMember),
        }
    }

    /// The name in the tables: the operation's, then what its input is.
    pub(crate) fn label(self) -> String {
        let spec = self.spec();
        format!("{} {}", spec.op.name(), spec.detail)
            .trim_end()
            .to_owned()
    }

    /// The writes that act on rows made beforehand, each with what it needs, in slot order.
    pub(crate) fn writes() -> impl Iterator<Item = (Probe, Need)> {
        Probe::ALL
            .into_iter()
            .filter_map(|probe| probe.spec().need.map(|need| (probe, need)))
    }

    /// How many writes act on rows made beforehand.
    pub(crate) fn write_slots() -> usize {
        Probe::writes().count()
    }

    /// Untimed warm-up calls, then timed calls, at each size.
    fn plan(self, iterations: usize) -> (usize, usize) {
        match self.spec().expect {
            Expect::Flat => (1, iterations),
            Expect::Unpaged => (1, iterations.min(UNPAGED_CALLS)),
            // One org of each size to revoke: its one call is timed.
            Expect::PerMember => (0, 1),
        }
    }

    /// The order of the calls over `rounds` rounds at `sizes` sizes, as (round, size index).
    /// A gated probe interleaves its sizes call by call, forward on even rounds and backward on
    /// odd ones, so that each size follows each other one. The probes not gated go size by
    /// size, each size's warm-up first: a call that returns or revokes a million rows leaves
    /// the allocator millions of freed blocks to merge on the next call, which would land on
    /// the next size's timing.
    fn schedule(self, rounds: usize, sizes: usize) -> Vec<(usize, usize)> {
        match self.spec().expect {
            Expect::Flat => (0..rounds)
                .flat_map(|round| {
                    (0..sizes).map(move |step| {
                        let at = if round % 2 == 0 {
                            step
                        } else {
                            sizes - 1 - step
                        };
                        (round, at)
                    })
                })
                .collect(),
            Expect::Unpaged | Expect::PerMember => (0..sizes)
                .flat_map(|at| (0..rounds).map(move |round| (round, at)))
                .collect(),
        }
    }

    /// The call of round `round` at the `at`-th size; `owners` holds each org's current owner.
    fn call(
        self,
        handles: &Handles,
        at: usize,
        round: usize,
        owners: &HashMap<OrgId, MemId>,
    ) -> Result<Call, String> {
        let missing = || format!("{}: no input at size {at}, call {round}", self.label());
        let member = || handles.members.get(at).ok_or_else(missing);
        let user = || handles.users.get(at).ok_or_else(missing);
        let unit = || -> Result<Unit, String> {
            let slot = Probe::writes()
                .position(|(probe, _)| probe == self)
                .ok_or_else(missing)?;
            member()?
                .units
                .get(slot)
                .and_then(|units| units.get(round))
                .copied()
                .ok_or_else(missing)
        };
        let admin = Relation::new("admin").map_err(text)?;
        let identifier = || Identifier::new(IDENTIFIER).map_err(text);
        Ok(match self {
            Probe::GetOrg => Call::GetOrg(member()?.org),
            Probe::MembersFirstPage => Call::ListMembers(ListMembers::new(member()?.org)),
            Probe::MembersLaterPage => Call::ListMembers(
                ListMembers::new(member()?.org).cursor(Some(Cursor::after(member()?.later))),
            ),
            Probe::MembersSuspended => Call::ListMembers(
                ListMembers::new(member()?.org).status(MembershipStatus::Suspended),
            ),
            Probe::MembersAdmins => {
                Call::ListMembers(ListMembers::new(member()?.org).role(Role::Admin))
            }
            Probe::UserFirstPage => {
                Call::ListMembershipsForUser(ListMembershipsForUser::new(user()?.user))
            }
            Probe::UserLaterPage => Call::ListMembershipsForUser(
                ListMembershipsForUser::new(user()?.user)
                    .cursor(Some(Cursor::after(user()?.later))),
            ),
            Probe::InvitationsFirstPage => {
                let invited = handles.invitations.get(at).ok_or_else(missing)?;
                Call::ListInvitations(ListInvitations::new(invited.org))
            }
            Probe::TuplesByObject => Call::ListTuplesByObject(ListTuplesByObject::new(
                EntityType::org(),
                member()?.org.as_uuid(),
            )),
            Probe::TuplesByObjectAdmins => Call::ListTuplesByObject(
                ListTuplesByObject::new(EntityType::org(), member()?.org.as_uuid()).relation(admin),
            ),
            Probe::TuplesBySubject => Call::ListTuplesBySubject(ListTuplesBySubject::new(
                EntityType::usr(),
                user()?.user.as_uuid(),
            )),
            Probe::TuplesForObjectAdmins => {
                Call::ListTuplesForObject(member()?.org.as_uuid(), Some(admin))
            }
            Probe::TuplesForObject => Call::ListTuplesForObject(member()?.org.as_uuid(), None),
            Probe::TuplesForSubject => Call::ListTuplesForSubject(user()?.user.as_uuid()),
            Probe::OrgsQuery => {
                Call::ListOrgs(ListOrgs::new().query(OrgQuery::new("quokka").map_err(text)?))
            }
            Probe::OrgsSuspended => Call::ListOrgs(ListOrgs::new().status(OrgStatus::Suspended)),
            Probe::AddMember => match unit()? {
                Unit::OrgUser(org, user) => {
                    Call::AddMember(AddMember::new(org, user, Role::Member))
                }
                _ => return Err(missing()),
            },
            Probe::ChangeRole => match unit()? {
                Unit::Membership(membership) => Call::ChangeRole(membership),
                _ => return Err(missing()),
            },
            Probe::SuspendMembership => match unit()? {
                Unit::Membership(membership) => Call::SuspendMembership(membership),
                _ => return Err(missing()),
            },
            Probe::SelfLeave => match unit()? {
                Unit::Membership(membership) => Call::SelfLeave(membership),
                _ => return Err(missing()),
            },
            Probe::CreateInvitation => match unit()? {
                Unit::OrgUser(org, inviter) => {
                    let expires = OffsetDateTime::now_utc() + time::Duration::days(1);
                    Call::CreateInvitation(
                        CreateInvitation::new(org, identifier()?, Role::Member, inviter, expires)
                            .map_err(text)?,
                    )
                }
                _ => return Err(missing()),
            },
            Probe::AcceptInvitation => match unit()? {
                Unit::Invitation(invitation, user) => Call::AcceptInvitation(
                    AcceptInvitation::as_user(invitation, user, identifier()?),
                ),
                _ => return Err(missing()),
            },
            Probe::TransferOwnership => match unit()? {
                Unit::Promotion(org, to) => {
                    let from = owners.get(&org).copied().ok_or_else(missing)?;
                    Call::TransferOwnership(TransferOwnership::new(org, from, to))
                }
                _ => return Err(missing()),
            },
            Probe::RevokeOrg => Call::RevokeOrg(member()?.org),
        }
        .paged())
    }
}

/// One store call, with its input made before the timer starts.
enum Call {
    GetOrg(OrgId),
    ListMembers(ListMembers),
    ListMembershipsForUser(ListMembershipsForUser),
    ListInvitations(ListInvitations),
    ListTuplesByObject(ListTuplesByObject),
    ListTuplesBySubject(ListTuplesBySubject),
    ListTuplesForObject(Uuid, Option<Relation>),
    ListTuplesForSubject(Uuid),
    ListOrgs(ListOrgs),
    AddMember(AddMember),
    ChangeRole(MemId),
    SuspendMembership(MemId),
    SelfLeave(MemId),
    CreateInvitation(CreateInvitation),
    AcceptInvitation(AcceptInvitation),
    TransferOwnership(TransferOwnership),
    RevokeOrg(OrgId),
}

impl Call {
    /// The call with every paged input at the page size [`LIMIT`].
    fn paged(self) -> Self {
        match self {
            Call::ListMembers(input) => Call::ListMembers(input.limit(LIMIT)),
            Call::ListMembershipsForUser(input) => Call::ListMembershipsForUser(input.limit(LIMIT)),
            Call::ListInvitations(input) => Call::ListInvitations(input.limit(LIMIT)),
            Call::ListTuplesByObject(input) => Call::ListTuplesByObject(input.limit(LIMIT)),
            Call::ListTuplesBySubject(input) => Call::ListTuplesBySubject(input.limit(LIMIT)),
            Call::ListOrgs(input) => Call::ListOrgs(input.limit(LIMIT)),
            other @ (Call::GetOrg(_)
            | Call::ListTuplesForObject(..)
            | Call::ListTuplesForSubject(_)
            | Call::AddMember(_)
            | Call::ChangeRole(_)
            | Call::SuspendMembership(_)
            | Call::SelfLeave(_)
            | Call::CreateInvitation(_)
            | Call::AcceptInvitation(_)
            | Call::TransferOwnership(_)
            | Call::RevokeOrg(_)) => other,
        }
    }
}

/// What a call changed that later calls need: a transfer's org and its new owner.
struct NewOwner {
    org: OrgId,
    membership: MemId,
}

/// What a call changed that later calls need, if anything.
type Outcome = Option<NewOwner>;

/// Makes `call` on `store`. What it returns is dropped inside the call, as a caller would.
async fn run_call<S: TenancyStore>(store: &S, call: Call) -> Result<Outcome, TenancyError> {
    match call {
        Call::GetOrg(org) => store.get_org(org).await.map(|_| None),
        Call::ListMembers(input) => store.list_members(input).await.map(|_| None),
        Call::ListMembershipsForUser(input) => {
            store.list_memberships_for_user(input).await.map(|_| None)
        }
        Call::ListInvitations(input) => store.list_invitations(input).await.map(|_| None),
        Call::ListTuplesByObject(input) => store.list_tuples_by_object(input).await.map(|_| None),
        Call::ListTuplesBySubject(input) => store.list_tuples_by_subject(input).await.map(|_| None),
        Call::ListTuplesForObject(object, relation) => store
            .list_tuples_for_object(EntityType::org(), object, relation)
            .await
            .map(|_| None),
        Call::ListTuplesForSubject(subject) => store
            .list_tuples_for_subject(EntityType::usr(), subject)
            .await
            .map(|_| None),
        Call::ListOrgs(input) => store.list_orgs(input).await.map(|_| None),
        Call::AddMember(input) => store.add_member(input).await.map(|_| None),
        Call::ChangeRole(membership) => store
            .change_role(ChangeRole::new(membership, Role::Guest))
            .await
            .map(|_| None),
        Call::SuspendMembership(membership) => store
            .suspend_membership(MemberAction::new(membership))
            .await
            .map(|_| None),
        Call::SelfLeave(membership) => store
            .self_leave(SelfLeave::new(membership))
            .await
            .map(|_| None),
        Call::CreateInvitation(input) => store.create_invitation(input).await.map(|_| None),
        Call::AcceptInvitation(input) => store.accept_invitation(input).await.map(|_| None),
        Call::TransferOwnership(input) => {
            let org = input.org_id;
            store.transfer_ownership(input).await.map(|result| {
                Some(NewOwner {
                    org,
                    membership: result.to_membership.id,
                })
            })
        }
        Call::RevokeOrg(org) => store.revoke_org(OrgAction::new(org)).await.map(|_| None),
    }
}

/// One operation at one size.
pub(crate) struct Cell {
    pub(crate) size: usize,
    /// Each timed call's time.
    pub(crate) latencies: Vec<Duration>,
    /// PostgreSQL: shared buffers hit or read, rows, and statements, summed over the timed
    /// calls.
    pub(crate) blocks: i64,
    pub(crate) rows: i64,
    pub(crate) statements: i64,
    /// Memory store: instructions per call under callgrind, when counted.
    pub(crate) instructions: Option<f64>,
    /// Calls that failed (warm-up included), and the first failure.
    pub(crate) failures: usize,
    pub(crate) first_failure: Option<String>,
}

impl Cell {
    fn new(size: usize) -> Self {
        Self {
            size,
            latencies: Vec::new(),
            blocks: 0,
            rows: 0,
            statements: 0,
            instructions: None,
            failures: 0,
            first_failure: None,
        }
    }

    /// The p50 of the timed calls.
    pub(crate) fn p50(&self) -> Option<Duration> {
        median(&self.latencies)
    }

    /// `total` per timed call.
    pub(crate) fn per_call(&self, total: i64) -> f64 {
        total as f64 / self.latencies.len().max(1) as f64
    }
}

/// One probe at every size of its axis, smallest first.
pub(crate) struct Measured {
    pub(crate) probe: Probe,
    pub(crate) cells: Vec<Cell>,
}

/// A cell's gate.
pub(crate) enum Verdict {
    /// The smallest size, which the others are held to.
    Smallest,
    Pass,
    Fail(String),
    /// Not gated: the operation's cost grows with the size by design.
    Ungated,
    /// Not gated on this store, for the reason given: flat on the other.
    UngatedHere(&'static str),
    /// Not counted (the memory store without valgrind).
    Uncounted,
}

impl Measured {
    /// The gate of the cell at `at`, by `within(cell, smallest)`: failed calls fail it, the
    /// operations whose cost grows by design are not gated, nor (with the reason
    /// `ungated_here`) those that grow by design on this store only.
    fn verdict(
        &self,
        at: usize,
        ungated_here: Option<&'static str>,
        within: impl Fn(&Cell, &Cell) -> Option<Result<(), String>>,
    ) -> Verdict {
        let (Some(cell), Some(smallest)) = (self.cells.get(at), self.cells.first()) else {
            return Verdict::Uncounted;
        };
        if cell.failures > 0 {
            return Verdict::Fail(format!("{} calls failed", cell.failures));
        }
        if self.probe.spec().expect != Expect::Flat {
            return Verdict::Ungated;
        }
        if let (Some(why), 1..) = (ungated_here, at) {
            return Verdict::UngatedHere(why);
        }
        if at == 0 {
            return Verdict::Smallest;
        }
        match within(cell, smallest) {
            Some(Ok(())) => Verdict::Pass,
            Some(Err(why)) => Verdict::Fail(why),
            None => Verdict::Uncounted,
        }
    }

    /// PostgreSQL: blocks per call within [`K_BLOCKS`] of the smallest size's, rows within
    /// [`K_ROWS`].
    pub(crate) fn postgres_verdict(&self, at: usize) -> Verdict {
        self.verdict(at, None, |cell, smallest| {
            let (blocks, rows) = (cell.per_call(cell.blocks), cell.per_call(cell.rows));
            let (base_blocks, base_rows) = (
                smallest.per_call(smallest.blocks),
                smallest.per_call(smallest.rows),
            );
            Some(if blocks > base_blocks + K_BLOCKS + 1e-9 {
                Err(format!(
                    "{blocks:.1} blocks > {base_blocks:.1} + {K_BLOCKS}"
                ))
            } else if rows > base_rows + K_ROWS + 1e-9 {
                Err(format!("{rows:.1} rows > {base_rows:.1} + {K_ROWS}"))
            } else {
                Ok(())
            })
        })
    }

    /// Memory store: instructions per call at most [`INSTRUCTION_GROWTH`] times the smallest
    /// size's.
    ///
    /// `list_orgs` with a `query` is not gated here: the memory store matches the query org by
    /// org (no trigram index), which its documentation states with its cost.
    pub(crate) fn memory_verdict(&self, at: usize) -> Verdict {
        let scan = (self.probe == Probe::OrgsQuery)
            .then_some("a scan in this store, by design (documented)");
        self.verdict(at, scan, |cell, smallest| {
            let (count, base) = (cell.instructions?, smallest.instructions?);
            Some(if count <= base * INSTRUCTION_GROWTH {
                Ok(())
            } else {
                Err(format!(
                    "{:.2}x the smallest's instructions",
                    count / base.max(1.0)
                ))
            })
        })
    }
}

/// PostgreSQL's counters, summed over every statement of the measured databases.
#[derive(Clone, Copy, Default)]
struct Totals {
    blocks: i64,
    rows: i64,
    statements: i64,
}

/// Reads `pg_stat_statements` from a database of its own, whose statements it leaves out.
/// Nothing else runs on the server while the calls are measured, so the counters' change
/// across one call is that call's, every statement of it summed.
pub(crate) struct Monitor {
    client: Client,
    totals: Statement,
}

impl Monitor {
    async fn new(client: Client) -> Result<Self, String> {
        client
            .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await
            .map_err(pg_error)?;
        let totals = client
            .prepare(
                "SELECT coalesce(sum(shared_blks_hit + shared_blks_read), 0)::int8 AS blocks, \
                        coalesce(sum(rows), 0)::int8 AS rows, \
                        coalesce(sum(calls), 0)::int8 AS statements \
                 FROM pg_stat_statements(false) \
                 WHERE dbid <> (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .await
            .map_err(pg_error)?;
        Ok(Self { client, totals })
    }

    async fn totals(&self) -> Result<Totals, String> {
        let row = self
            .client
            .query_one(&self.totals, &[])
            .await
            .map_err(pg_error)?;
        Ok(Totals {
            blocks: row.try_get("blocks").map_err(pg_error)?,
            rows: row.try_get("rows").map_err(pg_error)?,
            statements: row.try_get("statements").map_err(pg_error)?,
        })
    }
}

/// A server whose statements `pg_stat_statements` counts, and the [`Monitor`] reading it. A
/// throwaway cluster started without the library gets it (`ALTER SYSTEM`, then a restart);
/// the server of `DATABASE_URL` must load it already.
async fn start_postgres() -> Result<(TestPostgres, Monitor), String> {
    let server = TestPostgres::start().await.map_err(text)?;
    let admin = TestPostgres::connect(&server.config())
        .await
        .map_err(text)?;
    let loaded: String = admin
        .query_one(
            "SELECT current_setting('shared_preload_libraries') AS loaded",
            &[],
        )
        .await
        .map_err(pg_error)?
        .try_get("loaded")
        .map_err(pg_error)?;
    let server = if loaded
        .split(',')
        .any(|name| name.trim() == "pg_stat_statements")
    {
        server
    } else {
        if server.cluster_dir().is_none() {
            return Err(
                "the server of DATABASE_URL does not load pg_stat_statements: start it \
                 with shared_preload_libraries=pg_stat_statements, or unset DATABASE_URL for a \
                 throwaway cluster"
                    .into(),
            );
        }
        let wanted = if loaded.trim().is_empty() {
            "pg_stat_statements".to_owned()
        } else {
            format!("{loaded},pg_stat_statements")
        };
        admin
            .batch_execute(&format!(
                "ALTER SYSTEM SET shared_preload_libraries = '{wanted}'"
            ))
            .await
            .map_err(pg_error)?;
        drop(admin);
        tokio::task::spawn_blocking(move || server.restart().map(|()| server))
            .await
            .map_err(text)?
            .map_err(text)?
    };
    let database = server.empty_database().await.map_err(text)?;
    let monitor = Monitor::new(database.connect().await.map_err(text)?).await?;
    Ok((server, monitor))
}

/// Every probe at every size of its axis on `fixture`, in the order of [`Probe::schedule`],
/// with `monitor`'s counters read after every call.
async fn measure<S: TenancyStore>(
    name: &str,
    fixture: &Fixture<S>,
    iterations: usize,
    monitor: Option<&Monitor>,
) -> Result<Vec<Measured>, String> {
    let mut owners = fixture.handles.owners();
    let totals = || async {
        match monitor {
            Some(monitor) => monitor.totals().await,
            None => Ok(Totals::default()),
        }
    };
    let mut last = totals().await?;
    let mut measured = Vec::new();
    for probe in Probe::ALL {
        eprintln!("scale, {name}: {}", probe.label());
        let axis = probe.spec().axis;
        let sizes = fixture.handles.sizes(axis);
        let mut cells: Vec<Cell> = sizes.iter().map(|size| Cell::new(*size)).collect();
        let (warm_up, timed) = probe.plan(iterations);
        for (round, at) in probe.schedule(warm_up + timed, sizes.len()) {
            let call = probe.call(&fixture.handles, at, round, &owners)?;
            let store = fixture.store(axis, at);
            let start = Instant::now();
            let outcome = run_call(store, call).await;
            let took = start.elapsed();
            let now = totals().await?;
            let cell = &mut cells[at];
            if round >= warm_up {
                cell.latencies.push(took);
                cell.blocks += now.blocks - last.blocks;
                cell.rows += now.rows - last.rows;
                cell.statements += now.statements - last.statements;
            }
            last = now;
            settle(outcome, cell, &mut owners);
        }
        measured.push(Measured { probe, cells });
    }
    Ok(measured)
}

/// Records a call's outcome: a failure in its cell, a transfer's new owner in `owners`.
fn settle(
    outcome: Result<Outcome, TenancyError>,
    cell: &mut Cell,
    owners: &mut HashMap<OrgId, MemId>,
) {
    match outcome {
        Ok(Some(NewOwner { org, membership })) => {
            owners.insert(org, membership);
        }
        Ok(None) => {}
        Err(error) => {
            cell.failures += 1;
            cell.first_failure
                .get_or_insert_with(|| format!("{}: {error}", error.code()));
        }
    }
}

/// The child side of the instruction counts: builds the memory store as the timed run does,
/// then makes each probe's calls at each size (warm-up unmeasured) inside callgrind's measured
/// function, one dump per call, and prints `op PROBE SIZE` for each dump.
pub(crate) async fn instructions_child(
    max_members: usize,
    orgs: usize,
    calls: usize,
) -> Result<(), String> {
    let shape = Shape::new(max_members, orgs, calls + 1)?;
    let fixture = load_memory(&shape).await?;
    let mut owners = fixture.handles.owners();
    for (index, probe) in Probe::ALL.into_iter().enumerate() {
        let axis = probe.spec().axis;
        let (warm_up, timed) = probe.plan(calls);
        for at in 0..fixture.handles.sizes(axis).len() {
            // Only its failures are read: the counts are callgrind's.
            let mut cell = Cell::new(0);
            for round in 0..warm_up + timed {
                let call = probe.call(&fixture.handles, at, round, &owners)?;
                let store = fixture.store(axis, at);
                let outcome = if round < warm_up {
                    run_call(store, call).await
                } else {
                    let mut outcome = Ok(None);
                    measure_sync(async { outcome = run_call(store, call).await });
                    ft_callgrind_dump();
                    println!("op {index} {at}");
                    outcome
                };
                settle(outcome, &mut cell, &mut owners);
            }
            if let Some(failure) = cell.first_failure {
                return Err(format!("{} failed: {failure}", probe.label()));
            }
        }
    }
    Ok(())
}

/// Instructions per call of each probe (by index) at each size (by index), the median of its
/// calls: the memory store built and measured again in a child process under callgrind. The
/// median, not the mean: a call that happens to grow a hash table or a vector of the whole
/// store costs as much as thousands of others, and which size's calls get it is chance.
fn count_instructions(
    max_members: usize,
    orgs: usize,
    calls: usize,
) -> Result<HashMap<(usize, usize), f64>, String> {
    let dir = std::env::temp_dir().join(format!("ft-scale-callgrind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(text)?;
    let out = dir.join("scale");
    let args = [
        "scale-instructions".to_owned(),
        "--max-members".to_owned(),
        max_members.to_string(),
        "--orgs".to_owned(),
        orgs.to_string(),
        "--calls".to_owned(),
        calls.to_string(),
    ];
    let stdout = callgrind(&args, &out)?;
    let mut counts: HashMap<(usize, usize), Vec<u64>> = HashMap::new();
    for (part, line) in stdout
        .lines()
        .filter_map(|line| line.strip_prefix("op "))
        .enumerate()
    {
        let numbers: Vec<usize> = line
            .split_whitespace()
            .filter_map(|word| word.parse().ok())
            .collect();
        let [probe, at] = numbers[..] else {
            return Err(format!("unexpected child line: op {line}"));
        };
        counts
            .entry((probe, at))
            .or_default()
            .push(dump_total(&out, part + 1)?);
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(counts
        .into_iter()
        .map(|(key, mut totals)| {
            totals.sort_unstable();
            (key, totals[totals.len() / 2] as f64)
        })
        .collect())
}

/// An error's text.
fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Runs `bench scale`: loads and measures each store `settings` asks for, prints its table
/// and gate, writes the plot; whether every gate passed.
pub(crate) async fn run(settings: Settings) -> Result<bool, String> {
    let Settings {
        store,
        iterations,
        max_members,
        orgs,
        instructions,
        plot,
    } = settings;
    if iterations == 0 {
        return Err("--iterations must be at least 1".into());
    }
    let shape = Shape::new(max_members, orgs, iterations + 1)?;
    println!(
        "scale: {iterations} timed calls per operation and size (1 warm-up first; {UNPAGED_CALLS} \
         for the unpaged reads), page size {LIMIT}, sizes interleaved call by call (the unpaged \
         reads and revoke_org size by size)"
    );
    println!(
        "  orgs of {:?} members after a background of {} memberships in orgs of 5; users of \
         {:?} memberships; orgs of {:?} invitations; installs of {:?} orgs",
        shape.member_sizes,
        shape.background_memberships(),
        shape.user_sizes,
        shape.invitation_sizes,
        shape.org_counts
    );
    let mut passed = true;
    let mut panels = Vec::new();
    if store.memory() {
        let started = Instant::now();
        let fixture = load_memory(&shape).await?;
        println!(
            "\nmemory store loaded through the SDK in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut measured = measure("memory", &fixture, iterations, None).await?;
        drop(fixture);
        if instructions > 0 {
            match tokio::task::spawn_blocking(move || {
                count_instructions(max_members, orgs, instructions)
            })
            .await
            .map_err(text)?
            {
                Ok(counts) => {
                    for (index, probe) in measured.iter_mut().enumerate() {
                        for (at, cell) in probe.cells.iter_mut().enumerate() {
                            cell.instructions = counts.get(&(index, at)).copied();
                        }
                    }
                }
                Err(error) => println!("\ninstruction counts skipped: {error}"),
            }
        }
        passed &= print_memory(&measured, iterations, instructions);
        panels.push(("memory store", measured));
    }
    if store.postgres() {
        let (server, monitor) = start_postgres().await?;
        let started = Instant::now();
        let fixture = load_postgres(&server, &shape).await?;
        println!(
            "\npostgres loaded with SQL (then VACUUM ANALYZE) in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let measured = measure("postgres", &fixture, iterations, Some(&monitor)).await?;
        drop(fixture);
        drop(server);
        passed &= print_postgres(&measured, iterations);
        panels.push(("postgres", measured));
    }
    if let Some(path) = plot {
        write_plot(&path, &panels)?;
        println!("\nplot of p50 against size written to {}", path.display());
    }
    println!("\nscale gates: {}", if passed { "PASS" } else { "FAIL" });
    Ok(passed)
}
