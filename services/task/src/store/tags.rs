//! Tag rows.

use std::collections::HashSet;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, Order, QueryFilter,
    QueryOrder, QuerySelect,
};
use shared::auth::UserId;

use super::entities::{tags, task_tags};
use crate::domain::{
    from_micros,
    tag::{Color, Tag, TagId, TagName},
    to_micros,
};

pub async fn find(conn: &impl ConnectionTrait, user: &UserId, id: TagId) -> Result<Option<Tag>, DbErr> {
    tags::Entity::find_by_id(id.as_stored())
        .filter(tags::Column::UserId.eq(user.as_str()))
        .one(conn)
        .await?
        .map(from_row)
        .transpose()
}

/// Which of `ids` are `user`'s tags.
pub async fn existing(conn: &impl ConnectionTrait, user: &UserId, ids: &[TagId]) -> Result<HashSet<TagId>, DbErr> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(tags::Entity::find()
        .filter(tags::Column::UserId.eq(user.as_str()))
        .filter(tags::Column::Id.is_in(ids.iter().map(TagId::as_stored)))
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|row| TagId::from_stored(&row.id))
        .collect())
}

pub async fn insert(conn: &impl ConnectionTrait, user: &UserId, tag: &Tag) -> Result<(), DbErr> {
    tags::Entity::insert(to_row(user, tag).into_active_model()).exec_without_returning(conn).await?;
    Ok(())
}

pub async fn update(conn: &impl ConnectionTrait, user: &UserId, tag: &Tag) -> Result<(), DbErr> {
    to_row(user, tag).into_active_model().reset_all().update(conn).await?;
    Ok(())
}

/// Deletes the tag and its task links.
pub async fn delete(conn: &impl ConnectionTrait, user: &UserId, id: TagId) -> Result<(), DbErr> {
    task_tags::Entity::delete_many()
        .filter(task_tags::Column::UserId.eq(user.as_str()))
        .filter(task_tags::Column::TagId.eq(id.as_stored()))
        .exec(conn)
        .await?;
    tags::Entity::delete_many()
        .filter(tags::Column::UserId.eq(user.as_str()))
        .filter(tags::Column::Id.eq(id.as_stored()))
        .exec(conn)
        .await?;
    Ok(())
}

/// A page of `user`'s tags in creation order (ids are time-ordered), after `after`.
pub async fn list(
    conn: &impl ConnectionTrait,
    user: &UserId,
    page_size: u64,
    after: Option<&str>,
) -> Result<(Vec<Tag>, bool), DbErr> {
    let mut select = tags::Entity::find().filter(tags::Column::UserId.eq(user.as_str()));
    if let Some(after) = after {
        select = select.filter(tags::Column::Id.gt(after));
    }
    let mut rows = select.order_by(tags::Column::Id, Order::Asc).limit(page_size + 1).all(conn).await?;
    let more = rows.len() as u64 > page_size;
    rows.truncate(page_size as usize);
    Ok((rows.into_iter().map(from_row).collect::<Result<_, _>>()?, more))
}

fn to_row(user: &UserId, tag: &Tag) -> tags::Model {
    tags::Model {
        id: tag.id.as_stored(),
        user_id: user.as_str().to_owned(),
        display_name: tag.name.as_str().to_owned(),
        name_key: tag.name.key(),
        color: tag.color.as_str().to_owned(),
        create_time: to_micros(tag.create_time),
        update_time: to_micros(tag.update_time),
        version: tag.version,
    }
}

fn from_row(row: tags::Model) -> Result<Tag, DbErr> {
    let corrupt = |what: &str| DbErr::Custom(format!("tag {}: stored {what} is not valid", row.id));
    Ok(Tag {
        id: TagId::from_stored(&row.id).ok_or_else(|| corrupt("id"))?,
        name: TagName::parse(&row.display_name).map_err(|_| corrupt("name"))?,
        color: Color::parse(&row.color).map_err(|_| corrupt("color"))?,
        create_time: from_micros(row.create_time),
        update_time: from_micros(row.update_time),
        version: row.version,
    })
}
