//! Bearer-token check for mutating endpoints: constant-time, and the token never echoed.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{State as AppState, error};

/// Let the request through when no token is configured or it carries the right
/// `Authorization: Bearer <token>`; answer 401 otherwise.
pub(super) async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = &state.ctx.token else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let problem = match presented {
        None => {
            "this endpoint needs `Authorization: Bearer <token>` (the token is in the file given by --api-token-file)"
        }
        Some(presented) if constant_time_eq(presented.trim(), token.expose()) => {
            return next.run(request).await;
        }
        Some(_) => "the bearer token does not match the one in --api-token-file",
    };
    tracing::warn!(path = %request.uri().path(), "refused a mutating API call without a valid token");
    let mut response = error(StatusCode::UNAUTHORIZED, problem);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"scaleio-scheduler\""),
    );
    response
}

/// Compare the SHA-256 digests of both strings without an early exit, so neither the position of
/// the first difference nor the token's length shows in the timing.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let a = Sha256::digest(a.as_bytes());
    let b = Sha256::digest(b.as_bytes());
    a.iter().zip(b.iter()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_only_when_identical() {
        assert!(constant_time_eq("tok-123", "tok-123"));
        assert!(!constant_time_eq("tok-123", "tok-124"));
        assert!(!constant_time_eq("tok-123", "tok-1234"));
        assert!(!constant_time_eq("", "tok"));
    }
}
