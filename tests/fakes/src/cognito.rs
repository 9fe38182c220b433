//! A fake Amazon Cognito hosted sign-in (a user pool domain's OAuth 2.0
//! endpoints) on 127.0.0.1, for the console page's sign-in: the authorization
//! code grant with PKCE, as the template's public app client allows it (code flow
//! only, scopes `openid email profile`, one callback URL).
//!
//! Like the other fakes it shares no code with the product and checks what the
//! real service checks, so a page that signs in here has its side of the
//! protocol right. What it does not have is the sign-in form: the test says who is
//! signed in ([`FakeCognito::sign_in_as`]) and `GET /oauth2/authorize` answers at
//! once, as Cognito does for a browser that still has its session cookie.
//!
//! # `GET /oauth2/authorize`
//!
//! Checks, in order (query parameters):
//!
//! | check | answer |
//! |---|---|
//! | `client_id` is the app client's | 400, `invalid_client` (Cognito shows its error page) |
//! | `redirect_uri` is the registered callback URL, exactly | 400, `redirect_mismatch` (Cognito's error page) |
//! | `response_type` is `code` (`token` is a flow the client may not use) | 302 to the callback, `error=unsupported_response_type` (`unauthorized_client` for `token`) |
//! | every `scope` word is one the client allows | 302, `error=invalid_scope` |
//! | `code_challenge_method` is `S256` and `code_challenge` is 43 base64url characters | 302, `error=invalid_request` (Cognito makes PKCE optional; the fake requires it) |
//! | `state` is present | 302, `error=invalid_request` (fake's choice: the page must send one) |
//! | a user is signed in ([`FakeCognito::sign_in_as`]) | 200, a page saying there is no sign-in form |
//!
//! Then 302 to `redirect_uri?code=…&state=…` (`state` as given). The code is good
//! for one exchange within five minutes.
//!
//! # `POST /oauth2/token`
//!
//! A form (`application/x-www-form-urlencoded`). Checks, in order; every failure
//! is 400 `{"error": "…", "error_description": "…"}`:
//!
//! | check | `error` |
//! |---|---|
//! | the body is a form | `invalid_request` |
//! | `grant_type` is present | `invalid_request` |
//! | `grant_type` is `authorization_code` (the fake has no refresh grant) | `unsupported_grant_type` |
//! | `client_id` is the app client's | `invalid_client` |
//! | `code`, `redirect_uri` and `code_verifier` are present; the verifier is 43–128 of `A-Z a-z 0-9 - . _ ~` | `invalid_request` |
//! | the code was issued, to this client, less than five minutes ago, and not yet presented (any exchange naming it uses it up, fake's choice) | `invalid_grant` |
//! | `redirect_uri` is the one the code was issued for | `invalid_grant` |
//! | BASE64URL(SHA-256(`code_verifier`)) is the code's `code_challenge` | `invalid_grant` |
//! | scripted refusals ([`FakeCognito::refuse_next_exchanges`]) | `invalid_grant` |
//!
//! Then 200 `{"id_token", "access_token", "refresh_token", "expires_in",
//! "token_type": "Bearer"}` with `Cache-Control: no-store` (an `id_token` only when
//! the `openid` scope was granted, as Cognito does).
//!
//! The token endpoint is fetched cross-origin by the page: a request (or an
//! `OPTIONS` preflight) whose `Origin` is the callback URL's origin gets
//! `Access-Control-Allow-Origin` with that origin; any other origin gets no CORS
//! header (fake's choice, stricter than Cognito), so a browser refuses it.
//!
//! # Tokens
//!
//! JWTs signed HS256 with a key only the fake holds (Cognito signs RS256 with the
//! keys of its JWKS; nothing here reads a JWKS). The ID token carries Cognito's
//! claims: `sub`, `email`, `email_verified`, `cognito:username` (the `sub`, as for
//! a pool whose user name is the e-mail), `cognito:groups` (a JSON list, left out
//! when the user is in no group), `iss`
//! (`https://cognito-idp.{region}.amazonaws.com/{pool id}`), `aud` (the client id),
//! `token_use` `id`, `auth_time`, `iat`, `exp`, `jti`, `origin_jti`, `at_hash`.
//! [`FakeCognito::verify`] checks a token as the HTTP API's JWT authorizer does.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::future::IntoFuture;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

