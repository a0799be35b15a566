use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "songs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub title: String,
    pub artist_id: Uuid,
    pub album_id: Uuid,
    pub track_number: Option<i32>,
    pub track_total: Option<i32>,
    pub disc_number: Option<i32>,
    pub disc_total: Option<i32>,
    pub genre: Option<String>,
    pub year: Option<i32>,
    pub duration_ms: i32,
    pub codec: String,
    pub bitrate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub channels: Option<i16>,
    pub size_bytes: i64,
    #[sea_orm(unique)]
    pub content_hash: String,
    pub storage: String,
    pub path: String,
    pub file_mtime: Option<DateTimeWithTimeZone>,
    pub has_embedded_cover: bool,
    pub cover_path: Option<String>,
    pub play_count: i64,
    #[sea_orm(column_type = "Float", nullable)]
    pub loudness_lufs: Option<f32>,
    #[sea_orm(column_type = "Float", nullable)]
    pub true_peak_db: Option<f32>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)", nullable)]
    pub peaks: Option<Vec<u8>>,
    pub analysed_at: Option<DateTimeWithTimeZone>,
    pub search_text: String,
    pub version: i32,
    pub added_at: DateTimeWithTimeZone,
    pub updated_at: DateTimeWithTimeZone,
    #[sea_orm(column_type = "Float", nullable)]
    pub bpm: Option<f32>,
    #[sea_orm(column_type = "Float", nullable)]
    pub bpm_confidence: Option<f32>,
    pub musical_key: Option<i16>,
    #[sea_orm(column_type = "Float", nullable)]
    pub key_confidence: Option<f32>,
    #[sea_orm(column_type = "VarBinary(StringLen::None)", nullable)]
    pub sonic: Option<Vec<u8>>,
    pub sonic_version: Option<i16>,
    pub bpm_edited: bool,
    pub key_edited: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::albums::Entity",
        from = "Column::AlbumId",
        to = "super::albums::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Albums,
    #[sea_orm(
        belongs_to = "super::artists::Entity",
        from = "Column::ArtistId",
        to = "super::artists::Column::Id",
        on_update = "NoAction",
        on_delete = "Restrict"
    )]
    Artists,
    #[sea_orm(has_many = "super::favourites::Entity")]
    Favourites,
    #[sea_orm(has_many = "super::playlist_entries::Entity")]
    PlaylistEntries,
    #[sea_orm(has_many = "super::plays::Entity")]
    Plays,
}

impl Related<super::albums::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Albums.def()
    }
}

impl Related<super::artists::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Artists.def()
    }
}

impl Related<super::favourites::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Favourites.def()
    }
}

impl Related<super::playlist_entries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PlaylistEntries.def()
    }
}

impl Related<super::plays::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Plays.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
