//! JSON shapes of the accounts API. The password hash never leaves the server.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::{Validate, ValidationError};

use crate::entities::users;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `admin` or `user`
    pub role: String,
    pub disabled: bool,
    pub created_at: DateTime<FixedOffset>,
}

/// The signed-in user, or null when nobody is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub user: Option<UserView>,
}

impl From<users::Model> for UserView {
    fn from(u: users::Model) -> Self {
        Self {
            id: u.id,
            username: u.username,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// ASCII letters, digits, `_`, `.` and `-` only: look-alike letters from other scripts cannot be used to
/// impersonate another user.
fn username_chars(name: &str) -> Result<(), ValidationError> {
    if name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')) {
        Ok(())
    } else {
        Err(ValidationError::new("charset").with_message("use only letters a-z, digits, '_', '.' and '-'".into()))
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct RegisterRequest {
    #[serde(default)]
    #[validate(length(min = 3, max = 32, message = "must be 3 to 32 characters"), custom(function = "username_chars"))]
    #[schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9_.-]*$")]
    pub username: String,
    #[serde(default)]
    #[validate(
        email(message = "must be a valid email address"),
        length(max = 254, message = "is too long"),
        custom(function = "crate::extract::no_nul")
    )]
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[serde(default)]
    #[validate(length(min = 8, max = 256, message = "must be 8 to 256 characters"))]
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::extract::text_line")
    )]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$"
    )]
    pub display_name: Option<String>,
}

impl RegisterRequest {
    /// Field rules plus the cross-field one: the password may not be the username or the email.
    pub fn check(&self) -> Result<(), validator::ValidationErrors> {
        let mut errors = self.validate().err().unwrap_or_default();
        check_password_differs(&mut errors, "password", &self.password, &self.username, &self.email);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

pub fn check_password_differs(
    errors: &mut validator::ValidationErrors,
    field: &'static str,
    password: &str,
    username: &str,
    email: &str,
) {
    let lower = password.to_lowercase();
    if lower == username.to_lowercase() || lower == email.to_lowercase() {
        errors.add(
            field,
            ValidationError::new("same_as_identity").with_message("must differ from the username and email".into()),
        );
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LoginRequest {
    /// Username or email.
    #[serde(default)]
    #[validate(
        length(min = 1, max = 254, message = "enter your username or email"),
        custom(function = "crate::extract::no_nul")
    )]
    #[schema(min_length = 1, max_length = 254, pattern = r"^[^\x00]*$")]
    pub username: String,
    #[serde(default)]
    #[validate(length(min = 1, max = 1024, message = "enter your password"))]
    #[schema(min_length = 1, max_length = 1024)]
    pub password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateMeRequest {
    /// `null` clears the display name; absent leaves it.
    #[serde(default, with = "::serde_with::rust::double_option")]
    #[validate(
        length(min = 1, max = 100, message = "must be 1 to 100 characters"),
        custom(function = "crate::extract::text_line")
    )]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*[^\s\x00-\x1f\x7f-\x9f\u2028\u2029][^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")]
    pub display_name: Option<Option<String>>,
    #[validate(email(message = "must be a valid email address"), length(max = 254, message = "is too long"))]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ChangePasswordRequest {
    #[serde(default)]
    #[validate(length(min = 1, max = 1024, message = "enter your current password"))]
    #[schema(min_length = 1, max_length = 1024)]
    pub current_password: String,
    #[serde(default)]
    #[validate(length(min = 8, max = 256, message = "must be 8 to 256 characters"))]
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Part of a username, email or display name.
    #[validate(length(max = 200))]
    #[param(max_length = 200)]
    pub q: Option<String>,
    #[serde(default)]
    #[validate(range(max = 1_000_000))]
    #[param(maximum = 1_000_000)]
    pub offset: u64,
    #[serde(default = "default_limit")]
    #[validate(range(min = 1, max = 200))]
    #[param(minimum = 1, maximum = 200)]
    pub limit: u64,
}

fn default_limit() -> u64 {
    50
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPageView {
    pub items: Vec<UserView>,
    pub total: u64,
    pub offset: u64,
    pub limit: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl From<Role> for fermata_core::accounts::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Admin => Self::Admin,
            Role::User => Self::User,
        }
    }
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateRequest {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}
