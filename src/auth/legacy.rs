//! TRANSITIONAL: `Principal` and `Caller` as extractors with a connection of
//! their own, for handlers not yet moved onto `Tx`. Deleted when the last
//! handler takes a `Bearer`.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::client::{self, Caller};
use super::principal::{authenticate_user, Bearer, Claims, Principal};
use crate::error::ApiError;
use crate::state::AppState;

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Arc<AppState>>>().cloned();
        let bearer = Bearer::extract(req).into_inner();
        let _ = payload;
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let bearer = bearer?;
            let mut conn = state.db().await?;
            match &bearer.claims {
                Claims::User(c) => authenticate_user(&mut conn, c, bearer.request.clone()).await,
                Claims::Client(c) => {
                    let client =
                        client::authenticate_client(&mut conn, c, bearer.request.clone()).await?;
                    client::on_user_endpoint(&client).record(&conn).await?;
                    Err(client::not_on_user_endpoints())
                }
            }
        })
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<Arc<AppState>>>().cloned();
        let bearer = Bearer::extract(req).into_inner();
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no app state")))?;
            let bearer = bearer?;
            let mut conn = state.db().await?;
            match &bearer.claims {
                Claims::User(c) => Ok(Caller::User(
                    authenticate_user(&mut conn, c, bearer.request.clone()).await?,
                )),
                Claims::Client(c) => Ok(Caller::Client(
                    client::authenticate_client(&mut conn, c, bearer.request.clone()).await?,
                )),
            }
        })
    }
}
