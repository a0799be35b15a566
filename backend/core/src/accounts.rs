//! Accounts: users, their roles, the rules that keep an active admin, and which sessions belong to whom.
//! Entities stay as generated; the user record is `entities::users::Model`.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
    sea_query::{Expr, Func, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    catalog::contains,
    entities::{server_keys, sessions, users},
    error::{Error, Result},
    ids::UserId,
};

/// What an account may do, as stored in `users.role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Role {
    /// Manages the library and the accounts.
    #[sea_orm(string_value = "admin")]
    Admin,
    /// Listens, and keeps playlists and favourites.
    #[sea_orm(string_value = "user")]
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }

    /// The role of a user row; anything but "admin" grants no more than a listener's rights.
    pub fn of(user: &users::Model) -> Self {
        if user.role == Self::Admin.as_str() { Self::Admin } else { Self::User }
    }
}

/// Serialises the "last active admin" rule and the first-admin bootstrap across replicas.
const ADMIN_LOCK_KEY: i64 = 0x6164_6d69_6e73; // "admins"

pub struct NewUser {
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: String,
    pub role: Role,
}

/// Finds a user by username or email, without regard to case.
pub async fn find_by_login(db: &impl ConnectionTrait, login: &str) -> Result<Option<users::Model>> {
    let folded = login.to_lowercase();
    Ok(users::Entity::find()
        .filter(
            Expr::expr(Func::lower(Expr::col(users::Column::Username)))
                .eq(folded.clone())
                .or(Expr::expr(Func::lower(Expr::col(users::Column::Email))).eq(folded)),
        )
        .one(db)
        .await?)
}

pub async fn find(db: &impl ConnectionTrait, id: UserId) -> Result<Option<users::Model>> {
    Ok(users::Entity::find_by_id(id.0).one(db).await?)
}

/// Inserts a user; 409 naming the field when the username or email is taken (decided by the unique
/// indexes, so two registrations racing for one name cannot both win).
pub async fn create(db: &impl ConnectionTrait, new: NewUser) -> Result<users::Model> {
    let now = Utc::now().fixed_offset();
    let row = users::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(new.username),
        email: Set(new.email),
        display_name: Set(new.display_name),
        password_hash: Set(new.password_hash),
        role: Set(new.role.as_str().to_owned()),
        disabled: Set(false),
        session_epoch: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    };
    row.insert(db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(detail)) if detail.contains("users_email_key") => {
            Error::conflict("email_taken", "that email address is already registered")
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => Error::conflict("username_taken", "that username is taken"),
        _ => e.into(),
    })
}

/// Creates `new` as an admin only when no admin exists. Returns whether it was created. Safe when several
/// replicas start together: they serialise on an advisory lock.
pub async fn create_first_admin(db: &DatabaseConnection, new: NewUser) -> Result<bool> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ADMIN_LOCK_KEY})")).await?;
    let admins = users::Entity::find().filter(users::Column::Role.eq(Role::Admin.as_str())).count(&txn).await?;
    if admins > 0 {
        return Ok(false);
    }
    create(&txn, NewUser { role: Role::Admin, ..new }).await?;
    txn.commit().await?;
    Ok(true)
}

