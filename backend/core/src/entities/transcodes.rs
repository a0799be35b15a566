use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transcodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub path: String,
    #[sea_orm(column_type = "Text")]
    pub content_hash: String,
    #[sea_orm(column_type = "Text")]
    pub format: String,
    pub bitrate: i32,
    pub size_bytes: i64,
    pub created_at: DateTimeWithTimeZone,
    pub used_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
