use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "radio_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    #[sea_orm(column_type = "JsonBinary")]
    pub seed: Json,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub origin: Vec<u8>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)")]
    pub target: Vec<u8>,
    #[sea_orm(column_type = "Float", nullable)]
    pub bpm_min: Option<f32>,
    #[sea_orm(column_type = "Float", nullable)]
    pub bpm_max: Option<f32>,
    pub musical_key: Option<i16>,
    pub served: Vec<Uuid>,
    pub created_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::users::Entity",
        from = "Column::UserId",
        to = "super::users::Column::Id",
        on_update = "NoAction",
        on_delete = "Cascade"
    )]
    Users,
}

impl Related<super::users::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Users.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