/// Records which user a stored session belongs to, so all of a user's sessions can be ended at once.
pub async fn attach_session(db: &impl ConnectionTrait, session_id: &str, user_id: Uuid) -> Result<()> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::UserId, Expr::value(user_id))
        .filter(sessions::Column::Id.eq(session_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends every session of a user except `keep`, and moves the user to a new session epoch so a session
/// re-saved by a request already in flight is refused too. Returns the new epoch.
pub async fn end_sessions(db: &impl ConnectionTrait, user_id: Uuid, keep: Option<&str>) -> Result<i32> {
    let mut delete = sessions::Entity::delete_many().filter(sessions::Column::UserId.eq(user_id));
    if let Some(keep) = keep {
        delete = delete.filter(sessions::Column::Id.ne(keep));
    }
    delete.exec(db).await?;
    let epoch: Option<i32> = users::Entity::update_many()
        .col_expr(users::Column::SessionEpoch, Expr::col(users::Column::SessionEpoch).add(1))
        .filter(users::Column::Id.eq(user_id))
        .exec_with_returning(db)
        .await?
        .first()
        .map(|u| u.session_epoch);
    epoch.ok_or(Error::NotFound)
}

pub struct UserPage {
    pub items: Vec<users::Model>,
    pub total: u64,
}

/// Users newest first, optionally filtered by a substring of username, email or display name.
pub async fn list(db: &impl ConnectionTrait, q: Option<&str>, offset: u64, limit: u64) -> Result<UserPage> {
    let mut query = users::Entity::find();
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let needle = || SimpleExpr::from(Func::lower(Expr::val(q)));
        let lower = |column: users::Column| SimpleExpr::from(Func::lower(Expr::col(column)));
        query = query.filter(
            contains(lower(users::Column::Username), needle())
                .or(contains(lower(users::Column::Email), needle()))
                .or(contains(lower(users::Column::DisplayName), needle())),
        );
    }
    let total = query.clone().count(db).await?;
    let items = query
        .order_by_desc(users::Column::CreatedAt)
        .order_by_desc(users::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok(UserPage { items, total })
}

/// A secret every replica must share (e.g. the key that signs known-device cookies): stored under `name` in
/// `server_keys` by whichever replica gets there first, `fresh` being its offer.
pub async fn shared_key(db: &impl ConnectionTrait, name: &str, fresh: Vec<u8>) -> Result<Vec<u8>> {
    use sea_orm::sea_query::OnConflict;
    let offer = server_keys::ActiveModel { name: Set(name.to_owned()), key: Set(fresh), ..Default::default() };
    server_keys::Entity::insert(offer)
        .on_conflict(OnConflict::column(server_keys::Column::Name).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(server_keys::Entity::find_by_id(name).one(db).await?.ok_or(Error::NotFound)?.key)
}

/// Changes role and/or disabled. Refuses to leave no active admin; ends the user's sessions when disabled.
pub async fn admin_update(
    db: &DatabaseConnection,
    id: Uuid,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<users::Model> {
    let txn = db.begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ADMIN_LOCK_KEY})")).await?;
    let user = find(&txn, UserId(id)).await?.ok_or(Error::NotFound)?;
    let was_active_admin = Role::of(&user) == Role::Admin && !user.disabled;
    let stays_active_admin = role.unwrap_or(Role::of(&user)) == Role::Admin && !disabled.unwrap_or(user.disabled);
    if was_active_admin && !stays_active_admin {
        let active_admins = users::Entity::find()
            .filter(users::Column::Role.eq(Role::Admin.as_str()))
            .filter(users::Column::Disabled.eq(false))
            .count(&txn)
            .await?;
        if active_admins <= 1 {
            return Err(Error::conflict("last_admin", "this is the last active admin; promote another user first"));
        }
    }
    let newly_disabled = disabled == Some(true) && !user.disabled;
    let role_changed = role.is_some_and(|r| r != Role::of(&user));
    let mut row: users::ActiveModel = user.into();
    if let Some(role) = role {
        row.role = Set(role.as_str().to_owned());
    }
    if let Some(disabled) = disabled {
        row.disabled = Set(disabled);
    }
    row.updated_at = Set(Utc::now().fixed_offset());
    let mut user = row.update(&txn).await?;
    if newly_disabled {
        user.session_epoch = end_sessions(&txn, id, None).await?;
    } else if role_changed {
        // Sessions stay, but whatever holds one open (an event stream with admin events) must look again: a
        // no-op update of the user's session rows fires their change notification on every replica.
        sessions::Entity::update_many()
            .col_expr(sessions::Column::ExpiryDate, Expr::col(sessions::Column::ExpiryDate).into())
            .filter(sessions::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(user)
}

pub async fn update_profile(
    db: &impl ConnectionTrait,
    user: users::Model,
    display_name: Option<Option<String>>,
    email: Option<String>,
) -> Result<users::Model> {
    let mut row: users::ActiveModel = user.into();
    if let Some(display_name) = display_name {
        row.display_name = Set(display_name);
    }
    if let Some(email) = email {
        row.email = Set(email);
    }
    row.updated_at = Set(Utc::now().fixed_offset());
    row.update(db).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::conflict("email_taken", "that email address is already registered")
        }
        _ => e.into(),
    })
}

pub async fn set_password(db: &impl ConnectionTrait, user: users::Model, password_hash: String) -> Result<()> {
    let mut row: users::ActiveModel = user.into();
    row.password_hash = Set(password_hash);
    row.updated_at = Set(Utc::now().fixed_offset());
    row.update(db).await?;
    Ok(())
}
