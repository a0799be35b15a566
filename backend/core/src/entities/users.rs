use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub session_epoch: i32,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::sessions::Entity")]
    Sessions,
    #[sea_orm(has_many = "super::playlists::Entity")]
    Playlists,
    #[sea_orm(has_many = "super::plays::Entity")]
    Plays,
    #[sea_orm(has_many = "super::radio_sessions::Entity")]
    RadioSessions,
    #[sea_orm(has_many = "super::favourites::Entity")]
    Favourites,
}

impl Related<super::sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sessions.def()
    }
}

impl Related<super::playlists::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Playlists.def()
    }
}

impl Related<super::plays::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Plays.def()
    }
}

impl Related<super::favourites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Favourites.def()
    }
}

impl Related<super::radio_sessions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RadioSessions.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