/// The authorization endpoint's path.
pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
/// The token endpoint's path.
pub const TOKEN_PATH: &str = "/oauth2/token";
/// How long an authorization code is good for (Cognito: five minutes).
pub const CODE_VALIDITY: Duration = Duration::from_secs(300);
/// The `kid` of the fake's tokens.
pub const KEY_ID: &str = "fake-cognito-hs256";

/// The user pool, its domain and its app client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CognitoConfig {
    /// The app client id (`aud` of the ID tokens).
    pub client_id: String,
    /// The client's one callback URL: `redirect_uri` must be exactly this.
    pub callback_url: String,
    pub region: String,
    pub user_pool_id: String,
    /// The scopes the client may ask for.
    pub allowed_scopes: Vec<String>,
    /// How long the ID and access tokens are good for (the template: one hour).
    pub token_validity: Duration,
}

impl CognitoConfig {
    /// The template's client: `openid email profile`, one-hour tokens, in a pool
    /// of `us-east-1`.
    pub fn new(client_id: impl Into<String>, callback_url: impl Into<String>) -> Self {
        CognitoConfig {
            client_id: client_id.into(),
            callback_url: callback_url.into(),
            region: "us-east-1".into(),
            user_pool_id: "us-east-1_FakePool1".into(),
            allowed_scopes: ["openid", "email", "profile"].map(String::from).to_vec(),
            token_validity: Duration::from_secs(3600),
        }
    }

    /// The tokens' `iss`.
    pub fn issuer(&self) -> String {
        format!(
            "https://cognito-idp.{}.amazonaws.com/{}",
            self.region, self.user_pool_id
        )
    }

    /// The callback URL's origin (`scheme://host[:port]`).
    fn callback_origin(&self) -> Option<&str> {
        let rest_at = self.callback_url.find("://")? + 3;
        let end = self.callback_url[rest_at..]
            .find(['/', '?', '#'])
            .map_or(self.callback_url.len(), |i| rest_at + i);
        Some(&self.callback_url[..end])
    }
}

/// Someone in the user pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CognitoUser {
    pub email: String,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// The user's `sub` (a UUID derived from the e-mail by [`CognitoUser::new`]).
    pub sub: String,
}

impl CognitoUser {
    pub fn new(email: impl Into<String>, groups: &[&str]) -> Self {
        let email = email.into();
        let h = crate::md5_hex(&email);
        let sub = format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        );
        CognitoUser {
            email,
            groups: groups.iter().map(|g| g.to_string()).collect(),
            sub,
        }
    }
}

/// One request the fake answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CognitoRequest {
    pub method: String,
    pub path: String,
    /// The request's `Origin` header.
    pub origin: Option<String>,
    pub status: u16,
    /// The OAuth error answered (`invalid_grant`, …), if any.
    pub error: Option<String>,
    /// Why, in words.
    pub description: Option<String>,
}

/// A code handed out and not yet presented.
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    user: CognitoUser,
    issued: SystemTime,
}

#[derive(Default)]
struct CognitoState {
    user: Option<CognitoUser>,
    codes: HashMap<String, Grant>,
    log: Vec<CognitoRequest>,
    exchanges: usize,
    refusals: usize,
}

struct Hub {
    config: CognitoConfig,
    key: Vec<u8>,
    state: Mutex<CognitoState>,
    counter: AtomicU64,
}

