//! sea-orm entities of the tables in `migrations::task`. Times are
//! microseconds since the epoch (see the migrations crate).

pub mod tasks {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tasks")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub title: String,
        pub description: String,
        pub state: i16,
        pub priority: i16,
        /// `YYYY-MM-DD` for a whole day, `YYYY-MM-DDTHH:MM:SS` with a zone.
        pub due_local: Option<String>,
        pub due_time_zone: Option<String>,
        /// Due instant in µs, `i64::MAX` when there is none.
        pub due_sort: i64,
        /// JSON array of reminders.
        pub reminders: String,
        /// JSON recurrence spec.
        pub recurrence: Option<String>,
        pub create_time: i64,
        pub update_time: i64,
        /// Completion instant in µs, `i64::MAX` while open.
        pub complete_sort: i64,
        pub delete_time: Option<i64>,
        pub revision: i64,
        pub create_request_id: Option<String>,
        pub series_id: Option<String>,
        pub occurrence_index: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod task_tags {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "task_tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub task_id: String,
        #[sea_orm(primary_key, auto_increment = false)]
        pub tag_id: String,
        pub user_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod tags {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tags")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub display_name: String,
        pub name_key: String,
        pub color: String,
        pub create_time: i64,
        pub update_time: i64,
        pub version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_revisions {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_revisions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: String,
        pub revision: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod outbox {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub event_id: String,
        pub event_type: String,
        pub topic: String,
        pub user_id: String,
        pub task_id: String,
        pub revision: i64,
        /// The `TaskEvent`, protobuf-encoded (what the change feed serves).
        pub payload: Vec<u8>,
        /// The same event as proto3 JSON text (what the relay publishes);
        /// None in rows written before it was kept.
        pub data_json: Option<String>,
        pub traceparent: Option<String>,
        pub create_time: i64,
        pub publish_time: Option<i64>,
        /// Set instead of `publish_time` when the row cannot be published.
        pub quarantine_time: Option<i64>,
        pub quarantine_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