/// An OAuth error: `(error, description)`.
type Refusal = (&'static str, String);

impl Hub {
    fn lock(&self) -> MutexGuard<'_, CognitoState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// 32 random bytes as base64url (not cryptographic: a test's codes and ids).
    fn random(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        URL_SAFE_NO_PAD.encode(random_bytes(n))
    }

    fn handle(&self, method: Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        let origin = headers
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let (mut response, error) = match (uri.path(), &method) {
            (AUTHORIZE_PATH, &Method::GET) => self.authorize(uri.query().unwrap_or("")),
            (TOKEN_PATH, &Method::POST) => self.token(headers, body),
            (TOKEN_PATH, &Method::OPTIONS) => (preflight(headers), None),
            (AUTHORIZE_PATH | TOKEN_PATH, _) => (
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
                None,
            ),
            _ => (text(StatusCode::NOT_FOUND, "not found"), None),
        };
        if uri.path() == TOKEN_PATH {
            if let Some(o) = origin
                .as_deref()
                .filter(|o| Some(*o) == self.config.callback_origin())
            {
                let h = response.headers_mut();
                if let Ok(v) = HeaderValue::from_str(o) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                }
                h.insert(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        let (error, description) = match error {
            Some((e, d)) => (Some(e.to_string()), Some(d)),
            None => (None, None),
        };
        self.lock().log.push(CognitoRequest {
            method: method.to_string(),
            path: uri.path().to_string(),
            origin,
            status: response.status().as_u16(),
            error,
            description,
        });
        response
    }

    fn authorize(&self, query: &str) -> (Response, Option<Refusal>) {
        let q: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let c = &self.config;
        if get("client_id") != Some(c.client_id.as_str()) {
            let why = format!("unknown client_id {:?}", get("client_id").unwrap_or(""));
            return (
                text(StatusCode::BAD_REQUEST, &format!("invalid_client: {why}")),
                Some(("invalid_client", why)),
            );
        }
        let Some(redirect) = get("redirect_uri").filter(|r| *r == c.callback_url) else {
            let why = format!(
                "redirect_uri {:?} is not the client's callback URL {:?}",
                get("redirect_uri").unwrap_or(""),
                c.callback_url
            );
            return (
                text(
                    StatusCode::BAD_REQUEST,
                    &format!("redirect_mismatch: {why}"),
                ),
                Some(("redirect_mismatch", why)),
            );
        };
        let state = get("state");
        let back = |error: &'static str, why: String| {
            let mut params = vec![("error", error), ("error_description", why.as_str())];
            if let Some(s) = state {
                params.push(("state", s));
            }
            (found(redirect, &params), Some((error, why.clone())))
        };
        match get("response_type") {
            Some("code") => {}
            Some("token") => {
                return back(
                    "unauthorized_client",
                    "the client may use the code flow only".into(),
                )
            }
            other => {
                return back(
                    "unsupported_response_type",
                    format!("response_type {:?}: expected code", other.unwrap_or("")),
                )
            }
        }
        let scopes: Vec<String> = match get("scope") {
            Some(s) => s.split_whitespace().map(str::to_string).collect(),
            None => c.allowed_scopes.clone(),
        };
        if let Some(bad) = scopes.iter().find(|s| !c.allowed_scopes.contains(s)) {
            return back("invalid_scope", format!("scope {bad:?} is not allowed"));
        }
        if get("code_challenge_method") != Some("S256") {
            return back(
                "invalid_request",
                format!(
                    "code_challenge_method {:?}: S256 required",
                    get("code_challenge_method").unwrap_or("")
                ),
            );
        }
        let Some(challenge) = get("code_challenge").filter(|ch| {
            ch.len() == 43
                && ch
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }) else {
            return back(
                "invalid_request",
                "code_challenge: 43 base64url characters (S256) required".into(),
            );
        };
        if state.is_none() {
            return back("invalid_request", "state is required".into());
        }
        let code = self.random();
        let mut st = self.lock();
        let Some(user) = st.user.clone() else {
            return (
                text(
                    StatusCode::OK,
                    "the sign-in form (the fake has none: no user is signed in)",
                ),
                Some(("login_required", "no user is signed in".into())),
            );
        };
        st.codes.insert(
            code.clone(),
            Grant {
                client_id: c.client_id.clone(),
                redirect_uri: redirect.to_string(),
                challenge: challenge.to_string(),
                scopes,
                user,
                issued: SystemTime::now(),
            },
        );
        drop(st);
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = state {
            params.push(("state", s));
        }
        (found(redirect, &params), None)
    }

    fn token(&self, headers: &HeaderMap, body: &[u8]) -> (Response, Option<Refusal>) {
        match self.exchange(headers, body) {
            Ok(tokens) => {
                let mut r = json_response(StatusCode::OK, &tokens);
                let h = r.headers_mut();
                h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                (r, None)
            }
            Err((error, why)) => (
                json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": error, "error_description": why}),
                ),
                Some((error, why)),
            ),
        }
    }

    fn exchange(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err((
                "invalid_request",
                "the body must be application/x-www-form-urlencoded".into(),
            ));
        }
        let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        let get = |k: &str| {
            form.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let c = &self.config;
        match get("grant_type") {
            None => return Err(("invalid_request", "grant_type is required".into())),
            Some("authorization_code") => {}
            Some(other) => {
                return Err((
                    "unsupported_grant_type",
                    format!("grant_type {other:?}: the fake takes authorization_code"),
                ))
            }
        }
        if get("client_id") != Some(c.client_id.as_str()) {
            return Err((
                "invalid_client",
                format!("unknown client_id {:?}", get("client_id").unwrap_or("")),
            ));
        }
        let (Some(code), Some(redirect), Some(verifier)) =
            (get("code"), get("redirect_uri"), get("code_verifier"))
        else {
            return Err((
                "invalid_request",
                "code, redirect_uri and code_verifier are required".into(),
            ));
        };
        let verifier_ok = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if !verifier_ok {
            return Err((
                "invalid_request",
                "code_verifier: 43 to 128 of A-Z a-z 0-9 - . _ ~".into(),
            ));
        }
        let mut st = self.lock();
        let Some(grant) = st.codes.remove(code) else {
            return Err(("invalid_grant", "unknown code, or already used".to_string()));
        };
        let age = SystemTime::now()
            .duration_since(grant.issued)
            .unwrap_or_default();
        if grant.client_id != c.client_id || age > CODE_VALIDITY {
            return Err(("invalid_grant", "the code has expired".into()));
        }
        if grant.redirect_uri != redirect {
            return Err((
                "invalid_grant",
                format!(
                    "redirect_uri {redirect:?} is not the one the code was issued for ({:?})",
                    grant.redirect_uri
                ),
            ));
        }
        if pkce_challenge(verifier) != grant.challenge {
            return Err((
                "invalid_grant",
                "code_verifier does not match the code_challenge".into(),
            ));
        }
        if st.refusals > 0 {
            st.refusals -= 1;
            return Err(("invalid_grant", "refused (scripted)".into()));
        }
        st.exchanges += 1;
        drop(st);
        let now = unix_now();
        let origin_jti = self.random();
        let access = self.sign(&json!({
            "sub": grant.user.sub,
            "cognito:groups": grant.user.groups,
            "iss": c.issuer(),
            "client_id": c.client_id,
            "origin_jti": origin_jti,
            "token_use": "access",
            "scope": grant.scopes.join(" "),
            "auth_time": now,
            "iat": now,
            "exp": now + c.token_validity.as_secs(),
            "jti": self.random(),
            "username": grant.user.sub,
        }));
        let mut tokens = json!({
            "access_token": access,
            "refresh_token": self.random(),
            "expires_in": c.token_validity.as_secs(),
            "token_type": "Bearer",
        });
        if grant.scopes.iter().any(|s| s == "openid") {
            let digest = Sha256::digest(access.as_bytes());
            let mut claims = json!({
                "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
                "sub": grant.user.sub,
                "email_verified": true,
                "iss": c.issuer(),
                "cognito:username": grant.user.sub,
                "origin_jti": origin_jti,
                "aud": c.client_id,
                "token_use": "id",
                "auth_time": now,
                "exp": now + c.token_validity.as_secs(),
                "iat": now,
                "jti": self.random(),
                "email": grant.user.email,
            });
            if !grant.user.groups.is_empty() {
                claims["cognito:groups"] = json!(grant.user.groups);
            }
            tokens["id_token"] = json!(self.sign(&claims));
        }
        Ok(tokens)
    }

    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(message);
        mac
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"kid": KEY_ID, "alg": "HS256", "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = URL_SAFE_NO_PAD.encode(self.mac(signed.as_bytes()).finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (h, p, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()?;
        if header["alg"] != "HS256" || header["kid"] != KEY_ID {
            return None;
        }
        let sig = URL_SAFE_NO_PAD.decode(s).ok()?;
        self.mac(format!("{h}.{p}").as_bytes())
            .verify_slice(&sig)
            .ok()?;
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
        let c = &self.config;
        let now = unix_now();
        let for_client =
            claims["aud"] == c.client_id.as_str() || claims["client_id"] == c.client_id.as_str();
        let exp = claims["exp"].as_u64()?;
        let iat = claims["iat"].as_u64()?;
        let nbf_ok = claims.get("nbf").is_none_or(|n| n.as_u64() <= Some(now));
        (claims["iss"] == c.issuer().as_str()
            && for_client
            && exp > now
            && iat <= now + 60
            && nbf_ok)
            .then_some(claims)
    }
}

/// BASE64URL(SHA-256(verifier)): the S256 `code_challenge` of a `code_verifier`.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn random_bytes(n: u64) -> Vec<u8> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (0..4u64)
        .flat_map(|i| {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u64(i);
            h.write_u128(nanos);
            h.finish().to_le_bytes()
        })
        .collect()
}

fn text(status: StatusCode, body: &str) -> Response {
    let mut r = Response::new(Body::from(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=UTF-8"),
    );
    r
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    r
}

/// 302 to `url` with `params` added to its query.
fn found(url: &str, params: &[(&str, &str)]) -> Response {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        query.append_pair(k, v);
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    let location = format!("{url}{sep}{}", query.finish());
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::FOUND;
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The answer to a CORS preflight of the token endpoint (the origin is added by
/// the caller when it is the page's).
fn preflight(headers: &HeaderMap) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    let asked_post = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .is_some_and(|m| m == "POST");
    if asked_post {
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type, authorization"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
    }
    r
}

/// A running fake Cognito domain on 127.0.0.1; stops when dropped.
pub struct FakeCognito {
    hub: Arc<Hub>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeCognito {
    /// Starts on `127.0.0.1:0` (a random free port).
    ///
    /// # Panics
    /// If no local port can be bound; use [`FakeCognito::start_on`] to handle that.
    pub fn start(config: CognitoConfig) -> Self {
        match Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config) {
            Ok(fake) => fake,
            Err(e) => panic!("the fake Cognito could not bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts on the given address, on its own thread and runtime.
    pub fn start_on(addr: SocketAddr, config: CognitoConfig) -> io::Result<Self> {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let hub = Arc::new(Hub {
            config,
            key: random_bytes(seed),
            state: Mutex::new(CognitoState::default()),
            counter: AtomicU64::new(seed),
        });
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app_hub = hub.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let hub = app_hub.clone();
                async move { hub.handle(method, &uri, &headers, &body) }
            },
        );
        let thread = std::thread::Builder::new()
            .name("fake-cognito".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = axum::serve(listener, app).into_future() => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime cancels every open connection.
                drop(runtime);
            })?;
        Ok(FakeCognito {
            hub,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The domain, `http://127.0.0.1:PORT` (what `CONSOLE_AUTH_DOMAIN` names).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `{base_url}/oauth2/authorize`.
    pub fn authorize_url(&self) -> String {
        format!("{}{AUTHORIZE_PATH}", self.base_url())
    }

    /// `{base_url}/oauth2/token`.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.base_url())
    }

    pub fn config(&self) -> &CognitoConfig {
        &self.hub.config
    }

    /// Who the next authorization requests sign in (as if they had filled in the
    /// form); `None`: nobody, the form is shown.
    pub fn sign_in_as(&self, user: Option<CognitoUser>) {
        self.hub.lock().user = user;
    }

    /// The claims of a token the fake issued, checked as the HTTP API's JWT
    /// authorizer checks: the signature and key id, `iss`, `aud` (or an access
    /// token's `client_id`) is the client, `exp` in the future, `iat` not (a
    /// minute's skew), `nbf` if present. `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Value> {
        self.hub.verify(token)
    }

    /// A token with these claims, signed as the fake signs (to test what checks
    /// tokens: expired, another audience…).
    pub fn sign(&self, claims: &Value) -> String {
        self.hub.sign(claims)
    }

    /// How many codes were exchanged for tokens (successful token requests).
    pub fn token_exchanges(&self) -> usize {
        self.hub.lock().exchanges
    }

    /// The next `k` token requests that pass every check are refused
    /// (`invalid_grant`) anyway.
    pub fn refuse_next_exchanges(&self, k: usize) {
        self.hub.lock().refusals += k;
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<CognitoRequest> {
        self.hub.lock().log.clone()
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeCognito {
    fn drop(&mut self) {
        // Signal only: joining from inside an async test would block its worker.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
